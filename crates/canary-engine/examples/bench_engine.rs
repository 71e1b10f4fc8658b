//! The engine's benchmark (scripts/bench-engine runs it in release): on
//! dcos-sim at real time with a fixed start and health delay, a first
//! deploy, a canary deploy and a rollout of N instances, through the HTTP
//! executor and the stats client as the binary uses them. It prints the
//! wall time of each phase against the sim's inherent minimum (one start
//! and health delay per step that waits for new tasks: each create and each
//! scale), and the requests made (Marathon and marathon-lb).
//!
//! With `--zero-downtime` (scripts/bench-zero-downtime), each marathon-lb
//! instance runs a real HAProxy (`HAPROXY`, default /usr/sbin/haproxy) and
//! `load-client` sends requests through the first one's frontend from the
//! canary deploy to the end of the rollout; it also prints the requests per
//! second served meanwhile and how many failed (the target: none).
//!
//! With `--real-marathon-lb` (scripts/bench-zero-downtime --real-marathon-lb),
//! the same under load, but each marathon-lb instance is the real
//! marathon-lb (upstream `marathon_lb.py` following the event stream and
//! reloading its HAProxy; `CANARY_MARATHON_LB_PYTHON`, `CANARY_SHARED_DIR`):
//! the wall time then includes marathon-lb's own reaction to each change.
//! Failed requests are counted per phase.
//!
//! Usage: bench_engine [--zero-downtime | --real-marathon-lb] [N ...]
//! (default 4 20 100; 4 20 under load). `BENCH_VERBOSE=1` prints every
//! step and every new wait with the time since its phase began.

use canary_core::clock::Clock;
use canary_core::executor::{ExecError, Executor, LiveJob, MarathonApp, RunInfo};
use canary_core::plan::{
    DeployInput, KnownCanary, LbQuery, LbSource, LbView, Limits, PhaseRequest,
};
use canary_core::{AppDefinition, AppName, CanaryApp, CanaryRequest, Phase};
use canary_engine::{EngineEvent, PhaseRun, Session, run_phase};
use canary_system::SystemClock;
use dcos_sim::{SimConfig, SimHandle};
use exec_http::{Endpoints, HttpConfig, HttpExecutor};
use lb_stats::LbStatsClient;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

const START: Duration = Duration::from_secs(2);
const HEALTH: Duration = Duration::from_secs(3);

/// Counts the requests an executor makes (one per operation; the HTTP
/// executor makes one request per operation but `scale_app`'s two).
struct Counting<E> {
    inner: E,
    requests: u64,
}

macro_rules! counted {
    ($self:ident, $n:expr, $call:expr) => {{
        $self.requests += $n;
        $call
    }};
}

impl<E: Executor> Executor for Counting<E> {
    fn get_job(&mut self, id: &str) -> Result<Option<LiveJob>, ExecError> {
        counted!(self, 1, self.inner.get_job(id))
    }
    fn create_job(&mut self, spec: &Value) -> Result<(), ExecError> {
        counted!(self, 1, self.inner.create_job(spec))
    }
    fn replace_job(&mut self, spec: &Value) -> Result<(), ExecError> {
        counted!(self, 1, self.inner.replace_job(spec))
    }
    fn stop_run(&mut self, job_id: &str, run_id: &str) -> Result<(), ExecError> {
        counted!(self, 1, self.inner.stop_run(job_id, run_id))
    }
    fn start_run(&mut self, job_id: &str) -> Result<RunInfo, ExecError> {
        counted!(self, 1, self.inner.start_run(job_id))
    }
    fn run_status(&mut self, job_id: &str, run_id: &str) -> Result<RunInfo, ExecError> {
        counted!(self, 1, self.inner.run_status(job_id, run_id))
    }
    fn group_apps(&mut self, group: &str) -> Result<Vec<MarathonApp>, ExecError> {
        counted!(self, 1, self.inner.group_apps(group))
    }
    fn create_app(&mut self, app: &Value) -> Result<(), ExecError> {
        counted!(self, 1, self.inner.create_app(app))
    }
    fn scale_app(&mut self, app_id: &str, instances: u32) -> Result<(), ExecError> {
        counted!(self, 2, self.inner.scale_app(app_id, instances))
    }
    fn kill_tasks(&mut self, app_id: &str, task_ids: &[String]) -> Result<(), ExecError> {
        counted!(self, 1, self.inner.kill_tasks(app_id, task_ids))
    }
    fn delete_app(&mut self, app_id: &str) -> Result<(), ExecError> {
        counted!(self, 1, self.inner.delete_app(app_id))
    }
}

/// Counts the stats requests (one per instance per observation, two
/// where the worker is read).
struct CountingLbs {
    inner: LbStatsClient,
    requests: u64,
}

impl LbSource for CountingLbs {
    fn observe(&mut self, query: &LbQuery) -> Vec<LbView> {
        let views = self.inner.observe(query);
        self.requests += (1 + u64::from(query.worker)) * views.len() as u64;
        views
    }
}

fn app(image: &str, instances: u32) -> CanaryApp {
    let request = CanaryRequest::new(AppName::new("web").unwrap(), image);
    let mut bundle = canary_render::Renderer::embedded()
        .render(&request, &BTreeMap::new())
        .unwrap();
    bundle.app["instances"] = instances.into();
    CanaryApp::new(AppDefinition::from_value(bundle.app).unwrap()).unwrap()
}

/// Load through the first frontend while the phases run: 16 keep-alive
/// connections, 5% of the requests 200 ms slow.
fn start_load(sim: &SimHandle) -> load_client::LoadClient {
    let host = sim.lb_urls()[0]
        .trim_start_matches("http://")
        .rsplit_once(':')
        .map(|(h, _)| h.to_owned())
        .expect("an LB URL");
    let mut config = load_client::LoadConfig::new(format!("http://{host}:10000"), 16);
    config.slow_share = 0.05;
    config.slow_ms = 200;
    config.max_duration = Duration::from_secs(1800);
    config.max_requests = 1_000_000;
    load_client::LoadClient::start(config).expect("the load starts")
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let real_marathon_lb = args.iter().any(|a| a == "--real-marathon-lb");
    let zero_downtime = real_marathon_lb || args.iter().any(|a| a == "--zero-downtime");
    args.retain(|a| !a.starts_with("--"));
    let marathon_lb = real_marathon_lb.then(|| {
        dcos_sim::MarathonLbProgram::new(
            dcos_sim::MarathonLbProgram::default_dir(),
            dcos_sim::MarathonLbProgram::default_python(),
        )
    });
    if real_marathon_lb {
        println!(
            "each marathon-lb instance is the real marathon-lb (marathon_lb.py --sse and its HAProxy)"
        );
    }
    let sizes: Vec<u32> = args
        .iter()
        .map(|a| a.parse().expect("an instance count"))
        .collect();
    let sizes = match (sizes.is_empty(), zero_downtime) {
        (false, _) => sizes,
        (true, false) => vec![4, 20, 100],
        (true, true) => vec![4, 20],
    };
    let haproxy = zero_downtime.then(|| {
        std::path::PathBuf::from(
            std::env::var_os("HAPROXY").unwrap_or_else(|| "/usr/sbin/haproxy".into()),
        )
    });
    if let Some(path) = &haproxy {
        println!(
            "a real HAProxy per marathon-lb instance ({}); load: 16 keep-alive connections, 5% of requests 200 ms, through the first instance's frontend from the canary deploy on",
            path.display()
        );
    }
    println!(
        "start {} s + health {} s per step; marathon-lb instances: 2\n",
        START.as_secs(),
        HEALTH.as_secs()
    );
    println!(
        "| instances | phase | steps | waits for new tasks | wall time | inherent minimum | over | requests (Marathon + marathon-lb) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let sim = SimHandle::start(SimConfig {
            time_scale: 1.0,
            task_start_delay: START,
            health_delay: HEALTH,
            lb_binds: vec![
                "127.0.0.2:0".parse().unwrap(),
                "127.0.0.3:0".parse().unwrap(),
            ],
            haproxy: haproxy.clone(),
            marathon_lb: marathon_lb.clone(),
            ..SimConfig::default()
        })
        .expect("the sim starts");
        let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
        let mut load: Option<load_client::LoadClient> = None;
        let mut executor = Counting {
            inner: HttpExecutor::new(HttpConfig::new(Endpoints::dcos(sim.dcos_url()).unwrap()))
                .unwrap(),
            requests: 0,
        };
        let mut lbs = CountingLbs {
            inner: LbStatsClient::new(sim.lb_urls(), Duration::from_secs(5)).unwrap(),
            requests: 0,
        };
        let phases = [
            ("first deploy", Phase::Deploy, Some(app("nginx:1.25", n))),
            ("canary deploy", Phase::Deploy, Some(app("httpd:2.4", n))),
            ("rollout", Phase::Rollout, None),
        ];
        for (name, phase, deploy) in phases {
            let request = PhaseRequest {
                phase,
                group: "web".into(),
                deploy: deploy.map(|app| DeployInput {
                    app,
                    canary_instances: 1,
                    steps: None,
                }),
                canary: KnownCanary::default(),
                goal: None,
                limits: Limits::default(),
            };
            if haproxy.is_some() && name == "canary deploy" {
                load = Some(start_load(&sim));
            }
            if let Some(load) = &load {
                load.mark(name);
            }
            let (before_m, before_l) = (executor.requests, lbs.requests);
            let mut steps = 0u32;
            let mut growth = 0u32;
            let started = Instant::now();
            let _ = clock.now();
            let verbose = std::env::var_os("BENCH_VERBOSE").is_some();
            let events = |event: &EngineEvent<'_>| {
                if verbose {
                    match event {
                        EngineEvent::Acting { step, .. } => {
                            eprintln!("{:>7.3} act {step}", started.elapsed().as_secs_f64())
                        }
                        EngineEvent::Waiting { wait, waited, .. } if waited.is_zero() => {
                            eprintln!(
                                "{:>7.3} wait {}",
                                started.elapsed().as_secs_f64(),
                                wait.reason
                            )
                        }
                        _ => {}
                    }
                }
                if let EngineEvent::Acting { step, .. } = event {
                    steps += 1;
                    if matches!(
                        step,
                        canary_core::plan::Step::Create { .. }
                            | canary_core::plan::Step::Scale { .. }
                    ) {
                        growth += 1;
                    }
                }
            };
            // A session per phase: the counters are read between phases.
            let outcome = {
                let mut session = Session::new(
                    Box::new(&mut executor),
                    Box::new(&mut lbs),
                    clock.clone(),
                    Arc::new(AtomicBool::new(false)),
                    Box::new(events),
                );
                run_phase(
                    &mut session,
                    PhaseRun {
                        request,
                        timeout: Duration::from_secs(3600),
                        hook: None,
                    },
                )
            };
            let wall = started.elapsed();
            outcome.unwrap_or_else(|e| panic!("{name} of {n}: {e}"));
            let minimum = (START + HEALTH) * growth;
            println!(
                "| {n} | {name} | {steps} | {growth} | {:.2} s | {:.2} s | {:+.1}% | {} + {} |",
                wall.as_secs_f64(),
                minimum.as_secs_f64(),
                (wall.as_secs_f64() / minimum.as_secs_f64() - 1.0) * 100.0,
                executor.requests - before_m,
                lbs.requests - before_l
            );
        }
        if let Some(load) = load {
            let report = load.stop();
            let summary = report.summary();
            let seconds = report.elapsed.as_secs_f64();
            println!(
                "| {n} | load during canary deploy + rollout | {} requests in {seconds:.1} s | {:.0} requests/s | failed: {} | sent again on a new connection: {} |",
                summary.total,
                summary.total as f64 / seconds,
                summary.failed(),
                summary.retried
            );
            for phase in &summary.phases {
                let failed: u64 = phase.failures.values().sum();
                println!(
                    "| {n} | requests during {} | {} | failed: {failed} |",
                    phase.name, phase.total
                );
            }
        }
    }
}
