//! The simulated Mesos agent: every task Marathon launches runs as a real
//! HTTP/1.1 server on 127.0.0.1 at its host port, answering as its image
//! does ([`crate::image`]), until Marathon kills it.
//!
//! # The model
//!
//! A launch binds one listener per host port of the task: port 0 (Marathon
//! picks) lets the OS choose, and the port it gave is the one Marathon
//! reports; a port the definition fixes (`hostPort`, or `requirePorts`) is
//! bound as given, and when it is taken the launch fails as on a cluster
//! whose agent cannot offer it: no task, the app's `lastTaskFailure` says
//! why, and Marathon retries after its launch backoff. A kill (task kill,
//! app delete, scale-down, replacement) closes the listeners and resets
//! every open connection at once, as a container that gets SIGKILL: a
//! request in flight on it fails. Servers start serving at launch (while the
//! task is still staging nothing routes to them: marathon-lb only lists
//! running, healthy tasks).
//!
//! Bounded: at most [`MAX_TASKS`] served tasks (a launch past it fails as a
//! port clash does) and [`MAX_CONNECTIONS`] open connections across all of
//! them (further connections wait in the listen backlog); every server stops
//! when the agent is dropped with the sim.
//!
//! Without a runtime (a cluster built for unit tests) the agent serves
//! nothing and ports are drawn from the seed, as before tasks served.

mod server;

use crate::image::Behaviour;
use server::TaskServer;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

/// At most this many tasks serve at once per sim.
pub const MAX_TASKS: usize = 1_000;

/// At most this many connections are open at once across a sim's tasks.
pub const MAX_CONNECTIONS: usize = 4_096;

/// What a launch needs to know about the task it starts.
#[derive(Debug, Clone)]
pub(crate) struct LaunchSpec<'a> {
    /// Marathon's task id.
    pub task_id: &'a str,
    /// The app it belongs to (for `X-Canary-Version`).
    pub app_id: &'a str,
    /// What its image does.
    pub behaviour: &'a Behaviour,
    /// Per host port: the port the definition fixes, or `None`.
    pub fixed_ports: &'a [Option<u16>],
    /// Ports drawn from the seed, used when nothing is served.
    pub drawn_ports: &'a [u16],
    /// Where this task's evenly spread errors start.
    pub error_offset: u64,
}

/// The simulated agent's running tasks.
#[derive(Default)]
pub(crate) struct Agent {
    runtime: Option<Handle>,
    servers: BTreeMap<String, TaskServer>,
    connections: Option<Arc<Semaphore>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("serving", &self.runtime.is_some())
            .field("tasks", &self.servers.len())
            .finish()
    }
}

impl Agent {
    /// An agent whose task servers run on `runtime` (`None`: serve nothing).
    pub(crate) fn new(runtime: Option<Handle>) -> Agent {
        Agent {
            connections: runtime
                .as_ref()
                .map(|_| Arc::new(Semaphore::new(MAX_CONNECTIONS))),
            runtime,
            servers: BTreeMap::new(),
        }
    }

    /// Starts a task: its host ports, or why it cannot start.
    pub(crate) fn launch(&mut self, spec: &LaunchSpec<'_>) -> Result<Vec<u16>, String> {
        let (Some(runtime), Some(connections)) = (&self.runtime, &self.connections) else {
            return Ok(spec
                .fixed_ports
                .iter()
                .zip(spec.drawn_ports)
                .map(|(fixed, drawn)| fixed.unwrap_or(*drawn))
                .collect());
        };
        if self.servers.len() >= MAX_TASKS {
            return Err(format!(
                "dcos-sim: at most {MAX_TASKS} tasks serve at once; no resources for another"
            ));
        }
        let server = TaskServer::start(runtime, connections.clone(), spec)?;
        let ports = server.ports().to_vec();
        self.servers.insert(spec.task_id.to_owned(), server);
        Ok(ports)
    }

    /// Kills a task's server (listeners closed, connections reset), if it
    /// has one.
    pub(crate) fn kill(&mut self, task_id: &str) {
        if let Some(server) = self.servers.remove(task_id) {
            server.kill();
        }
    }

    /// Kills every server whose task `keep` does not keep (tasks that went
    /// without a kill record, e.g. replaced by an import).
    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let gone: Vec<String> = self
            .servers
            .keys()
            .filter(|id| !keep(id))
            .cloned()
            .collect();
        for id in gone {
            self.kill(&id);
        }
    }

    /// Requests other than health checks that task `task_id`'s server is
    /// serving now; `None` when it serves nothing (or is not a task here).
    pub(crate) fn in_flight(&self, task_id: &str) -> Option<u64> {
        self.servers.get(task_id).map(TaskServer::in_flight)
    }

    /// How many tasks serve now.
    pub(crate) fn served(&self) -> usize {
        self.servers.len()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        for (_, server) in std::mem::take(&mut self.servers) {
            server.kill();
        }
    }
}
