//! Metronome's side of runs that execute ([`crate::exec`]): launching one
//! on the simulated agent, failing it at once when it cannot execute, and
//! following its task's reports.

use super::{Metronome, RunStatus};
use crate::exec::{Outcome, Report, prepare};
use crate::state::{Cluster, Shared};
use serde_json::Value;
use std::sync::Arc;

/// Hands a new run (already active, `INITIAL`) to the agent; when it cannot
/// execute (a missing secret, `run.args`, too many executing runs, …) it
/// fails now with the reason.
pub(super) fn launch(
    cluster: &mut Cluster,
    job_id: &str,
    run_id: &str,
    task_id: &str,
    spec: &Value,
    sim: &Shared,
) {
    let now = cluster.now_ms;
    let launched = prepare::prepare(spec, &cluster.secrets).and_then(|prepared| {
        let container = cluster.rng.uuid_v4();
        cluster.jobs.launch(
            job_id,
            run_id,
            task_id,
            &container,
            prepared,
            Arc::downgrade(sim),
            now,
        )
    });
    if let Err(reason) = launched {
        cluster
            .metronome
            .end_executed(job_id, run_id, Outcome::failed(reason), now, false);
    }
}

impl Metronome {
    /// Follows a report of an executed run's task at `now_ms`. A run that
    /// is gone (its job deleted) is left alone.
    pub(crate) fn executed_report(
        &mut self,
        job_id: &str,
        run_id: &str,
        report: &Report,
        now_ms: u64,
    ) {
        match report {
            Report::Started => {
                let run = self
                    .jobs
                    .get_mut(job_id)
                    .and_then(|job| job.active.iter_mut().find(|r| r.id == run_id));
                if let Some(run) = run {
                    run.status = RunStatus::Active;
                    run.task_started_ms = Some(now_ms);
                    run.task_status = "TASK_RUNNING";
                }
            }
            Report::Finished(outcome) => {
                self.end_executed(job_id, run_id, outcome.clone(), now_ms, true);
            }
        }
    }

    /// Ends an executed run at `now_ms` with `outcome` and records it in
    /// the job's history; `launched`: its task existed (the history then
    /// lists it, so its sandbox can be found).
    fn end_executed(
        &mut self,
        job_id: &str,
        run_id: &str,
        outcome: Outcome,
        now_ms: u64,
        launched: bool,
    ) {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        let Some(index) = job.active.iter().position(|r| r.id == run_id) else {
            return;
        };
        let mut run = job.active.remove(index);
        if launched && run.task_started_ms.is_none() {
            run.task_started_ms = Some(now_ms);
        }
        run.status = if outcome.success() {
            RunStatus::Success
        } else {
            RunStatus::Failed
        };
        run.task_status = outcome.task_state();
        run.completed_ms = Some(now_ms);
        run.outcome = Some(outcome);
        job.history.record(&run);
    }

    /// The task ids of a job's runs that execute.
    pub(crate) fn executing_tasks(&self, job_id: &str) -> Vec<String> {
        self.jobs
            .get(job_id)
            .map(|job| {
                job.active
                    .iter()
                    .filter(|r| r.plan.is_none())
                    .map(|r| r.task_id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}
