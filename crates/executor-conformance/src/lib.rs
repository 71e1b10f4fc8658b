//! One conformance suite for canary-core's [`Executor`], written once and
//! run against every implementation: the [`RecordingExecutor`] fake,
//! `exec-http` on dcos-sim, and `exec-dcos-cli` driving the real `dcos` CLI
//! on dcos-sim (this crate's tests).
//!
//! # The model
//!
//! A [`Harness`] hands a case a fresh cluster: an executor authorised on
//! it, and the few controls a case needs that are not executor operations
//! (letting runs finish, adding a Marathon app, an executor without
//! credentials or pointed at nothing). A harness that cannot provide a
//! control says so with [`NotApplicable`], and the case is reported as not
//! applicable (on stderr, naming the harness and the reason) instead of
//! passing silently.
//!
//! Each case in [`cases`] checks one operation's success or one of its
//! errors, by kind ([`ExecError`]'s variant), never by the wording an
//! implementation chose. [`conformance_suite!`] turns every case into one
//! `#[test]` for a harness.
//!
//! Runs end as their job says: a job labelled [`OUTCOME_LABEL`]`=failure`
//! fails, any other succeeds, once the harness is asked to
//! [`Harness::finish_runs`].

use canary_core::executor::{ExecError, Executor, RecordingExecutor, RunStatus};
use canary_core::retry::{RetryPolicy, Sleeper};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

pub mod cases;
pub mod real_cli;

/// The label that says how a conformance job's runs end: `success` or
/// `failure`.
pub const OUTCOME_LABEL: &str = "conformance.outcome";

/// Why a harness cannot provide a control (e.g. a fake has no
/// authentication to refuse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotApplicable(pub String);

/// What a case concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check held.
    Passed,
    /// The harness cannot model what the case needs; the reason.
    NotApplicable(String),
}

impl From<NotApplicable> for Verdict {
    fn from(na: NotApplicable) -> Self {
        Verdict::NotApplicable(na.0)
    }
}

/// A fresh cluster for one case, and the controls the cases need.
pub trait Harness {
    /// Names the executor and cluster, e.g. `exec-http on dcos-sim`.
    fn name(&self) -> String;
    /// The executor under test, authorised on this cluster.
    fn executor(&mut self) -> &mut dyn Executor;
    /// Lets every active run of `job_id` end, as its job's
    /// [`OUTCOME_LABEL`] says.
    fn finish_runs(&mut self, job_id: &str);
    /// Puts a Marathon app (its JSON definition) on the cluster.
    fn add_app(&mut self, app: &Value);
    /// Whether the cluster checks job specs (and refuses invalid ones).
    fn validates_specs(&self) -> Result<(), NotApplicable>;
    /// An executor for this cluster without credentials.
    fn unauthenticated(&mut self) -> Result<Box<dyn Executor>, NotApplicable>;
    /// An executor configured for a cluster that does not answer.
    fn unreachable(&mut self) -> Result<Box<dyn Executor>, NotApplicable>;
    /// Makes the cluster fail requests as a dcos-sim fault rule says, e.g.
    /// `{"path_prefix": "/service/metronome/v1/jobs", "method": "POST",
    /// "action": {"status": {"code": 503}}, "times": 2}`.
    fn inject_fault(&mut self, rule: &Value) -> Result<(), NotApplicable>;
    /// The waits between attempts the executor under test made so far.
    fn retry_waits(&self) -> Vec<Duration>;
    /// How many jobs the cluster holds, counted on the cluster itself.
    fn job_count(&self) -> usize;
    /// How many active runs `job_id` has, counted on the cluster itself.
    fn active_run_count(&self, job_id: &str) -> usize;
}

/// The retry policy of the executors under test: 3 attempts, waits of a
/// few milliseconds (recorded by [`RecordedWaits`], not slept), and time
/// enough in all for three runs of the real CLI.
pub fn tiny_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        max_total: Duration::from_secs(60),
    }
}

/// A [`Sleeper`] that records the waits and returns at once.
#[derive(Debug, Default)]
pub struct RecordedWaits(Mutex<Vec<Duration>>);

impl RecordedWaits {
    /// The waits so far, in order.
    pub fn taken(&self) -> Vec<Duration> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Sleeper for RecordedWaits {
    fn sleep(&self, duration: Duration) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(duration);
    }
}

/// A job spec as canary writes them (everything explicit that Metronome
/// would not default), whose runs end with `outcome` (`Success` or
/// `Failed`).
pub fn job_spec(id: &str, outcome: RunStatus) -> Value {
    let outcome = if outcome == RunStatus::Failed {
        "failure"
    } else {
        "success"
    };
    json!({
        "id": id,
        "description": "executor conformance",
        "labels": {OUTCOME_LABEL: outcome},
        "run": {"cmd": "sleep 5", "cpus": 0.1, "mem": 32, "disk": 0}
    })
}

/// Whether a job spec's runs should fail.
pub fn should_fail(spec: &Value) -> bool {
    spec.pointer(&format!("/labels/{}", OUTCOME_LABEL.replace('/', "~1")))
        .and_then(Value::as_str)
        == Some("failure")
}

/// Runs one case on the harness `make` builds, or reports why it is
/// skipped (`make` failed: e.g. the real CLI is not installed) or not
/// applicable. Panics (fails the test) when a check fails.
pub fn run_case(
    name: &str,
    case: fn(&mut dyn Harness) -> Verdict,
    make: impl FnOnce() -> Result<Box<dyn Harness>, String>,
) {
    let mut harness = match make() {
        Ok(harness) => harness,
        Err(reason) => {
            let _ = writeln!(
                std::io::stderr(),
                "conformance case {name} skipped: {reason}"
            );
            return;
        }
    };
    match case(harness.as_mut()) {
        Verdict::Passed => {}
        Verdict::NotApplicable(reason) => {
            let _ = writeln!(
                std::io::stderr(),
                "conformance case {name} NOT APPLICABLE to {}: {reason}",
                harness.name()
            );
        }
    }
}

/// Defines one `#[test]` per conformance case, each on a fresh harness from
/// `$make`, an expression of type
/// `fn() -> Result<Box<dyn Harness>, String>`.
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            list_apps_on_an_empty_cluster,
            list_apps_reads_apps,
            get_job_of_a_missing_job_is_none,
            create_job_then_get_job_reads_it_back,
            create_job_twice_conflicts,
            create_job_refused_as_invalid,
            replace_job_changes_the_spec,
            replace_job_of_a_missing_job_is_not_found,
            start_run_shows_in_get_job_and_run_status,
            start_run_of_a_missing_job_is_not_found,
            stop_run_fails_the_run,
            stop_run_of_an_unknown_run_is_not_found,
            stop_run_of_a_missing_job_is_not_found,
            run_status_of_a_successful_run,
            run_status_of_a_failed_run,
            run_status_of_an_unknown_run_is_not_found,
            run_status_of_a_missing_job_is_not_found,
            get_job_reads_history_and_active_runs,
            unauthenticated_is_an_auth_error,
            unreachable_is_an_unreachable_error,
            create_job_retries_503s,
            reads_retry_a_dropped_connection_and_a_502,
            a_lasting_503_is_unreachable_after_the_attempts,
            start_run_retries_a_503,
            start_run_meeting_a_502_is_not_repeated,
            stop_run_retries_a_502,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::run_case(stringify!($case), $crate::cases::$case, $make);
            }
        )*
    };
}

/// The [`RecordingExecutor`] as a harness: runs end through
/// [`RecordingExecutor::finish_run`]; it has no authentication and no
/// network, so those cases are not applicable.
#[derive(Debug, Default)]
pub struct FakeHarness {
    executor: RecordingExecutor,
}

impl FakeHarness {
    /// An empty fake cluster.
    pub fn new() -> Self {
        FakeHarness::default()
    }
}

impl Harness for FakeHarness {
    fn name(&self) -> String {
        "the recording fake".to_owned()
    }

    fn executor(&mut self) -> &mut dyn Executor {
        &mut self.executor
    }

    fn finish_runs(&mut self, job_id: &str) {
        let Some(job) = self.executor.job(job_id).cloned() else {
            return;
        };
        let status = if should_fail(&job.spec) {
            RunStatus::Failed
        } else {
            RunStatus::Success
        };
        for run in &job.active_runs {
            self.executor.finish_run(job_id, &run.run_id, status);
        }
    }

    fn add_app(&mut self, app: &Value) {
        let live = canary_core::executor::LiveApp::from_marathon(app)
            .expect("a Marathon app definition with an id");
        self.executor.insert_app(live);
    }

    fn validates_specs(&self) -> Result<(), NotApplicable> {
        Err(NotApplicable(
            "the fake stores any spec as given".to_owned(),
        ))
    }

    fn unauthenticated(&mut self) -> Result<Box<dyn Executor>, NotApplicable> {
        Err(NotApplicable(
            "the fake has no authentication to refuse".to_owned(),
        ))
    }

    fn unreachable(&mut self) -> Result<Box<dyn Executor>, NotApplicable> {
        Err(NotApplicable("the fake has no network to fail".to_owned()))
    }

    fn inject_fault(&mut self, _rule: &Value) -> Result<(), NotApplicable> {
        Err(NotApplicable(
            "the fake has no network to fail and does not retry".to_owned(),
        ))
    }

    fn retry_waits(&self) -> Vec<Duration> {
        Vec::new()
    }

    fn job_count(&self) -> usize {
        self.executor.job_count()
    }

    fn active_run_count(&self, job_id: &str) -> usize {
        self.executor
            .job(job_id)
            .map_or(0, |job| job.active_runs.len())
    }
}

/// Asserts that `result` failed with the `expected` kind of error.
#[track_caller]
pub fn assert_kind<T: std::fmt::Debug>(result: Result<T, ExecError>, expected: &str) -> ExecError {
    let error = match result {
        Ok(value) => panic!("expected a {expected} error, got Ok({value:?})"),
        Err(e) => e,
    };
    let kind = match &error {
        ExecError::NotFound { .. } => "NotFound",
        ExecError::Conflict { .. } => "Conflict",
        ExecError::Invalid { .. } => "Invalid",
        ExecError::Locked { .. } => "Locked",
        ExecError::Auth { .. } => "Auth",
        ExecError::Unreachable { .. } => "Unreachable",
        ExecError::Other { .. } => "Other",
    };
    assert_eq!(kind, expected, "{error:?}");
    error
}
