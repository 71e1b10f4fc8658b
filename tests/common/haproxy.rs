//! A dcos-sim whose marathon-lb instances each run a real HAProxy, the
//! binary against it, and the load client through its frontends: the
//! harness of the zero-downtime and canary-analysis tests.

use dcos_sim::{MarathonLbProgram, SimConfig, SimHandle};
use load_client::{LoadClient, LoadConfig, Report};
use serde_json::Value;
use std::net::SocketAddr;
use std::process::Output;
use std::time::{Duration, Instant};
pub use test_support::haproxy_binary;

/// The embedded template's service port (`HAPROXY_0_PORT`).
pub const SERVICE_PORT: u16 = 10000;
/// The old and the new image, as `X-Canary-Version` names their apps.
pub const OLD: &str = "nginx:1.25";
pub const NEW: &str = "httpd:2.4";

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub struct Cluster {
    pub sim: SimHandle,
    /// `http://IP:10000`, one per marathon-lb instance.
    pub frontends: Vec<String>,
}

/// A sim at `speed` times real time (at 4x tasks start in 0.5 s and are
/// healthy 1.25 s later) with `lbs` marathon-lb instances, each a real
/// HAProxy.
pub fn cluster_at(speed: f64, lbs: usize) -> Cluster {
    let binds: Vec<SocketAddr> = (0..lbs)
        .map(|_| SocketAddr::from((test_support::unique_loopback(), 0)))
        .collect();
    let sim = SimHandle::start(SimConfig {
        time_scale: speed,
        lb_binds: binds.clone(),
        haproxy: Some(haproxy_binary()),
        ..SimConfig::default()
    })
    .expect("the sim starts with its haproxies");
    let frontends = binds
        .iter()
        .map(|b| format!("http://{}:{SERVICE_PORT}", b.ip()))
        .collect();
    Cluster { sim, frontends }
}

pub fn cluster(lbs: usize) -> Cluster {
    cluster_at(4.0, lbs)
}

/// A sim at `speed` times real time with `lbs` marathon-lb instances, each
/// the REAL marathon-lb: upstream `marathon_lb.py` following Marathon's
/// event stream and reloading a real HAProxy in master-worker mode, with
/// its Lua services (getpids forking `pidof` inside the HAProxy that
/// carries the traffic) at HAProxy's default thread count.
pub fn real_cluster_at(speed: f64, lbs: usize) -> Cluster {
    let binds: Vec<SocketAddr> = (0..lbs)
        .map(|_| SocketAddr::from((test_support::unique_loopback(), 0)))
        .collect();
    let sim = SimHandle::start(SimConfig {
        time_scale: speed,
        lb_binds: binds.clone(),
        haproxy: Some(haproxy_binary()),
        marathon_lb: Some(MarathonLbProgram::new(
            env!("CANARY_MARATHON_LB_PROGRAM"),
            env!("CANARY_MARATHON_LB_PYTHON"),
        )),
        ..SimConfig::default()
    })
    .expect("the sim starts with the real marathon-lb");
    let frontends = sim
        .lb_urls()
        .iter()
        .map(|url| {
            let host = url
                .trim_start_matches("http://")
                .split(':')
                .next()
                .unwrap_or_default();
            format!("http://{host}:{SERVICE_PORT}")
        })
        .collect();
    Cluster { sim, frontends }
}

impl Cluster {
    /// The binary with `args` against this cluster and every marathon-lb.
    pub fn canary(&self, args: &[&str]) -> Output {
        let dcos_dir = tempfile::tempdir().unwrap();
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(["--dcos-url".into(), self.sim.dcos_url().to_owned()]);
        for lb in self.sim.lb_urls() {
            all.extend(["--marathon-lb".to_owned(), lb.clone()]);
        }
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        super::canary_in(&all, dcos_dir.path(), &[])
    }

    pub fn phase(&self, phase: &str, extra: &[&str]) -> Output {
        let mut args = vec![phase, "--app", "testapp"];
        args.extend_from_slice(extra);
        self.canary(&args)
    }

    /// Runs a phase and asserts it succeeded; returns its step log.
    pub fn ok(&self, phase: &str, extra: &[&str]) -> String {
        let out = self.phase(phase, extra);
        // Shown with --nocapture: every step and wait of the phase.
        eprintln!("{phase} {extra:?}:\n{}", text(&out.stderr));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{phase} {extra:?}: {}",
            text(&out.stderr)
        );
        assert!(
            self.sim.settle_lbs(Duration::from_secs(30)),
            "every haproxy loaded its config"
        );
        text(&out.stderr)
    }

    /// The first deploy of [`OLD`] at the template's 4 instances.
    pub fn first_deploy(&self) {
        self.ok("deploy", &["--image", OLD]);
    }

    /// Load through frontend `lb`: 8 keep-alive connections, `slow_share`
    /// of them `/slow?ms=slow_ms`.
    pub fn load(&self, lb: usize, slow_share: f64, slow_ms: u64) -> LoadClient {
        self.load_with(lb, 8, slow_share, slow_ms)
    }

    /// [`Cluster::load`] over `connections` connections.
    pub fn load_with(
        &self,
        lb: usize,
        connections: usize,
        slow_share: f64,
        slow_ms: u64,
    ) -> LoadClient {
        let mut config = LoadConfig::new(self.frontends[lb].clone(), connections);
        config.slow_share = slow_share;
        config.slow_ms = slow_ms;
        config.max_duration = Duration::from_secs(600);
        config.max_requests = 1_000_000;
        config.pause = Duration::from_millis(5);
        LoadClient::start(config).expect("the load starts")
    }
}

/// Waits until `load` has recorded `n` more requests than `from` (bounded).
pub fn wait_for_requests(load: &LoadClient, n: usize) {
    let from = load.records().len();
    let started = Instant::now();
    while load.records().len() < from + n {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{n} requests within 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that no request of `report` failed, listing the first failures.
pub fn assert_none_lost(report: &Report, what: &str) {
    let summary = report.summary();
    let failed: Vec<String> = report
        .failures()
        .take(10)
        .map(|r| {
            format!(
                "{:?} at {:?} after {:?} in {} ({:?}, slow {}, connection {}, {:?})",
                r.outcome,
                r.start,
                r.duration,
                report.phase_of(r.start),
                r.status,
                r.slow,
                r.connection,
                r.version
            )
        })
        .collect();
    // Shown with --nocapture: the figures behind the verdict.
    eprintln!("{what}:\n{summary}");
    assert_eq!(summary.failed(), 0, "{what}: {failed:#?}\n{summary}");
    assert!(
        summary.total > 100,
        "{what}: only {} requests",
        summary.total
    );
}

/// The share of `image` among the successful requests of phase `name`.
pub fn share_in_phase(report: &Report, name: &str, image: &str) -> (f64, u64) {
    let summary = report.summary();
    let phase = summary
        .phases
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("phase {name}"));
    let total: u64 = phase.versions.values().sum();
    let of: u64 = phase
        .versions
        .iter()
        .filter(|(version, _)| version.ends_with(&format!(" {image}")))
        .map(|(_, n)| n)
        .sum();
    (of as f64 / total.max(1) as f64, total)
}

/// Asserts that the sim killed no task while any haproxy worker, the
/// current one or an old one a reload left finishing its requests, still
/// routed to it or had sessions or queued requests on it, nor while the
/// task itself was serving a request. Returns how many kills.
pub fn assert_no_kill_before_drain(sim: &SimHandle) -> usize {
    let log = sim.kill_log();
    for kill in &log.records {
        assert!(
            !kill.had_traffic()
                && !kill.was_serving()
                && !kill.old_worker_had_traffic()
                && !kill.old_workers_unreadable()
                && !kill.task_was_busy(),
            "killed before drained: {kill:#?}"
        );
    }
    log.records.len()
}

/// Reads `/_haproxy_getpids` of every marathon-lb every `every` until
/// stopped: canary's read pattern before it stopped forking the load
/// balancer (one getpids per instance at every observation).
pub struct GetpidsReader {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl GetpidsReader {
    /// Starts reading the getpids of `lb_urls`.
    pub fn start(lb_urls: &[String], every: Duration) -> GetpidsReader {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let urls: Vec<String> = lb_urls
            .iter()
            .map(|u| format!("{u}/_haproxy_getpids"))
            .collect();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .into();
            let mut reads = 0;
            let started = Instant::now();
            while !flag.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(600) {
                for url in &urls {
                    if agent.get(url).call().is_ok() {
                        reads += 1;
                    }
                }
                std::thread::sleep(every);
            }
            reads
        });
        GetpidsReader {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops reading; how many getpids were answered.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.take().map_or(0, |t| t.join().unwrap_or(0))
    }
}

/// The JSON lines of `--events json` on stdout (every line must parse).
pub fn events(out: &Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// The events of one kind.
pub fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// `(id, instances, image)` of the group's apps, by id.
pub fn apps(c: &Cluster) -> Vec<(String, u64, String)> {
    super::app_triples(c.sim.dcos_url(), Some("testapp"))
}

/// Load that keeps every window well above `--min-requests` per side.
pub fn steady_load(c: &Cluster) -> LoadClient {
    let load = c.load_with(0, 16, 0.0, 0);
    wait_for_requests(&load, 300);
    load
}

/// Runs `analyze` (a canary command) while another group's app is scaled
/// back and forth (each change reloads HAProxy, whose new process starts
/// its counters at zero), at most 30 changes, `pause` apart; its output
/// and the number of changes.
pub fn with_reloads(c: &Cluster, analyze: &[&str], pause: Duration) -> (Output, u32) {
    let other = serde_json::json!({
        "id": "/other", "instances": 1, "cpus": 0.1, "mem": 32,
        "container": {"type": "DOCKER", "docker": {"image": "nginx:1.25"},
                      "portMappings": [{"containerPort": 80, "hostPort": 0, "servicePort": 10500}]},
        "labels": {"HAPROXY_GROUP": "external"}
    });
    let marathon = format!("{}/service/marathon/v2/apps", c.sim.dcos_url());
    assert_eq!(
        ureq::post(&marathon).send_json(&other).unwrap().status(),
        201
    );
    assert!(c.sim.settle_lbs(Duration::from_secs(30)));
    std::thread::scope(|scope| {
        let analysis = scope.spawn(|| c.canary(analyze));
        let mut changes = 0;
        while !analysis.is_finished() && changes < 30 {
            let put = ureq::put(&format!("{marathon}/other?force=true"))
                .send_json(serde_json::json!({"instances": 1 + changes % 2}));
            assert!(put.is_ok(), "{put:?}");
            changes += 1;
            assert!(c.sim.settle_lbs(Duration::from_secs(30)));
            std::thread::sleep(pause);
        }
        (analysis.join().unwrap(), changes)
    })
}
