//! Zero downtime through the REAL marathon-lb: dcos-sim whose marathon-lb
//! instances are upstream `marathon_lb.py` (run, never copied: it follows
//! Marathon's event stream, writes the config from its own templates,
//! validates it and reloads a real HAProxy 2.6 in master-worker mode with
//! its Lua services, `/_haproxy_getpids` forking `pidof` inside the HAProxy
//! that carries the traffic, at HAProxy's default thread count), while
//! `load-client` sends requests through the group's frontend and records
//! every one.
//!
//! canary reads nothing that forks the load balancer (the group's scoped
//! `;csv` stats and the HTML page's header), so it loses no request; the
//! negative control reads `/_haproxy_getpids` at canary's old cadence
//! during the same phases and must lose requests, or this harness could
//! not see the hazard.
//!
//! Compiled ignored, with the reason, where the real marathon-lb cannot run
//! here (never under CI=true: `scripts/test` installs what it needs).

mod common;

use common::haproxy::*;
use std::time::Duration;

const NEEDS: &str = "needs the real marathon-lb: ../shared/reference/marathon-lb/upstream, its venv \
                     (scripts/install-marathon-lb.sh), haproxy and unshare (scripts/test sets them up)";

/// The first deploy, then under load (`connections` keep-alive connections,
/// `slow_share` of requests `slow_ms` long): the canary deploy,
/// `canary_requests` with the canary serving, then `phase`; returns the
/// load's report.
fn story(
    c: &Cluster,
    connections: usize,
    slow_share: f64,
    slow_ms: u64,
    canary_requests: usize,
    phase: &str,
) -> load_client::Report {
    c.first_deploy();
    let load = c.load_with(0, connections, slow_share, slow_ms);
    wait_for_requests(&load, 200);
    load.mark("deploy");
    c.ok("deploy", &["--image", NEW]);
    load.mark("canary");
    wait_for_requests(&load, canary_requests);
    load.mark(phase);
    c.ok(phase, &["--image", NEW]);
    load.mark("after");
    wait_for_requests(&load, 200);
    load.stop()
}

#[test]
#[cfg_attr(
    not(canary_marathon_lb),
    ignore = "needs the real marathon-lb (see NEEDS)"
)]
fn deploy_and_rollout_through_the_real_marathon_lb_lose_no_request() {
    let _ = NEEDS;
    let c = real_cluster_at(4.0, 1);
    let report = story(&c, 16, 0.0, 0, 1000, "rollout");
    assert_none_lost(&report, "deploy + rollout through the real marathon-lb");
    let (share, total) = share_in_phase(&report, "canary", NEW);
    assert!(
        (share - 0.25).abs() <= 0.05,
        "the canary served {:.1}% of {total}",
        share * 100.0
    );
    let (after, _) = share_in_phase(&report, "after", NEW);
    assert!(
        after > 0.999,
        "only the new version after the rollout: {after}"
    );
    assert!(assert_no_kill_before_drain(&c.sim) >= 4);
}

#[test]
#[cfg_attr(
    not(canary_marathon_lb),
    ignore = "needs the real marathon-lb (see NEEDS)"
)]
fn a_rollback_with_two_second_requests_in_flight_loses_none() {
    let c = real_cluster_at(4.0, 1);
    // A third of the requests take 2 s: some are in flight on every server
    // marathon-lb drains.
    let report = story(&c, 8, 0.33, 2000, 150, "rollback");
    assert_none_lost(&report, "deploy + rollback, 2 s requests");
    let (after, _) = share_in_phase(&report, "after", OLD);
    assert!(
        after > 0.999,
        "only the old version after the rollback: {after}"
    );
    let slow_ok = report
        .records
        .iter()
        .filter(|r| r.slow && r.outcome == load_client::Outcome::Success)
        .count();
    assert!(slow_ok > 20, "slow requests were served: {slow_ok}");
    assert!(assert_no_kill_before_drain(&c.sim) >= 1);
}

#[test]
#[cfg_attr(
    not(canary_marathon_lb),
    ignore = "needs the real marathon-lb (see NEEDS)"
)]
fn two_real_marathon_lbs_a_ladder_with_analysis_lose_no_request() {
    let c = real_cluster_at(4.0, 2);
    c.first_deploy();
    let loads = [c.load_with(0, 8, 0.0, 0), c.load_with(1, 8, 0.0, 0)];
    for load in &loads {
        wait_for_requests(load, 200);
        load.mark("ladder");
    }
    let out = c.phase(
        "deploy",
        &[
            "--image",
            NEW,
            "--steps",
            "1,50%",
            "--analyze",
            "--interval",
            "2s",
            "--analysis",
            "windows",
            "--count",
            "2",
            "--min-requests",
            "20",
        ],
    );
    eprintln!("{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(c.sim.settle_lbs(Duration::from_secs(30)));
    for load in &loads {
        load.mark("after");
    }
    for (i, load) in loads.into_iter().enumerate() {
        wait_for_requests(&load, 200);
        let report = load.stop();
        assert_none_lost(&report, &format!("ladder through real marathon-lb {i}"));
        let (after, _) = share_in_phase(&report, "after", NEW);
        assert!(after > 0.999, "rolled out: {after}");
    }
    assert!(assert_no_kill_before_drain(&c.sim) >= 4);
}

/// The negative control: the same deploy and rollout under the same load
/// while `/_haproxy_getpids` is read at canary's old cadence (every
/// marathon-lb, four times a second) must lose requests; if it lost none,
/// this harness could not tell canary's reads apart from the hazard.
#[test]
#[cfg_attr(
    not(canary_marathon_lb),
    ignore = "needs the real marathon-lb (see NEEDS)"
)]
fn the_negative_control_reading_getpids_at_every_observation_loses_requests() {
    let c = real_cluster_at(4.0, 1);
    c.first_deploy();
    let load = c.load_with(0, 16, 0.0, 0);
    wait_for_requests(&load, 200);
    load.mark("deploy");
    let getpids = GetpidsReader::start(c.sim.lb_urls(), Duration::from_millis(250));
    c.ok("deploy", &["--image", NEW]);
    wait_for_requests(&load, 1000);
    c.ok("rollout", &["--image", NEW]);
    let reads = getpids.stop();
    load.mark("after");
    wait_for_requests(&load, 200);
    let report = load.stop();
    let summary = report.summary();
    eprintln!("negative control, {reads} getpids read:\n{summary}");
    assert!(reads > 20, "getpids was read {reads} times");
    assert!(
        summary.failed() > 0,
        "{reads} forks of the HAProxy carrying the traffic lost nothing: this harness cannot see the hazard\n{summary}"
    );
    // The kills themselves were safe: every loss is the fork's.
    assert!(assert_no_kill_before_drain(&c.sim) >= 4);
}
