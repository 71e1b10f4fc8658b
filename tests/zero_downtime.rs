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

use common::haproxy::*;
use load_client::{Outcome, Report};
use std::time::Duration;

impl Cluster {
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
        assert_no_kill_before_drain(&c.sim) >= 4,
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
    assert_no_kill_before_drain(&c.sim);
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
    // The engine did wait for requests in flight: the reload's old worker
    // finishing them, or sessions on the drained server.
    let drain_waits = steps
        .lines()
        .filter(|l| l.contains("old haproxy worker to finish") || l.contains(" to drain: "))
        .count();
    assert!(drain_waits >= 1, "no drain was waited for: {steps}");
    let slow_ok = report
        .records
        .iter()
        .filter(|r| r.slow && r.outcome == Outcome::Success)
        .count();
    assert!(slow_ok > 30, "slow requests were served: {slow_ok}");
    assert!(assert_no_kill_before_drain(&c.sim) >= 4);
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
    assert_no_kill_before_drain(&c.sim);
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
    // of tasks that were serving requests (on the task itself, or in a
    // reload's old worker).
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
        .filter(|k| k.had_traffic() || k.old_worker_had_traffic() || k.task_was_busy())
        .count();
    assert!(
        unsafe_kills > 0,
        "the kill log shows the kills made before the drain"
    );
}
