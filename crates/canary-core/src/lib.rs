//! The pure domain of `canary`: canary deployments of DC/OS Marathon apps
//! behind marathon-lb, as plain data.
//!
//! # The model
//!
//! A canary is three Metronome jobs around marathon-lb's `zdd.py`, as in the
//! original `deploy-canary.sh`:
//!
//! | phase | job id | zdd.py does |
//! |---|---|---|
//! | [`Phase::Deploy`] | `deploy-APP-canary` | starts N instances of the new image as the other blue/green colour and drains N live ones (`--new-instances N`) |
//! | [`Phase::Rollout`] | `rollout-APP-canary` | grows the canary to the full count, drains and removes the old app (`--complete-cur`) |
//! | [`Phase::Rollback`] | `rollback-APP-canary` | restores the old app, drains and removes the canary (`--complete-prev`) |
//!
//! The input is an [`AppDefinition`]: the user's Marathon JSON, kept verbatim.
//! [`CanaryApp::new`] checks what zdd.py and marathon-lb need (a valid id, the
//! deployment-group labels, exactly one service port, an instance count and a
//! well-formed image), each failure an [`AppError`] that names the field.
//! [`plan_bundle`] turns a definition and a [`CanaryRequest`] into a
//! [`CanaryBundle`]: the definition plus three [`JobSpec`]s.
//!
//! The use cases that drive a cluster (apply, run, status, the phases, the
//! ladder, the analysis's windows) are canary-engine's; this crate holds
//! what they decide with, as plain data: [`apply::plan_job`],
//! [`run::preflight`], [`status::summarize`], the planner ([`plan`]) and
//! the analysis. They talk to a cluster through an [`executor::Executor`],
//! a small trait that executors (HTTP, the `dcos` CLI) implement;
//! [`executor::RecordingExecutor`] is its in-memory fake. A native job's
//! command line is the binary's: [`native::NativeInvocation`] is what it
//! asks, typed. [`retry`] is the
//! one retry driver every executor runs its attempts through: an executor
//! makes one attempt and classifies it, the driver decides whether and when
//! to try again. Everything that waits does so on a [`clock::Clock`] it is
//! handed.
//!
//! [`analysis`] judges a canary by marathon-lb's own counters: stats in, a verdict per window and a decision out.
//!
//! This crate does no I/O at all: no files, network, processes, clock or
//! randomness it is not handed. Reading templates, validating against JSON
//! Schemas and talking to a cluster belong to other crates, which hand this
//! one plain data. The compiler enforces it: `clippy.toml` beside this
//! crate's manifest disallows the standard library's file, network,
//! process, environment, thread and time APIs here, and the test command
//! proves the lint catches a forbidden call.
//!
//! ```
//! use canary_core::{plan_bundle, AppDefinition, AppName, CanaryRequest};
//!
//! let app = AppDefinition::from_value(serde_json::json!({
//!     "id": "/testapp", "instances": 4,
//!     "container": {"type": "DOCKER", "docker": {"image": "httpd:2.4", "network": "BRIDGE",
//!         "portMappings": [{"containerPort": 80, "servicePort": 10102}]}},
//!     "labels": {"HAPROXY_DEPLOYMENT_GROUP": "testapp", "HAPROXY_DEPLOYMENT_ALT_PORT": "10129"}
//! })).unwrap();
//! let request = CanaryRequest::new(AppName::new("testapp").unwrap(), "httpd:2.4");
//! let bundle = plan_bundle(app, &request).unwrap();
//! let ids: Vec<_> = bundle.jobs.iter().map(|job| job.id.as_str()).collect();
//! assert_eq!(ids, ["deploy-testapp-canary", "rollout-testapp-canary", "rollback-testapp-canary"]);
//! ```

// The compiler's proof of purity (see clippy.toml beside Cargo.toml).
#![deny(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

pub mod analysis;
mod app;
pub mod apply;
mod bundle;
mod canary_app;
pub mod clock;
mod command;
pub mod executor;
mod ids;
mod image;
mod job;
mod live;
mod marathon;
pub mod native;
pub mod plan;
pub mod redact;
pub mod retry;
pub mod run;
mod runner;
pub mod status;
pub mod url;

pub use app::{AppDefinition, NotAnObject, PortLocation, ServicePort};
pub use bundle::{
    APP_DEFINITION_ENV, CanaryBundle, CanaryRequest, PlanError, SANDBOX_APP_FILE,
    SERVICE_ACCOUNT_ENV, labels, plan_app, plan_bundle,
};
pub use canary_app::{
    AppError, CanaryApp, LABEL_DEPLOYMENT_ALT_PORT, LABEL_DEPLOYMENT_GROUP,
    validate_deployment_group,
};
pub use ids::{
    AppIdError, AppName, AppNameError, MARATHON_SEGMENT_RULE, METRONOME_JOB_ID_RULE,
    is_valid_job_id, validate_app_id,
};
pub use image::{ImageError, validate_image};
pub use job::{
    ArtifactSpec, DockerSpec, EnvValue, JobSpec, Phase, RestartPolicy, RunSpec, SecretSource,
};
pub use marathon::{MarathonApp, Task};
pub use runner::{
    DEFAULT_ARTIFACT_IMAGE, DEFAULT_LOGIN_CA_CERT, DEFAULT_MARATHON_LB_URL, DEFAULT_MARATHON_URL,
    DEFAULT_MAX_WAIT_SECS, DEFAULT_NATIVE_DCOS_URL, DEFAULT_NATIVE_DCOS_URL_TLS,
    DEFAULT_RUNNER_IMAGE, DEFAULT_ZDD_PATH, MAX_WAIT_LIMIT_SECS, NativeOptions, RunnerArtifact,
    RunnerConfig, RunnerError, RunnerKind, RunnerUrl, SERVICE_ACCOUNT_SECRET_NAME,
};
