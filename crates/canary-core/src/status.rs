//! A deployment group as it stands, from what an
//! [`Executor`](crate::executor::Executor) reports (the pure half of the
//! `status` use case).
//!
//! canary-engine's `gather` asks the executor for the three phase jobs,
//! then for the deployment group's apps only (Marathon's label selector, so
//! a status costs the group's size, not the cluster's); [`summarize`] is
//! the pure part here: it keeps the apps of the deployment
//! group (marathon-lb's `HAPROXY_DEPLOYMENT_GROUP`, compared as an exact
//! string as zdd.py does), orders them as zdd.py does (by the
//! `HAPROXY_DEPLOYMENT_STARTED_AT` label as a string, a missing label
//! counting as `"0"`), and works out each version's share of the healthy
//! instances, which is the share of requests marathon-lb sends it.
//!
//! [`GroupStatus`] serializes to the stable JSON of `canary status --json`
//! (field names in `snake_case`; fields are only ever added).

use crate::bundle::labels;
use crate::canary_app::LABEL_DEPLOYMENT_GROUP;
use crate::executor::{FinishedRun, LiveJob};
use crate::job::Phase;
use crate::marathon::MarathonApp;
use serde::Serialize;
use serde_json::Value;

/// The label zdd.py stamps with the time it started a deploy.
pub const LABEL_DEPLOYMENT_STARTED_AT: &str = "HAPROXY_DEPLOYMENT_STARTED_AT";
/// The label zdd.py stamps with the app's colour, `blue` or `green`.
pub const LABEL_DEPLOYMENT_COLOUR: &str = "HAPROXY_DEPLOYMENT_COLOUR";

/// The part an app plays in its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The only app of the group: no canary in progress.
    Stable,
    /// The newest app of a group of two or more: the canary.
    Canary,
    /// An older app of a group of two or more: the version being replaced.
    Previous,
}

/// How the traffic shares are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareBasis {
    /// Healthy tasks (the group has health checks).
    Healthy,
    /// Running tasks: no task of the group reports healthy, as when the apps
    /// have no health checks (marathon-lb then serves every running task).
    Running,
}

/// One app of the group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppStatus {
    /// The Marathon app id.
    pub id: String,
    /// Its part in the group.
    pub role: Role,
    /// `HAPROXY_DEPLOYMENT_COLOUR`, if set.
    pub colour: Option<String>,
    /// Its container image.
    pub image: Option<String>,
    /// Instances asked for.
    pub instances: u64,
    /// Tasks running.
    pub running: u64,
    /// Tasks healthy.
    pub healthy: u64,
    /// `HAPROXY_DEPLOYMENT_STARTED_AT` if set, else the app's version.
    pub started_at: Option<String>,
    /// Tasks counted for its share (healthy or running, per
    /// [`GroupStatus::share_basis`]).
    pub share_tasks: u64,
    /// Its share of the group's traffic in percent (0 when nothing serves).
    pub share_percent: f64,
    /// Marathon deployments changing it now.
    pub deployments: Vec<String>,
}

/// One phase job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatus {
    /// The phase.
    pub phase: Phase,
    /// The job id.
    pub id: String,
    /// Whether the job exists.
    pub exists: bool,
    /// The image it deploys (its `canary.image` label).
    pub image: Option<String>,
    /// Ids of its runs that have not finished.
    pub active_runs: Vec<String>,
    /// Its run that finished last.
    pub last_run: Option<FinishedRun>,
}

/// Where a canary climbing a traffic ladder stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LadderStatus {
    /// The ladder, as given (`1,25%,50%`).
    pub steps: String,
    /// The count the canary climbs towards (its `TARGET_INSTANCES`).
    pub target: u32,
    /// Each step's instance count for the target.
    pub counts: Vec<u32>,
    /// The step the canary's healthy instances have reached, from 1 (0:
    /// not even the first yet).
    pub reached: usize,
}

/// A deployment group as it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupStatus {
    /// The app name given to canary.
    pub app: String,
    /// The deployment group (from the jobs' `canary.deployment-group`
    /// label, else the app name).
    pub deployment_group: String,
    /// Whether two or more apps of the group run: a canary between its
    /// deploy and its rollout or rollback.
    pub canary_in_progress: bool,
    /// What the shares count.
    pub share_basis: ShareBasis,
    /// Tasks counted in all.
    pub share_total: u64,
    /// The group's apps, oldest first.
    pub apps: Vec<AppStatus>,
    /// The three phase jobs, deploy, rollout, rollback.
    pub jobs: Vec<JobStatus>,
    /// The canary's traffic ladder, when it climbs one (`deploy --steps`).
    pub ladder: Option<LadderStatus>,
    /// Whether the phase jobs that exist deploy one image (their
    /// `canary.image` labels agree): two applies of different images at
    /// once, or one that stopped part way, leave them disagreeing.
    pub job_images_agree: bool,
}

/// The deployment group of `app_name`: its jobs' label, else the name.
pub fn deployment_group(app_name: &str, jobs: &[(Phase, Option<LiveJob>)]) -> String {
    jobs.iter()
        .filter_map(|(_, job)| job.as_ref())
        .find_map(|job| job_label(job, labels::DEPLOYMENT_GROUP))
        .unwrap_or(app_name)
        .to_owned()
}

/// Marathon's counts for `app`: its running tasks, and those of them that
/// pass their health checks (none without checks, as Marathon counts).
fn counts(app: &MarathonApp) -> (u64, u64) {
    let healthy = if app.has_health_checks {
        app.healthy_tasks()
    } else {
        0
    };
    (app.running_tasks() as u64, healthy as u64)
}

fn job_label<'a>(job: &'a LiveJob, name: &str) -> Option<&'a str> {
    job.spec
        .get("labels")
        .and_then(|labels| labels.get(name))
        .and_then(Value::as_str)
}

/// The status of `app_name`'s group from the cluster's apps and the phase
/// jobs (`None` where a job does not exist).
pub fn summarize(
    app_name: &str,
    apps: &[MarathonApp],
    jobs: &[(Phase, Option<LiveJob>)],
) -> GroupStatus {
    let deployment_group = deployment_group(app_name, jobs);
    let mut members: Vec<&MarathonApp> = apps
        .iter()
        .filter(|app| app.label(LABEL_DEPLOYMENT_GROUP) == Some(deployment_group.as_str()))
        .collect();
    // zdd.py's order: by the started-at label as a string, missing as "0";
    // the id breaks ties so the order is stable.
    members.sort_by(|a, b| {
        let key = |app: &MarathonApp| {
            app.label(LABEL_DEPLOYMENT_STARTED_AT)
                .unwrap_or("0")
                .to_owned()
        };
        key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
    });
    let healthy_total: u64 = members.iter().map(|a| counts(a).1).sum();
    let (share_basis, share_total) = if healthy_total > 0 {
        (ShareBasis::Healthy, healthy_total)
    } else {
        (
            ShareBasis::Running,
            members.iter().map(|a| counts(a).0).sum(),
        )
    };
    let newest = members.len().checked_sub(1);
    let app_statuses = members
        .iter()
        .enumerate()
        .map(|(index, app)| {
            let (running, healthy) = counts(app);
            let share_tasks = match share_basis {
                ShareBasis::Healthy => healthy,
                ShareBasis::Running => running,
            };
            let role = match (members.len(), Some(index) == newest) {
                (1, _) => Role::Stable,
                (_, true) => Role::Canary,
                _ => Role::Previous,
            };
            AppStatus {
                id: app.id.clone(),
                role,
                colour: app.label(LABEL_DEPLOYMENT_COLOUR).map(str::to_owned),
                image: app.image.clone(),
                instances: u64::from(app.instances),
                running,
                healthy,
                started_at: app
                    .label(LABEL_DEPLOYMENT_STARTED_AT)
                    .map(str::to_owned)
                    .or_else(|| app.version.clone()),
                share_tasks,
                share_percent: percent(share_tasks, share_total),
                deployments: app.deployments.clone(),
            }
        })
        .collect();
    let jobs: Vec<JobStatus> = jobs
        .iter()
        .map(|(phase, job)| JobStatus {
            phase: *phase,
            id: phase.job_id(app_name),
            exists: job.is_some(),
            image: job
                .as_ref()
                .and_then(|j| job_label(j, labels::IMAGE))
                .map(str::to_owned),
            active_runs: job
                .as_ref()
                .map(|j| j.active_runs.iter().map(|r| r.run_id.clone()).collect())
                .unwrap_or_default(),
            last_run: job.as_ref().and_then(|j| j.history.last_run.clone()),
        })
        .collect();
    let job_images_agree = {
        let mut images = jobs.iter().filter(|j| j.exists).map(|j| &j.image);
        let first = images.next();
        images.all(|image| Some(image) == first)
    };
    let ladder = members
        .last()
        .filter(|_| members.len() >= 2)
        .and_then(|canary| {
            let steps = canary.label(crate::plan::labels::STEPS)?;
            let ladder = crate::plan::ladder::Ladder::parse(steps).ok()?;
            let target = canary
                .label(crate::plan::labels::TARGET_INSTANCES)
                .and_then(|t| t.parse().ok())
                .unwrap_or(canary.instances);
            let healthy = counts(canary).1 as u32;
            Some(LadderStatus {
                steps: ladder.to_string(),
                target,
                counts: ladder.counts(target),
                reached: ladder.reached(target, healthy).map_or(0, |i| i + 1),
            })
        });
    GroupStatus {
        app: app_name.to_owned(),
        deployment_group,
        canary_in_progress: members.len() >= 2,
        share_basis,
        share_total,
        apps: app_statuses,
        jobs,
        job_images_agree,
        ladder,
    }
}

/// `part` of `total` in percent, rounded to one decimal.
fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    // Counts are far below 2^52: the conversion is exact.
    (part as f64 * 1000.0 / total as f64).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;
    use std::collections::BTreeMap;

    /// Marathon's JSON of an app with `running` tasks, `healthy` of them
    /// passing a health check (none: no health checks).
    fn json_app(id: &str, group: &str, started: Option<&str>, running: u64, healthy: u64) -> Value {
        let mut labels = BTreeMap::from([(LABEL_DEPLOYMENT_GROUP.to_owned(), group.to_owned())]);
        if let Some(started) = started {
            labels.insert(LABEL_DEPLOYMENT_STARTED_AT.to_owned(), started.to_owned());
        }
        labels.insert(LABEL_DEPLOYMENT_COLOUR.to_owned(), "blue".to_owned());
        let tasks: Vec<Value> = (0..running)
            .map(|i| {
                let mut task = json!({"id": format!("{id}.{i}"), "host": "10.0.0.1",
                                      "ports": [31000 + i], "state": "TASK_RUNNING"});
                if healthy > 0 {
                    task["healthCheckResults"] = json!([{"alive": i < healthy}]);
                }
                task
            })
            .collect();
        let mut app = json!({"id": id, "instances": running, "labels": labels,
            "container": {"docker": {"image": format!("img-{id}")}},
            "version": "v", "tasks": tasks});
        if healthy > 0 {
            app["healthChecks"] = json!([{"protocol": "HTTP"}]);
        }
        app
    }

    fn app(
        id: &str,
        group: &str,
        started: Option<&str>,
        running: u64,
        healthy: u64,
    ) -> MarathonApp {
        MarathonApp::from_marathon(&json_app(id, group, started, running, healthy)).unwrap()
    }

    #[test]
    fn one_app_is_stable_with_the_whole_share() {
        let apps = [
            app("/web", "web", None, 3, 3),
            app("/other", "x", None, 2, 2),
        ];
        let status = summarize("web", &apps, &[]);
        assert!(!status.canary_in_progress);
        assert_eq!(status.apps.len(), 1);
        assert_eq!(status.apps[0].role, Role::Stable);
        assert_eq!(status.apps[0].share_percent, 100.0);
        assert_eq!(status.apps[0].started_at.as_deref(), Some("v"));
    }

    #[test]
    fn a_canary_gets_one_of_four() {
        // The original README's split: three old instances, one canary.
        let apps = [
            app(
                "/web-green",
                "web",
                Some("2026-11-27T12:00:00.000001"),
                1,
                1,
            ),
            app("/web-blue", "web", Some("2026-11-01T09:00:00.000001"), 3, 3),
        ];
        let status = summarize("web", &apps, &[]);
        assert!(status.canary_in_progress);
        assert_eq!(status.share_basis, ShareBasis::Healthy);
        assert_eq!(status.share_total, 4);
        let ids: Vec<_> = status
            .apps
            .iter()
            .map(|a| (a.id.as_str(), a.role))
            .collect();
        assert_eq!(
            ids,
            [("/web-blue", Role::Previous), ("/web-green", Role::Canary)]
        );
        assert_eq!(status.apps[0].share_percent, 75.0);
        assert_eq!(status.apps[1].share_percent, 25.0);
    }

    #[test]
    fn without_health_checks_running_tasks_count() {
        let apps = [
            app("/a", "g", Some("1"), 2, 0),
            app("/b", "g", Some("2"), 1, 0),
        ];
        let status = summarize("g", &apps, &[]);
        assert_eq!(status.share_basis, ShareBasis::Running);
        assert_eq!(status.apps[0].share_percent, 66.7);
        assert_eq!(status.apps[1].share_percent, 33.3);
        let none = summarize("g", &[app("/a", "g", None, 0, 0)], &[]);
        assert_eq!(none.apps[0].share_percent, 0.0);
    }
}
