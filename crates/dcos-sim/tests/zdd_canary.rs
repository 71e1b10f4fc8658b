//! zdd.py's canary step (`--new-instances 1`, zdd.md §6, §8 C) played by
//! hand over HTTP against two marathon-lb instances that lag Marathon by
//! different delays, reload after each change and keep sessions on drained
//! servers: create the canary, wait until every instance has drained one old
//! task, kill it with `scale=true`, and see its `MAINT` server vanish.

mod common;

use common::{get, lb_pids, lb_rows, send};
use dcos_sim::lb::{LbSighting, SessionDrain};
use dcos_sim::marathon::KillCause;
use dcos_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};
use std::time::Duration;

const T0: u64 = 1_700_000_000_000;
const BACKEND: &str = "web_10000";

fn app(id: &str, colour: &str, instances: u64, port: u64, started: &str, new: &str) -> Value {
    json!({
        "id": id, "instances": instances, "cmd": "serve", "cpus": 0.1, "mem": 32,
        "portDefinitions": [{"port": port}],
        "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0}],
        "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_ALT_PORT": "10001",
                   "HAPROXY_0_PORT": "10000", "HAPROXY_DEPLOYMENT_COLOUR": colour,
                   "HAPROXY_DEPLOYMENT_STARTED_AT": started,
                   "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "3",
                   "HAPROXY_DEPLOYMENT_NEW_INSTANCES": new}
    })
}

fn marathon(sim: &SimHandle, method: &str, path: &str, body: Option<&Value>) -> Value {
    let reply = send(method, &format!("{}{path}", sim.dcos_url()), &[], body);
    assert!(reply.status < 300, "{method} {path}: {}", reply.body);
    reply.json()
}

/// One drain-wait poll as zdd.py makes it (§6.1, §6.4): no instance
/// reloading, every desired server listed and enough of them UP on each,
/// and the old servers `MAINT` with no sessions and no queue on every
/// instance. The drained server names, or `None` to poll again.
fn drained(sim: &SimHandle, desired: usize, target: usize) -> Option<Vec<String>> {
    let lbs = sim.lb_urls();
    if lbs.iter().any(|lb| lb_pids(lb) > 2) {
        return None;
    }
    let rows: Vec<_> = lbs.iter().flat_map(|lb| lb_rows(lb, BACKEND)).collect();
    let k = lbs.len();
    if rows.len() / k != desired || rows.iter().filter(|r| r.status == "UP").count() / k < target {
        return None;
    }
    let mut names: Vec<String> = rows
        .iter()
        .filter(|r| r.status == "MAINT" && r.scur == 0 && r.qcur == 0)
        .map(|r| r.server.clone())
        .collect();
    names.sort();
    names.dedup();
    names.retain(|n| {
        rows.iter()
            .filter(|r| &r.server == n && r.status == "MAINT" && r.scur == 0 && r.qcur == 0)
            .count()
            == k
    });
    (!names.is_empty()).then_some(names)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn a_canary_step_by_hand_against_lagging_marathon_lbs() {
    let sim = SimHandle::start(SimConfig {
        time_scale: 0.0,
        start_time_ms: Some(T0),
        seed: 42,
        lb_binds: vec![
            "127.0.0.2:0".parse().unwrap(),
            "127.0.0.3:0".parse().unwrap(),
        ],
        lb_update_delay: secs(2),
        lb_reload_window: secs(1),
        session_drain: Some(SessionDrain {
            sessions: 2,
            duration: secs(10),
        }),
        ..SimConfig::default()
    })
    .unwrap();
    sim.set_lb_update_delay(1, secs(4));
    let (lb0, lb1) = (sim.lb_urls()[0].clone(), sim.lb_urls()[1].clone());
    let port = |u: &str| u.rsplit(':').next().unwrap().to_owned();
    assert_eq!(port(&lb0), port(&lb1), "one name, two A records");
    let now = |sim: &SimHandle| (sim.now_ms() - T0) / 1000;

    // The running app: 3 healthy tasks, served by both instances by 20 s.
    marathon(
        &sim,
        "POST",
        "/v2/apps",
        Some(&app(
            "/web-blue",
            "blue",
            3,
            10000,
            "2026-01-01T00:00:00.000000",
            "0",
        )),
    );
    sim.advance(secs(20));
    for lb in [&lb0, &lb1] {
        let rows = lb_rows(lb, BACKEND);
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.status == "UP" && r.scur == 0));
    }
    let mark = sim.capacity_mark();

    // zdd's step 1: the canary, one instance of the new colour on the ALT port.
    marathon(
        &sim,
        "POST",
        "/v2/apps",
        Some(&app(
            "/web-green",
            "green",
            1,
            10001,
            "2026-01-02T00:00:00.000000",
            "1",
        )),
    );
    // Poll once a second, as zdd does, until one old task is drained.
    let mut disagreed = false;
    let mut reloads_seen = 0;
    let drained_server = loop {
        assert!(now(&sim) < 120, "never drained");
        let (view0, view1) = (lb_rows(&lb0, BACKEND), lb_rows(&lb1, BACKEND));
        disagreed |= view0 != view1;
        reloads_seen += usize::from(lb_pids(&lb0) > 2) + usize::from(lb_pids(&lb1) > 2);
        if let Some(names) = drained(&sim, 4, 3) {
            assert_eq!(names.len(), 1, "one healthy canary drains one old task");
            break names[0].clone();
        }
        if now(&sim) == 29 {
            // Instance 0 took the healthy canary (27 s) at 29 s; instance 1
            // still has the old view, until 31 s.
            let maint: Vec<_> = view0.iter().filter(|r| r.status == "MAINT").collect();
            assert_eq!(maint.len(), 1, "{view0:?}");
            assert_eq!(maint[0].scur, 2, "the drained server keeps its sessions");
            assert_eq!(view1.len(), 3);
            assert_eq!(lb_pids(&lb0), 3, "instance 0 is reloading");
        }
        sim.advance(secs(1));
    };
    // Healthy at 27 s, on the slower instance at 31 s, its sessions gone 10 s
    // after that instance disabled it.
    assert_eq!(now(&sim), 41);
    assert!(disagreed, "the instances disagreed for a while");
    assert_eq!(reloads_seen, 2, "one poll during each instance's reload");
    let green = marathon(&sim, "GET", "/v2/apps/web-green", None)["app"].clone();
    assert_eq!(green["deployments"], json!([]));
    assert_eq!(green["tasksHealthy"], 1);

    // zdd's step 2: kill the drained task, lowering the old app's instances.
    let blue = sim.app("/web-blue").unwrap();
    let task = blue
        .tasks
        .iter()
        .find(|t| format!("127_0_0_1_{}", t.ports[0]) == drained_server)
        .expect("the drained server is an old task")
        .id
        .clone();
    let killed = marathon(
        &sim,
        "POST",
        "/v2/tasks/delete?scale=true",
        Some(&json!({"ids": [task]})),
    );
    let blue = marathon(&sim, "GET", "/v2/apps/web-blue", None)["app"].clone();
    assert_eq!(blue["instances"], 2);
    assert_eq!(blue["versionInfo"]["lastScalingAt"], killed["version"]);
    assert!(
        blue["versionInfo"]["lastScalingAt"].as_str()
            > green["versionInfo"]["lastScalingAt"].as_str(),
        "the old app is now the most recently scaled"
    );
    let log = sim.kill_log();
    let [record] = log.records.as_slice() else {
        panic!("{log:?}")
    };
    assert_eq!(record.cause, KillCause::Request { scale: true });
    assert_eq!(record.task_id, task);
    let seen = |lb| LbSighting {
        lb,
        server: drained_server.clone(),
        in_backend: true,
        maint: true,
        sessions: 0,
        queued: 0,
        reloading: false,
    };
    assert_eq!(record.seen, [seen(0), seen(1)]);

    // The MAINT server vanishes from each instance once it adopts the kill.
    // marathon-lb then counts the just-scaled old app as new (zdd.md §9), so
    // it drains nothing more: the hybrid pair is at rest.
    let maint_on = |lb: &str| lb_rows(lb, BACKEND).iter().any(|r| r.status == "MAINT");
    assert!(
        maint_on(&lb0) && maint_on(&lb1),
        "both still list it at 41 s"
    );
    sim.advance(secs(2));
    assert!(!maint_on(&lb0));
    assert_eq!(lb_rows(&lb0, BACKEND).len(), 3);
    assert!(maint_on(&lb1), "instance 1 is 2 s slower");
    sim.advance(secs(2));
    for lb in [&lb0, &lb1] {
        let rows = lb_rows(lb, BACKEND);
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.status == "UP"), "{rows:?}");
    }
    sim.advance(secs(30));
    assert_eq!(drained(&sim, 3, 3), None, "nothing else is drained");
    assert_eq!(sim.kill_log().records.len(), 1);
    // zdd's finish check for a hybrid step: new at NEW_INSTANCES, old at
    // TARGET - NEW_INSTANCES.
    assert_eq!(
        get(&format!("{}/v2/apps/web-green", sim.dcos_url())).json()["app"]["instances"],
        1
    );
    assert_eq!(sim.app("/web-blue").unwrap().instances, 2);
    // Serving capacity never went below the target minus the canary step.
    assert_eq!(sim.min_capacity_since(&mark, "web"), Ok(3));
}
