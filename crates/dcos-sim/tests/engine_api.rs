//! The Marathon calls a zero-downtime engine makes (as zdd.py does, zdd.md
//! §10), checked against Marathon's documented behaviour (apis.md §1): the
//! app list and one app with tasks, health and versionInfo; create; scale;
//! kill with scale; delete; the deployment lock.

mod common;

use common::{Reply, get, send};
use dcos_sim::lb::KillRecord;
use dcos_sim::marathon::KillCause;
use dcos_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};
use std::time::Duration;

const T0: u64 = 1_700_000_000_000;

fn start() -> SimHandle {
    SimHandle::start(SimConfig {
        time_scale: 0.0,
        start_time_ms: Some(T0),
        seed: 3,
        ..SimConfig::default()
    })
    .expect("the sim starts")
}

fn url(sim: &SimHandle, path: &str) -> String {
    format!("{}/service/marathon{path}", sim.dcos_url())
}

fn call(sim: &SimHandle, method: &str, path: &str, body: Option<&Value>) -> Reply {
    send(method, &url(sim, path), &[], body)
}

fn app(sim: &SimHandle, id: &str) -> Value {
    let reply = get(&url(sim, &format!("/v2/apps{id}")));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["app"].clone()
}

fn blue(instances: u64) -> Value {
    json!({
        "id": "/web-blue", "instances": instances, "cmd": "serve", "cpus": 0.1, "mem": 32,
        "portDefinitions": [{"port": 10000}],
        "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0}],
        "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_0_PORT": "10000",
                   "HAPROXY_DEPLOYMENT_STARTED_AT": "2026-01-01T00:00:00.000000",
                   "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "3",
                   "HAPROXY_DEPLOYMENT_NEW_INSTANCES": "0"}
    })
}

fn task_ids(app: &Value) -> Vec<String> {
    app["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_app_list_and_one_app_carry_tasks_health_version_info_and_deployments() {
    let sim = start();
    let created = call(&sim, "POST", "/v2/apps", Some(&blue(2)));
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("location"), Some("/web-blue"));
    let deployment = created.header("marathon-deployment-id").unwrap().to_owned();
    assert_eq!(created.json()["deployments"], json!([{"id": deployment}]));
    assert_eq!(created.json()["tasksRunning"], 0);

    // Staging: tasks without health results, the start deployment listed.
    let listed = get(&url(&sim, "/v2/apps?embed=apps.tasks")).json();
    let listed = &listed["apps"][0];
    assert_eq!(listed["deployments"], json!([{"id": deployment}]));
    assert_eq!(listed["tasks"].as_array().unwrap().len(), 2);
    for task in listed["tasks"].as_array().unwrap() {
        assert_eq!(task["state"], "TASK_STAGING");
        assert_eq!(task["healthCheckResults"], json!([]));
        assert_eq!(task["startedAt"], Value::Null);
    }
    let version = listed["version"].clone();
    assert_eq!(listed["versionInfo"]["lastScalingAt"], version);
    assert_eq!(listed["versionInfo"]["lastConfigChangeAt"], version);
    // Without embed=apps.tasks the list has no tasks; one app always does.
    let plain = get(&url(&sim, "/v2/apps")).json();
    assert!(plain["apps"][0].get("tasks").is_none());
    assert_eq!(plain["apps"][0]["tasksStaged"], 2);
    assert_eq!(app(&sim, "/web-blue")["tasks"].as_array().unwrap().len(), 2);

    // 2 s to run, 5 s more to the first passing health check.
    sim.advance(Duration::from_secs(7));
    let one = app(&sim, "/web-blue");
    assert_eq!(one["deployments"], json!([]));
    assert_eq!(one["tasksHealthy"], 2);
    for task in one["tasks"].as_array().unwrap() {
        assert_eq!(task["state"], "TASK_RUNNING");
        let health = &task["healthCheckResults"][0];
        assert_eq!(health["alive"], true);
        assert!(health["firstSuccess"].is_string(), "{health}");
    }
    // The same app in the list as on its own.
    let listed = get(&url(&sim, "/v2/apps?embed=apps.tasks")).json()["apps"][0].clone();
    assert_eq!(listed["tasks"], one["tasks"]);
    assert_eq!(listed["versionInfo"], one["versionInfo"]);
}

#[test]
fn scaling_is_a_scale_deployment_that_moves_last_scaling_at_only() {
    let sim = start();
    call(&sim, "POST", "/v2/apps", Some(&blue(3)));
    sim.advance(Duration::from_secs(10));
    let before = app(&sim, "/web-blue");
    let created_at = before["versionInfo"]["lastConfigChangeAt"].clone();
    let tasks_before = task_ids(&before);

    sim.advance(Duration::from_secs(5));
    let reply = call(
        &sim,
        "PUT",
        "/v2/apps/web-blue",
        Some(&json!({"instances": 2})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(
        reply.header("marathon-deployment-id"),
        body["deploymentId"].as_str()
    );
    let after = app(&sim, "/web-blue");
    assert_eq!(after["instances"], 2);
    assert_eq!(after["versionInfo"]["lastScalingAt"], body["version"]);
    assert_eq!(after["version"], body["version"]);
    assert_eq!(after["versionInfo"]["lastConfigChangeAt"], created_at);
    // The youngest task went; the others kept running.
    let kept = task_ids(&after);
    assert_eq!(kept.len(), 2);
    assert!(kept.iter().all(|id| tasks_before.contains(id)));
    let log = sim.kill_log();
    assert_eq!(log.records.len(), 1);
    assert_eq!(log.records[0].cause, KillCause::ScaledDown);
    assert!(!kept.contains(&log.records[0].task_id));

    // An update that changes nothing leaves versionInfo as it was.
    sim.advance(Duration::from_secs(5));
    let same = call(
        &sim,
        "PUT",
        "/v2/apps/web-blue",
        Some(&json!({"instances": 2})),
    );
    assert_eq!(same.status, 200, "{}", same.body);
    assert_eq!(app(&sim, "/web-blue")["versionInfo"], after["versionInfo"]);

    // Scaling up: a ScaleApplication deployment until the new task is healthy.
    let up = call(
        &sim,
        "PUT",
        "/v2/apps/web-blue",
        Some(&json!({"instances": 3})),
    );
    let deployments = get(&url(&sim, "/v2/deployments")).json();
    assert_eq!(deployments[0]["id"], up.json()["deploymentId"]);
    assert_eq!(
        deployments[0]["currentActions"][0]["action"],
        "ScaleApplication"
    );
    assert_eq!(
        app(&sim, "/web-blue")["deployments"],
        json!([{"id": up.json()["deploymentId"]}])
    );
    sim.advance(Duration::from_secs(7));
    assert_eq!(get(&url(&sim, "/v2/deployments")).json(), json!([]));
}

#[test]
fn a_restart_moves_last_scaling_at_and_replaces_the_tasks() {
    let sim = start();
    call(&sim, "POST", "/v2/apps", Some(&blue(1)));
    sim.advance(Duration::from_secs(10));
    let before = app(&sim, "/web-blue");
    let restarted = call(&sim, "POST", "/v2/apps/web-blue/restart", Some(&json!({})));
    assert_eq!(restarted.status, 200, "{}", restarted.body);
    let after = app(&sim, "/web-blue");
    assert_eq!(
        after["versionInfo"]["lastScalingAt"],
        restarted.json()["version"]
    );
    assert_eq!(
        after["versionInfo"]["lastConfigChangeAt"], before["versionInfo"]["lastConfigChangeAt"],
        "a restart is not a config change"
    );
    sim.advance(Duration::from_secs(10));
    let replaced = task_ids(&app(&sim, "/web-blue"));
    assert_eq!(replaced.len(), 1);
    assert_ne!(replaced, task_ids(&before));
    let log = sim.kill_log();
    assert_eq!(log.records.len(), 1);
    assert_eq!(log.records[0].cause, KillCause::Replaced);
    assert_eq!(log.records[0].task_id, task_ids(&before)[0]);
}

#[test]
fn kill_with_scale_lowers_instances_and_moves_last_scaling_at() {
    let sim = start();
    call(&sim, "POST", "/v2/apps", Some(&blue(3)));
    sim.advance(Duration::from_secs(10));
    let before = app(&sim, "/web-blue");
    let ids = task_ids(&before);
    sim.advance(Duration::from_secs(1));
    let reply = call(
        &sim,
        "POST",
        "/v2/tasks/delete?scale=true",
        Some(&json!({"ids": [ids[0], ids[1]]})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert!(body["deploymentId"].is_string(), "{body}");
    let after = app(&sim, "/web-blue");
    assert_eq!(after["instances"], 1);
    assert_eq!(task_ids(&after), [ids[2].clone()]);
    assert_eq!(after["versionInfo"]["lastScalingAt"], body["version"]);
    assert_ne!(
        after["versionInfo"]["lastScalingAt"],
        before["versionInfo"]["lastScalingAt"]
    );
    assert_eq!(
        after["versionInfo"]["lastConfigChangeAt"],
        before["versionInfo"]["lastConfigChangeAt"]
    );
    // No replacements come: the deployment is over at once.
    sim.advance(Duration::from_secs(10));
    assert_eq!(task_ids(&app(&sim, "/web-blue")), [ids[2].clone()]);
    assert_eq!(get(&url(&sim, "/v2/deployments")).json(), json!([]));
    let killed: Vec<(String, KillCause)> = sim
        .kill_log()
        .records
        .iter()
        .map(|r| (r.task_id.clone(), r.cause))
        .collect();
    let by_request = KillCause::Request { scale: true };
    assert_eq!(
        killed,
        [(ids[0].clone(), by_request), (ids[1].clone(), by_request)]
    );
}

#[test]
fn delete_removes_the_app_and_logs_each_task() {
    let sim = start();
    call(&sim, "POST", "/v2/apps", Some(&blue(2)));
    sim.advance(Duration::from_secs(10));
    let ids = task_ids(&app(&sim, "/web-blue"));
    let reply = call(&sim, "DELETE", "/v2/apps/web-blue", None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.json()["deploymentId"].is_string());
    assert_eq!(get(&url(&sim, "/v2/apps/web-blue")).status, 404);
    let log = sim.kill_log();
    let mut logged: Vec<&str> = log.records.iter().map(|r| r.task_id.as_str()).collect();
    logged.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(logged, expected);
    assert!(
        log.records
            .iter()
            .all(|r: &KillRecord| r.cause == KillCause::AppRemoved && r.app_id == "/web-blue")
    );
}

#[test]
fn changes_during_a_deployment_are_locked_unless_forced() {
    let sim = start();
    call(&sim, "POST", "/v2/apps", Some(&blue(2)));
    sim.advance(Duration::from_secs(10));
    let ids = task_ids(&app(&sim, "/web-blue"));
    // A scale-up that cannot finish until its task is healthy.
    let running = call(
        &sim,
        "PUT",
        "/v2/apps/web-blue",
        Some(&json!({"instances": 3})),
    );
    let lock = running.json()["deploymentId"].clone();
    let locked_message = "App is locked by one or more deployments. Override with the option \
                          '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.";
    for (method, path, body) in [
        ("PUT", "/v2/apps/web-blue", Some(json!({"instances": 1}))),
        (
            "POST",
            "/v2/tasks/delete?scale=true",
            Some(json!({"ids": [ids[0]]})),
        ),
        ("DELETE", "/v2/apps/web-blue?force=false", None),
    ] {
        let reply = call(&sim, method, path, body.as_ref());
        assert_eq!(reply.status, 409, "{method} {path}: {}", reply.body);
        assert_eq!(reply.json()["message"], locked_message);
        assert_eq!(reply.json()["deployments"], json!([{"id": lock}]));
    }
    assert_eq!(app(&sim, "/web-blue")["instances"], 3, "nothing changed");
    assert!(sim.kill_log().records.is_empty());
    // A kill without scale is no deployment and is not locked.
    let plain = call(
        &sim,
        "POST",
        "/v2/tasks/delete",
        Some(&json!({"ids": [ids[0]]})),
    );
    assert_eq!(plain.status, 200, "{}", plain.body);
    assert_eq!(plain.json()["tasks"][0]["id"], ids[0].as_str());
    // force=true cancels the running deployment and goes ahead.
    let forced = call(
        &sim,
        "POST",
        "/v2/tasks/delete?scale=true&force=true",
        Some(&json!({"ids": [ids[1]]})),
    );
    assert_eq!(forced.status, 200, "{}", forced.body);
    assert_eq!(app(&sim, "/web-blue")["instances"], 2);
    // Deleting defaults to force=true.
    call(
        &sim,
        "PUT",
        "/v2/apps/web-blue",
        Some(&json!({"instances": 4})),
    );
    assert_eq!(call(&sim, "DELETE", "/v2/apps/web-blue", None).status, 200);
}
