//! The three Metronome jobs of a canary, as plain data.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// One phase of a canary deployment; each phase is one Metronome job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Start the canary beside the live app and shift a share of traffic to it.
    Deploy,
    /// Grow the canary to the full count and remove the old version.
    Rollout,
    /// Remove the canary and restore the old version to its full count.
    Rollback,
}

impl Phase {
    /// The phases in the order a bundle lists them.
    pub const ALL: [Phase; 3] = [Phase::Deploy, Phase::Rollout, Phase::Rollback];

    /// `deploy`, `rollout` or `rollback`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Deploy => "deploy",
            Phase::Rollout => "rollout",
            Phase::Rollback => "rollback",
        }
    }

    /// The job id of this phase for an app name: `<phase>-<app>-canary`, the
    /// original tool's naming.
    pub fn job_id(self, app_name: &str) -> String {
        format!("{}-{}-canary", self.as_str(), app_name)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Metronome job: the subset of the JobSpec (apis.md §2.4) that canary sets.
///
/// Serialises to a document `POST /v1/jobs` accepts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobSpec {
    /// `deploy-APP-canary`, `rollout-APP-canary` or `rollback-APP-canary`.
    pub id: String,
    /// A sentence saying what a run of the job does.
    pub description: String,
    /// Labels that identify the job (`canary.phase`, `canary.app`, ...).
    pub labels: BTreeMap<String, String>,
    /// What a run executes.
    pub run: RunSpec,
}

/// The `run` part of a [`JobSpec`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSpec {
    /// The shell command (`/bin/sh -c`), replacing the image's entrypoint.
    pub cmd: String,
    /// CPU shares.
    pub cpus: f64,
    /// Memory in MiB.
    pub mem: u32,
    /// Disk in MiB.
    pub disk: u32,
    /// The Docker containerizer image.
    pub docker: DockerSpec,
    /// Environment variables.
    pub env: BTreeMap<String, EnvValue>,
    /// Secrets referenced from `env`; empty (and then left out) on open clusters.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, SecretSource>,
    /// Files Mesos fetches into the sandbox before the command runs (the
    /// native runner's `canary` binary); empty (and then left out)
    /// otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactSpec>,
    /// Restart policy: never, since re-running zdd.py blindly after a failure
    /// could act on a half-finished swap.
    pub restart: RestartPolicy,
}

/// `run.docker`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerSpec {
    /// The image reference.
    pub image: String,
    /// Whether to pull the image on every run.
    pub force_pull_image: bool,
}

/// An environment variable value: a plain string or a secret reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum EnvValue {
    /// A literal value.
    Plain(String),
    /// `{"secret": NAME}`, naming an entry of `run.secrets`.
    Secret {
        /// The name of the entry in `run.secrets`.
        secret: String,
    },
}

/// An entry of `run.secrets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretSource {
    /// The path of the secret in the DC/OS secret store.
    pub source: String,
}

/// An entry of `run.artifacts`: a URI the Mesos fetcher downloads into the
/// sandbox, named by the last segment of its path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArtifactSpec {
    /// Where it is fetched from.
    pub uri: String,
    /// Whether the fetched file is made executable.
    pub executable: bool,
    /// Whether an archive is unpacked (never: the runner is one binary).
    pub extract: bool,
    /// Whether the agent's fetcher cache may serve it (never: the checksum
    /// pins the content, a cache would only hide a changed URL).
    pub cache: bool,
}

/// `run.restart`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestartPolicy {
    /// `NEVER` or `ON_FAILURE`.
    pub policy: String,
}
