//! The `status` use case: a deployment group as it stands ([`gather`]:
//! the three phase jobs, then the group's apps only, summarized by
//! canary-core's pure `status`), and the split of the traffic marathon-lb's
//! own counters saw: of a sample of requests canary sends through the
//! group's frontend ([`sample`]), or of what the group's clients send over
//! a window ([`observe`]).

use crate::session::Session;
use canary_core::executor::ExecError;
use canary_core::plan::sample::{ObservedSplit, Sent, Traffic, group_port, observed_split};
use canary_core::plan::{LbQuery, LbState, LbView};
use canary_core::status::{GroupStatus, deployment_group, summarize};
use canary_core::{MarathonApp, Phase};
use serde::Serialize;
use std::time::Duration;

/// Asks for the phase jobs of `app_name`, then for the apps of the
/// deployment group they name, and summarizes them.
pub fn gather(session: &mut Session<'_>, app_name: &str) -> Result<GroupStatus, ExecError> {
    let executor = session.executor();
    let mut jobs = Vec::with_capacity(Phase::ALL.len());
    for phase in Phase::ALL {
        let id = phase.job_id(app_name);
        let live = executor.get_job(&id)?;
        jobs.push((phase, live));
    }
    let apps = executor.group_apps(&deployment_group(app_name, &jobs))?;
    Ok(summarize(app_name, &apps, &jobs))
}

/// What a sample sent and what marathon-lb counted.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// The frontends the requests went to (`http://ADDRESS:PORT/PATH`).
    pub frontends: Vec<String>,
    /// What was sent and how it was answered.
    #[serde(flatten)]
    pub sent: Sent,
    /// The split marathon-lb's counters saw.
    pub observed: ObservedSplit,
}

/// What marathon-lb's counters saw of the traffic over a window, no
/// request sent.
#[derive(Debug, Clone, Serialize)]
pub struct Observed {
    /// How long the window lasted, in milliseconds.
    pub window_ms: u64,
    /// The split marathon-lb's counters saw.
    pub observed: ObservedSplit,
}

/// Why a sample or an observation could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    /// No app of the group has a service port: marathon-lb serves it on no
    /// frontend.
    #[error(
        "deployment group {0} has no app with a service port (HAPROXY_0_PORT or servicePort): marathon-lb serves it on no frontend"
    )]
    NoPort(String),
    /// No marathon-lb could be read.
    #[error("no marathon-lb could be read ({0})")]
    NoLoadBalancer(String),
    /// Stopped on request (a signal) during the window.
    #[error("stopped during the window; nothing was changed")]
    Stopped,
    /// The cluster failed a read.
    #[error("reading the group's apps: {0}")]
    Cluster(#[from] ExecError),
}

/// `http://HOST` of a marathon-lb stats URL `http://HOST:PORT[/base]`.
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    Some(authority.rsplit_once(':').map_or(authority, |(h, _)| h))
}

/// The URLs of the load balancers that could not be read, and why; `None`
/// when one could.
pub(crate) fn none_read(views: &[LbView]) -> Option<String> {
    if views
        .iter()
        .any(|v| matches!(v.state, LbState::Stats { .. }))
    {
        return None;
    }
    let why: Vec<String> = views
        .iter()
        .map(|v| match &v.state {
            LbState::Unreachable { message } => format!("{}: {message}", v.url),
            LbState::Stats { .. } => v.url.clone(),
        })
        .collect();
    Some(if why.is_empty() {
        "none given".to_owned()
    } else {
        why.join("; ")
    })
}

/// The group's apps in `status`'s order, the backend's port, the reading
/// before and what it reads.
fn before(
    session: &mut Session<'_>,
    status: &GroupStatus,
) -> Result<(Vec<MarathonApp>, u16, LbQuery, Vec<LbView>), SplitError> {
    let group = &status.deployment_group;
    let mut apps = session.executor().group_apps(group)?;
    apps.sort_by_key(|a| {
        status
            .apps
            .iter()
            .position(|s| s.id == a.id)
            .unwrap_or(usize::MAX)
    });
    let port = group_port(&apps).ok_or_else(|| SplitError::NoPort(group.clone()))?;
    // The group's backend only, and the worker that answered (a reload
    // between the readings restarts the counters).
    let query = LbQuery::for_group(group, Some(port), true);
    let views = session.lbs().observe(&query);
    if let Some(why) = none_read(&views) {
        return Err(SplitError::NoLoadBalancer(why));
    }
    Ok((apps, port, query, views))
}

/// Sends `requests` GETs of `path` through the group's frontend on every
/// marathon-lb in turn (at most `limit` in all), and reads every
/// marathon-lb's counters before and after.
pub fn sample(
    session: &mut Session<'_>,
    status: &GroupStatus,
    path: &str,
    requests: u32,
    limit: Duration,
    traffic: &mut dyn Traffic,
) -> Result<Sample, SplitError> {
    let (apps, port, query, before) = before(session, status)?;
    let frontends: Vec<String> = before
        .iter()
        .filter(|v| matches!(v.state, LbState::Stats { .. }))
        .filter_map(|v| host_of(&v.url))
        .map(|host| format!("http://{host}:{port}{path}"))
        .collect();
    let sent = traffic.send(&frontends, requests, limit);
    let after = session.lbs().observe(&query);
    Ok(Sample {
        frontends,
        sent,
        observed: observed_split(&status.deployment_group, port, &apps, &before, &after),
    })
}

/// Reads every marathon-lb's counters, waits `window` (a stop ends it),
/// reads them again: the split of what the group's clients sent meanwhile.
pub fn observe(
    session: &mut Session<'_>,
    status: &GroupStatus,
    window: Duration,
) -> Result<Observed, SplitError> {
    let (apps, port, query, before) = before(session, status)?;
    let started = session.now();
    session.sleep(window).map_err(|_| SplitError::Stopped)?;
    let after = session.lbs().observe(&query);
    Ok(Observed {
        window_ms: session.now().since(started).as_millis() as u64,
        observed: observed_split(&status.deployment_group, port, &apps, &before, &after),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_session as session;
    use canary_core::executor::{Executor, JobHistory, RecordingExecutor, RunStatus};
    use canary_core::labels;
    use serde_json::{Value, json};

    /// An app of `group` with two healthy tasks.
    fn app(id: &str, group: &str) -> Value {
        json!({"id": id, "instances": 2, "labels": {"HAPROXY_DEPLOYMENT_GROUP": group},
               "healthChecks": [{"protocol": "HTTP"}],
               "tasks": [{"id": format!("{id}.1"), "host": "h", "state": "TASK_RUNNING",
                          "healthCheckResults": [{"alive": true}]},
                         {"id": format!("{id}.2"), "host": "h", "state": "TASK_RUNNING",
                          "healthCheckResults": [{"alive": true}]}]})
    }

    #[test]
    fn the_frontend_host_is_the_stats_urls() {
        assert_eq!(host_of("http://127.0.0.2:9090"), Some("127.0.0.2"));
        assert_eq!(host_of("https://10.0.0.5:9090/lb"), Some("10.0.0.5"));
        assert_eq!(host_of("nonsense"), None);
    }

    #[test]
    fn the_group_comes_from_the_jobs_label_and_jobs_report_runs() {
        let mut exec = RecordingExecutor::new();
        exec.insert_marathon_app(app("/svc", "shop"));
        exec.insert_marathon_app(app("/web", "web"));
        exec.insert_job(json!({"id": "deploy-web-canary", "labels": {
            labels::DEPLOYMENT_GROUP: "shop", labels::IMAGE: "httpd:2"}}));
        let run = exec.start_run("deploy-web-canary").unwrap();
        exec.finish_run_at(
            "deploy-web-canary",
            &run.run_id,
            RunStatus::Failed,
            Some("2026-11-27T12:00:00.000+0000"),
        );
        let active = exec.start_run("deploy-web-canary").unwrap();
        let status = gather(&mut session(&mut exec), "web").unwrap();
        assert_eq!(status.deployment_group, "shop");
        assert_eq!(status.apps.len(), 1);
        assert_eq!(status.apps[0].id, "/svc");
        let deploy = &status.jobs[0];
        assert!(deploy.exists);
        assert_eq!(deploy.image.as_deref(), Some("httpd:2"));
        assert_eq!(deploy.active_runs, [active.run_id]);
        let last = deploy.last_run.as_ref().unwrap();
        assert_eq!(
            (last.run_id.as_str(), last.status),
            (run.run_id.as_str(), RunStatus::Failed)
        );
        assert!(!status.jobs[1].exists && !status.jobs[2].exists);
        assert_eq!(status.jobs[2].id, "rollback-web-canary");
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["jobs"][0]["phase"], "deploy");
        assert_eq!(json["jobs"][0]["last_run"]["status"], "FAILED");
        assert_eq!(json["apps"][0]["role"], "stable");
        assert_eq!(JobHistory::default().last_run, None);
    }

    #[test]
    fn gather_passes_executor_errors_on() {
        let mut exec = RecordingExecutor::new();
        exec.fail_next(ExecError::Auth {
            message: "expired".into(),
        });
        assert!(matches!(
            gather(&mut session(&mut exec), "web"),
            Err(ExecError::Auth { .. })
        ));
    }
}
