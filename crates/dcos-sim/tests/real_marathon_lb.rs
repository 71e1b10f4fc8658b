//! The real marathon-lb (`SimConfig::marathon_lb`): the upstream
//! `marathon_lb.py`, run against the sim's Marathon and its event stream,
//! configuring and reloading a real HAProxy in a PID namespace of its own.
//! Compiled ignored, with the reason, where it cannot run (see
//! build-support/test_env.rs: `canary_marathon_lb`), never under CI=true.

mod common;

use common::{
    create_app, get, group_app, haproxy_binary, kill_task, lb_columns, try_send, unique_loopback,
    wait_until,
};
use dcos_sim::{MarathonLbProgram, SimConfig, SimHandle};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

fn program() -> MarathonLbProgram {
    MarathonLbProgram::new(
        PathBuf::from(env!("CANARY_MARATHON_LB_PROGRAM")),
        PathBuf::from(env!("CANARY_MARATHON_LB_PYTHON")),
    )
}

/// A sim at 4x with `lbs` real marathon-lb instances, each on its own
/// loopback address; the addresses.
fn cluster(lbs: usize) -> (SimHandle, Vec<String>) {
    let ips: Vec<_> = (0..lbs).map(|_| unique_loopback()).collect();
    let sim = SimHandle::start(SimConfig {
        time_scale: 4.0,
        lb_binds: ips.iter().map(|ip| SocketAddr::from((*ip, 0))).collect(),
        haproxy: Some(haproxy_binary()),
        marathon_lb: Some(program()),
        ..SimConfig::default()
    })
    .expect("the sim starts with its marathon-lbs");
    (sim, ips.iter().map(|ip| ip.to_string()).collect())
}

fn status(sim: &SimHandle, lb: usize) -> String {
    let status = sim.lb_proxy_status(lb);
    format!("{status:?}")
}

/// The pids `/_haproxy_getpids` lists.
fn getpids(lb: &str) -> Vec<u32> {
    let reply = get(&format!("{lb}/_haproxy_getpids"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply
        .body
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

#[test]
#[cfg_attr(
    not(canary_marathon_lb),
    ignore = "needs the real marathon-lb: ../shared/reference/marathon-lb/upstream, \
              scripts/install-marathon-lb.sh target/marathon-lb-venv, haproxy and unshare (root)"
)]
fn the_real_marathon_lb_serves_an_app_deployed_through_the_sims_marathon() {
    let (sim, ips) = cluster(1);
    let lb = sim.lb_urls()[0].clone();
    assert_eq!(sim.lb_proxy_status(0).mode, "marathon-lb");
    let started = Instant::now();
    create_app(
        sim.dcos_url(),
        &group_app("/web-blue", "web", 10000, "httpd:2.4", 2, json!({})),
    );
    assert!(sim.settle_lbs(LIMIT), "{}", status(&sim, 0));
    eprintln!(
        "the real marathon-lb served the app {:?} after it was posted",
        started.elapsed()
    );
    let rows = lb_columns(&lb, "web_10000");
    assert_eq!(rows.len(), 2, "{rows:?}");
    let reply = get(&format!("http://{}:10000/", ips[0]));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("x-canary-version"),
        Some("/web-blue httpd:2.4")
    );
    // HAProxy's own stats page: the worker line, no nbthread 1.
    let html = get(&format!("{lb}/haproxy?stats;norefresh;scope=web")).body;
    assert!(
        html.contains("(process #1, nbproc = 1, nbthread = "),
        "{html}"
    );
    // getpids answers from marathon-lb's Lua service: master and worker,
    // as the instance's PID namespace numbers them.
    wait_until(LIMIT, "master and one worker", || getpids(&lb).len() == 2);
    let mut listed = getpids(&lb);
    listed.sort_unstable();
    let mut known = sim.lb_proxy_status(0).pids;
    known.sort_unstable();
    assert_eq!(listed, known);
    let log = sim.lb_proxy_status(0).marathon_lb.unwrap().log_tail;
    assert!(!log.is_empty());
}

#[test]
#[cfg_attr(
    not(canary_marathon_lb),
    ignore = "needs the real marathon-lb: ../shared/reference/marathon-lb/upstream, \
              scripts/install-marathon-lb.sh target/marathon-lb-venv, haproxy and unshare (root)"
)]
fn a_reload_with_a_slow_request_in_flight_shows_three_pids_and_a_kill_sees_the_old_worker() {
    let (sim, ips) = cluster(1);
    let lb = sim.lb_urls()[0].clone();
    create_app(
        sim.dcos_url(),
        &group_app("/web-blue", "web", 10000, "httpd:2.4", 1, json!({})),
    );
    assert!(sim.settle_lbs(LIMIT), "{}", status(&sim, 0));
    wait_until(LIMIT, "master and one worker", || getpids(&lb).len() == 2);
    let url = format!("http://{}:10000/slow?ms=8000", ips[0]);
    let slow = std::thread::spawn(move || try_send("GET", &url, &[], None).map(|r| r.status));
    wait_until(LIMIT, "the slow request in flight", || {
        lb_columns(&lb, "web_10000")[0]["scur"] == "1"
    });
    // Another app: marathon-lb rewrites the config and reloads.
    create_app(
        sim.dcos_url(),
        &group_app("/other-blue", "other", 10001, "httpd:2.4", 1, json!({})),
    );
    // The master lists an old worker (a `haproxy -c` of marathon-lb's would
    // make pidof list three too, for a moment): getpids shows it.
    wait_until(LIMIT, "an old worker finishing the request", || {
        sim.lb_proxy_status(0).pids.len() >= 3
    });
    assert!(getpids(&lb).len() >= 3, "{:?}", getpids(&lb));
    let task = sim.app("/web-blue").unwrap().tasks[0].id.clone();
    kill_task(sim.dcos_url(), &task);
    let kill = sim.kill_log().records.pop().expect("a kill record");
    assert_eq!(kill.task_in_flight, Some(1), "{kill:?}");
    assert!(kill.old_worker_had_traffic(), "{kill:?}");
    assert!(kill.old_worker_routed(), "{kill:?}");
    assert!(kill.during_reload(), "{kill:?}");
    let outcome = slow.join().unwrap();
    assert!(
        outcome.map_or(true, |s| s >= 500),
        "the kill cut the request"
    );
}

#[test]
#[cfg_attr(
    not(canary_marathon_lb),
    ignore = "needs the real marathon-lb: ../shared/reference/marathon-lb/upstream, \
              scripts/install-marathon-lb.sh target/marathon-lb-venv, haproxy and unshare (root)"
)]
fn two_instances_drain_a_zdd_canary_and_stopping_leaves_no_process() {
    let (sim, ips) = cluster(2);
    create_app(
        sim.dcos_url(),
        &group_app(
            "/web-blue",
            "web",
            10000,
            "httpd:2.4",
            2,
            json!({"HAPROXY_DEPLOYMENT_STARTED_AT": "2020-01-01T00:00:00.000000"}),
        ),
    );
    assert!(sim.settle_lbs(LIMIT), "{}", status(&sim, 0));
    create_app(
        sim.dcos_url(),
        &group_app(
            "/web-green",
            "web",
            10000,
            "nginx:1.25",
            1,
            json!({"HAPROXY_DEPLOYMENT_STARTED_AT": "2030-01-01T00:00:00.000000",
                   "HAPROXY_DEPLOYMENT_NEW_INSTANCES": "1",
                   "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "2"}),
        ),
    );
    for (lb, url) in sim.lb_urls().iter().enumerate() {
        wait_until(LIMIT, "one drained server on each instance", || {
            let rows = lb_columns(url, "web_10000");
            rows.len() == 3 && rows.iter().filter(|r| r["status"] == "MAINT").count() == 1
        });
        assert!(sim.settle_lbs(LIMIT), "{}", status(&sim, lb));
    }
    for ip in &ips {
        assert_eq!(get(&format!("http://{ip}:10000/")).status, 200);
    }
    let dir = sim.lb_proxy_status(0).marathon_lb.unwrap().dir;
    let base = dir.parent().unwrap().display().to_string();
    let ours = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.contains(&base))
            .collect()
    };
    assert!(
        ours().iter().any(|c| c.contains("marathon_lb.py")),
        "marathon-lb runs: {:?}",
        ours()
    );
    drop(sim);
    let left = ours();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(
        !std::path::Path::new(&base).exists(),
        "the directory is removed"
    );
}
