//! What Metronome reports, as typed data: jobs, runs and job histories
//! (Marathon's apps are [`crate::MarathonApp`]).
//!
//! Every executor gets the same JSON from the cluster (the HTTP executor from
//! the APIs, the `dcos` CLI executor from `--json` output, which passes the
//! API's JSON through), so the parsing lives here, once, and executors only
//! fetch.

use crate::executor::{ExecError, LiveJob, RunInfo, RunStatus};
use serde::Serialize;
use serde_json::Value;

fn unexpected(what: &str, detail: &str) -> ExecError {
    ExecError::unexpected(what, detail)
}

/// A count field of `object` (absent or null is 0).
fn count(object: &Value, key: &str, what: &str) -> Result<u64, ExecError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(value) => value
            .as_u64()
            .ok_or_else(|| unexpected(what, &format!("`{key}` is {value}, not a count"))),
    }
}

/// Reads a Metronome run status word.
pub fn parse_run_status(text: &str) -> Option<RunStatus> {
    Some(match text {
        "INITIAL" => RunStatus::Initial,
        "STARTING" => RunStatus::Starting,
        "ACTIVE" => RunStatus::Active,
        "SUCCESS" => RunStatus::Success,
        "FAILED" => RunStatus::Failed,
        _ => return None,
    })
}

impl RunInfo {
    /// Reads a Metronome run object (`{"id", "jobId", "status", ...}`) of
    /// job `job_id`; `what` names it in errors.
    pub fn from_metronome(run: &Value, job_id: &str, what: &str) -> Result<RunInfo, ExecError> {
        let run_id = run
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| unexpected(what, &format!("a run without an id: {run}")))?;
        let status_text = run.get("status").and_then(Value::as_str).unwrap_or("");
        let status = parse_run_status(status_text).ok_or_else(|| {
            unexpected(
                what,
                &format!("run {run_id} has an unknown status {status_text:?}"),
            )
        })?;
        Ok(RunInfo {
            job_id: run
                .get("jobId")
                .and_then(Value::as_str)
                .unwrap_or(job_id)
                .to_owned(),
            run_id: run_id.to_owned(),
            status,
            created_at: run
                .get("createdAt")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// The embedded parts of a job object that are not part of its spec.
const EMBEDDED: [&str; 3] = ["activeRuns", "history", "historySummary"];

impl LiveJob {
    /// Reads a Metronome job object with its `activeRuns` and `history`
    /// embeds (either may be absent); the spec is the object without its
    /// embeds. `what` names the job in errors.
    pub fn from_metronome(mut job: Value, job_id: &str, what: &str) -> Result<LiveJob, ExecError> {
        let active_runs = match job.get("activeRuns") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(runs)) => runs
                .iter()
                .map(|run| RunInfo::from_metronome(run, job_id, what))
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => return Err(unexpected(what, &format!("activeRuns is {other}"))),
        };
        let history = match job.get("history") {
            None | Some(Value::Null) => JobHistory::default(),
            Some(history) => JobHistory::from_metronome(history, what)?,
        };
        let Some(map) = job.as_object_mut() else {
            return Err(unexpected(what, &format!("not a job object: {job}")));
        };
        for key in EMBEDDED {
            map.remove(key);
        }
        Ok(LiveJob {
            spec: job,
            active_runs,
            history,
        })
    }
}

/// A finished run, as a job's history lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FinishedRun {
    /// The run id.
    pub run_id: String,
    /// [`RunStatus::Success`] or [`RunStatus::Failed`].
    #[serde(serialize_with = "status_word")]
    pub status: RunStatus,
    /// When it finished (Metronome's timestamp text), if known.
    pub finished_at: Option<String>,
}

fn status_word<S: serde::Serializer>(status: &RunStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&status.to_string())
}

/// What a job's `history` embed says about its finished runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct JobHistory {
    /// Runs that succeeded.
    pub success_count: u64,
    /// Runs that failed.
    pub failure_count: u64,
    /// The run that finished last, if any.
    pub last_run: Option<FinishedRun>,
}

impl JobHistory {
    /// Reads the `history` object of `GET /v1/jobs/{id}?embed=history`.
    pub fn from_metronome(history: &Value, what: &str) -> Result<JobHistory, ExecError> {
        if !history.is_object() {
            return Err(unexpected(what, &format!("history is {history}")));
        }
        let mut last: Option<FinishedRun> = None;
        for (list, status) in [
            ("successfulFinishedRuns", RunStatus::Success),
            ("failedFinishedRuns", RunStatus::Failed),
        ] {
            let runs = match history.get(list) {
                None | Some(Value::Null) => continue,
                Some(Value::Array(runs)) => runs,
                Some(other) => return Err(unexpected(what, &format!("{list} is {other}"))),
            };
            for run in runs {
                let Some(run_id) = run.get("id").and_then(Value::as_str) else {
                    return Err(unexpected(what, &format!("a run without an id: {run}")));
                };
                let finished_at = run
                    .get("finishedAt")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                // Metronome's timestamps share one format and zone, so their
                // text sorts in time order.
                let later = match &last {
                    None => true,
                    Some(seen) => finished_at > seen.finished_at,
                };
                if later {
                    last = Some(FinishedRun {
                        run_id: run_id.to_owned(),
                        status,
                        finished_at,
                    });
                }
            }
        }
        Ok(JobHistory {
            success_count: count(history, "successCount", what)?,
            failure_count: count(history, "failureCount", what)?,
            last_run: last,
        })
    }

    /// Run `run_id` of job `job_id` as the history lists it, finished.
    pub fn find_run(history: &Value, job_id: &str, run_id: &str) -> Option<RunInfo> {
        JobHistory::find(history, run_id).map(|status| RunInfo {
            job_id: job_id.to_owned(),
            run_id: run_id.to_owned(),
            status,
            created_at: None,
        })
    }

    /// How a run of this job ended, if the history lists it.
    pub fn find(history: &Value, run_id: &str) -> Option<RunStatus> {
        [
            ("successfulFinishedRuns", RunStatus::Success),
            ("failedFinishedRuns", RunStatus::Failed),
        ]
        .into_iter()
        .find(|(list, _)| {
            history
                .get(*list)
                .and_then(Value::as_array)
                .is_some_and(|runs| {
                    runs.iter()
                        .any(|r| r.get("id").and_then(Value::as_str) == Some(run_id))
                })
        })
        .map(|(_, status)| status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn history_finds_the_last_finished_run() {
        let history = json!({
            "successCount": 2, "failureCount": 1,
            "successfulFinishedRuns": [
                {"id": "s1", "finishedAt": "2026-11-27T10:00:00.000+0000"},
                {"id": "s2", "finishedAt": "2026-11-27T12:00:00.000+0000"}],
            "failedFinishedRuns": [
                {"id": "f1", "finishedAt": "2026-11-27T11:00:00.000+0000"}]
        });
        let read = JobHistory::from_metronome(&history, "job j").unwrap();
        assert_eq!((read.success_count, read.failure_count), (2, 1));
        let last = read.last_run.unwrap();
        assert_eq!(
            (last.run_id.as_str(), last.status),
            ("s2", RunStatus::Success)
        );
        assert_eq!(JobHistory::find(&history, "f1"), Some(RunStatus::Failed));
        assert_eq!(JobHistory::find(&history, "nope"), None);
        let run = JobHistory::find_run(&history, "j", "s1").unwrap();
        assert_eq!((run.job_id.as_str(), run.status), ("j", RunStatus::Success));
        let empty = JobHistory::from_metronome(&json!({}), "job j").unwrap();
        assert_eq!(empty, JobHistory::default());
        assert!(JobHistory::from_metronome(&json!([]), "job j").is_err());
    }

    #[test]
    fn jobs_read_with_their_embeds_set_apart() {
        let job = json!({"id": "j", "run": {"cpus": 1},
            "activeRuns": [{"id": "r1", "status": "ACTIVE"}],
            "history": {"successCount": 1, "failureCount": 0,
                "successfulFinishedRuns": [{"id": "r0", "finishedAt": "t"}]},
            "historySummary": {"successCount": 1}});
        let live = LiveJob::from_metronome(job, "j", "job j").unwrap();
        assert_eq!(live.spec, json!({"id": "j", "run": {"cpus": 1}}));
        assert_eq!(live.active_runs[0].run_id, "r1");
        assert_eq!(live.history.last_run.unwrap().run_id, "r0");
        let bare = LiveJob::from_metronome(json!({"id": "j"}), "j", "job j").unwrap();
        assert!(bare.active_runs.is_empty() && bare.history == JobHistory::default());
        let err = LiveJob::from_metronome(json!({"activeRuns": 3}), "j", "job j").unwrap_err();
        assert!(err.to_string().contains("activeRuns is 3"), "{err}");
        assert!(LiveJob::from_metronome(json!([]), "j", "job j").is_err());
    }

    #[test]
    fn runs_parse_or_fail_with_a_message() {
        let run = json!({"id": "r1", "jobId": "j", "status": "ACTIVE"});
        assert_eq!(
            RunInfo::from_metronome(&run, "x", "w").unwrap(),
            RunInfo {
                job_id: "j".into(),
                run_id: "r1".into(),
                status: RunStatus::Active,
                created_at: None,
            }
        );
        let odd = json!({"id": "r1", "status": "WEIRD"});
        let err = RunInfo::from_metronome(&odd, "x", "w").unwrap_err();
        assert!(err.to_string().contains("WEIRD"), "{err}");
        assert!(RunInfo::from_metronome(&json!({}), "x", "w").is_err());
    }
}
