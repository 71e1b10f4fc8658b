//! The cases: each takes a fresh [`Harness`] and checks one operation's
//! success or one of its errors. Errors are checked by kind.

mod apps;

pub use apps::*;

use crate::{Harness, Verdict, assert_kind, job_spec};
use canary_core::apply::strip_metronome_defaults;
use canary_core::executor::{LiveJob, RunStatus};
use serde_json::json;

const JOB: &str = "conformance-job";
const MISSING: &str = "conformance-missing";
/// A run id of the right shape that no cluster has.
const NO_RUN: &str = "20000101000000ABCDE";

/// Creates [`JOB`] with runs ending as `outcome`; its spec.
fn create(h: &mut dyn Harness, outcome: RunStatus) -> serde_json::Value {
    let spec = job_spec(JOB, outcome);
    h.executor().create_job(&spec).expect("create_job");
    spec
}

/// The live job, which must exist.
#[track_caller]
fn live(h: &mut dyn Harness) -> LiveJob {
    h.executor()
        .get_job(JOB)
        .expect("get_job")
        .expect("the job exists")
}

/// Every app of a group comes back with its id, instance count, image and
/// labels.
pub fn group_apps_reads_every_app_of_the_group(h: &mut dyn Harness) -> Verdict {
    for (id, instances) in [("/conformance-a", 1), ("/conformance-b", 2)] {
        h.add_app(&json!({
            "id": id, "instances": instances, "cpus": 0.1, "mem": 32,
            "container": {"type": "DOCKER", "docker": {"image": "httpd:2.4"}},
            "labels": {"HAPROXY_DEPLOYMENT_GROUP": "conformance"}
        }));
    }
    let mut apps = h.executor().group_apps("conformance").expect("group_apps");
    apps.sort_by(|a, b| a.id.cmp(&b.id));
    let seen: Vec<_> = apps
        .iter()
        .map(|a| {
            (
                a.id.as_str(),
                a.instances,
                a.image.as_deref(),
                a.label("HAPROXY_DEPLOYMENT_GROUP"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("/conformance-a", 1, Some("httpd:2.4"), Some("conformance")),
            ("/conformance-b", 2, Some("httpd:2.4"), Some("conformance")),
        ]
    );
    Verdict::Passed
}

/// A job that does not exist is `None`, not an error.
pub fn get_job_of_a_missing_job_is_none(h: &mut dyn Harness) -> Verdict {
    assert_eq!(h.executor().get_job(MISSING).expect("get_job"), None);
    Verdict::Passed
}

/// A created job reads back with the same spec (Metronome's defaults set
/// aside), no active runs and an empty history.
pub fn create_job_then_get_job_reads_it_back(h: &mut dyn Harness) -> Verdict {
    let spec = create(h, RunStatus::Success);
    let job = live(h);
    assert_eq!(
        strip_metronome_defaults(&job.spec),
        strip_metronome_defaults(&spec)
    );
    assert_eq!(job.active_runs, vec![]);
    assert_eq!(job.history, Default::default());
    Verdict::Passed
}

/// Creating a job that exists is a conflict and changes nothing.
pub fn create_job_twice_conflicts(h: &mut dyn Harness) -> Verdict {
    let spec = create(h, RunStatus::Success);
    let mut other = spec.clone();
    other["description"] = json!("a second one");
    assert_kind(h.executor().create_job(&other), "Conflict");
    assert_eq!(live(h).spec["description"], spec["description"]);
    Verdict::Passed
}

/// A spec the cluster refuses is invalid, and nothing is created.
pub fn create_job_refused_as_invalid(h: &mut dyn Harness) -> Verdict {
    if let Err(na) = h.validates_specs() {
        return na.into();
    }
    let mut spec = job_spec("Not_A_Valid_Id", RunStatus::Success);
    assert_kind(h.executor().create_job(&spec), "Invalid");
    spec["id"] = json!(JOB);
    spec["run"]["cpus"] = json!(-1);
    assert_kind(h.executor().create_job(&spec), "Invalid");
    assert_eq!(h.executor().get_job(JOB).expect("get_job"), None);
    Verdict::Passed
}

/// Replacing a job changes its spec.
pub fn replace_job_changes_the_spec(h: &mut dyn Harness) -> Verdict {
    let mut spec = create(h, RunStatus::Success);
    spec["description"] = json!("replaced");
    spec["run"]["cmd"] = json!("sleep 6");
    h.executor().replace_job(&spec).expect("replace_job");
    assert_eq!(
        strip_metronome_defaults(&live(h).spec),
        strip_metronome_defaults(&spec)
    );
    Verdict::Passed
}

/// Replacing a job that does not exist is not found (and creates nothing).
pub fn replace_job_of_a_missing_job_is_not_found(h: &mut dyn Harness) -> Verdict {
    let spec = job_spec(MISSING, RunStatus::Success);
    assert_kind(h.executor().replace_job(&spec), "NotFound");
    assert_eq!(h.executor().get_job(MISSING).expect("get_job"), None);
    Verdict::Passed
}

/// A started run is not finished, is listed among the job's active runs,
/// and `run_status` finds it.
pub fn start_run_shows_in_get_job_and_run_status(h: &mut dyn Harness) -> Verdict {
    create(h, RunStatus::Success);
    let run = h.executor().start_run(JOB).expect("start_run");
    assert_eq!(run.job_id, JOB);
    assert!(!run.run_id.is_empty());
    assert!(!run.status.is_finished(), "{run:?}");
    let job = live(h);
    assert_eq!(
        job.active_runs
            .iter()
            .map(|r| r.run_id.as_str())
            .collect::<Vec<_>>(),
        [run.run_id.as_str()]
    );
    let status = h
        .executor()
        .run_status(JOB, &run.run_id)
        .expect("run_status");
    assert_eq!(
        (status.job_id.as_str(), status.run_id.as_str()),
        (JOB, run.run_id.as_str())
    );
    assert!(!status.status.is_finished(), "{status:?}");
    Verdict::Passed
}

/// Starting a run of a job that does not exist is not found.
pub fn start_run_of_a_missing_job_is_not_found(h: &mut dyn Harness) -> Verdict {
    assert_kind(h.executor().start_run(MISSING), "NotFound");
    Verdict::Passed
}

/// A stopped run leaves the active runs and ends failed.
pub fn stop_run_fails_the_run(h: &mut dyn Harness) -> Verdict {
    create(h, RunStatus::Success);
    let run = h.executor().start_run(JOB).expect("start_run");
    h.executor().stop_run(JOB, &run.run_id).expect("stop_run");
    let job = live(h);
    assert_eq!(job.active_runs, vec![]);
    assert_eq!(job.history.failure_count, 1);
    assert_eq!(
        h.executor()
            .run_status(JOB, &run.run_id)
            .expect("run_status")
            .status,
        RunStatus::Failed
    );
    Verdict::Passed
}

/// Stopping a run the job does not have is not found.
pub fn stop_run_of_an_unknown_run_is_not_found(h: &mut dyn Harness) -> Verdict {
    create(h, RunStatus::Success);
    assert_kind(h.executor().stop_run(JOB, NO_RUN), "NotFound");
    Verdict::Passed
}

/// Stopping a run of a job that does not exist is not found.
pub fn stop_run_of_a_missing_job_is_not_found(h: &mut dyn Harness) -> Verdict {
    assert_kind(h.executor().stop_run(MISSING, NO_RUN), "NotFound");
    Verdict::Passed
}

/// Starts a run of a job whose runs end as `outcome`, lets it finish, and
/// checks that `run_status` reads that outcome.
fn finished_run_reads(h: &mut dyn Harness, outcome: RunStatus) -> Verdict {
    create(h, outcome);
    let run = h.executor().start_run(JOB).expect("start_run");
    h.finish_runs(JOB);
    let status = h
        .executor()
        .run_status(JOB, &run.run_id)
        .expect("run_status");
    assert_eq!(
        (
            status.job_id.as_str(),
            status.run_id.as_str(),
            status.status
        ),
        (JOB, run.run_id.as_str(), outcome)
    );
    Verdict::Passed
}

/// A run that finished well reads `Success` (from the history).
pub fn run_status_of_a_successful_run(h: &mut dyn Harness) -> Verdict {
    finished_run_reads(h, RunStatus::Success)
}

/// A run that failed reads `Failed`.
pub fn run_status_of_a_failed_run(h: &mut dyn Harness) -> Verdict {
    finished_run_reads(h, RunStatus::Failed)
}

/// A run the job never had is not found.
pub fn run_status_of_an_unknown_run_is_not_found(h: &mut dyn Harness) -> Verdict {
    create(h, RunStatus::Success);
    assert_kind(h.executor().run_status(JOB, NO_RUN), "NotFound");
    Verdict::Passed
}

/// A run of a job that does not exist is not found.
pub fn run_status_of_a_missing_job_is_not_found(h: &mut dyn Harness) -> Verdict {
    assert_kind(h.executor().run_status(MISSING, NO_RUN), "NotFound");
    Verdict::Passed
}

/// `get_job` counts finished runs, names the last one, and lists the
/// active ones.
pub fn get_job_reads_history_and_active_runs(h: &mut dyn Harness) -> Verdict {
    create(h, RunStatus::Success);
    let first = h.executor().start_run(JOB).expect("start_run");
    h.finish_runs(JOB);
    let stopped = h.executor().start_run(JOB).expect("start_run");
    h.executor()
        .stop_run(JOB, &stopped.run_id)
        .expect("stop_run");
    let active = h.executor().start_run(JOB).expect("start_run");
    let job = live(h);
    assert_eq!(
        (job.history.success_count, job.history.failure_count),
        (1, 1)
    );
    let last = job.history.last_run.expect("a last run");
    assert_eq!(
        (last.run_id, last.status),
        (stopped.run_id, RunStatus::Failed)
    );
    assert_ne!(first.run_id, active.run_id);
    assert_eq!(
        job.active_runs
            .iter()
            .map(|r| r.run_id.as_str())
            .collect::<Vec<_>>(),
        [active.run_id.as_str()]
    );
    Verdict::Passed
}

/// Without credentials every operation is an auth error.
pub fn unauthenticated_is_an_auth_error(h: &mut dyn Harness) -> Verdict {
    let mut executor = match h.unauthenticated() {
        Ok(executor) => executor,
        Err(na) => return na.into(),
    };
    // The job exists, so that only the missing credentials can fail.
    let spec = create(h, RunStatus::Success);
    let run = h.executor().start_run(JOB).expect("start_run");
    every_operation_fails_with(executor.as_mut(), &spec, &run.run_id, "Auth");
    Verdict::Passed
}

/// A cluster that does not answer is unreachable.
pub fn unreachable_is_an_unreachable_error(h: &mut dyn Harness) -> Verdict {
    let mut executor = match h.unreachable() {
        Ok(executor) => executor,
        Err(na) => return na.into(),
    };
    every_operation_fails_with(
        executor.as_mut(),
        &job_spec(JOB, RunStatus::Success),
        NO_RUN,
        "Unreachable",
    );
    Verdict::Passed
}

/// Runs every trait operation on `executor` and asserts each fails with
/// the `kind` of error.
fn every_operation_fails_with(
    executor: &mut dyn canary_core::executor::Executor,
    spec: &serde_json::Value,
    run_id: &str,
    kind: &str,
) {
    assert_kind(executor.group_apps("conformance"), kind);
    assert_kind(executor.get_job(JOB), kind);
    assert_kind(executor.create_job(spec), kind);
    assert_kind(executor.replace_job(spec), kind);
    assert_kind(executor.start_run(JOB), kind);
    assert_kind(executor.run_status(JOB, run_id), kind);
    assert_kind(executor.stop_run(JOB, run_id), kind);
}

/// The path of Metronome's jobs behind Admin Router, where faults go.
const JOBS_PATH: &str = "/service/metronome/v1/jobs";

/// Injects a fault: `action` on `method` requests under `path`, `times`
/// times (forever when `None`).
fn fault(
    h: &mut dyn Harness,
    method: &str,
    path: &str,
    action: serde_json::Value,
    times: Option<u32>,
) -> Result<(), crate::NotApplicable> {
    let mut rule = json!({"path_prefix": path, "method": method, "action": action});
    if let Some(times) = times {
        rule["times"] = json!(times);
    }
    h.inject_fault(&rule)
}

fn status(code: u16) -> serde_json::Value {
    json!({"status": {"code": code}})
}

/// Two 503s on the create, then success: the create succeeds after two
/// waits, and exactly one job exists.
pub fn create_job_retries_503s(h: &mut dyn Harness) -> Verdict {
    if let Err(na) = fault(h, "POST", JOBS_PATH, status(503), Some(2)) {
        return na.into();
    }
    let spec = create(h, RunStatus::Success);
    assert_eq!(h.retry_waits().len(), 2, "{:?}", h.retry_waits());
    assert_eq!(h.job_count(), 1);
    assert_eq!(
        strip_metronome_defaults(&live(h).spec),
        strip_metronome_defaults(&spec)
    );
    Verdict::Passed
}

/// A read whose connection is dropped, then one answered 502, are each
/// repeated and succeed.
pub fn reads_retry_a_dropped_connection_and_a_502(h: &mut dyn Harness) -> Verdict {
    if let Err(na) = fault(h, "GET", JOBS_PATH, json!("drop"), Some(1)) {
        return na.into();
    }
    assert_eq!(h.executor().get_job(MISSING).expect("get_job"), None);
    assert_eq!(h.retry_waits().len(), 1, "{:?}", h.retry_waits());
    create(h, RunStatus::Success);
    fault(h, "GET", JOBS_PATH, status(502), Some(1)).expect("a fault");
    assert_eq!(live(h).active_runs, vec![]);
    assert_eq!(h.retry_waits().len(), 2, "{:?}", h.retry_waits());
    Verdict::Passed
}

/// A 503 that lasts is `Unreachable` once the policy's 3 attempts are
/// made, and the error says so.
pub fn a_lasting_503_is_unreachable_after_the_attempts(h: &mut dyn Harness) -> Verdict {
    if let Err(na) = fault(h, "GET", JOBS_PATH, status(503), None) {
        return na.into();
    }
    let error = assert_kind(h.executor().get_job(JOB), "Unreachable");
    let message = error.to_string();
    assert!(message.contains("503"), "{message}");
    assert!(message.contains("(after 3 attempts in "), "{message}");
    assert_eq!(h.retry_waits().len(), 2, "{:?}", h.retry_waits());
    Verdict::Passed
}

/// A run start answered 503 (not served) is repeated: exactly one run.
pub fn start_run_retries_a_503(h: &mut dyn Harness) -> Verdict {
    let runs = format!("{JOBS_PATH}/{JOB}/runs");
    if let Err(na) = fault(h, "POST", &runs, status(503), Some(1)) {
        return na.into();
    }
    create(h, RunStatus::Success);
    let run = h.executor().start_run(JOB).expect("start_run");
    assert_eq!(h.retry_waits().len(), 1, "{:?}", h.retry_waits());
    assert_eq!(h.active_run_count(JOB), 1);
    assert_eq!(
        live(h)
            .active_runs
            .iter()
            .map(|r| r.run_id.as_str())
            .collect::<Vec<_>>(),
        [run.run_id.as_str()]
    );
    Verdict::Passed
}

/// A run start answered 502 may have reached Metronome through the
/// gateway: it is not repeated (the fault lasts one request, so a repeat
/// would have succeeded), and the error says it may have started.
pub fn start_run_meeting_a_502_is_not_repeated(h: &mut dyn Harness) -> Verdict {
    let runs = format!("{JOBS_PATH}/{JOB}/runs");
    if let Err(na) = fault(h, "POST", &runs, status(502), Some(1)) {
        return na.into();
    }
    create(h, RunStatus::Success);
    let error = assert_kind(h.executor().start_run(JOB), "Unreachable");
    let message = error.to_string();
    assert!(message.contains("502"), "{message}");
    assert!(message.contains("may have reached"), "{message}");
    assert!(message.contains("not repeated"), "{message}");
    assert_eq!(h.retry_waits(), vec![]);
    // The sim answered the 502 itself: no run started.
    assert_eq!(h.active_run_count(JOB), 0);
    h.executor().start_run(JOB).expect("start_run");
    assert_eq!(h.active_run_count(JOB), 1);
    Verdict::Passed
}

/// A stop answered 502 is repeated, and the run ends stopped.
pub fn stop_run_retries_a_502(h: &mut dyn Harness) -> Verdict {
    create(h, RunStatus::Success);
    let run = h.executor().start_run(JOB).expect("start_run");
    let stop = format!("{JOBS_PATH}/{JOB}/runs/{}/actions/stop", run.run_id);
    if let Err(na) = fault(h, "POST", &stop, status(502), Some(1)) {
        return na.into();
    }
    h.executor().stop_run(JOB, &run.run_id).expect("stop_run");
    assert_eq!(h.retry_waits().len(), 1, "{:?}", h.retry_waits());
    assert_eq!(h.active_run_count(JOB), 0);
    assert_eq!(
        h.executor()
            .run_status(JOB, &run.run_id)
            .expect("run_status")
            .status,
        RunStatus::Failed
    );
    Verdict::Passed
}
