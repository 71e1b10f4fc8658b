//! Metronome v1: jobs, runs, schedules and history.
//!
//! # What is emulated
//!
//! * Jobs: `POST/GET/PUT/DELETE /v1/jobs[/{id}]`, validated like Metronome
//!   (the project's job JSON Schema first, then the rules the schema cannot
//!   express) and echoed with Metronome's defaults made explicit.
//! * Runs: `POST /v1/jobs/{id}/runs` starts a run; cluster time drives it
//!   through `INITIAL` -> `STARTING` -> `ACTIVE` -> `SUCCESS`/`FAILED`.
//!   Finished runs leave `/runs` and are counted in the job's `history`.
//! * Schedules are stored and returned, **never executed**: no run is ever
//!   started by a cron expression.
//!
//! # Run timeline
//!
//! A run is created `INITIAL`; the next cluster tick (any later request)
//! makes it `STARTING`; one simulated second after creation its task starts
//! (`ACTIVE`, task `TASK_RUNNING`); it finishes [`RunPlan::duration`] after
//! creation with [`RunPlan::outcome`]. `actions/stop` ends it at once as
//! `FAILED` (task `TASK_KILLED`).
//!
//! # Deciding what a run does
//!
//! By default a run succeeds after [`SimConfig::job_run_duration`]. A test
//! (or a later part of the sim) decides otherwise with a [`RunHook`], called
//! once when the run is created:
//!
//! ```
//! use dcos_sim::metronome::{RunHook, RunOutcome, RunPlan};
//! use dcos_sim::{SimConfig, SimHandle};
//! use std::{sync::Arc, time::Duration};
//! let sim = SimHandle::start(SimConfig::default()).unwrap();
//! let fail: RunHook = Arc::new(|_ctx| RunPlan {
//!     duration: Duration::from_secs(30),
//!     outcome: RunOutcome::Failure,
//! });
//! // Every run of a job labelled canary=zdd fails after 30 s...
//! sim.set_run_hook_for_label("canary", "zdd", fail);
//! // ...and every other run takes 5 s and succeeds.
//! sim.set_run_hook(Some(Arc::new(|_ctx| RunPlan::success(Duration::from_secs(5)))));
//! ```
//!
//! A [`ClusterRunHook`] ([`crate::SimHandle::set_cluster_run_hook_for_label`])
//! also gets `&mut Cluster`, to change Marathon as the job would when it
//! starts (through [`Cluster`]'s methods, e.g. [`Cluster::create_app`]). Hooks are chosen per run: the first registered label
//! hook whose `key=value` is among the job's labels, else the global hook,
//! else the default. They are called with the cluster lock held.
//!
//! # Runs that execute
//!
//! With [`crate::config::JobExecution::Execute`], the default for a run no
//! hook decides is to execute the job's `run.cmd` for real
//! ([`crate::exec`]): its status follows the process instead of the clock,
//! and a stop kills its process group (the run ends `FAILED`, task
//! `TASK_KILLED`, once the group is gone; the stop answers with the run as
//! it is then). Hooks still win over execution. The history entries of
//! executed runs carry three fields Metronome does not have: `message`
//! (why the run ended, e.g. `Command exited with status 3`), and
//! `exitCode` or `signal` when the process got that far.

mod api;
mod executed;
mod schedules;
mod validate;

use crate::clock::metronome_timestamp;
use crate::config::SimConfig;
use crate::exec::Outcome;
use crate::state::{Cluster, Shared};
use axum::Router;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Simulated time from a run's creation to its task running (`ACTIVE`).
pub const TASK_START_DELAY: Duration = Duration::from_secs(1);

/// What a [`RunHook`] is told about the run being started.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The job id.
    pub job_id: String,
    /// The new run's id (`yyyyMMddHHmmss` + 5 characters).
    pub run_id: String,
    /// The job's labels.
    pub labels: BTreeMap<String, String>,
    /// The job spec as stored (defaults explicit, without schedules).
    pub spec: Value,
    /// Cluster time of the run's creation, epoch milliseconds.
    pub now_ms: u64,
}

/// How a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// `SUCCESS`, task `TASK_FINISHED`: the run goes to
    /// `history.successfulFinishedRuns`.
    Success,
    /// `FAILED`, task `TASK_FAILED`: the run goes to
    /// `history.failedFinishedRuns`.
    Failure,
}

/// What a run will do: how long it takes (cluster time, from creation to
/// completion) and how it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunPlan {
    /// Cluster time from the run's creation to its completion.
    pub duration: Duration,
    /// How it ends.
    pub outcome: RunOutcome,
}

impl RunPlan {
    /// A run that succeeds after `duration`.
    pub fn success(duration: Duration) -> Self {
        RunPlan {
            duration,
            outcome: RunOutcome::Success,
        }
    }

    /// A run that fails after `duration`.
    pub fn failure(duration: Duration) -> Self {
        RunPlan {
            duration,
            outcome: RunOutcome::Failure,
        }
    }
}

/// Decides what a run does; called once, when the run is created.
pub type RunHook = Arc<dyn Fn(&RunContext) -> RunPlan + Send + Sync>;

/// Like [`RunHook`], with the cluster at hand so that the hook can act when
/// the run starts, e.g. deploy an app as the job would (see [`Cluster`]'s
/// methods). Called with the cluster lock held: act on `cluster` directly,
/// never through HTTP or the [`crate::SimHandle`] (that would deadlock).
pub type ClusterRunHook = Arc<dyn Fn(&RunContext, &mut Cluster) -> RunPlan + Send + Sync>;

/// A registered hook of either kind.
#[derive(Clone)]
enum AnyHook {
    Plain(RunHook),
    WithCluster(ClusterRunHook),
}

/// A run's status, as Metronome spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunStatus {
    /// Just created.
    Initial,
    /// Waiting for its task to start.
    Starting,
    /// Its task is running.
    Active,
    /// Finished successfully.
    Success,
    /// Failed or was stopped.
    Failed,
}

impl RunStatus {
    /// The wire name (`INITIAL`, `STARTING`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Initial => "INITIAL",
            RunStatus::Starting => "STARTING",
            RunStatus::Active => "ACTIVE",
            RunStatus::Success => "SUCCESS",
            RunStatus::Failed => "FAILED",
        }
    }
}

/// One run of a job.
#[derive(Debug, Clone)]
struct Run {
    id: String,
    job_id: String,
    status: RunStatus,
    created_ms: u64,
    completed_ms: Option<u64>,
    task_id: String,
    task_started_ms: Option<u64>,
    task_status: &'static str,
    /// What the clock makes of the run; `None` for a run that executes.
    plan: Option<RunPlan>,
    /// How an executed run ended.
    outcome: Option<Outcome>,
}

impl Run {
    fn to_json(&self) -> Value {
        let tasks: Vec<Value> = match self.task_started_ms {
            Some(started) => vec![json!({
                "id": self.task_id,
                "startedAt": metronome_timestamp(started),
                "completedAt": self.completed_ms.map(metronome_timestamp),
                "status": self.task_status,
            })],
            None => Vec::new(),
        };
        json!({
            "id": self.id,
            "jobId": self.job_id,
            "status": self.status.as_str(),
            "createdAt": metronome_timestamp(self.created_ms),
            "completedAt": self.completed_ms.map(metronome_timestamp),
            "tasks": tasks,
        })
    }

    /// Ends the run at `at_ms`.
    fn finish(&mut self, at_ms: u64, status: RunStatus, task_status: &'static str) {
        if self.task_started_ms.is_none() && task_status != "TASK_KILLED" {
            self.task_started_ms =
                Some((self.created_ms + TASK_START_DELAY.as_millis() as u64).min(at_ms));
        }
        self.status = status;
        self.task_status = task_status;
        self.completed_ms = Some(at_ms);
    }
}

/// A finished run as `history` lists it.
#[derive(Debug, Clone)]
struct FinishedRun {
    id: String,
    created_ms: u64,
    finished_ms: u64,
    tasks: Vec<String>,
    outcome: Option<Outcome>,
}

impl FinishedRun {
    fn to_json(&self) -> Value {
        let mut entry = json!({
            "id": self.id,
            "createdAt": metronome_timestamp(self.created_ms),
            "finishedAt": metronome_timestamp(self.finished_ms),
            "tasks": self.tasks,
        });
        // The sim's own additions for runs that executed (see the module
        // documentation).
        if let Some(outcome) = &self.outcome {
            entry["message"] = json!(outcome.message);
            if let Some(code) = outcome.exit_code {
                entry["exitCode"] = json!(code);
            }
            if let Some(signal) = outcome.signal {
                entry["signal"] = json!(signal);
            }
        }
        entry
    }
}

/// A job's finished runs and counters.
#[derive(Debug, Clone, Default)]
struct History {
    success_count: u64,
    failure_count: u64,
    last_success_ms: Option<u64>,
    last_failure_ms: Option<u64>,
    /// Newest first.
    successful: Vec<FinishedRun>,
    /// Newest first.
    failed: Vec<FinishedRun>,
}

impl History {
    fn record(&mut self, run: &Run) {
        let finished = FinishedRun {
            id: run.id.clone(),
            created_ms: run.created_ms,
            finished_ms: run.completed_ms.unwrap_or(run.created_ms),
            tasks: run
                .task_started_ms
                .map(|_| vec![run.task_id.clone()])
                .unwrap_or_default(),
            outcome: run.outcome.clone(),
        };
        if run.status == RunStatus::Success {
            self.success_count += 1;
            self.last_success_ms = Some(finished.finished_ms);
            self.successful.insert(0, finished);
        } else {
            self.failure_count += 1;
            self.last_failure_ms = Some(finished.finished_ms);
            self.failed.insert(0, finished);
        }
    }

    fn summary(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("successCount".into(), json!(self.success_count));
        map.insert("failureCount".into(), json!(self.failure_count));
        map.insert(
            "lastSuccessAt".into(),
            json!(self.last_success_ms.map(metronome_timestamp)),
        );
        map.insert(
            "lastFailureAt".into(),
            json!(self.last_failure_ms.map(metronome_timestamp)),
        );
        map
    }

    fn full(&self) -> Value {
        let mut map = self.summary();
        let list =
            |runs: &[FinishedRun]| Value::Array(runs.iter().map(FinishedRun::to_json).collect());
        map.insert("successfulFinishedRuns".into(), list(&self.successful));
        map.insert("failedFinishedRuns".into(), list(&self.failed));
        Value::Object(map)
    }
}

/// One job: its normalised spec, schedules, active runs and history.
#[derive(Debug, Clone)]
struct Job {
    /// The spec with defaults explicit, without `schedules`.
    spec: Value,
    schedules: Vec<Value>,
    /// Oldest first.
    active: Vec<Run>,
    history: History,
}

/// Which optional parts a job object carries (`?embed=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Embed {
    pub(crate) active_runs: bool,
    pub(crate) history: bool,
    pub(crate) history_summary: bool,
}

impl Job {
    fn labels(&self) -> BTreeMap<String, String> {
        self.spec["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The job object: the spec plus `schedules` and the embedded parts;
    /// `in_list` drops an empty `activeRuns` as Metronome's list does.
    fn to_json(&self, embed: Embed, in_list: bool) -> Value {
        let mut map = self.spec.as_object().cloned().unwrap_or_default();
        map.insert("schedules".into(), Value::Array(self.schedules.clone()));
        if embed.active_runs && !(in_list && self.active.is_empty()) {
            map.insert(
                "activeRuns".into(),
                Value::Array(self.active.iter().map(Run::to_json).collect()),
            );
        }
        if embed.history {
            map.insert("history".into(), self.history.full());
        }
        if embed.history_summary {
            map.insert(
                "historySummary".into(),
                Value::Object(self.history.summary()),
            );
        }
        Value::Object(map)
    }

    /// The stored spec with its schedules, as POST/PUT/DELETE answer.
    fn spec_json(&self) -> Value {
        self.to_json(Embed::default(), false)
    }
}

/// A registered [`RunHook`] and the label it applies to (`None`: any job).
#[derive(Clone)]
struct HookEntry {
    label: Option<(String, String)>,
    hook: AnyHook,
}

/// Metronome's state: jobs by id, their runs and history, and the run hooks.
#[derive(Default)]
pub(crate) struct Metronome {
    jobs: BTreeMap<String, Job>,
    hooks: Vec<HookEntry>,
}

impl fmt::Debug for Metronome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metronome")
            .field("jobs", &self.jobs)
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

impl Metronome {
    /// An empty Metronome.
    pub fn new(_config: &SimConfig) -> Self {
        Metronome::default()
    }

    /// Sets (or with `None` removes) the hook deciding what runs of any job
    /// do. Label hooks ([`Metronome::set_run_hook_for_label`]) win over it.
    pub fn set_run_hook(&mut self, hook: Option<RunHook>) {
        self.hooks.retain(|entry| entry.label.is_some());
        if let Some(hook) = hook {
            self.hooks.push(HookEntry {
                label: None,
                hook: AnyHook::Plain(hook),
            });
        }
    }

    /// Sets the hook deciding what runs of jobs labelled `key=value` do
    /// (replacing an earlier hook for the same label). When several label
    /// hooks match a job, the one registered first wins.
    pub fn set_run_hook_for_label(&mut self, key: &str, value: &str, hook: RunHook) {
        self.set_label_hook(key, value, AnyHook::Plain(hook));
    }

    /// Like [`Metronome::set_run_hook_for_label`] with a [`ClusterRunHook`]
    /// (shares the same slot: it replaces a plain hook for the same label and
    /// vice versa).
    pub fn set_cluster_run_hook_for_label(&mut self, key: &str, value: &str, hook: ClusterRunHook) {
        self.set_label_hook(key, value, AnyHook::WithCluster(hook));
    }

    fn set_label_hook(&mut self, key: &str, value: &str, hook: AnyHook) {
        let label = Some((key.to_owned(), value.to_owned()));
        if let Some(entry) = self.hooks.iter_mut().find(|e| e.label == label) {
            entry.hook = hook;
        } else {
            self.hooks.push(HookEntry { label, hook });
        }
    }

    /// Removes every run hook: runs succeed after the configured duration.
    pub fn clear_run_hooks(&mut self) {
        self.hooks.clear();
    }

    /// The ids of the jobs, sorted.
    pub fn job_ids(&self) -> Vec<String> {
        self.jobs.keys().cloned().collect()
    }

    /// The ids of a job's active runs, oldest first (empty for an unknown job).
    pub fn active_run_ids(&self, job_id: &str) -> Vec<String> {
        self.jobs
            .get(job_id)
            .map(|job| job.active.iter().map(|r| r.id.clone()).collect())
            .unwrap_or_default()
    }

    /// The hook for a new run of a job with `labels`: the first matching
    /// label hook, else the global hook.
    fn hook_for(&self, labels: &BTreeMap<String, String>) -> Option<AnyHook> {
        let labelled = self.hooks.iter().find(|entry| {
            entry
                .label
                .as_ref()
                .is_some_and(|(k, v)| labels.get(k) == Some(v))
        });
        let global = || self.hooks.iter().find(|entry| entry.label.is_none());
        labelled.or_else(global).map(|entry| entry.hook.clone())
    }

    /// Stops an active run: a simulated one ends now, `FAILED` (task
    /// `TASK_KILLED`), and goes to the failed history; one that executes
    /// is left to end when its process group is gone. `None` for an
    /// unknown run.
    fn stop_run(&mut self, job_id: &str, run_id: &str, now_ms: u64) -> Option<Stopped> {
        let job = self.jobs.get_mut(job_id)?;
        let index = job.active.iter().position(|r| r.id == run_id)?;
        if job.active[index].plan.is_none() {
            let run = &job.active[index];
            return Some(Stopped::Executing {
                run: run.to_json(),
                task_id: run.task_id.clone(),
            });
        }
        let mut run = job.active.remove(index);
        run.finish(now_ms, RunStatus::Failed, "TASK_KILLED");
        job.history.record(&run);
        Some(Stopped::Ended(run.to_json()))
    }

    /// Progresses job runs up to `now_ms`: `INITIAL` runs become `STARTING`,
    /// tasks start one second after creation, runs finish as planned.
    pub fn advance(&mut self, now_ms: u64) {
        for job in self.jobs.values_mut() {
            let mut finished = Vec::new();
            for run in &mut job.active {
                if run.status == RunStatus::Initial {
                    run.status = RunStatus::Starting;
                }
                // A run that executes follows its process, not the clock.
                let Some(plan) = run.plan else {
                    continue;
                };
                let active_at = run.created_ms + TASK_START_DELAY.as_millis() as u64;
                let end_at = run.created_ms + plan.duration.as_millis() as u64;
                if now_ms >= end_at {
                    match plan.outcome {
                        RunOutcome::Success => {
                            run.finish(end_at, RunStatus::Success, "TASK_FINISHED")
                        }
                        RunOutcome::Failure => run.finish(end_at, RunStatus::Failed, "TASK_FAILED"),
                    }
                    finished.push(run.id.clone());
                } else if now_ms >= active_at && run.status == RunStatus::Starting {
                    run.status = RunStatus::Active;
                    run.task_started_ms = Some(active_at);
                    run.task_status = "TASK_RUNNING";
                }
            }
            if finished.is_empty() {
                continue;
            }
            let (done, still): (Vec<Run>, Vec<Run>) = std::mem::take(&mut job.active)
                .into_iter()
                .partition(|r| finished.contains(&r.id));
            job.active = still;
            let mut done = done;
            done.sort_by_key(|r| r.completed_ms);
            for run in &done {
                job.history.record(run);
            }
        }
    }
}

/// What a stop did.
enum Stopped {
    /// The run ended at once; its final JSON.
    Ended(Value),
    /// The run executes: its task is to be stopped; the run as it is.
    Executing { run: Value, task_id: String },
}

/// Starts a run of `job_id` at the cluster's current time; its JSON (status
/// `INITIAL`), or `None` for an unknown job. The plan comes from the job's
/// hook (see [`Metronome::set_run_hook`]); without one the run executes
/// (with [`crate::config::JobExecution::Execute`]) or succeeds after
/// `config.job_run_duration`.
fn start_run(cluster: &mut Cluster, job_id: &str, sim: &Shared) -> Option<Value> {
    let config = &sim.config;
    let now_ms = cluster.now_ms;
    let job = cluster.metronome.jobs.get(job_id)?;
    let labels = job.labels();
    let spec = job.spec.clone();
    let hook = cluster.metronome.hook_for(&labels);
    let run_id = format!(
        "{}{}",
        crate::clock::compact_timestamp(now_ms),
        cluster.rng.alphanumeric(5)
    );
    let task_id = format!("{job_id}_{run_id}.{}", cluster.rng.uuid_v4());
    let context = RunContext {
        job_id: job_id.to_owned(),
        run_id: run_id.clone(),
        labels,
        spec,
        now_ms,
    };
    let plan = match hook {
        Some(AnyHook::Plain(hook)) => Some(hook(&context)),
        Some(AnyHook::WithCluster(hook)) => Some(hook(&context, cluster)),
        None if cluster.jobs.executes() => None,
        None => Some(RunPlan::success(config.job_run_duration)),
    };
    let run = Run {
        id: run_id,
        job_id: job_id.to_owned(),
        status: RunStatus::Initial,
        created_ms: now_ms,
        completed_ms: None,
        task_id,
        task_started_ms: None,
        task_status: "TASK_STAGING",
        plan,
        outcome: None,
    };
    let body = run.to_json();
    let executes = run.plan.is_none();
    let (run_id, task_id) = (run.id.clone(), run.task_id.clone());
    // The hook may have removed the job (it had the whole cluster).
    cluster.metronome.jobs.get_mut(job_id)?.active.push(run);
    if executes {
        executed::launch(cluster, job_id, &run_id, &task_id, &context.spec, sim);
    }
    Some(body)
}

/// Metronome's routes (`/v1/...`, `/ping`, `/info`, `/leader`), mounted at
/// `/service/metronome` (and, today, at the root too).
pub(crate) fn routes() -> Router<Shared> {
    api::routes()
}

/// Only the `/v1/...` routes (with the `Unknown route.` catch-all under
/// `/v1`): what the root of the DC/OS listener needs for jobs running inside
/// the cluster, without `/ping` or `/info`, which Marathon also serves at the
/// root.
pub(crate) fn v1_routes() -> Router<Shared> {
    api::v1_routes()
}
