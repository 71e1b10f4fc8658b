//! The simulated cluster's state, shared by every listener.
//!
//! [`Sim`] is what the listeners share: the configuration, the clock and the
//! [`Cluster`] behind a lock. The cluster's parts (Marathon, Metronome, IAM,
//! marathon-lb, faults) are private to the crate; tests reach them through
//! [`crate::SimHandle`]'s methods, and a [`crate::metronome::ClusterRunHook`]
//! through the few methods of [`Cluster`] below.

use crate::clock::SimClock;
use crate::config::SimConfig;
use crate::marathon::{AppView, Invalid, Refusal, Started, UpdateOptions};
use crate::rng::SimRng;
use crate::{exec, faults, iam, lb, marathon, metronome, secrets};
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard};

/// One simulated cluster: its configuration, clock and state.
#[derive(Debug)]
pub struct Sim {
    pub(crate) config: SimConfig,
    pub(crate) clock: SimClock,
    /// What clients cost the cluster ([`crate::costs`]).
    pub(crate) costs: crate::costs::CostCounter,
    cluster: Mutex<Cluster>,
}

/// How handlers hold the simulation.
pub type Shared = Arc<Sim>;

/// Everything that changes as the cluster runs. The crate reaches it through
/// its lock, which first brings it up to the current cluster time; a
/// [`crate::metronome::ClusterRunHook`] gets it with the lock held and can use
/// the public methods below.
#[derive(Debug)]
pub struct Cluster {
    /// Cluster time of the last [`Cluster::advance`], epoch milliseconds.
    pub(crate) now_ms: u64,
    /// The deterministic random source.
    pub(crate) rng: SimRng,
    /// The cluster id `/metadata` reports (a UUIDv4).
    pub(crate) cluster_id: String,
    /// Marathon: apps, tasks, deployments.
    pub(crate) marathon: marathon::Marathon,
    /// Metronome: jobs and runs.
    pub(crate) metronome: metronome::Metronome,
    /// IAM: accounts and issued tokens.
    pub(crate) iam: iam::Iam,
    /// marathon-lb's simulated sessions and queues.
    pub(crate) lb: lb::MarathonLb,
    /// Marathon's event bus (`/v2/events`).
    pub(crate) events: marathon::EventBus,
    /// Injected faults.
    pub(crate) faults: faults::Faults,
    /// The simulated secret store.
    pub(crate) secrets: secrets::SecretStore,
    /// The agent's job tasks (runs that execute).
    pub(crate) jobs: exec::JobAgent,
}

impl Sim {
    /// A new cluster as `config` describes it, its tasks served on
    /// `runtime` (`None`: tasks serve nothing), its marathon-lb instances
    /// carrying traffic through `proxies`, its job runs executed by `jobs`.
    pub(crate) fn new(
        config: SimConfig,
        runtime: Option<tokio::runtime::Handle>,
        proxies: lb::Proxies,
        mut jobs: exec::JobAgent,
    ) -> Shared {
        let start = config.start_time_ms.unwrap_or_else(SimClock::real_now_ms);
        let clock = SimClock::new(start, config.time_scale);
        let mut rng = SimRng::new(config.seed);
        let cluster_id = rng.uuid_v4();
        // Marathon registered first (`-0000`, as /v2/info says), Metronome
        // second.
        jobs.set_framework_id(format!("{cluster_id}-0001"));
        let cluster = Cluster {
            now_ms: start,
            cluster_id,
            marathon: marathon::Marathon::new(&config, crate::agent::Agent::new(runtime)),
            metronome: metronome::Metronome::new(&config),
            iam: iam::Iam::new(&config, &mut rng),
            lb: lb::MarathonLb::new(&config, proxies, start),
            events: marathon::EventBus::default(),
            faults: faults::Faults::default(),
            secrets: secrets::SecretStore::default(),
            jobs,
            rng,
        };
        Arc::new(Sim {
            config,
            clock,
            costs: crate::costs::CostCounter::default(),
            cluster: Mutex::new(cluster),
        })
    }

    /// The cluster state, brought up to the current cluster time.
    pub(crate) fn cluster(&self) -> MutexGuard<'_, Cluster> {
        let mut cluster = self.cluster.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.clock.now_ms();
        cluster.advance(now);
        cluster
    }

    /// The cluster clock now, epoch milliseconds: what a client sharing the
    /// sim's notion of time (e.g. to sign login tokens) reads. Cheap, and
    /// does not take the cluster lock.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Moves the cluster clock forward by `by` (with a manual clock, the
    /// only way it moves): for a client whose waits are cluster time.
    pub fn advance(&self, by: std::time::Duration) {
        self.clock.advance(by);
    }
}

impl Cluster {
    /// Runs everything that is due by `now_ms`, in time order: tasks
    /// starting and passing health checks, deployments finishing,
    /// marathon-lb instances adopting changes, job runs progressing. Each
    /// event is handled at its own cluster time, so what marathon-lb shows
    /// (and what the records say) does not depend on when requests arrive.
    pub(crate) fn advance(&mut self, now_ms: u64) {
        let now_ms = now_ms.max(self.now_ms);
        for _ in 0..1_000_000 {
            let next = [self.marathon.next_transition_ms(), self.lb.next_event_ms()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at <= now_ms => self.step(at.max(self.now_ms)),
                _ => break,
            }
        }
        self.step(now_ms);
        self.metronome.advance(now_ms);
    }

    /// Brings Marathon, then marathon-lb, to `at_ms`.
    fn step(&mut self, at_ms: u64) {
        self.now_ms = at_ms;
        self.marathon.advance(at_ms, &mut self.rng);
        let killed = self.marathon.take_killed();
        // Recorded first, with the sessions marathon-lb has on each task,
        // then ended: a kill that resets requests in flight shows them.
        self.lb.observe(at_ms, &self.marathon, &killed);
        self.marathon.end_killed(&killed);
        self.events.observe(at_ms, &self.marathon);
    }

    /// Stops everything that runs outside the model: the tasks' servers,
    /// the emulated frontends, the real HAProxies and the job runs'
    /// process groups; what is left to finish once the lock is released.
    pub(crate) fn shutdown(&mut self) -> exec::Remains {
        self.marathon.agent = crate::agent::Agent::default();
        self.lb.stop();
        self.jobs.shutdown()
    }

    /// Records what an executing run's task reported, in the agent's
    /// records and in Metronome, at the current cluster time.
    pub(crate) fn job_report(&mut self, task_id: &str, report: exec::Report) {
        let now = self.now_ms;
        let Some(record) = self.jobs.record(task_id, &report, now) else {
            return;
        };
        let (job_id, run_id) = (record.job_id.clone(), record.run_id.clone());
        self.metronome
            .executed_report(&job_id, &run_id, &report, now);
    }

    /// Runs the scheduler (and marathon-lb) right after a change at the
    /// current time, so launches and kills happen at once rather than at the
    /// next request.
    pub(crate) fn settle(&mut self) {
        self.step(self.now_ms);
    }

    /// Imports a `GET /v2/apps` response with its tasks as given (see
    /// [`crate::SimHandle::load_apps_response`]).
    pub(crate) fn load_apps_response(&mut self, response: &Value) -> Result<usize, Invalid> {
        let now = self.now_ms;
        let count = self
            .marathon
            .load_apps_response(response, now, &mut self.rng)?;
        self.settle();
        Ok(count)
    }

    /// Cluster time, epoch milliseconds, as of the last advance (for a hook:
    /// the time its run is created).
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The ids of Metronome's jobs, sorted.
    pub fn job_ids(&self) -> Vec<String> {
        self.metronome.job_ids()
    }

    /// A copy of one Marathon app and its tasks (relative ids resolve
    /// against `/`), or `None`.
    pub fn app(&self, id: &str) -> Option<AppView> {
        self.marathon.app(id).map(AppView::of)
    }

    /// Creates an app as `POST /v2/apps` does (validation, defaults, a
    /// `StartApplication` deployment) and launches its tasks at once.
    pub fn create_app(&mut self, definition: Value) -> Result<Started, Refusal> {
        let Value::Object(definition) = definition else {
            return Err(Refusal::BadRequest(
                "an app definition must be a JSON object".into(),
            ));
        };
        let now = self.now_ms;
        let (_, started) = self.marathon.create(definition, now, &mut self.rng)?;
        self.settle();
        Ok(started)
    }

    /// Changes an app as `PUT`/`PATCH /v2/apps/{id}` do with `options`
    /// (e.g. `{"instances": 3}` with [`UpdateOptions::put`] is a scale), and
    /// lets the scheduler act at once.
    pub fn update_app(
        &mut self,
        id: &str,
        body: Value,
        options: UpdateOptions,
    ) -> Result<Started, Refusal> {
        let Value::Object(body) = body else {
            return Err(Refusal::BadRequest(
                "an app update must be a JSON object".into(),
            ));
        };
        let now = self.now_ms;
        let (_, started) = self
            .marathon
            .update(id, body, options, now, &mut self.rng)?;
        self.settle();
        Ok(started)
    }
}
