//! The kill log's oracle for "no kill before drain": what the lingering old
//! workers of a reload still had on a killed task's server, and how many
//! requests the task itself was serving. Emulated (the old-worker model of
//! the reload window) and with a real HAProxy (its master CLI).

mod common;

use common::{
    create_app, group_app, haproxy_binary, kill_task, lb_columns, try_send, unique_loopback,
    wait_until,
};
use dcos_sim::{SimConfig, SimHandle};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// A sim at 10x with one instance (a 60 s reload window when emulated) and
/// group `web` of one healthy task behind frontend `ip:10000`.
fn cluster(haproxy: bool) -> (SimHandle, String) {
    let ip = unique_loopback();
    let sim = SimHandle::start(SimConfig {
        time_scale: 10.0,
        lb_binds: vec![SocketAddr::from((ip, 0))],
        lb_reload_window: Duration::from_secs(60),
        haproxy: haproxy.then(haproxy_binary),
        ..SimConfig::default()
    })
    .expect("sim starts");
    let app = group_app("/web-blue", "web", 10000, "httpd:2.4", 1, json!({}));
    create_app(sim.dcos_url(), &app);
    let lb = sim.lb_urls()[0].clone();
    wait_until(LIMIT, "the task in the backend", || {
        lb_columns(&lb, "web_10000").len() == 1
    });
    assert!(sim.settle_lbs(LIMIT));
    (sim, format!("http://{ip}:10000"))
}

/// A slow request in flight through the frontend, then a reload (another
/// group appears), then the task is killed without a drain while the old
/// worker still carries the request: the kill log sees the old worker's
/// session on the server and the task's own request in flight.
fn a_kill_mid_request_after_a_reload_is_seen_on_the_old_worker(haproxy: bool) {
    let (sim, frontend) = cluster(haproxy);
    let lb = sim.lb_urls()[0].clone();
    let url = format!("{frontend}/slow?ms=4000");
    let slow = std::thread::spawn(move || try_send("GET", &url, &[], None).map(|r| r.status));
    wait_until(LIMIT, "the slow request in flight", || {
        lb_columns(&lb, "web_10000")[0]["scur"] == "1"
    });
    let other = group_app("/other-blue", "other", 10001, "httpd:2.4", 1, json!({}));
    create_app(sim.dcos_url(), &other);
    wait_until(LIMIT, "the reload", || {
        lb_columns(&lb, "other_10001").len() == 1
    });
    assert!(sim.settle_lbs(LIMIT));
    // The new worker's stats no longer show the request: the old one has it.
    assert_eq!(
        lb_columns(&lb, "web_10000")[0]["scur"],
        if haproxy { "0" } else { "1" },
        "a real new worker starts from zero; the emulated stats count every request"
    );
    let task = sim.app("/web-blue").unwrap().tasks[0].id.clone();
    kill_task(sim.dcos_url(), &task);
    let outcome = slow.join().unwrap();
    assert!(
        outcome.map_or(true, |status| status >= 500),
        "the request was cut by the kill"
    );
    let kill = sim.kill_log().records.pop().expect("a kill record");
    assert_eq!(kill.task_id, task);
    assert_eq!(kill.task_in_flight, Some(1), "{kill:?}");
    assert!(kill.task_was_busy());
    assert!(
        !kill.old_workers_unreadable(),
        "the oracle could ask: {kill:?}"
    );
    assert!(kill.old_worker_had_traffic(), "{kill:?}");
    assert!(kill.old_worker_routed(), "{kill:?}");
    let old = &kill.old_workers[0];
    assert_eq!(old.lb, 0);
    assert_eq!(old.server, kill.servers[0]);
    assert_eq!(old.sessions, 1);
    assert_ne!(old.status, "MAINT");
}

#[test]
fn emulated_kill_mid_request_after_a_reload_is_seen_on_the_old_worker() {
    a_kill_mid_request_after_a_reload_is_seen_on_the_old_worker(false);
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn haproxy_kill_mid_request_after_a_reload_is_seen_on_the_old_worker() {
    a_kill_mid_request_after_a_reload_is_seen_on_the_old_worker(true);
}

/// With nothing in flight and no reload, the oracle is quiet: no old
/// worker, the task idle.
#[test]
fn an_idle_kill_has_no_old_worker_and_no_request_in_flight() {
    let (sim, _) = cluster(false);
    // Past the reload window of the adoption that added the task.
    sim.advance(Duration::from_secs(61));
    let task = sim.app("/web-blue").unwrap().tasks[0].id.clone();
    kill_task(sim.dcos_url(), &task);
    let kill = sim.kill_log().records.pop().expect("a kill record");
    assert_eq!(kill.task_in_flight, Some(0));
    assert!(kill.old_workers.is_empty(), "{kill:?}");
    assert!(!kill.old_worker_had_traffic());
    assert!(!kill.old_worker_routed());
}

/// An emulated old worker that had the server disabled does not route it
/// (a 5 s reload window, so that only the last reload's worker lingers).
#[test]
fn emulated_old_worker_that_had_the_server_in_maint_does_not_route_it() {
    let ip = unique_loopback();
    let sim = SimHandle::start(SimConfig {
        time_scale: 0.0,
        lb_binds: vec![SocketAddr::from((ip, 0))],
        lb_reload_window: Duration::from_secs(5),
        ..SimConfig::default()
    })
    .unwrap();
    let blue = group_app(
        "/web-blue",
        "web",
        10000,
        "httpd:2.4",
        2,
        json!({"HAPROXY_DEPLOYMENT_STARTED_AT": "2020-01-01T00:00:00.000000"}),
    );
    create_app(sim.dcos_url(), &blue);
    let green = group_app(
        "/web-green",
        "web",
        10000,
        "nginx:1.25",
        1,
        json!({"HAPROXY_DEPLOYMENT_STARTED_AT": "2030-01-01T00:00:00.000000",
               "HAPROXY_DEPLOYMENT_NEW_INSTANCES": "1",
               "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "2"}),
    );
    create_app(sim.dcos_url(), &green);
    // Green healthy, blue's first task drained, that reload's worker gone.
    sim.advance(Duration::from_secs(20));
    let lb = sim.lb_urls()[0].clone();
    let drained = lb_columns(&lb, "web_10000")
        .into_iter()
        .find(|r| r["status"] == "MAINT")
        .expect("a drained server")["svname"]
        .clone();
    // Another reload while it is drained: the old worker had it in MAINT.
    let other = group_app("/other", "other", 10001, "httpd:2.4", 1, json!({}));
    create_app(sim.dcos_url(), &other);
    sim.advance(Duration::from_secs(10));
    let task = sim
        .app("/web-blue")
        .unwrap()
        .tasks
        .iter()
        .find(|t| drained.ends_with(&t.ports[0].to_string()))
        .unwrap()
        .id
        .clone();
    kill_task(sim.dcos_url(), &task);
    let kill = sim.kill_log().records.pop().expect("a kill record");
    assert!(!kill.old_workers.is_empty(), "{kill:?}");
    assert!(
        kill.old_workers.iter().all(|o| o.status == "MAINT"),
        "{kill:?}"
    );
    assert!(!kill.old_worker_routed());
    assert!(!kill.was_serving());
}
