//! Marathon v2: apps, tasks and deployments, with a simulated scheduler.
//!
//! # The model
//!
//! Apps are keyed by their canonical absolute id. An app's definition is
//! kept as JSON: the fields given (unknown fields are **kept** and echoed
//! back), Marathon's defaults for the missing ones, and `version` /
//! `versionInfo` stamped with the cluster time as Marathon stamps them: a
//! config change moves `version`, `lastScalingAt` and `lastConfigChangeAt`;
//! a scale (including a kill with `scale=true`) and a restart move `version`
//! and `lastScalingAt`; an update that changes nothing moves none of them
//! and starts a deployment with no steps (which locks nothing).
//!
//! The scheduler runs as cluster time advances (replaying every task
//! transition due, in time order) and right after every change: it launches
//! tasks until the app has `instances` tasks of its current configuration
//! (`TASK_STAGING`, then `TASK_RUNNING` after
//! [`SimConfig::task_start_delay`], then healthy after
//! [`SimConfig::health_delay`] when the app has health checks), kills excess
//! tasks (per `killSelection`) and replaces the tasks of an older
//! configuration as a rolling restart: at least
//! `ceil(instances * minimumHealthCapacity)` tasks stay up and at most
//! `floor(instances * (1 + maximumOverCapacity))` run; when neither rule
//! lets it progress, one old task is given up. A task is up when running,
//! and healthy when the app has health checks. A deployment lasts until its
//! apps have exactly `instances` up tasks of the current configuration.
//!
//! Every task killed (by a request, with its app, as excess or replaced) is
//! handed to the cluster with its cause ([`KillCause`]) for the kill log.
//!
//! Tasks run on the simulated agent ([`crate::agent`]) as real HTTP servers
//! at the host ports Marathon reports. What a task answers and whether its
//! health checks pass both come from its image ([`crate::image`]): an app
//! whose `container.docker.image` contains the word `broken` never passes
//! its health checks (its tasks report `alive: false` once `health_delay`
//! has passed), so a deployment of it never finishes. A launch the agent
//! cannot do (a fixed host port taken, the task cap reached) fails as on a
//! cluster: no task, `lastTaskFailure` says why (`TASK_FAILED`), and the
//! launch is retried after Marathon's backoff (`backoffSeconds`, growing by
//! `backoffFactor` up to `maxLaunchDelaySeconds`).
//!
//! Deviations from the real Marathon: kills are immediate (no
//! `TASK_KILLING`, no kill grace period); failing tasks are not killed and
//! relaunched; the scheduler keeps converging apps even after their
//! deployment was cancelled with `force=true`; deployments have one step;
//! pods, groups (beyond `GET /v2/apps/<group>/*`), readiness checks and the
//! launch queue are not simulated; the event stream (`events`) has the
//! events marathon-lb listens to, not deployment events; `Content-Type` is
//! not checked (no 415).
//!
//! # Where things are
//!
//! `app` and `task` hold the model and how Marathon renders it;
//! `changes` the API's changes (create, update, delete, restart, kill);
//! `deployment` the deployments, their locks, cancellation and rollback;
//! `scheduler` the task lifecycle over cluster time; `kills` what is noted of
//! each kill; `view` read-only copies for tests; `import` loading a
//! `GET /v2/apps` response as given; `routes`, `query` and `selector` the HTTP surface;
//! `validate` Marathon's validation and normalisation.

mod app;
mod changes;
mod deployment;
mod events;
mod import;
mod kills;
mod query;
mod routes;
mod scheduler;
mod selector;
mod task;
pub(crate) mod validate;
mod view;

use crate::agent::Agent;
use crate::config::SimConfig;
use std::collections::BTreeMap;

pub(crate) use app::{App, Embed};
pub use changes::{KillOptions, UpdateOptions};
pub(crate) use deployment::Deployment;
pub use deployment::{Refusal, Started};
pub(crate) use events::EventBus;
pub use events::KEEP_ALIVE as EVENT_KEEP_ALIVE;
pub use kills::KillCause;
pub(crate) use kills::Killed;
pub(crate) use routes::routes;
/// The one simulated Mesos agent every task runs on.
pub(crate) use task::SLAVE_ID as AGENT_ID;
pub(crate) use task::Task;
pub use task::TaskState;
pub use validate::{Invalid, Violation};
pub use view::{AppView, TaskView};

/// Marathon's state.
#[derive(Debug, Default)]
pub(crate) struct Marathon {
    apps: BTreeMap<String, App>,
    deployments: Vec<Deployment>,
    task_start_ms: u64,
    health_ms: u64,
    next_service_port: u16,
    /// Bumped by every change marathon-lb could see (tasks, apps, labels,
    /// counts), so it rebuilds its view only when something changed.
    generation: u64,
    /// Tasks killed since the cluster last took them ([`Marathon::take_killed`]).
    killed: Vec<Killed>,
    /// Where the tasks run (as real servers, when it serves).
    pub(crate) agent: Agent,
    /// The generation the agent's servers were last checked against.
    agent_generation: u64,
}

impl Marathon {
    /// An empty Marathon whose tasks run on `agent`.
    pub fn new(config: &SimConfig, agent: Agent) -> Self {
        Marathon {
            task_start_ms: config.task_start_delay.as_millis() as u64,
            health_ms: config.health_delay.as_millis() as u64,
            next_service_port: 10_000,
            agent,
            ..Marathon::default()
        }
    }

    /// The apps, sorted by id.
    pub fn apps(&self) -> impl Iterator<Item = &App> {
        self.apps.values()
    }

    /// One app by id (relative ids are resolved against `/`).
    pub fn app(&self, id: &str) -> Option<&App> {
        self.apps.get(&validate::canonical_id(id))
    }

    /// A number that changes whenever the apps or their tasks change.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The tasks killed since the last call, oldest first. Their servers
    /// still run: [`Marathon::end_killed`] ends them once the kills are
    /// recorded (with what marathon-lb had on them).
    pub fn take_killed(&mut self) -> Vec<Killed> {
        std::mem::take(&mut self.killed)
    }

    /// Ends the servers of `killed` on the agent (listeners closed,
    /// connections reset), and any server whose task went without a record
    /// (an import replacing an app).
    pub fn end_killed(&mut self, killed: &[Killed]) {
        for kill in killed {
            if let Some(id) = kill.task["id"].as_str() {
                self.agent.kill(id);
            }
        }
        if self.agent_generation != self.generation {
            self.agent_generation = self.generation;
            let live: std::collections::BTreeSet<&str> = self
                .apps
                .values()
                .flat_map(|a| a.tasks.iter().map(|t| t.id.as_str()))
                .collect();
            self.agent.retain(|id| live.contains(id));
        }
    }

    /// The running deployments, oldest first.
    pub fn deployments(&self) -> &[Deployment] {
        &self.deployments
    }
}
