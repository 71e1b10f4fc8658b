//! From a stored job spec to what one run executes: the command, its
//! environment with the secrets resolved, its artifacts and its limits; or
//! why the run cannot execute at all (it then fails at once, the reason in
//! the job's history).

use crate::secrets::SecretStore;
use serde_json::{Map, Value, json};
use std::fmt;
use std::time::Duration;

/// At most this many artifacts per run.
pub const MAX_ARTIFACTS: usize = 16;

/// The grace between SIGTERM and SIGKILL when a run is stopped or runs out
/// of time and its job sets no `run.taskKillGracePeriodSeconds`.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);

/// The longest grace a job may ask for (`run.taskKillGracePeriodSeconds`).
pub const MAX_KILL_GRACE: Duration = Duration::from_secs(300);

/// One `run.artifacts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Artifact {
    /// Where to fetch it from.
    pub uri: String,
    /// Whether the fetched file is made executable (and so not extracted).
    pub executable: bool,
    /// Whether an archive is unpacked into the sandbox.
    pub extract: bool,
}

/// What a run executes. `Debug` names the environment variables, never
/// their values (some are secrets).
pub(crate) struct Prepared {
    /// `run.cmd`, for `/bin/sh -c`.
    pub cmd: String,
    /// The job's environment, plain values first, then the secrets.
    pub env: Vec<(String, String)>,
    /// The artifacts, in order.
    pub artifacts: Vec<Artifact>,
    /// `run.restart.activeDeadlineSeconds`, when set.
    pub time_limit: Option<Duration>,
    /// SIGTERM to SIGKILL when the run is killed.
    pub kill_grace: Duration,
    /// `cpus`, `mem`, `disk` and `gpus`, for the Mesos state.
    pub resources: Value,
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("cmd", &self.cmd)
            .field(
                "env",
                &self.env.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .field("artifacts", &self.artifacts)
            .field("time_limit", &self.time_limit)
            .field("kill_grace", &self.kill_grace)
            .finish()
    }
}

/// Checks an environment variable name: what `execve` can carry.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        return Err(format!(
            "run.env: '{}' cannot be an environment variable name (empty, or holding '=' or NUL)",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// The job's environment: plain values, then the secret ones resolved
/// from `secrets`; a secret that does not exist fails the run.
fn environment(run: &Value, secrets: &SecretStore) -> Result<Vec<(String, String)>, String> {
    let empty = Map::new();
    let env = run["env"].as_object().unwrap_or(&empty);
    let mut plain = Vec::new();
    let mut secret = Vec::new();
    for (name, value) in env {
        check_name(name)?;
        match value {
            Value::String(text) => {
                if text.contains('\0') {
                    return Err(format!("run.env.{name}: a value cannot hold NUL"));
                }
                plain.push((name.clone(), text.clone()));
            }
            Value::Object(reference) => {
                let secret_name = reference
                    .get("secret")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let source = run["secrets"][secret_name]["source"]
                    .as_str()
                    .unwrap_or_default();
                let resolved = secrets.get(source).ok_or_else(|| {
                    format!(
                        "Failed to resolve secret '{secret_name}' (source '{source}') for \
                         environment variable '{name}': no such secret in the secret store"
                    )
                })?;
                if resolved.contains('\0') {
                    return Err(format!(
                        "secret '{secret_name}' (source '{source}') cannot be an environment \
                         variable's value: it holds NUL"
                    ));
                }
                secret.push((name.clone(), resolved.to_owned()));
            }
            _ => return Err(format!("run.env.{name}: neither a string nor a secret")),
        }
    }
    plain.extend(secret);
    Ok(plain)
}

fn artifacts(run: &Value) -> Result<Vec<Artifact>, String> {
    let list = run["artifacts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if list.len() > MAX_ARTIFACTS {
        return Err(format!(
            "run.artifacts: {} artifacts, more than the {MAX_ARTIFACTS} a run may fetch",
            list.len()
        ));
    }
    Ok(list
        .iter()
        .map(|a| Artifact {
            uri: a["uri"].as_str().unwrap_or_default().to_owned(),
            executable: a["executable"].as_bool().unwrap_or(false),
            extract: a["extract"].as_bool().unwrap_or(true),
        })
        .collect())
}

/// What a run of `spec` (a stored, valid job spec) executes, or why it
/// cannot.
pub(crate) fn prepare(spec: &Value, secrets: &SecretStore) -> Result<Prepared, String> {
    let run = &spec["run"];
    if run["args"].as_array().is_some_and(|a| !a.is_empty()) {
        return Err(
            "run.args is not emulated: dcos-sim runs run.cmd with /bin/sh -c and never a \
             container image's entrypoint"
                .into(),
        );
    }
    let cmd = match run["cmd"].as_str() {
        Some(cmd) if !cmd.is_empty() => cmd.to_owned(),
        _ => {
            return Err(
                "no run.cmd: dcos-sim runs run.cmd with /bin/sh -c and never a container image"
                    .into(),
            );
        }
    };
    if cmd.contains('\0') {
        return Err("run.cmd cannot hold NUL".into());
    }
    if run["volumes"].as_array().is_some_and(|v| !v.is_empty()) {
        return Err("run.volumes are not emulated (no host or secret volume in a sandbox)".into());
    }
    let time_limit = match &run["restart"]["activeDeadlineSeconds"] {
        Value::Null => None,
        value => match value.as_u64() {
            Some(seconds) if seconds >= 1 => Some(Duration::from_secs(seconds)),
            _ => {
                return Err(format!(
                    "run.restart.activeDeadlineSeconds is {value}: a time limit is at least 1 second"
                ));
            }
        },
    };
    let kill_grace = match run["taskKillGracePeriodSeconds"].as_f64() {
        Some(seconds) if seconds.is_finite() && seconds >= 0.0 => {
            Duration::from_secs_f64(seconds.min(MAX_KILL_GRACE.as_secs_f64()))
        }
        _ => DEFAULT_KILL_GRACE,
    };
    Ok(Prepared {
        env: environment(run, secrets)?,
        artifacts: artifacts(run)?,
        cmd,
        time_limit,
        kill_grace,
        resources: json!({
            "cpus": run["cpus"], "mem": run["mem"], "disk": run["disk"], "gpus": run["gpus"],
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(run: Value) -> Value {
        let mut base = json!({"cpus": 0.1, "mem": 32, "disk": 0, "cmd": "true"});
        if let (Some(base), Some(run)) = (base.as_object_mut(), run.as_object()) {
            base.extend(run.clone());
        }
        json!({"id": "a", "run": base})
    }

    #[test]
    fn plain_then_secret_environment() {
        let mut secrets = SecretStore::default();
        secrets.put("team/db", "s3cret").unwrap();
        let prepared = prepare(
            &spec(json!({
                "env": {"A": "1", "DB": {"secret": "db"}, "B": "2"},
                "secrets": {"db": {"source": "/team/db"}},
                "restart": {"policy": "NEVER", "activeDeadlineSeconds": 5},
                "taskKillGracePeriodSeconds": 1000,
            })),
            &secrets,
        )
        .unwrap();
        assert_eq!(
            prepared.env,
            [("A", "1"), ("B", "2"), ("DB", "s3cret")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(prepared.time_limit, Some(Duration::from_secs(5)));
        assert_eq!(prepared.kill_grace, MAX_KILL_GRACE);
        assert!(!format!("{prepared:?}").contains("s3cret"));
    }

    #[test]
    fn refusals_name_the_field() {
        let secrets = SecretStore::default();
        let missing = prepare(
            &spec(json!({"env": {"DB": {"secret": "db"}}, "secrets": {"db": {"source": "gone"}}})),
            &secrets,
        )
        .unwrap_err();
        assert!(
            missing.contains("'gone'") && missing.contains("'DB'"),
            "{missing}"
        );
        let args = prepare(&spec(json!({"args": ["x"]})), &secrets).unwrap_err();
        assert!(args.contains("run.args"), "{args}");
        let mut no_cmd = spec(json!({"docker": {"image": "nginx"}}));
        no_cmd["run"].as_object_mut().unwrap().remove("cmd");
        assert!(prepare(&no_cmd, &secrets).unwrap_err().contains("run.cmd"));
        let volumes = json!({"volumes": [{"containerPath": "a", "hostPath": "/", "mode": "RO"}]});
        assert!(
            prepare(&spec(volumes), &secrets)
                .unwrap_err()
                .contains("run.volumes")
        );
        let zero = json!({"restart": {"policy": "NEVER", "activeDeadlineSeconds": 0}});
        assert!(
            prepare(&spec(zero), &secrets)
                .unwrap_err()
                .contains("activeDeadlineSeconds")
        );
        let bad_name = prepare(&spec(json!({"env": {"A=B": "x"}})), &secrets).unwrap_err();
        assert!(bad_name.contains("A=B"), "{bad_name}");
        let many: Vec<Value> = (0..=MAX_ARTIFACTS)
            .map(|i| json!({"uri": format!("file:///a{i}")}))
            .collect();
        assert!(
            prepare(&spec(json!({"artifacts": many})), &secrets)
                .unwrap_err()
                .contains("run.artifacts")
        );
    }
}
