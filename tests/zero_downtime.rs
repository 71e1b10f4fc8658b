//! Zero downtime, proven under load: `canary deploy`, `rollout` and
//! `rollback` (the native engine, through the binary) against dcos-sim
//! whose marathon-lb instances each run a real HAProxy (Debian's package,
//! configured and reloaded as marathon-lb does), while `load-client` sends
//! requests through the group's frontend and records every one. Each test
//! asserts that no request failed; the negative control skips draining and
//! must see failures, or the harness is wrong.
//!
//! Compiled ignored, with the reason, where no haproxy was found at build
//! time (never under CI=true: `scripts/test` installs it).

mod common;

use dcos_sim::{SimConfig, SimHandle};
use load_client::{LoadClient, LoadConfig, Outcome, Report};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

/// The embedded template's service port (`HAPROXY_0_PORT`).
const SERVICE_PORT: u16 = 10000;
/// The old and the new image, as `X-Canary-Version` names their apps.
const OLD: &str = "nginx:1.25";
const NEW: &str = "httpd:2.4";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn haproxy_binary() -> PathBuf {
    match env!("CANARY_HAPROXY") {
        "" => PathBuf::from("haproxy"),
        path => PathBuf::from(path),
    }
}

struct Cluster {
    sim: SimHandle,
    /// `http://IP:10000`, one per marathon-lb instance.
    frontends: Vec<String>,
}

/// A sim at `speed` times real time (at 4x tasks start in 0.5 s and are
/// healthy 1.25 s later) with `lbs` marathon-lb instances, each a real
/// HAProxy.
fn cluster_at(speed: f64, lbs: usize) -> Cluster {
    let binds: Vec<SocketAddr> = (0..lbs)
        .map(|_| SocketAddr::from((common::unique_loopback(), 0)))
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

fn cluster(lbs: usize) -> Cluster {
    cluster_at(4.0, lbs)
}

impl Cluster {
    /// The binary with `args` against this cluster and every marathon-lb.
    fn canary(&self, args: &[&str]) -> Output {
        let dcos_dir = tempfile::tempdir().unwrap();
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(["--dcos-url".into(), self.sim.dcos_url().to_owned()]);
        for lb in self.sim.lb_urls() {
            all.extend(["--marathon-lb".to_owned(), lb.clone()]);
        }
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        common::canary_in(&all, dcos_dir.path(), &[])
    }

    fn phase(&self, phase: &str, extra: &[&str]) -> Output {
        let mut args = vec![phase, "--app", "testapp"];
        args.extend_from_slice(extra);
        self.canary(&args)
    }

    /// Runs a phase and asserts it succeeded; returns its step log.
    fn ok(&self, phase: &str, extra: &[&str]) -> String {
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
    fn first_deploy(&self) {
        self.ok("deploy", &["--image", OLD]);
    }

    /// The story under load (8 connections, 5% of requests 200 ms): the
    /// first deploy, then load, marked `start`; the canary deploy
    /// (`deploy`); `canary_requests` requests with the canary in place
    /// (`canary`); `phase` with `extra` (marked by its name); 200 requests
    /// after it (`after`). Returns the load's report.
    fn canary_story(&self, canary_requests: usize, phase: &str, extra: &[&str]) -> Report {
        self.canary_story_with(canary_requests, phase, extra, || {})
    }

    /// [`Cluster::canary_story`], calling `during_canary` once the canary
    /// serves (under the load).
    fn canary_story_with(
        &self,
        canary_requests: usize,
        phase: &str,
        extra: &[&str],
        during_canary: impl FnOnce(),
    ) -> Report {
        self.first_deploy();
        let load = self.load(0, 0.05, 200);
        wait_for_requests(&load, 200);
        load.mark("deploy");
        self.ok("deploy", &["--image", NEW]);
        load.mark("canary");
        during_canary();
        wait_for_requests(&load, canary_requests);
        load.mark(phase);
        self.ok(phase, extra);
        load.mark("after");
        wait_for_requests(&load, 200);
        load.stop()
    }

    /// Load through frontend `lb`: 8 keep-alive connections, `slow_share`
    /// of them `/slow?ms=slow_ms`.
    fn load(&self, lb: usize, slow_share: f64, slow_ms: u64) -> LoadClient {
        let mut config = LoadConfig::new(self.frontends[lb].clone(), 8);
        config.slow_share = slow_share;
        config.slow_ms = slow_ms;
        config.max_duration = Duration::from_secs(600);
        config.max_requests = 1_000_000;
        config.pause = Duration::from_millis(5);
        LoadClient::start(config).expect("the load starts")
    }
}

/// Waits until `load` has recorded `n` more requests than `from` (bounded).
fn wait_for_requests(load: &LoadClient, n: usize) {
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
fn assert_none_lost(report: &Report, what: &str) {
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
fn share_in_phase(report: &Report, name: &str, image: &str) -> (f64, u64) {
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
fn assert_no_kill_before_drain(sim: &SimHandle, reloads: bool) -> usize {
    let log = sim.kill_log();
    for kill in &log.records {
        assert!(
            !kill.had_traffic() && !kill.was_serving() && (reloads || !kill.during_reload()),
            "killed before drained: {kill:#?}"
        );
    }
    log.records.len()
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn deploy_then_rollout_loses_no_request_and_the_canary_gets_one_in_four() {
    let c = cluster(1);
    let report = c.canary_story(2000, "rollout", &["--image", NEW]);
    assert_none_lost(&report, "deploy + rollout");

    // Round robin over 3 old servers and 1 canary: 1 in 4, within 5 points.
    let (share, total) = share_in_phase(&report, "canary", NEW);
    assert!(total >= 2000, "{total}");
    assert!(
        (share - 0.25).abs() <= 0.05,
        "the canary served {:.1}% of {total}",
        share * 100.0
    );
    let (after, _) = share_in_phase(&report, "after", NEW);
    assert!(
        after > 0.999,
        "after the rollout only the new version serves: {after}"
    );
    let (before, _) = share_in_phase(&report, "start", OLD);
    assert!(before > 0.999, "{before}");
    assert!(
        assert_no_kill_before_drain(&c.sim, false) >= 4,
        "the old tasks were killed"
    );
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn deploy_then_rollback_loses_no_request() {
    let c = cluster(1);
    let report = c.canary_story_with(400, "rollback", &[], || {
        // `status --sample` reads the real HAProxy's counters: the load's
        // requests and its own, 1 in 4 on the canary.
        let out = c.canary(&["status", "--app", "testapp", "--sample", "400", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let sample = &status["sample"];
        assert_eq!(
            (sample["ok"].as_u64(), sample["failed"].as_u64()),
            (Some(400), Some(0)),
            "{sample:#}"
        );
        let by_app = sample["observed"]["by_app"].as_array().unwrap();
        let count = |id: &str| {
            by_app
                .iter()
                .find(|a| a["app_id"] == id)
                .and_then(|a| a["responses"].as_u64())
                .unwrap_or(0)
        };
        let (green, blue) = (count("/testapp-green"), count("/testapp-blue"));
        let share = green as f64 / (green + blue).max(1) as f64;
        assert!(green + blue >= 400, "{sample:#}");
        assert!((share - 0.25).abs() <= 0.05, "observed {share}: {sample:#}");
    });
    assert_none_lost(&report, "deploy + rollback");
    let (canary, _) = share_in_phase(&report, "canary", NEW);
    assert!(
        canary > 0.1,
        "the canary served during the canary: {canary}"
    );
    let (after, _) = share_in_phase(&report, "after", OLD);
    assert!(
        after > 0.999,
        "only the old version after the rollback: {after}"
    );
    assert_no_kill_before_drain(&c.sim, false);
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn two_second_requests_in_flight_at_every_drain_all_finish() {
    // 10x: new tasks are healthy 0.7 s after they are asked for, so the old
    // servers go into MAINT with 2 s requests still running on them.
    let c = cluster_at(10.0, 1);
    c.first_deploy();
    // A third of the requests take 2 s: every server has some in flight
    // whenever it is put into MAINT.
    let load = c.load(0, 0.33, 2000);
    wait_for_requests(&load, 100);
    load.mark("deploy");
    c.ok("deploy", &["--image", NEW]);
    load.mark("rollout");
    let steps = c.ok("rollout", &["--image", NEW]);
    load.mark("after");
    wait_for_requests(&load, 50);
    let report = load.stop();
    assert_none_lost(&report, "2 s requests");
    // The engine did wait for requests in flight: the reload's old process
    // serving them, or sessions on the drained server.
    let drain_waits = steps
        .lines()
        .filter(|l| l.contains("is reloading (") || l.contains(" to drain: "))
        .count();
    assert!(drain_waits >= 1, "no drain was waited for: {steps}");
    let slow_ok = report
        .records
        .iter()
        .filter(|r| r.slow && r.outcome == Outcome::Success)
        .count();
    assert!(slow_ok > 30, "slow requests were served: {slow_ok}");
    assert!(assert_no_kill_before_drain(&c.sim, false) >= 4);
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn two_lbs_and_a_burst_of_unrelated_reloads_during_a_rollout_lose_no_request() {
    let c = cluster(2);
    c.first_deploy();
    c.ok("deploy", &["--image", NEW]);
    let loads = [c.load(0, 0.05, 300), c.load(1, 0.05, 300)];
    for load in &loads {
        wait_for_requests(load, 100);
        load.mark("rollout");
    }
    // Another group's app, scaled up and down while the rollout runs: each
    // change rewrites both haproxies' configs and reloads them.
    let other = serde_json::json!({
        "id": "/other", "instances": 1, "cpus": 0.1, "mem": 32,
        "container": {"type": "DOCKER", "docker": {"image": "nginx:1.25"},
                      "portMappings": [{"containerPort": 80, "hostPort": 0, "servicePort": 10500}]},
        "labels": {"HAPROXY_GROUP": "external"},
        "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0,
                          "gracePeriodSeconds": 5, "intervalSeconds": 3, "maxConsecutiveFailures": 3}]
    });
    let marathon = format!("{}/service/marathon/v2/apps", c.sim.dcos_url());
    let answer = ureq::post(&marathon).send_json(&other).unwrap();
    assert_eq!(answer.status(), 201);
    let burst = std::thread::scope(|scope| {
        let rollout = scope.spawn(|| c.phase("rollout", &["--image", NEW]));
        let mut changes = 0;
        while !rollout.is_finished() && changes < 40 {
            let instances = 1 + changes % 3;
            let put = ureq::put(&format!("{marathon}/other?force=true"))
                .send_json(serde_json::json!({"instances": instances}));
            assert!(put.is_ok(), "{put:?}");
            changes += 1;
            // Paced by the haproxies themselves: the next change once both
            // have loaded (or refused) this one.
            assert!(c.sim.settle_lbs(Duration::from_secs(30)));
        }
        let out = rollout.join().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        changes
    });
    assert!(
        burst >= 3,
        "only {burst} unrelated changes during the rollout"
    );
    for load in &loads {
        load.mark("after");
    }
    for (i, load) in loads.into_iter().enumerate() {
        wait_for_requests(&load, 100);
        let report = load.stop();
        assert_none_lost(&report, &format!("frontend of marathon-lb {i}"));
    }
    // Another app's reloads may start between the engine's look and its
    // kill; their old processes hold no session on a drained server.
    assert_no_kill_before_drain(&c.sim, true);
}

/// The negative control: the same rollout with draining skipped (a zero
/// drain timeout, and kill anyway) must lose the requests in flight on the
/// killed tasks, and the harness must report them; the kill log shows the
/// kills made before the drain ended.
#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn the_negative_control_skipping_drains_loses_requests_and_the_harness_sees_them() {
    let c = cluster_at(10.0, 1);
    c.first_deploy();
    c.ok("deploy", &["--image", NEW]);
    // Half the requests take 2 s: several are in flight on every killed task.
    let load = c.load(0, 0.5, 2000);
    wait_for_requests(&load, 100);
    load.mark("rollout");
    c.ok(
        "rollout",
        &[
            "--image",
            NEW,
            "--drain-timeout",
            "0s",
            "--kill-after-drain-timeout",
        ],
    );
    load.mark("after");
    wait_for_requests(&load, 50);
    let report = load.stop();
    let summary = report.summary();
    eprintln!("negative control:\n{summary}");
    assert!(
        summary.failed() > 0,
        "killing tasks with 2 s requests in flight lost nothing: the harness is wrong\n{summary}"
    );
    // Lost in the rollout: every failure was still running when it began.
    let rollout_began = report
        .marks
        .iter()
        .find(|(name, _)| name == "rollout")
        .map(|(_, at)| *at)
        .unwrap();
    assert!(
        report
            .failures()
            .all(|r| r.start + r.duration >= rollout_began),
        "{summary}"
    );
    // Every loss is a 502 of a request in flight on a killed task (HAProxy
    // answers for the server that went away), and the kill log shows kills
    // made while a reload's old process still served those sessions.
    assert!(
        report
            .failures()
            .all(|r| r.status == Some(502) && r.version.is_none()),
        "{summary}"
    );
    let unsafe_kills = c
        .sim
        .kill_log()
        .records
        .iter()
        .filter(|k| k.had_traffic() || k.during_reload())
        .count();
    assert!(
        unsafe_kills > 0,
        "the kill log shows the kills made before the drain"
    );
}
