//! A dcos-sim whose marathon-lb instances each run a real HAProxy, the
//! binary against it, and the load client through its frontends: the
//! harness of the zero-downtime and canary-analysis tests.

use dcos_sim::{SimConfig, SimHandle};
use load_client::{LoadClient, LoadConfig, Report};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

/// The embedded template's service port (`HAPROXY_0_PORT`).
pub const SERVICE_PORT: u16 = 10000;
/// The old and the new image, as `X-Canary-Version` names their apps.
pub const OLD: &str = "nginx:1.25";
pub const NEW: &str = "httpd:2.4";

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn haproxy_binary() -> PathBuf {
    match env!("CANARY_HAPROXY") {
        "" => PathBuf::from("haproxy"),
        path => PathBuf::from(path),
    }
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
        .map(|_| SocketAddr::from((super::unique_loopback(), 0)))
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

/// Asserts that the sim killed no task while any haproxy still routed to
/// it or had sessions or queued requests on it, nor (unless `reloads` of
/// other apps were going on) while a reload's old haproxy process, which
/// keeps the sessions it had, was still running. Returns how many kills.
pub fn assert_no_kill_before_drain(sim: &SimHandle, reloads: bool) -> usize {
    let log = sim.kill_log();
    for kill in &log.records {
        assert!(
            !kill.had_traffic() && !kill.was_serving() && (reloads || !kill.during_reload()),
            "killed before drained: {kill:#?}"
        );
    }
    log.records.len()
}
