//! Traffic through marathon-lb: the emulated frontend (always) and a real
//! HAProxy per instance (`SimConfig::haproxy`; ignored with the reason when
//! no haproxy was found at build time, except under CI=true). Each sim's
//! instances sit on their own 127.x addresses, so the fixed service ports
//! (10000, …) never meet another test's.

mod common;

use common::{Reply, get, group_app, lb_columns, send, try_send, unique_loopback, wait_until};
use dcos_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use test_support::haproxy_binary;

const PORT: u16 = 10000;
const LIMIT: Duration = Duration::from_secs(20);

struct Cluster {
    sim: SimHandle,
    frontend: String,
}

/// A sim at 10x real time (tasks healthy in 0.7 s) with `lbs` instances,
/// real HAProxies when `haproxy`.
fn cluster(haproxy: bool, lbs: usize) -> Cluster {
    let binds: Vec<SocketAddr> = (0..lbs)
        .map(|_| SocketAddr::from((unique_loopback(), 0)))
        .collect();
    let sim = SimHandle::start(SimConfig {
        time_scale: 10.0,
        lb_binds: binds.clone(),
        marathon_lb_count: lbs,
        haproxy: haproxy.then(haproxy_binary),
        control: true,
        ..SimConfig::default()
    })
    .expect("sim starts");
    let frontend = format!("http://{}:{PORT}", binds[0].ip());
    Cluster { sim, frontend }
}

impl Cluster {
    fn post(&self, path: &str, body: &Value) -> Reply {
        send(
            "POST",
            &format!("{}{path}", self.sim.dcos_url()),
            &[],
            Some(body),
        )
    }

    fn lb(&self) -> &str {
        &self.sim.lb_urls()[0]
    }

    /// Waits until `backend` on the first instance lists `up` servers UP
    /// and `maint` in MAINT.
    fn wait_for_servers(&self, backend: &str, up: usize, maint: usize) {
        wait_until(
            LIMIT,
            &format!("{up} UP and {maint} MAINT in {backend}"),
            || {
                let rows = lb_columns(self.lb(), backend);
                let count = |s: &str| rows.iter().filter(|r| r["status"] == s).count();
                count("UP") == up && count("MAINT") == maint && rows.len() == up + maint
            },
        );
    }

    fn stats(&self, backend: &str) -> BTreeMap<String, BTreeMap<String, String>> {
        lb_columns(self.lb(), backend)
            .into_iter()
            .map(|r| (r["svname"].clone(), r))
            .collect()
    }
}

fn number(row: &BTreeMap<String, String>, column: &str) -> u64 {
    row[column].parse().unwrap_or(0)
}

fn balances_across_the_healthy_tasks(haproxy: bool) {
    let c = cluster(haproxy, 1);
    let app = group_app("/web-blue", "web", PORT, "httpd:2.4", 3, json!({}));
    assert_eq!(c.post("/v2/apps", &app).status, 201);
    c.wait_for_servers("web_10000", 3, 0);
    let before = c.stats("web_10000");
    for _ in 0..30 {
        let reply = get(&format!("{}/", c.frontend));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply.body.contains("It works!"));
        assert_eq!(
            reply.header("x-canary-version"),
            Some("/web-blue httpd:2.4")
        );
    }
    let after = c.stats("web_10000");
    for (name, row) in &after {
        let served = number(row, "hrsp_2xx") - number(&before[name], "hrsp_2xx");
        assert_eq!(served, 10, "round robin: {name} served {served} of 30");
    }
}

#[test]
fn emulated_frontend_balances_across_the_healthy_tasks() {
    balances_across_the_healthy_tasks(false);
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn haproxy_balances_across_the_healthy_tasks() {
    balances_across_the_healthy_tasks(true);
}

/// A zdd-style canary: blue (2 tasks) then green (1 task, NEW_INSTANCES,
/// TARGET 2), so marathon-lb drains blue's first task. A 2 s request in
/// flight on each blue task when the drain starts finishes; afterwards the
/// drained server gets no new requests.
fn drained_server_finishes_in_flight_and_gets_no_new_requests(haproxy: bool) {
    let c = cluster(haproxy, 1);
    let blue = group_app(
        "/web-blue",
        "web",
        PORT,
        "httpd:2.4",
        2,
        json!({"HAPROXY_DEPLOYMENT_STARTED_AT": "2020-01-01T00:00:00.000000", "HAPROXY_DEPLOYMENT_COLOUR": "blue"}),
    );
    assert_eq!(c.post("/v2/apps", &blue).status, 201);
    c.wait_for_servers("web_10000", 2, 0);
    let frontend = c.frontend.clone();
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let url = format!("{frontend}/slow?ms=2000");
            std::thread::spawn(move || try_send("GET", &url, &[], None).map(|r| r.status))
        })
        .collect();
    wait_until(LIMIT, "both slow requests in flight", || {
        c.stats("web_10000")
            .values()
            .all(|r| number(r, "scur") == 1)
    });
    let green = group_app(
        "/web-green",
        "web",
        PORT,
        "nginx:1.25",
        1,
        json!({"HAPROXY_DEPLOYMENT_STARTED_AT": "2030-01-01T00:00:00.000000",
               "HAPROXY_DEPLOYMENT_COLOUR": "green",
               "HAPROXY_DEPLOYMENT_NEW_INSTANCES": "1",
               "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "2"}),
    );
    assert_eq!(c.post("/v2/apps", &green).status, 201);
    c.wait_for_servers("web_10000", 2, 1);
    for handle in slow {
        assert_eq!(
            handle.join().unwrap().expect("the slow request finishes"),
            200
        );
    }
    let stats = c.stats("web_10000");
    let (drained, row) = stats
        .iter()
        .find(|(_, r)| r["status"] == "MAINT")
        .expect("a MAINT server");
    let served_before = number(row, "hrsp_2xx");
    let mut versions = BTreeMap::new();
    for _ in 0..20 {
        let reply = get(&format!("{}/", c.frontend));
        assert_eq!(reply.status, 200, "{}", reply.body);
        *versions
            .entry(reply.header("x-canary-version").unwrap_or("").to_owned())
            .or_insert(0) += 1;
    }
    let after = c.stats("web_10000");
    assert_eq!(
        number(&after[drained], "hrsp_2xx"),
        served_before,
        "the drained server {drained} got no new request"
    );
    assert_eq!(
        versions.get("/web-green nginx:1.25"),
        Some(&10),
        "{versions:?}"
    );
    assert_eq!(
        versions.get("/web-blue httpd:2.4"),
        Some(&10),
        "{versions:?}"
    );
}

#[test]
fn emulated_drained_server_finishes_in_flight_and_gets_no_new_requests() {
    drained_server_finishes_in_flight_and_gets_no_new_requests(false);
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn haproxy_drained_server_finishes_in_flight_and_gets_no_new_requests() {
    drained_server_finishes_in_flight_and_gets_no_new_requests(true);
}

/// Killing a task that still serves (no drain) while a request is in flight
/// on it: the client gets a 5xx from marathon-lb, and the stats count it.
fn a_kill_without_drain_fails_the_request_in_flight(haproxy: bool) {
    let c = cluster(haproxy, 1);
    let app = group_app("/web-blue", "web", PORT, "httpd:2.4", 1, json!({}));
    c.post("/v2/apps", &app);
    c.wait_for_servers("web_10000", 1, 0);
    let url = format!("{}/slow?ms=5000", c.frontend);
    let started = Instant::now();
    let in_flight = std::thread::spawn(move || try_send("GET", &url, &[], None));
    wait_until(LIMIT, "the slow request in flight", || {
        c.stats("web_10000")
            .values()
            .any(|r| number(r, "scur") == 1)
    });
    let task = c.sim.app("/web-blue").unwrap().tasks[0].id.clone();
    let reply = c.post(
        "/v2/tasks/delete?scale=true&force=true",
        &json!({"ids": [task]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let outcome = in_flight.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "it failed at the kill"
    );
    match outcome {
        Ok(reply) => assert!(reply.status >= 500, "{} {}", reply.status, reply.body),
        Err(e) => panic!("marathon-lb answers, with a 5xx: {e}"),
    }
    let kill = c.sim.kill_log().records.pop().expect("a kill record");
    assert!(
        kill.had_traffic(),
        "the kill log saw the session in flight: {kill:?}"
    );
}

#[test]
fn emulated_kill_without_drain_fails_the_request_in_flight() {
    a_kill_without_drain_fails_the_request_in_flight(false);
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn haproxy_kill_without_drain_fails_the_request_in_flight() {
    a_kill_without_drain_fails_the_request_in_flight(true);
}

#[test]
fn emulated_stats_count_responses_by_class_and_errors() {
    let c = cluster(false, 1);
    let app = group_app("/web-blue", "web", PORT, "httpd:errors-20", 1, json!({}));
    c.post("/v2/apps", &app);
    c.wait_for_servers("web_10000", 1, 0);
    let statuses: Vec<u16> = (0..50)
        .map(|_| get(&format!("{}/", c.frontend)).status)
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 500).count(), 10);
    let stats = c.stats("web_10000");
    let row = stats.values().next().unwrap();
    assert_eq!(number(row, "hrsp_2xx"), 40);
    assert_eq!(number(row, "hrsp_5xx"), 10);
    assert_eq!(number(row, "stot"), 50);
    assert_eq!(number(row, "econ"), 0);
    assert_eq!(c.sim.lb_proxy_status(0).mode, "emulated");
}

// ----- a real HAProxy only -----

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn haproxy_reloads_keep_the_listening_socket() {
    let c = cluster(true, 1);
    let app = group_app("/web-blue", "web", PORT, "httpd:2.4", 2, json!({}));
    c.post("/v2/apps", &app);
    c.wait_for_servers("web_10000", 2, 0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (frontend, flag) = (c.frontend.clone(), stop.clone());
    // New connections, one request each, all through the reloads.
    let load = std::thread::spawn(move || {
        let (mut ok, mut failed) = (0u32, Vec::new());
        while !flag.load(std::sync::atomic::Ordering::Relaxed) && ok < 100_000 {
            match try_send(
                "GET",
                &format!("{frontend}/"),
                &[("connection", "close")],
                None,
            ) {
                Ok(r) if r.status == 200 => ok += 1,
                Ok(r) => failed.push(format!("status {}", r.status)),
                Err(e) => failed.push(e.to_string()),
            }
        }
        (ok, failed)
    });
    let reloads_before = c.sim.lb_proxy_status(0).haproxy.unwrap().reloads;
    // Unrelated apps on other ports: each one changes the config.
    for i in 0..8u16 {
        let other = group_app(
            &format!("/other-{i}"),
            &format!("other-{i}"),
            10100 + i,
            "nginx",
            1,
            json!({}),
        );
        assert_eq!(c.post("/v2/apps", &other).status, 201);
        assert!(c.sim.settle_lbs(LIMIT));
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = load.join().unwrap();
    let reloads = c.sim.lb_proxy_status(0).haproxy.unwrap().reloads - reloads_before;
    assert!(reloads >= 8, "{reloads} reloads");
    assert!(ok > 50, "{ok} requests");
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(5)]
    );
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn haproxy_refuses_a_bad_config_and_keeps_the_running_one() {
    let c = cluster(true, 1);
    let app = group_app("/web-blue", "web", PORT, "httpd:2.4", 1, json!({}));
    c.post("/v2/apps", &app);
    c.wait_for_servers("web_10000", 1, 0);
    assert!(c.sim.settle_lbs(LIMIT));
    let bad = group_app(
        "/bad",
        "bad",
        10001,
        "httpd:2.4",
        1,
        json!({"HAPROXY_0_BALANCE": "no-such-algorithm"}),
    );
    assert_eq!(c.post("/v2/apps", &bad).status, 201);
    wait_until(LIMIT, "the bad config refused", || {
        assert!(c.sim.settle_lbs(LIMIT));
        !c.sim
            .lb_proxy_status(0)
            .haproxy
            .unwrap()
            .rejected
            .is_empty()
    });
    let status = c.sim.lb_proxy_status(0).haproxy.unwrap();
    let rejection = &status.rejected[0];
    assert!(
        rejection.error.contains("balance only supports"),
        "{}",
        rejection.error
    );
    assert!(rejection.config.contains("balance no-such-algorithm"));
    // Not loaded: the stats have no bad_10001, the old frontend still serves.
    let csv = get(&format!("{}/haproxy?stats;csv", c.lb())).body;
    assert!(!csv.contains("bad_10001"), "{csv}");
    assert!(csv.contains("web_10000"));
    assert_eq!(get(&format!("{}/", c.frontend)).status, 200);
    let bad_port = c.frontend.replace(":10000", ":10001");
    assert!(
        try_send("GET", &bad_port, &[], None).is_err(),
        "the bad frontend is not bound"
    );
    // And reported to a client outside the process.
    let reported = get(&format!("{}/__sim/lb/proxies", c.sim.dcos_url())).json();
    assert_eq!(reported[0]["mode"], "haproxy");
    assert_eq!(reported[0]["lb"], 0);
    let error = reported[0]["haproxy"]["rejected"][0]["error"]
        .as_str()
        .unwrap_or("");
    assert!(error.contains("balance only supports"), "{reported}");
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn haproxy_getpids_lists_more_than_two_while_an_old_worker_lingers() {
    let c = cluster(true, 1);
    let app = group_app("/web-blue", "web", PORT, "httpd:2.4", 1, json!({}));
    c.post("/v2/apps", &app);
    c.wait_for_servers("web_10000", 1, 0);
    assert!(c.sim.settle_lbs(LIMIT));
    let pids = |c: &Cluster| {
        get(&format!("{}/_haproxy_getpids", c.lb()))
            .body
            .split_whitespace()
            .count()
    };
    // Workers of the reloads so far exit once their connections are done.
    wait_until(LIMIT, "master and one worker", || pids(&c) == 2);
    // A request in flight keeps the old worker after the next reload.
    let url = format!("{}/slow?ms=3000", c.frontend);
    let slow = std::thread::spawn(move || try_send("GET", &url, &[], None).map(|r| r.status));
    wait_until(LIMIT, "the slow request in flight", || {
        c.stats("web_10000")
            .values()
            .any(|r| number(r, "scur") == 1)
    });
    let other = group_app("/other", "other", 10001, "nginx", 1, json!({}));
    c.post("/v2/apps", &other);
    wait_until(LIMIT, "three pids", || pids(&c) >= 3);
    assert_eq!(
        slow.join().unwrap().expect("the old worker finishes it"),
        200
    );
    wait_until(LIMIT, "the old worker gone", || pids(&c) == 2);
    let _ = TcpStream::connect(c.frontend.trim_start_matches("http://")).expect("still listening");
}
