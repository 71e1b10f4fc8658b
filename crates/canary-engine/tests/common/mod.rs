//! A simulated cluster for the engine: dcos-sim with a manual clock and
//! marathon-lb instances on their own loopback addresses; the engine's
//! clock is the cluster's (waiting moves it), so minutes of deploying take
//! milliseconds and nothing depends on the machine's speed.

#![allow(dead_code)]

pub use test_support::ClusterClock;

use canary_core::plan::{DeployInput, KnownCanary, Limits, PhaseRequest};
use canary_core::{AppDefinition, AppName, CanaryApp, CanaryRequest, Phase};
use canary_engine::{EngineEvent, Outcome, PhaseError, PhaseRun, PreKillHook, Session, run_phase};
use dcos_sim::{SimConfig, SimHandle};
use exec_http::{Endpoints, HttpConfig, HttpExecutor, RetryPolicy};
use lb_stats::LbStatsClient;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// A started sim and what drives it.
pub struct Cluster {
    pub sim: SimHandle,
    pub clock: Arc<ClusterClock>,
}

/// A sim with `lbs` marathon-lb instances (127.0.0.2, 127.0.0.3, ...).
pub fn cluster(lbs: usize, seed: u64) -> Cluster {
    cluster_with(lbs, seed, |_| {})
}

/// [`cluster`] with the configuration adjusted by `adjust`.
pub fn cluster_with(lbs: usize, seed: u64, adjust: impl FnOnce(&mut SimConfig)) -> Cluster {
    let mut config = SimConfig {
        seed,
        time_scale: 0.0,
        start_time_ms: Some(1_764_580_000_000),
        lb_binds: (0..lbs)
            .map(|i| format!("127.0.0.{}:0", i + 2).parse().unwrap())
            .collect(),
        ..SimConfig::default()
    };
    adjust(&mut config);
    let sim = SimHandle::start(config).expect("the sim starts");
    let clock = Arc::new(ClusterClock(sim.sim().clone()));
    Cluster { sim, clock }
}

/// The embedded example app for `app` with `image` (4 instances, group
/// `app`, port 10000, ALT 10001).
pub fn app(app: &str, image: &str) -> CanaryApp {
    let request = CanaryRequest::new(AppName::new(app).unwrap(), image);
    let bundle = canary_render::Renderer::embedded()
        .render(&request, &BTreeMap::new())
        .unwrap();
    CanaryApp::new(AppDefinition::from_value(bundle.app).unwrap()).unwrap()
}

/// A request for `phase` of group `group`.
pub fn request(phase: Phase, group: &str, deploy: Option<(CanaryApp, u32)>) -> PhaseRequest {
    PhaseRequest {
        phase,
        group: group.to_owned(),
        deploy: deploy.map(|(app, canary_instances)| DeployInput {
            app,
            canary_instances,
            steps: None,
        }),
        canary: KnownCanary::default(),
        goal: None,
        limits: Limits::default(),
    }
}

impl Cluster {
    /// An HTTP executor on the sim, waiting on the cluster's clock.
    pub fn executor(&self) -> HttpExecutor {
        HttpExecutor::new(
            HttpConfig::new(Endpoints::dcos(self.sim.dcos_url()).unwrap())
                .with_clock(self.clock.clone())
                .with_retry(RetryPolicy::default())
                .with_jitter_seed(1),
        )
        .unwrap()
    }

    /// Drives `request` to its end (at most `timeout` of cluster time);
    /// returns the outcome and every step carried out.
    pub fn drive(
        &self,
        request: PhaseRequest,
        timeout: Duration,
    ) -> (Result<Outcome, PhaseError>, Vec<String>) {
        let mut steps = Vec::new();
        let outcome = self.drive_with(request, timeout, &mut |event| {
            if let EngineEvent::Acting { step, .. } = event {
                steps.push(step.to_string());
            }
        });
        (outcome, steps)
    }

    /// A session on this cluster: the HTTP executor and the stats client
    /// on the cluster's clock, stopping when `stop` is set, events to
    /// `events`.
    pub fn session<'a>(
        &self,
        stop: Arc<AtomicBool>,
        events: Box<dyn canary_engine::EventSink + 'a>,
    ) -> Session<'a> {
        Session::new(
            Box::new(self.executor()),
            Box::new(LbStatsClient::new(self.sim.lb_urls(), Duration::from_secs(5)).unwrap()),
            self.clock.clone(),
            stop,
            events,
        )
    }

    /// Drives `request` to its end, every event to `observer`.
    pub fn drive_with(
        &self,
        request: PhaseRequest,
        timeout: Duration,
        observer: &mut dyn FnMut(&EngineEvent<'_>),
    ) -> Result<Outcome, PhaseError> {
        self.drive_hooked(request, timeout, None, observer)
    }

    /// [`Cluster::drive_with`] with a pre-kill hook.
    pub fn drive_hooked(
        &self,
        request: PhaseRequest,
        timeout: Duration,
        hook: Option<&mut dyn PreKillHook>,
        observer: &mut dyn FnMut(&EngineEvent<'_>),
    ) -> Result<Outcome, PhaseError> {
        let mut session = self.session(Arc::new(AtomicBool::new(false)), Box::new(observer));
        run_phase(
            &mut session,
            PhaseRun {
                request,
                timeout,
                hook,
            },
        )
    }

    /// `(id, instances, healthy tasks, image)` of every app of `group`,
    /// oldest first by id.
    pub fn apps(&self, group: &str) -> Vec<(String, u32, usize, String)> {
        use canary_core::executor::Executor;
        let mut apps: Vec<_> = self
            .executor()
            .group_apps(group)
            .unwrap()
            .into_iter()
            .map(|a| {
                let healthy = a.healthy_tasks();
                (a.id, a.instances, healthy, a.image.unwrap_or_default())
            })
            .collect();
        apps.sort();
        apps
    }
}

impl Cluster {
    /// Drives `request` with the stop flag raised once `stop_after` steps
    /// were carried out (the one in flight finishes).
    pub fn drive_interrupted(
        &self,
        request: PhaseRequest,
        stop_after: usize,
    ) -> (Result<Outcome, PhaseError>, Vec<String>) {
        let stop = Arc::new(AtomicBool::new(false));
        let mut steps = Vec::new();
        let flag = stop.clone();
        let mut observer = |event: &EngineEvent<'_>| {
            if let EngineEvent::Acting { step, .. } = event {
                steps.push(step.to_string());
                if steps.len() >= stop_after {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
        };
        let mut session = self.session(stop, Box::new(&mut observer));
        let outcome = run_phase(
            &mut session,
            PhaseRun {
                request,
                timeout: Duration::from_secs(3600),
                hook: None,
            },
        );
        drop(session);
        (outcome, steps)
    }

    /// A first deploy of `app` on `image` with 4 instances, driven to its end.
    pub fn first_deploy(&self, app_name: &str, image: &str) {
        let (outcome, _) = self.drive(
            request(Phase::Deploy, app_name, Some((app(app_name, image), 1))),
            Duration::from_secs(600),
        );
        outcome.expect("the first deploy");
    }

    /// Every kill the sim recorded that happened while a marathon-lb still
    /// had sessions or queued requests on the task, or still routed to it.
    pub fn unsafe_kills(&self) -> Vec<String> {
        self.sim
            .kill_log()
            .records
            .iter()
            .filter(|k| k.had_traffic() || k.was_serving() || k.old_worker_had_traffic())
            .map(|k| format!("{k:?}"))
            .collect()
    }
}
