//! What `apply` does to make the cluster's canary jobs equal to the
//! rendered ones, idempotently, as plain data: per job ([`plan_job`]),
//! create it, keep it (identical once Metronome's defaults are set aside),
//! or replace it after stopping its active runs; and the order the jobs are
//! written in ([`write_rank`]). canary-engine's `apply` reads the live jobs
//! and carries the plan out.

use crate::executor::LiveJob;
use serde_json::{Map, Value};
use std::fmt;

/// What apply will do, or did, with one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobAction {
    /// The job does not exist: create it.
    Create,
    /// The job exists and matches: leave it.
    Keep,
    /// The job exists and differs: stop these active runs, then replace it.
    Replace {
        /// Ids of the active runs to stop first.
        stop_runs: Vec<String>,
    },
}

impl fmt::Display for JobAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobAction::Create => f.write_str("create"),
            JobAction::Keep => f.write_str("unchanged"),
            JobAction::Replace { stop_runs } if stop_runs.is_empty() => f.write_str("replace"),
            JobAction::Replace { stop_runs } => {
                write!(
                    f,
                    "stop {} run(s) ({}), then replace",
                    stop_runs.len(),
                    stop_runs.join(", ")
                )
            }
        }
    }
}

/// The plan for one job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPlan {
    /// The job id.
    pub id: String,
    /// What to do.
    pub action: JobAction,
    /// The rendered job.
    pub desired: Value,
    /// The live job with Metronome's defaults set aside, if it exists (what
    /// a dry run diffs against [`strip_metronome_defaults`] of `desired`).
    pub live: Option<Value>,
}

/// A member path and the default Metronome fills in there.
type DefaultAt = (&'static [&'static str], fn() -> Value);

/// Metronome's defaults, by path: a live job shows these where the rendered
/// job says nothing (apis.md §2.4, §2.5).
const DEFAULTS: &[DefaultAt] = &[
    (&["labels"], || Value::Object(Map::new())),
    (&["schedules"], || Value::Array(Vec::new())),
    (&["dependencies"], || Value::Array(Vec::new())),
    (&["run", "disk"], || Value::from(0)),
    (&["run", "gpus"], || Value::from(0)),
    (&["run", "env"], || Value::Object(Map::new())),
    (&["run", "secrets"], || Value::Object(Map::new())),
    (&["run", "volumes"], || Value::Array(Vec::new())),
    (&["run", "artifacts"], || Value::Array(Vec::new())),
    (&["run", "networks"], || Value::Array(Vec::new())),
    (&["run", "maxLaunchDelay"], || Value::from(3600)),
    (
        &["run", "restart"],
        || serde_json::json!({"policy": "NEVER"}),
    ),
    (
        &["run", "placement"],
        || serde_json::json!({"constraints": []}),
    ),
    (&["run", "docker", "forcePullImage"], || Value::Bool(false)),
    (&["run", "docker", "privileged"], || Value::Bool(false)),
    (
        &["run", "docker", "parameters"],
        || Value::Array(Vec::new()),
    ),
];

/// Numbers compare by value: `256` and `256.0` are the same memory.
fn numbers_as_f64(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64()
                && let Some(number) = serde_json::Number::from_f64(f)
            {
                *n = number;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(numbers_as_f64),
        Value::Object(map) => map.values_mut().for_each(numbers_as_f64),
        _ => {}
    }
}

/// A job spec with every member that equals Metronome's default removed, so
/// a rendered job and its live copy compare equal when Metronome only added
/// defaults.
pub fn strip_metronome_defaults(spec: &Value) -> Value {
    let mut out = spec.clone();
    for (path, default) in DEFAULTS {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let parent: String = parents.iter().map(|k| format!("/{k}")).collect();
        if let Some(map) = out.pointer_mut(&parent).and_then(Value::as_object_mut)
            && map.get(*last) == Some(&default())
        {
            map.remove(*last);
        }
    }
    numbers_as_f64(&mut out);
    out
}

/// `spec` as Metronome shows it once created: every default it adds (and
/// [`strip_metronome_defaults`] removes) filled in where `spec` has none.
/// What a recording fake or a test stores for a job Metronome took, so
/// that comparisons meet what a real cluster answers.
pub fn with_metronome_defaults(spec: &Value) -> Value {
    let mut out = spec.clone();
    for (path, default) in DEFAULTS {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let parent: String = parents.iter().map(|k| format!("/{k}")).collect();
        if let Some(map) = out.pointer_mut(&parent).and_then(Value::as_object_mut) {
            map.entry(last.to_string()).or_insert_with(default);
        }
    }
    out
}

/// One difference between a live document and the rendered one.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// JSON pointer of the member (`""` for the whole document).
    pub pointer: String,
    /// The live value, if the member exists there.
    pub before: Option<Value>,
    /// The rendered value, if the member exists there.
    pub after: Option<Value>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        match (&self.before, &self.after) {
            (Some(b), Some(a)) => write!(f, "~ {at}: {b} -> {a}"),
            (None, Some(a)) => write!(f, "+ {at}: {a}"),
            (Some(b), None) => write!(f, "- {at}: {b}"),
            (None, None) => write!(f, "  {at}"),
        }
    }
}

/// The members that differ between `before` and `after`, objects compared
/// member by member and anything else (arrays too) as a whole, ordered by
/// pointer. Empty when they are equal.
pub fn diff(before: &Value, after: &Value) -> Vec<Change> {
    fn walk(at: String, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<Change>) {
        match (before, after) {
            (Some(Value::Object(b)), Some(Value::Object(a))) => {
                let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
                for key in keys {
                    let escaped = key.replace('~', "~0").replace('/', "~1");
                    walk(format!("{at}/{escaped}"), b.get(key), a.get(key), out);
                }
            }
            (b, a) if b != a => out.push(Change {
                pointer: at,
                before: b.cloned(),
                after: a.cloned(),
            }),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(String::new(), Some(before), Some(after), &mut out);
    out
}

/// What to do with the rendered job `desired`, given the live one.
pub fn plan_job(desired: &Value, live: Option<LiveJob>) -> JobPlan {
    let id = desired
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (action, live) = match live {
        None => (JobAction::Create, None),
        Some(live) => {
            let stripped = strip_metronome_defaults(&live.spec);
            let action = if stripped == strip_metronome_defaults(desired) {
                JobAction::Keep
            } else {
                JobAction::Replace {
                    stop_runs: live.active_runs.iter().map(|r| r.run_id.clone()).collect(),
                }
            };
            (action, Some(stripped))
        }
    };
    JobPlan {
        id,
        action,
        desired: desired.clone(),
        live,
    }
}

/// Whether two job specs are the same job once Metronome's defaults are
/// set aside.
pub fn same_job(a: &Value, b: &Value) -> bool {
    strip_metronome_defaults(a) == strip_metronome_defaults(b)
}

/// Where a job is written by canary-engine's `apply`: the rollback job first, then the
/// rollout job, the deploy job last (then any other job, in plan order).
/// An apply stopped part way therefore never leaves a deploy job ahead of
/// the jobs that finish or undo what it starts.
pub fn write_rank(job: &JobPlan) -> u8 {
    let phase = job
        .desired
        .get("labels")
        .and_then(|labels| labels.get(crate::bundle::labels::PHASE))
        .and_then(Value::as_str);
    match phase {
        Some(p) if p == crate::Phase::Rollback.as_str() => 0,
        Some(p) if p == crate::Phase::Rollout.as_str() => 1,
        Some(p) if p == crate::Phase::Deploy.as_str() => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    fn job(id: &str, cmd: &str) -> Value {
        json!({"id": id, "labels": {"canary.phase": "deploy"},
               "run": {"cmd": cmd, "cpus": 0.1, "mem": 256, "disk": 0,
                       "docker": {"image": "mesosphere/marathon-lb:v1.14.2", "forcePullImage": false},
                       "env": {"A": "b"}, "restart": {"policy": "NEVER"}}})
    }

    /// The job as Metronome returns it: our spec plus its defaults, its
    /// memory as a float.
    fn as_metronome_shows(spec: &Value) -> Value {
        let mut live = with_metronome_defaults(spec);
        live["run"]["mem"] = json!(256.0);
        live
    }

    #[test]
    fn defaults_filled_in_are_defaults_stripped() {
        let spec = job("j", "x");
        let live = with_metronome_defaults(&spec);
        assert_eq!(live["run"]["maxLaunchDelay"], 3600);
        assert_eq!(
            live["run"]["restart"],
            json!({"policy": "NEVER"}),
            "kept as given"
        );
        assert_eq!(
            strip_metronome_defaults(&live),
            strip_metronome_defaults(&spec)
        );
        assert_ne!(live, spec);
    }

    #[test]
    fn diff_lists_changed_added_and_removed_members() {
        let before =
            json!({"id": "j", "run": {"cmd": "a", "env": {"X": "1"}, "args": [1]}, "old": true});
        let after =
            json!({"id": "j", "run": {"cmd": "b", "env": {"X": "1", "a/b": "2"}, "args": [1, 2]}});
        let changes: Vec<String> = diff(&before, &after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            changes,
            [
                "- /old: true",
                "~ /run/args: [1] -> [1,2]",
                "~ /run/cmd: \"a\" -> \"b\"",
                "+ /run/env/a~1b: \"2\"",
            ]
        );
        assert!(diff(&after, &after).is_empty());
        assert_eq!(diff(&json!(1), &json!(2))[0].to_string(), "~ /: 1 -> 2");
    }

    #[test]
    fn defaults_are_set_aside_but_real_differences_are_not() {
        let desired = job("deploy-a-canary", "x");
        assert_eq!(
            strip_metronome_defaults(&as_metronome_shows(&desired)),
            strip_metronome_defaults(&desired)
        );
        let mut changed = as_metronome_shows(&desired);
        changed["run"]["user"] = json!("nobody");
        assert_ne!(
            strip_metronome_defaults(&changed),
            strip_metronome_defaults(&desired)
        );
        let mut changed = as_metronome_shows(&desired);
        changed["run"]["maxLaunchDelay"] = json!(60);
        assert_ne!(
            strip_metronome_defaults(&changed),
            strip_metronome_defaults(&desired)
        );
    }
}
