//! The cluster's independent records for safety checks: the kill log (what
//! every marathon-lb instance had on a task when it was killed) and the
//! serving capacity of each deployment group over time.

mod common;

use common::{lb_rows, send};
use dcos_sim::lb::{LbSighting, SessionDrain, Traffic};
use dcos_sim::marathon::KillCause;
use dcos_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};
use std::time::Duration;

const T0: u64 = 1_700_000_000_000;

fn sim(lb_delays: &[u64]) -> SimHandle {
    let sim = SimHandle::start(SimConfig {
        time_scale: 0.0,
        start_time_ms: Some(T0),
        seed: 21,
        marathon_lb_count: lb_delays.len(),
        ..SimConfig::default()
    })
    .unwrap();
    for (lb, delay) in lb_delays.iter().enumerate() {
        sim.set_lb_update_delay(lb, Duration::from_secs(*delay));
    }
    sim
}

fn web(id: &str, instances: u64, group: Option<&str>) -> Value {
    let mut app = json!({
        "id": id, "instances": instances, "cmd": "serve", "cpus": 0.1, "mem": 32,
        "portDefinitions": [{"port": 0}],
        "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0}]
    });
    if let Some(group) = group {
        app["labels"] = json!({"HAPROXY_DEPLOYMENT_GROUP": group, "HAPROXY_0_PORT": "10000"});
    }
    app
}

fn marathon(sim: &SimHandle, method: &str, path: &str, body: Option<&Value>) -> Value {
    let reply = send(method, &format!("{}{path}", sim.dcos_url()), &[], body);
    assert!(reply.status < 300, "{method} {path}: {}", reply.body);
    reply.json()
}

/// The task behind HAProxy server `name` (`127_0_0_1_<port>`).
fn task_of(sim: &SimHandle, app: &str, server: &str) -> String {
    let view = sim.app(app).expect("the app exists");
    let task = view
        .tasks
        .iter()
        .find(|t| format!("127_0_0_1_{}", t.ports[0]) == server)
        .expect("a task with that port");
    task.id.clone()
}

#[test]
fn a_kill_records_what_each_instance_had_on_the_task_at_that_moment() {
    let sim = sim(&[0, 5]);
    marathon(&sim, "POST", "/v2/apps", Some(&web("/web", 3, Some("web"))));
    sim.advance(Duration::from_secs(20));
    let rows = lb_rows(&sim.lb_urls()[0], "web_10000");
    assert_eq!(rows.len(), 3);
    let busy = rows[0].server.clone();
    sim.set_traffic(
        Some(1),
        &busy,
        Traffic {
            sessions: 4,
            queued: 1,
            until_ms: None,
        },
    );
    let busy_task = task_of(&sim, "/web", &busy);
    let mark = sim.capacity_mark();
    assert_eq!(sim.min_capacity_since(&mark, "web"), Ok(3));

    // Killed without scale: Marathon replaces it; instance 1 (5 s behind)
    // still routes to the dead server until it catches up.
    marathon(
        &sim,
        "POST",
        "/v2/tasks/delete",
        Some(&json!({"ids": [busy_task]})),
    );
    let log = sim.kill_log();
    assert_eq!(log.dropped, 0);
    let [record] = log.records.as_slice() else {
        panic!("{log:?}")
    };
    assert_eq!(record.at_ms, T0 + 20_000);
    assert_eq!(record.app_id, "/web");
    assert_eq!(record.task_id, busy_task);
    assert_eq!(record.cause, KillCause::Request { scale: false });
    assert_eq!(record.servers, std::slice::from_ref(&busy));
    assert_eq!(
        record.seen,
        [
            LbSighting {
                lb: 0,
                server: busy.clone(),
                in_backend: true,
                maint: false,
                sessions: 0,
                queued: 0,
                reloading: false
            },
            LbSighting {
                lb: 1,
                server: busy.clone(),
                in_backend: true,
                maint: false,
                sessions: 4,
                queued: 1,
                reloading: false
            },
        ]
    );
    assert!(record.had_traffic());
    assert!(record.was_serving());
    // The kill took one serving server from both instances at once.
    assert_eq!(sim.min_capacity_since(&mark, "/web"), Ok(2));
    // Instance 0 drops it at once, instance 1 only 5 s later: a server
    // listed but dead does not count.
    let timeline = sim.capacity_timeline();
    let at_kill: Vec<(usize, usize)> = timeline
        .samples
        .iter()
        .filter(|s| s.at_ms == T0 + 20_000)
        .map(|s| (s.lb, s.serving))
        .collect();
    assert_eq!(at_kill, [(0, 2), (1, 2)]);
    // The replacement is healthy 7 s later and back in both views by 12 s.
    sim.advance(Duration::from_secs(12));
    let back: Vec<(usize, u64, usize)> = sim
        .capacity_timeline()
        .samples
        .iter()
        .filter(|s| s.at_ms > T0 + 20_000)
        .map(|s| (s.lb, s.at_ms - T0, s.serving))
        .collect();
    assert_eq!(back, [(0, 27_000, 3), (1, 32_000, 3)]);
    assert_eq!(sim.min_capacity_since(&mark, "web"), Ok(2));
    let later = sim.capacity_mark();
    assert_eq!(sim.min_capacity_since(&later, "web"), Ok(3));
    // A group nobody routes to has no capacity.
    assert_eq!(sim.min_capacity_since(&later, "other"), Ok(0));
}

#[test]
fn every_kind_of_kill_is_logged_and_a_task_no_lb_routes_to_needed_no_drain() {
    let sim = sim(&[0]);
    marathon(&sim, "POST", "/v2/apps", Some(&web("/a", 2, None)));
    // Not healthy yet: killing it is safe, no instance routes to it.
    let staging = sim.app("/a").unwrap().tasks[0].id.clone();
    marathon(
        &sim,
        "DELETE",
        &format!("/v2/apps/a/tasks/{staging}?scale=true&force=true"),
        None,
    );
    sim.advance(Duration::from_secs(10));
    marathon(&sim, "PUT", "/v2/apps/a", Some(&json!({"instances": 2})));
    sim.advance(Duration::from_secs(10));
    marathon(&sim, "PUT", "/v2/apps/a", Some(&json!({"instances": 1})));
    marathon(&sim, "POST", "/v2/apps/a/restart", Some(&json!({})));
    sim.advance(Duration::from_secs(10));
    marathon(&sim, "DELETE", "/v2/apps/a", None);
    let log = sim.kill_log();
    let causes: Vec<KillCause> = log.records.iter().map(|r| r.cause).collect();
    assert_eq!(
        causes,
        [
            KillCause::Request { scale: true },
            KillCause::ScaledDown,
            KillCause::Replaced,
            KillCause::AppRemoved
        ]
    );
    let first = &log.records[0];
    assert_eq!(first.task_id, staging);
    assert!(!first.was_serving() && !first.had_traffic());
    assert!(first.seen.iter().all(|s| !s.in_backend));
    // The scale-down and the replacement took serving tasks.
    assert!(log.records[1].was_serving());
    assert!(log.records[2].was_serving());
    // Ungrouped apps are keyed by their id.
    assert!(
        sim.capacity_timeline()
            .samples
            .iter()
            .all(|s| s.group == "/a")
    );
}

#[test]
fn a_drained_server_killed_before_its_sessions_end_shows_them() {
    let sim = SimHandle::start(SimConfig {
        time_scale: 0.0,
        start_time_ms: Some(T0),
        session_drain: Some(SessionDrain {
            sessions: 3,
            duration: Duration::from_secs(30),
        }),
        ..SimConfig::default()
    })
    .unwrap();
    let mut old = web("/web-blue", 2, Some("web"));
    old["labels"]["HAPROXY_DEPLOYMENT_STARTED_AT"] = json!("2026-01-01T00:00:00");
    marathon(&sim, "POST", "/v2/apps", Some(&old));
    sim.advance(Duration::from_secs(10));
    let mut new = web("/web-green", 1, Some("web"));
    new["labels"]["HAPROXY_DEPLOYMENT_STARTED_AT"] = json!("2026-01-02T00:00:00");
    marathon(&sim, "POST", "/v2/apps", Some(&new));
    sim.advance(Duration::from_secs(10));
    let maint = lb_rows(&sim.lb_urls()[0], "web_10000")
        .into_iter()
        .find(|r| r.status == "MAINT")
        .expect("one old task drained");
    let task = task_of(&sim, "/web-blue", &maint.server);
    marathon(
        &sim,
        "POST",
        "/v2/tasks/delete?scale=true",
        Some(&json!({"ids": [task]})),
    );
    let record = sim.kill_log().records.pop().unwrap();
    assert_eq!(record.seen[0].sessions, 3);
    assert!(record.seen[0].maint && record.seen[0].in_backend);
    assert!(record.had_traffic() && !record.was_serving());
}
