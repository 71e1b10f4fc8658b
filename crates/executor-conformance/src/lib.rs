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
//! control says so with [`NotApplicable`].
//!
//! Each case in [`cases`] checks one operation's success or one of its
//! errors, by kind ([`ExecError`]'s variant), never by the wording an
//! implementation chose. [`conformance_suite!`] turns every case into one
//! `#[test]` for a harness, which lists each case as applicable or as not
//! applicable with its reason: a case not applicable is compiled
//! `#[ignore = "not applicable: REASON"]`, so the test summary counts it as
//! ignored, with the reason, never as passed. The lists are checked: every
//! case of [`CASES`] must be in exactly one; an applicable case that answers
//! not applicable fails; and `cargo test -- --ignored` runs the
//! not-applicable ones to check that the harness indeed cannot run them.
//!
//! Runs end as their job says: a job labelled [`OUTCOME_LABEL`]`=failure`
//! fails, any other succeeds, once the harness is asked to
//! [`Harness::finish_runs`].

use canary_core::clock::{ManualClock, Timestamp};
use canary_core::executor::{ExecError, Executor, RecordingExecutor, RunStatus};
use canary_core::retry::RetryPolicy;
use serde_json::{Value, json};
use std::sync::Arc;
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
    /// Lets the cluster run what Marathon does next: tasks start and pass
    /// their health checks, deployments finish.
    fn settle(&mut self);
    /// Whether the cluster runs tasks for its apps.
    fn runs_tasks(&self) -> Result<(), NotApplicable>;
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
/// few milliseconds (recorded by a [`ManualClock`], not slept), and time
/// enough in all for three runs of the real CLI.
pub fn tiny_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        max_total: Duration::from_secs(60),
    }
}

/// A clock for the executors under test: it records the waits and returns
/// at once.
pub fn recorded_waits() -> Arc<ManualClock> {
    Arc::new(ManualClock::starting_at(Timestamp::from_unix_secs(
        1_700_000_000,
    )))
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

/// Every case of [`cases`], by name: what a harness's lists must cover.
pub const CASES: &[&str] = &[
    "group_apps_reads_every_app_of_the_group",
    "get_job_of_a_missing_job_is_none",
    "create_job_then_get_job_reads_it_back",
    "create_job_twice_conflicts",
    "create_job_refused_as_invalid",
    "replace_job_changes_the_spec",
    "replace_job_of_a_missing_job_is_not_found",
    "start_run_shows_in_get_job_and_run_status",
    "start_run_of_a_missing_job_is_not_found",
    "stop_run_fails_the_run",
    "stop_run_of_an_unknown_run_is_not_found",
    "stop_run_of_a_missing_job_is_not_found",
    "run_status_of_a_successful_run",
    "run_status_of_a_failed_run",
    "run_status_of_an_unknown_run_is_not_found",
    "run_status_of_a_missing_job_is_not_found",
    "get_job_reads_history_and_active_runs",
    "unauthenticated_is_an_auth_error",
    "unreachable_is_an_unreachable_error",
    "create_job_retries_503s",
    "reads_retry_a_dropped_connection_and_a_502",
    "a_lasting_503_is_unreachable_after_the_attempts",
    "start_run_retries_a_503",
    "start_run_meeting_a_502_is_not_repeated",
    "stop_run_retries_a_502",
    "group_apps_of_an_empty_group_is_empty",
    "group_apps_picks_the_group_exactly_among_lookalikes",
    "create_app_then_group_apps_reads_it",
    "create_app_twice_conflicts",
    "create_app_refused_as_invalid",
    "scale_app_changes_instances",
    "scale_app_of_a_missing_app_is_not_found",
    "kill_tasks_scales_down",
    "delete_app_removes_it",
    "delete_app_of_a_missing_app_is_not_found",
    "a_scale_meeting_a_deployment_lock_is_retried",
];

/// Runs one applicable case on the harness `make` builds. Panics (fails
/// the test) when a check fails, when the harness cannot be built, or when
/// the case answers that it is not applicable after all.
pub fn run_case(
    name: &str,
    case: fn(&mut dyn Harness) -> Verdict,
    make: impl FnOnce() -> Result<Box<dyn Harness>, String>,
) {
    let mut harness = make().unwrap_or_else(|reason| panic!("no harness for {name}: {reason}"));
    if let Verdict::NotApplicable(reason) = case(harness.as_mut()) {
        panic!(
            "conformance case {name} is listed as applicable to {}, but it answered: not applicable ({reason})",
            harness.name()
        );
    }
}

/// Runs a case listed as not applicable (only with `--ignored`): it must
/// answer not applicable, proving the listing.
pub fn check_not_applicable(
    name: &str,
    case: fn(&mut dyn Harness) -> Verdict,
    make: impl FnOnce() -> Result<Box<dyn Harness>, String>,
) {
    let mut harness = make().unwrap_or_else(|reason| panic!("no harness for {name}: {reason}"));
    let verdict = case(harness.as_mut());
    assert!(
        matches!(verdict, Verdict::NotApplicable(_)),
        "conformance case {name} is listed as not applicable to {}, but it ran: {verdict:?}",
        harness.name()
    );
}

/// Checks that a harness's lists cover [`CASES`] exactly once each.
pub fn assert_lists_every_case(applicable: &[&str], not_applicable: &[&str]) {
    let mut listed: Vec<&str> = applicable.iter().chain(not_applicable).copied().collect();
    listed.sort_unstable();
    let mut all = CASES.to_vec();
    all.sort_unstable();
    assert_eq!(listed, all, "every case listed exactly once");
}

/// Defines one `#[test]` per conformance case, each on a fresh harness from
/// `$make`, an expression of type
/// `fn() -> Result<Box<dyn Harness>, String>`:
///
/// ```text
/// conformance_suite!(make_harness;
///     attributes: [#[cfg_attr(not(canary_dcos_cli), ignore = "needs the real dcos CLI")]];
///     applicable: [group_apps_reads_every_app_of_the_group, ...];
///     not_applicable: [unauthenticated_is_an_auth_error => "not applicable: the fake has no authentication"]);
/// ```
///
/// The `attributes` (`[]` for none) go on every applicable case's test;
/// each not-applicable case is ignored with its reason; one more test
/// checks the two lists against [`CASES`]. A target that runs every case
/// says `every_case_applicable` instead of the two lists.
#[macro_export]
macro_rules! conformance_suite {
    (
        $make:expr;
        attributes: $attributes:tt;
        every_case_applicable $(;)?
    ) => {
        $crate::conformance_suite!($make;
            attributes: $attributes;
            applicable: [
                group_apps_reads_every_app_of_the_group,
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
                group_apps_of_an_empty_group_is_empty,
                group_apps_picks_the_group_exactly_among_lookalikes,
                create_app_then_group_apps_reads_it,
                create_app_twice_conflicts,
                create_app_refused_as_invalid,
                scale_app_changes_instances,
                scale_app_of_a_missing_app_is_not_found,
                kill_tasks_scales_down,
                delete_app_removes_it,
                delete_app_of_a_missing_app_is_not_found,
                a_scale_meeting_a_deployment_lock_is_retried,
            ];
            not_applicable: [];
        );
    };
    (
        $make:expr;
        attributes: $attributes:tt;
        applicable: [$($case:ident),* $(,)?];
        not_applicable: [$($na:ident => $why:literal),* $(,)?] $(;)?
    ) => {
        $(
            $crate::conformance_suite!(@applicable $make; $attributes; $case);
        )*
        $(
            #[test]
            #[ignore = $why]
            fn $na() {
                $crate::check_not_applicable(stringify!($na), $crate::cases::$na, $make);
            }
        )*
        #[test]
        fn every_conformance_case_is_listed_once() {
            $crate::assert_lists_every_case(
                &[$(stringify!($case)),*],
                &[$(stringify!($na)),*],
            );
        }
    };
    (@applicable $make:expr; [$(#[$meta:meta])*]; $case:ident) => {
        #[test]
        $(#[$meta])*
        fn $case() {
            $crate::run_case(stringify!($case), $crate::cases::$case, $make);
        }
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
        self.executor.insert_marathon_app(app.clone());
    }

    fn settle(&mut self) {}

    fn runs_tasks(&self) -> Result<(), NotApplicable> {
        Err(NotApplicable(
            "the fake runs no tasks: it only stores the apps".to_owned(),
        ))
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
        ExecError::Untrusted { .. } => "Untrusted",
        ExecError::Interrupted { .. } => "Interrupted",
        ExecError::Other { .. } => "Other",
    };
    assert_eq!(kind, expected, "{error:?}");
    error
}
