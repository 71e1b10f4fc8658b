//! `canary status --sample N`: N requests through the group's marathon-lb
//! frontend (every instance in turn), and the split marathon-lb's own
//! counters saw meanwhile (canary-core's `engine::sample`), next to the
//! instance split; `canary status --observe DURATION`: the same split of
//! the traffic others send, over a window, no request sent.

use crate::cli::SampleArgs;
use crate::failure::Failure;
use canary_core::engine::sample::{ObservedSplit, group_port, observed_split};
use canary_core::engine::{GroupApp, LbSource, LbState};
use canary_core::executor::Executor;
use canary_core::status::GroupStatus;
use lb_stats::LbStatsClient;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Each request's time limit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The whole sample's time limit: it stops early, saying so.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(120);

/// What a sample sent and what marathon-lb counted.
#[derive(Debug, Serialize)]
pub struct Sample {
    /// The frontends the requests went to (`http://ADDRESS:PORT/PATH`).
    pub frontends: Vec<String>,
    /// Requests sent.
    pub sent: u32,
    /// Answered 2xx.
    pub ok: u32,
    /// Answered with another status.
    pub other_status: u32,
    /// Not answered (refused, reset, timed out).
    pub failed: u32,
    /// Whether the sample stopped at its time limit before sending all.
    pub cut_short: bool,
    /// The split marathon-lb's counters saw.
    pub observed: ObservedSplit,
}

/// `http://HOST` of a marathon-lb stats URL `http://HOST:PORT[/base]`.
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    Some(authority.rsplit_once(':').map_or(authority, |(h, _)| h))
}

/// What a read of marathon-lb needs: the group's apps (oldest first, the
/// merged app names the port), the backend's port, the stats client and
/// the first reading, with the frontends of the load balancers it read.
struct Ready {
    apps: Vec<GroupApp>,
    port: u16,
    lbs: LbStatsClient,
    before: Vec<canary_core::engine::LbView>,
    frontends: Vec<String>,
}

/// Reads the group's apps and every marathon-lb once; `flag` names the
/// option in errors.
fn ready(
    args: &SampleArgs,
    status: &GroupStatus,
    executor: &mut dyn Executor,
    flag: &str,
) -> Result<Ready, Failure> {
    let mut apps: Vec<GroupApp> = executor
        .group_apps(&status.deployment_group)
        .map_err(|e| Failure::from_exec(&e, &format!("reading the group's apps for {flag}")))?;
    apps.sort_by_key(|a| {
        status
            .apps
            .iter()
            .position(|s| s.id == a.id)
            .unwrap_or(usize::MAX)
    });
    let port = group_port(&apps).ok_or_else(|| {
        Failure::refused(format!(
            "{flag}: deployment group {} has no app with a service port (HAPROXY_0_PORT or servicePort): marathon-lb serves it on no frontend",
            status.deployment_group
        ))
    })?;
    let mut lbs = LbStatsClient::new(&args.marathon_lb, REQUEST_TIMEOUT)
        .map_err(|e| Failure::invalid(format!("--marathon-lb: {e}")))?;
    let before = lbs.observe();
    let frontends: Vec<String> = before
        .iter()
        .filter(|v| matches!(v.state, LbState::Stats { .. }))
        .filter_map(|v| host_of(&v.url))
        .map(|host| format!("http://{host}:{port}{}", args.sample_path))
        .collect();
    if let Some(why) = none_read(&before) {
        return Err(Failure::cluster(format!(
            "{flag}: no marathon-lb could be read ({why}); pass --marathon-lb URL"
        )));
    }
    Ok(Ready {
        apps,
        port,
        lbs,
        before,
        frontends,
    })
}

/// When no load balancer of `views` could be read: each one's URL and
/// why, for the message that says so.
pub(crate) fn none_read(views: &[canary_core::engine::LbView]) -> Option<String> {
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
    Some(why.join("; "))
}

/// What marathon-lb's counters saw of the traffic over a window, no
/// request sent (`canary status --observe`).
#[derive(Debug, Serialize)]
pub struct Observed {
    /// How long the window lasted, in milliseconds.
    pub window_ms: u64,
    /// The split marathon-lb's counters saw.
    pub observed: ObservedSplit,
}

/// Reads marathon-lb at the start and end of `window` (a signal ends the
/// wait early, exit 9) and the split of what it served meanwhile.
pub fn observe(
    args: &SampleArgs,
    window: Duration,
    status: &GroupStatus,
    executor: &mut dyn Executor,
) -> Result<Observed, Failure> {
    let Ready {
        apps,
        port,
        mut lbs,
        before,
        ..
    } = ready(args, status, executor, "--observe")?;
    let stop = crate::signals::install();
    let started = Instant::now();
    while started.elapsed() < window {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Failure::stopped(
                "stopped during --observe; nothing was changed",
            ));
        }
        std::thread::sleep((window - started.elapsed()).min(Duration::from_millis(100)));
    }
    let after = lbs.observe();
    Ok(Observed {
        window_ms: started.elapsed().as_millis() as u64,
        observed: observed_split(&status.deployment_group, port, &apps, &before, &after),
    })
}

/// Sends the sample for `status`'s group and reads marathon-lb around it.
pub fn take(
    args: &SampleArgs,
    requests: u32,
    status: &GroupStatus,
    executor: &mut dyn Executor,
) -> Result<Sample, Failure> {
    let Ready {
        apps,
        port,
        mut lbs,
        before,
        frontends,
    } = ready(args, status, executor, "--sample")?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(REQUEST_TIMEOUT))
        .max_redirects(0)
        .user_agent(concat!("canary-sample/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let started = Instant::now();
    let (mut sent, mut ok, mut other_status, mut failed) = (0, 0, 0, 0);
    let mut cut_short = false;
    for n in 0..requests {
        if started.elapsed() >= SAMPLE_TIMEOUT {
            cut_short = true;
            break;
        }
        let url = &frontends[n as usize % frontends.len()];
        sent += 1;
        match agent.get(url).call() {
            Ok(mut response) => {
                // Read (bounded) so the connection is reusable and the
                // response counted whole.
                let _ = response
                    .body_mut()
                    .with_config()
                    .limit(1 << 20)
                    .read_to_vec();
                if response.status().is_success() {
                    ok += 1;
                } else {
                    other_status += 1;
                }
            }
            Err(_) => failed += 1,
        }
    }
    let after = lbs.observe();
    Ok(Sample {
        frontends,
        sent,
        ok,
        other_status,
        failed,
        cut_short,
        observed: observed_split(&status.deployment_group, port, &apps, &before, &after),
    })
}

/// The human form: what was sent, then per app its instance share and the
/// share marathon-lb's counters saw.
pub fn table(sample: &Sample, status: &GroupStatus) -> String {
    let observed = &sample.observed;
    let mut out = format!(
        "\nsample: {} request(s) to {}: {} answered 2xx, {} another status, {} not answered{}\n",
        sample.sent,
        sample.frontends.join(", "),
        sample.ok,
        sample.other_status,
        sample.failed,
        if sample.cut_short {
            format!(" (stopped after {}s)", SAMPLE_TIMEOUT.as_secs())
        } else {
            String::new()
        }
    );
    out.push_str(&format!(
        "marathon-lb counted {} response(s) in backend {} on {} instance(s) meanwhile (other clients' requests included):\n",
        observed.total(),
        observed.backend,
        observed.lbs_read
    ));
    out.push_str(&split_rows(observed, status));
    out
}

/// The human form of `--observe`: per app its instance share and the share
/// of the traffic marathon-lb's counters saw over the window.
pub fn observed_table(observed: &Observed, status: &GroupStatus) -> String {
    let split = &observed.observed;
    let mut out = format!(
        "\nobserved over {:.1}s: marathon-lb counted {} response(s) in backend {} on {} instance(s):\n",
        observed.window_ms as f64 / 1000.0,
        split.total(),
        split.backend,
        split.lbs_read
    );
    out.push_str(&split_rows(split, status));
    out
}

/// Per app: the instance share and the observed share.
fn split_rows(observed: &ObservedSplit, status: &GroupStatus) -> String {
    let total = observed.total();
    let percent = |n: u64| {
        if total == 0 {
            0.0
        } else {
            (n as f64 * 1000.0 / total as f64).round() / 10.0
        }
    };
    let mut rows = vec![vec![
        "APP".to_owned(),
        "INSTANCE SHARE".to_owned(),
        "OBSERVED SHARE".to_owned(),
    ]];
    for served in &observed.by_app {
        let instances = status
            .apps
            .iter()
            .find(|a| a.id == served.app_id)
            .map_or_else(
                || "-".to_owned(),
                |a| {
                    format!(
                        "{} of {} ({}%)",
                        a.share_tasks, status.share_total, a.share_percent
                    )
                },
            );
        rows.push(vec![
            served.app_id.clone(),
            instances,
            format!(
                "{} of {total} ({}%)",
                served.responses,
                percent(served.responses)
            ),
        ]);
    }
    if observed.unmatched > 0 {
        rows.push(vec![
            "(tasks gone meanwhile)".to_owned(),
            "-".to_owned(),
            format!(
                "{} of {total} ({}%)",
                observed.unmatched,
                percent(observed.unmatched)
            ),
        ]);
    }
    crate::status::columns(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frontend_host_is_the_stats_urls() {
        assert_eq!(host_of("http://127.0.0.2:9090"), Some("127.0.0.2"));
        assert_eq!(host_of("https://10.0.0.5:9090/lb"), Some("10.0.0.5"));
        assert_eq!(host_of("nonsense"), None);
    }
}
