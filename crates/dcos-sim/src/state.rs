//! The simulated cluster's state, shared by every listener.

use crate::clock::SimClock;
use crate::config::SimConfig;
use crate::rng::SimRng;
use crate::{faults, iam, lb, marathon, metronome};
use std::sync::{Arc, Mutex, MutexGuard};

/// One simulated cluster: its configuration, clock and state.
#[derive(Debug)]
pub struct Sim {
    /// How the cluster was set up.
    pub config: SimConfig,
    /// The cluster clock.
    pub clock: SimClock,
    cluster: Mutex<Cluster>,
}

/// How handlers hold the simulation.
pub type Shared = Arc<Sim>;

/// Everything that changes as the cluster runs. Reached through
/// [`Sim::cluster`], which first brings it up to the current cluster time.
#[derive(Debug)]
pub struct Cluster {
    /// Cluster time of the last [`Cluster::advance`], epoch milliseconds.
    pub now_ms: u64,
    /// The deterministic random source.
    pub rng: SimRng,
    /// The cluster id `/metadata` reports (a UUIDv4).
    pub cluster_id: String,
    /// Marathon: apps, tasks, deployments.
    pub marathon: marathon::Marathon,
    /// Metronome: jobs and runs.
    pub metronome: metronome::Metronome,
    /// IAM: accounts and issued tokens.
    pub iam: iam::Iam,
    /// marathon-lb's simulated sessions and queues.
    pub lb: lb::MarathonLb,
    /// Injected faults.
    pub faults: faults::Faults,
}

impl Sim {
    /// A new cluster as `config` describes it.
    pub fn new(config: SimConfig) -> Shared {
        let start = config.start_time_ms.unwrap_or_else(SimClock::real_now_ms);
        let clock = SimClock::new(start, config.time_scale);
        let mut rng = SimRng::new(config.seed);
        let cluster = Cluster {
            now_ms: start,
            cluster_id: rng.uuid_v4(),
            marathon: marathon::Marathon::new(&config),
            metronome: metronome::Metronome::new(&config),
            iam: iam::Iam::new(&config, &mut rng),
            lb: lb::MarathonLb::new(&config),
            faults: faults::Faults::default(),
            rng,
        };
        Arc::new(Sim {
            config,
            clock,
            cluster: Mutex::new(cluster),
        })
    }

    /// The cluster state, brought up to the current cluster time.
    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        let mut cluster = self.cluster.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.clock.now_ms();
        cluster.advance(now, &self.config);
        cluster
    }
}

impl Cluster {
    /// Runs everything that is due by `now_ms`: tasks starting and passing
    /// health checks, deployments finishing, job runs progressing.
    pub fn advance(&mut self, now_ms: u64, config: &SimConfig) {
        let now_ms = now_ms.max(self.now_ms);
        self.now_ms = now_ms;
        self.marathon.advance(now_ms, &mut self.rng, config);
        self.metronome.advance(now_ms, &mut self.rng, config);
    }
}
