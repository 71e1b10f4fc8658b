//! Marathon v2 over loopback HTTP: apps, tasks, deployments and the
//! simulated scheduler, on a manual clock.

mod common;

use common::{Reply, get, send};
use dcos_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

fn start() -> SimHandle {
    SimHandle::start(SimConfig {
        time_scale: 0.0,
        start_time_ms: Some(1_600_000_000_000),
        seed: 7,
        ..SimConfig::default()
    })
    .expect("the sim starts")
}

fn url(sim: &SimHandle, path: &str) -> String {
    format!("{}/service/marathon{path}", sim.dcos_url())
}

fn post(sim: &SimHandle, path: &str, body: &Value) -> Reply {
    send("POST", &url(sim, path), &[], Some(body))
}

fn put(sim: &SimHandle, path: &str, body: &Value) -> Reply {
    send("PUT", &url(sim, path), &[], Some(body))
}

fn delete(sim: &SimHandle, path: &str) -> Reply {
    send("DELETE", &url(sim, path), &[], None)
}

fn app(sim: &SimHandle, id: &str) -> Value {
    let reply = get(&url(sim, &format!("/v2/apps{id}")));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["app"].clone()
}

fn deployments(sim: &SimHandle) -> Vec<Value> {
    let reply = get(&url(sim, "/v2/deployments"));
    assert_eq!(reply.status, 200);
    reply.json().as_array().expect("an array").clone()
}

fn web(instances: u64) -> Value {
    json!({
        "id": "/web",
        "instances": instances,
        "cpus": 0.1,
        "mem": 64,
        "container": {"type": "DOCKER", "docker": {"image": "nginx:1.19"},
                      "portMappings": [{"containerPort": 80, "hostPort": 0, "name": "http"}]},
        "networks": [{"mode": "container/bridge"}],
        "labels": {"canary": "true", "team": "a"},
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0}]
    })
}

/// A JSON file of the upstream reference data (`../shared/reference`, or
/// `$CANARY_SHARED_DIR/reference`: build.rs decides whether it is there, and
/// the tests that read it are ignored, with the reason, when it is not).
fn shared(relative: &str) -> Value {
    let path = PathBuf::from(env!("CANARY_SHARED_REFERENCE")).join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("reference JSON parses")
}

/// Lets `by` of cluster time pass.
fn wait(sim: &SimHandle, secs: u64) {
    sim.advance(Duration::from_secs(secs));
}

#[test]
fn create_get_list_and_defaults() {
    let sim = start();
    let reply = post(&sim, "/v2/apps", &web(2));
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.header("location"), Some("/web"));
    let body = reply.json();
    let deployment = body["deployments"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.header("marathon-deployment-id"),
        Some(deployment.as_str())
    );
    assert_eq!(body["tasksRunning"], 0);
    assert_eq!(body["tasksStaged"], 0);
    assert_eq!(body["version"], "2020-09-13T12:26:40.000Z");
    assert_eq!(
        body["versionInfo"]["lastConfigChangeAt"],
        "2020-09-13T12:26:40.000Z"
    );
    for (key, value) in [
        ("backoffSeconds", json!(1)),
        ("backoffFactor", json!(1.15)),
        ("maxLaunchDelaySeconds", json!(300)),
        ("disk", json!(0)),
        ("gpus", json!(0)),
        ("env", json!({})),
        ("constraints", json!([])),
        ("requirePorts", json!(false)),
        ("killSelection", json!("YOUNGEST_FIRST")),
        (
            "upgradeStrategy",
            json!({"minimumHealthCapacity": 1, "maximumOverCapacity": 1}),
        ),
    ] {
        assert_eq!(body[key], value, "{key}");
    }
    // Service port assigned from 10000.
    assert_eq!(body["container"]["portMappings"][0]["servicePort"], 10000);

    // Relative id, minimal app: defaults.
    let reply = post(
        &sim,
        "/v2/apps",
        &json!({"id": "tools/sleep", "cmd": "sleep 100"}),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let sleep = reply.json();
    assert_eq!(sleep["id"], "/tools/sleep");
    assert_eq!(sleep["instances"], 1);
    assert_eq!(sleep["cpus"], 1);
    assert_eq!(sleep["mem"], 128);
    assert_eq!(sleep["labels"], json!({}));

    let shown = app(&sim, "/web");
    assert_eq!(shown["id"], "/web");
    assert_eq!(shown["deployments"][0]["id"], deployment.as_str());
    assert_eq!(shown["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(shown["tasksStaged"], 2);

    let apps = get(&url(&sim, "/v2/apps")).json();
    let ids: Vec<&str> = apps["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["/tools/sleep", "/web"]);
    assert!(apps["apps"][0].get("tasks").is_none());
    assert!(apps["apps"][0].get("tasksRunning").is_some());
    assert!(apps["apps"][0].get("deployments").is_some());
    let embedded = get(&url(&sim, "/v2/apps?embed=apps.tasks")).json();
    assert!(embedded["apps"][0]["tasks"].is_array());

    // Filters: id substring (case-insensitive) and label selectors.
    let by = |q: &str| -> Vec<String> {
        get(&url(&sim, &format!("/v2/apps?{q}"))).json()["apps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(by("id=WE"), ["/web"]);
    let group = get(&url(&sim, "/v2/apps/tools/*"));
    assert_eq!(group.status, 200);
    assert_eq!(group.json()["*"][0]["id"], "/tools/sleep");
    assert_eq!(group.json()["*"].as_array().unwrap().len(), 1);
    assert_eq!(
        group.header("cache-control"),
        Some("no-cache, no-store, must-revalidate")
    );
    assert_eq!(by("label=canary"), ["/web"]);
    assert_eq!(by("label=canary%3D%3Dtrue"), ["/web"]);
    // Every selector needs the label: /tools/sleep has no `canary`.
    assert!(by("label=canary!%3Dtrue").is_empty());
    assert_eq!(by("label=team!%3Db"), ["/web"]);
    assert_eq!(by("label=team%20in%20(a,b)"), ["/web"]);
    assert!(by("label=canary%3D%3Dfalse").is_empty());
}

#[test]
fn duplicate_post_is_409_and_missing_app_is_404() {
    let sim = start();
    assert_eq!(post(&sim, "/v2/apps", &web(1)).status, 201);
    let again = post(&sim, "/v2/apps", &web(1));
    assert_eq!(again.status, 409);
    assert_eq!(
        again.json(),
        json!({"message": "An app with id [/web] already exists."})
    );
    for (method, path) in [
        ("GET", "/v2/apps/nope"),
        ("DELETE", "/v2/apps/nope"),
        ("GET", "/v2/apps/nope/tasks"),
        ("DELETE", "/v2/apps/nope/tasks"),
    ] {
        let reply = send(method, &url(&sim, path), &[], None);
        assert_eq!(reply.status, 404, "{method} {path}");
        assert_eq!(
            reply.json(),
            json!({"message": "App '/nope' does not exist"})
        );
    }
    let patch = send(
        "PATCH",
        &url(&sim, "/v2/apps/nope"),
        &[],
        Some(&json!({"instances": 1})),
    );
    assert_eq!(patch.status, 404);
    let task = delete(&sim, "/v2/apps/web/tasks/web.instance-x._app.1");
    assert_eq!(task.status, 404);
    assert_eq!(
        task.json(),
        json!({"message": "Task 'web.instance-x._app.1' does not exist"})
    );
    let dep = delete(&sim, "/v2/deployments/abc");
    assert_eq!(dep.status, 404);
    assert_eq!(
        dep.json(),
        json!({"message": "DeploymentPlan abc does not exist"})
    );
}

#[test]
fn tasks_stage_run_become_healthy_and_the_deployment_ends() {
    let sim = start();
    let created = post(&sim, "/v2/apps", &web(2)).json();
    let deployment = created["deployments"][0]["id"].as_str().unwrap().to_owned();
    let listed = deployments(&sim);
    assert_eq!(listed.len(), 1);
    let d = &listed[0];
    assert_eq!(d["id"], deployment.as_str());
    assert_eq!(d["affectedApps"], json!(["/web"]));
    assert_eq!(d["affectedPods"], json!([]));
    assert_eq!(d["currentActions"][0]["action"], "StartApplication");
    assert_eq!(d["currentActions"][0]["app"], "/web");
    assert_eq!(d["currentActions"][0]["readinessCheckResults"], json!([]));
    assert_eq!(d["steps"][0]["actions"][0]["action"], "StartApplication");
    assert_eq!(
        (d["currentStep"].as_u64(), d["totalSteps"].as_u64()),
        (Some(1), Some(1))
    );

    let a = app(&sim, "/web");
    let task = &a["tasks"][0];
    assert_eq!(task["state"], "TASK_STAGING");
    let id = task["id"].as_str().unwrap();
    assert!(
        id.starts_with("web.instance-") && id.ends_with("._app.1"),
        "{id}"
    );
    assert_eq!(task["host"], "127.0.0.1");
    assert_eq!(task["appId"], "/web");
    // The port the agent's server got from the OS, and it is served.
    let port = task["ports"][0].as_u64().unwrap();
    assert!(port > 0, "{port}");
    assert_eq!(get(&format!("http://127.0.0.1:{port}/")).status, 200);
    assert_eq!(task["servicePorts"], json!([10000]));
    assert_eq!(task["slaveId"].as_str().map(str::is_empty), Some(false));
    assert_eq!(task["stagedAt"], "2020-09-13T12:26:40.000Z");
    assert_eq!(task["startedAt"], Value::Null);
    assert_eq!(task["version"], a["version"]);
    assert_eq!(
        task["ipAddresses"],
        json!([{"ipAddress": "127.0.0.1", "protocol": "IPv4"}])
    );
    assert_eq!(task["healthCheckResults"], json!([]));

    wait(&sim, 2); // task_start_delay
    let a = app(&sim, "/web");
    assert_eq!(a["tasks"][0]["state"], "TASK_RUNNING");
    assert_eq!(a["tasks"][0]["startedAt"], "2020-09-13T12:26:42.000Z");
    assert_eq!(a["tasksRunning"], 2);
    assert_eq!(a["tasksHealthy"], 0);
    assert_eq!(a["deployments"].as_array().unwrap().len(), 1);

    wait(&sim, 5); // health_delay
    let a = app(&sim, "/web");
    assert_eq!(a["tasksHealthy"], 2);
    assert_eq!(a["tasksUnhealthy"], 0);
    let result = &a["tasks"][0]["healthCheckResults"][0];
    assert_eq!(result["alive"], true);
    assert_eq!(result["consecutiveFailures"], 0);
    assert_eq!(result["lastFailure"], Value::Null);
    assert!(result["firstSuccess"].is_string() && result["instanceId"].is_string());
    assert_eq!(a["deployments"], json!([]));
    assert!(deployments(&sim).is_empty());

    // Without health checks: running is enough and tasksHealthy stays 0.
    post(
        &sim,
        "/v2/apps",
        &json!({"id": "/plain", "cmd": "sleep 1", "instances": 1}),
    );
    wait(&sim, 2);
    let plain = app(&sim, "/plain");
    assert_eq!(plain["tasksRunning"], 1);
    assert_eq!(plain["tasksHealthy"], 0);
    assert_eq!(plain["deployments"], json!([]));
    assert_eq!(
        get(&url(&sim, "/v2/tasks")).json()["tasks"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        get(&url(&sim, "/v2/tasks?status=staging")).json()["tasks"],
        json!([])
    );
}

#[test]
fn a_broken_image_never_gets_healthy_and_its_deployment_stays() {
    let sim = start();
    let mut broken = web(1);
    broken["container"]["docker"]["image"] = json!("example/broken:1");
    post(&sim, "/v2/apps", &broken);
    wait(&sim, 600);
    let a = app(&sim, "/web");
    assert_eq!(a["tasksRunning"], 1);
    assert_eq!(a["tasksHealthy"], 0);
    assert_eq!(a["tasksUnhealthy"], 1);
    assert_eq!(a["tasks"][0]["healthCheckResults"][0]["alive"], false);
    assert_eq!(a["deployments"].as_array().unwrap().len(), 1);
    assert_eq!(deployments(&sim).len(), 1);
}

#[test]
fn updates_scale_restart_lock_and_force() {
    let sim = start();
    post(&sim, "/v2/apps", &web(2));
    // Locked while the start deployment runs.
    let locked = put(&sim, "/v2/apps/web", &json!({"instances": 3}));
    assert_eq!(locked.status, 409);
    let body = locked.json();
    assert_eq!(
        body["message"],
        "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'."
    );
    let blocking = body["deployments"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(deployments(&sim)[0]["id"], blocking.as_str());
    for (method, path) in [
        ("DELETE", "/v2/apps/web?force=false"),
        ("POST", "/v2/apps/web/restart"),
        ("DELETE", "/v2/apps/web/tasks?scale=true"),
    ] {
        assert_eq!(
            send(method, &url(&sim, path), &[], None).status,
            409,
            "{method} {path}"
        );
    }
    // force=true cancels the running deployment and proceeds.
    let forced = put(&sim, "/v2/apps/web?force=true", &json!({"instances": 3}));
    assert_eq!(forced.status, 200, "{}", forced.body);
    let forced = forced.json();
    let listed = deployments(&sim);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], forced["deploymentId"]);
    assert_eq!(listed[0]["currentActions"][0]["action"], "ScaleApplication");
    wait(&sim, 10);
    let a = app(&sim, "/web");
    assert_eq!(a["instances"], 3);
    assert_eq!(a["tasksHealthy"], 3);
    assert!(deployments(&sim).is_empty());
    let first_ids: BTreeSet<String> = a["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();

    // Scale-only keeps tasks; lastConfigChangeAt unchanged.
    let reply = put(&sim, "/v2/apps/web", &json!({"instances": 2}));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("marathon-deployment-id"),
        reply.json()["deploymentId"].as_str()
    );
    let a = app(&sim, "/web");
    assert_eq!(a["tasks"].as_array().unwrap().len(), 2);
    assert!(
        a["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| first_ids.contains(t["id"].as_str().unwrap()))
    );
    assert_eq!(
        a["versionInfo"]["lastConfigChangeAt"],
        "2020-09-13T12:26:40.000Z"
    );
    assert_ne!(
        a["versionInfo"]["lastScalingAt"],
        "2020-09-13T12:26:40.000Z"
    );

    // A config change (partial update keeps the other fields) replaces tasks.
    let reply = put(
        &sim,
        "/v2/apps/web",
        &json!({"labels": {"canary": "false"}}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let d = deployments(&sim);
    assert_eq!(d[0]["currentActions"][0]["action"], "RestartApplication");
    let a = app(&sim, "/web");
    assert_eq!(a["instances"], 2);
    assert_eq!(a["cpus"], 0.1);
    assert_eq!(a["labels"], json!({"canary": "false"}));
    assert_eq!(
        a["tasks"].as_array().unwrap().len(),
        4,
        "old + new while deploying"
    );
    wait(&sim, 10);
    let a = app(&sim, "/web");
    let tasks = a["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert!(
        tasks
            .iter()
            .all(|t| !first_ids.contains(t["id"].as_str().unwrap()))
    );
    assert!(deployments(&sim).is_empty());

    // Restart.
    let reply = post(&sim, "/v2/apps/web/restart", &json!({}));
    assert_eq!(reply.status, 200);
    assert!(reply.json()["deploymentId"].is_string());
    wait(&sim, 10);
    assert!(deployments(&sim).is_empty());

    // partialUpdate=false replaces: unspecified fields get defaults.
    let reply = put(
        &sim,
        "/v2/apps/web?partialUpdate=false",
        &json!({"cmd": "sleep 10", "instances": 1}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let a = app(&sim, "/web");
    assert_eq!(a["cpus"], 1);
    assert_eq!(a["labels"], json!({}));
    assert!(a.get("container").is_none());

    // PATCH merges; PUT of a missing app creates it (201 + Location).
    wait(&sim, 10);
    let patch = send(
        "PATCH",
        &url(&sim, "/v2/apps/web"),
        &[],
        Some(&json!({"mem": 32})),
    );
    assert_eq!(patch.status, 200, "{}", patch.body);
    assert_eq!(app(&sim, "/web")["mem"], 32);
    let created = put(
        &sim,
        "/v2/apps/made",
        &json!({"cmd": "sleep 1", "instances": 1}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("location"), Some("/made"));
    assert!(created.json()["deploymentId"].is_string());
    let versions = get(&url(&sim, "/v2/apps/web/versions")).json();
    assert!(versions["versions"].as_array().unwrap().len() >= 5);
}

#[test]
fn delete_app_defaults_to_force() {
    let sim = start();
    post(&sim, "/v2/apps", &web(1));
    // Deploying, and DELETE without force still works (force defaults true).
    let reply = delete(&sim, "/v2/apps/web");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert!(body["deploymentId"].is_string() && body["version"].is_string());
    assert_eq!(get(&url(&sim, "/v2/apps/web")).status, 404);
    assert!(
        get(&url(&sim, "/v2/tasks")).json()["tasks"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    wait(&sim, 1);
    assert!(deployments(&sim).is_empty());
}

#[test]
fn kills_with_and_without_scale() {
    let sim = start();
    post(&sim, "/v2/apps", &web(3));
    wait(&sim, 10);
    let ids = |sim: &SimHandle| -> Vec<String> {
        app(sim, "/web")["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = ids(&sim);
    assert_eq!(before.len(), 3);

    // Without scale: the killed tasks come back, Marathon replaces them.
    let reply = delete(&sim, "/v2/apps/web/tasks");
    assert_eq!(reply.status, 200);
    let killed = reply.json()["tasks"].as_array().unwrap().len();
    assert_eq!(killed, 3);
    let after = ids(&sim);
    assert_eq!(after.len(), 3);
    assert!(after.iter().all(|id| !before.contains(id)));
    wait(&sim, 10);

    // One task without scale: {"task": …}.
    let one = ids(&sim)[0].clone();
    let reply = delete(&sim, &format!("/v2/apps/web/tasks/{one}"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["task"]["id"], one.as_str());
    wait(&sim, 10);
    assert_eq!(app(&sim, "/web")["instances"], 3);

    // One task with scale: a deployment, instances lowered.
    let one = ids(&sim)[0].clone();
    let reply = delete(&sim, &format!("/v2/apps/web/tasks/{one}?scale=true"));
    assert_eq!(reply.status, 200);
    assert!(reply.json()["deploymentId"].is_string());
    let a = app(&sim, "/web");
    assert_eq!(a["instances"], 2);
    assert_eq!(a["tasks"].as_array().unwrap().len(), 2);
    wait(&sim, 1);

    // /v2/tasks/delete?scale=true as zdd.py sends it.
    let one = ids(&sim)[0].clone();
    let reply = post(&sim, "/v2/tasks/delete?scale=true", &json!({"ids": [one]}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.json()["deploymentId"].is_string());
    assert!(reply.header("marathon-deployment-id").is_some());
    let a = app(&sim, "/web");
    assert_eq!(a["instances"], 1);
    assert_eq!(a["tasks"].as_array().unwrap().len(), 1);
    wait(&sim, 1);

    // The app kill with scale (as the CLI sends it, Python-style True).
    let reply = delete(&sim, "/v2/apps/web/tasks?scale=True");
    assert_eq!(reply.status, 200);
    assert!(reply.json()["deploymentId"].is_string());
    let a = app(&sim, "/web");
    assert_eq!(a["instances"], 0);
    assert_eq!(a["tasks"], json!([]));
    wait(&sim, 1);
    // Nothing left to kill: no-scale gives an empty list, scale a 404.
    assert_eq!(
        delete(&sim, "/v2/apps/web/tasks").json(),
        json!({"tasks": []})
    );
    let none = delete(&sim, "/v2/apps/web/tasks?scale=true");
    assert_eq!(none.status, 404);
    assert_eq!(
        none.json(),
        json!({"message": "Path '/web' does not exist"})
    );

    // /v2/tasks/delete without scale and a bad id.
    let bad = post(&sim, "/v2/tasks/delete", &json!({"ids": ["garbage"]}));
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid task id 'garbage'.")
    );
    let wipe = delete(&sim, "/v2/apps/web/tasks?scale=true&wipe=true");
    assert_eq!(wipe.status, 400);
    assert_eq!(
        wipe.json(),
        json!({"message": "You cannot use scale and wipe at the same time."})
    );
}

#[test]
fn deployments_roll_back_or_stop() {
    let sim = start();
    post(&sim, "/v2/apps", &web(1));
    wait(&sim, 10);
    let reply = put(&sim, "/v2/apps/web", &json!({"instances": 2, "mem": 32}));
    let id = reply.json()["deploymentId"].as_str().unwrap().to_owned();
    let rollback = delete(&sim, &format!("/v2/deployments/{id}"));
    assert_eq!(rollback.status, 200, "{}", rollback.body);
    let body = rollback.json();
    assert!(body["deploymentId"].is_string() && body["version"].is_string());
    let a = app(&sim, "/web");
    assert_eq!(a["mem"], 64);
    assert_eq!(a["instances"], 1);
    wait(&sim, 10);
    assert!(deployments(&sim).is_empty());

    // Rolling back a scale is a scale: the running tasks stay.
    let tasks_before = app(&sim, "/web")["tasks"].clone();
    let reply = put(&sim, "/v2/apps/web", &json!({"instances": 2}));
    let id = reply.json()["deploymentId"].as_str().unwrap().to_owned();
    let rollback = delete(&sim, &format!("/v2/deployments/{id}"));
    assert_eq!(rollback.status, 200);
    // The extra task goes at once, so the rollback is already over.
    assert!(deployments(&sim).is_empty());
    assert_eq!(app(&sim, "/web")["tasks"], tasks_before);

    let reply = put(&sim, "/v2/apps/web", &json!({"instances": 3}));
    let id = reply.json()["deploymentId"].as_str().unwrap().to_owned();
    let stop = delete(&sim, &format!("/v2/deployments/{id}?force=true"));
    assert_eq!(stop.status, 202);
    assert!(stop.body.is_empty());
    assert!(deployments(&sim).is_empty());
    assert_eq!(app(&sim, "/web")["deployments"], json!([]));
}

#[test]
fn bad_requests() {
    let sim = start();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut malformed = agent
        .post(&url(&sim, "/v2/apps"))
        .header("content-type", "application/json")
        .send("{\"id\": \"/x\",")
        .expect("an answer");
    assert_eq!(malformed.status().as_u16(), 400);
    let body: Value =
        serde_json::from_str(&malformed.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["message"], "Invalid JSON");
    assert!(body["details"].is_string(), "{body}");

    let invalid = post(&sim, "/v2/apps", &json!({"id": "/Bad_Id", "cmd": "x"}));
    assert_eq!(invalid.status, 422);
    let body = invalid.json();
    assert_eq!(body["message"], "Object is not valid");
    assert_eq!(body["details"][0]["path"], "/id");
    assert!(body["details"][0]["errors"][0].is_string());

    let reserved = post(&sim, "/v2/apps", &json!({"id": "/a/tasks", "cmd": "x"}));
    assert_eq!(reserved.status, 422);
    let neither = post(&sim, "/v2/apps", &json!({"id": "/a"}));
    assert_eq!(neither.status, 422);
    assert_eq!(
        neither.json()["details"][0]["errors"][0],
        "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
    );
    let types = post(
        &sim,
        "/v2/apps",
        &json!({"id": "/a", "cmd": "x", "instances": -1, "labels": {"n": 1}}),
    );
    assert_eq!(types.status, 422);
    let details = types.json()["details"].clone();
    let paths: Vec<&str> = details
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/instances") && paths.contains(&"/labels/n"),
        "{paths:?}"
    );
    let strategy = post(
        &sim,
        "/v2/apps",
        &json!({"id": "/a", "cmd": "x", "upgradeStrategy": {"minimumHealthCapacity": 1.5}}),
    );
    assert_eq!(strategy.status, 422);
    assert_eq!(
        strategy.json(),
        json!({"message": "Object is not valid", "details": [{"path": "/upgradeStrategy/minimumHealthCapacity", "errors": ["is greater than 1"]}]})
    );
    let cpus = post(
        &sim,
        "/v2/apps",
        &json!({"id": "/a", "cmd": "x", "cpus": 0}),
    );
    assert_eq!(cpus.status, 422);
}

#[test]
fn mount_points_and_double_slashes() {
    let sim = start();
    let base = sim.dcos_url();
    for (prefix, id) in [("/service/marathon", "a1"), ("/marathon", "a2"), ("", "a3")] {
        let reply = send(
            "POST",
            &format!("{base}{prefix}/v2/apps"),
            &[],
            Some(&json!({"id": id, "cmd": "sleep 1"})),
        );
        assert_eq!(reply.status, 201, "{prefix}: {}", reply.body);
        let shown = get(&format!("{base}{prefix}/v2/apps/{id}"));
        assert_eq!(shown.json()["app"]["id"], format!("/{id}"));
    }
    wait(&sim, 5);
    // The marathon PyPI client's scale_app.
    let reply = send(
        "PUT",
        &format!("{base}/service/marathon/v2/apps//a1?force=False"),
        &[],
        Some(&json!({"instances": 3})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(app(&sim, "/a1")["instances"], 3);
    assert_eq!(
        get(&format!("{base}/v2/queue")).json(),
        json!({"queue": []})
    );
    assert_eq!(
        get(&format!("{base}/marathon/v2/info")).json()["name"],
        "marathon"
    );
}

#[test]
#[cfg_attr(
    not(canary_shared),
    ignore = "needs ../shared/reference (set CANARY_SHARED_DIR or place shared/ beside the repo)"
)]
fn upstream_example_app_is_rejected_with_args_and_accepted_without() {
    let example = shared("marathon/raml/v2/examples/app.json");
    let sim = start();
    let reply = post(&sim, "/v2/apps", &example);
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(
        reply.json()["details"][0]["errors"][0],
        "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
    );
    let mut without = example.clone();
    without.as_object_mut().unwrap().remove("args");
    let reply = post(&sim, "/v2/apps", &without);
    assert_eq!(reply.status, 201, "{}", reply.body);
    let created = reply.json();
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    // Every field given comes back, plus the read-only ones.
    let missing: Vec<String> = keys(&without)
        .difference(&keys(&created))
        .cloned()
        .collect();
    assert!(missing.is_empty(), "missing {missing:?}");
    for key in [
        "version",
        "versionInfo",
        "tasksStaged",
        "tasksRunning",
        "tasksHealthy",
        "tasksUnhealthy",
        "deployments",
    ] {
        assert!(created.get(key).is_some(), "{key}");
    }
    // The listing has the documented AppInfo keys (app_list.json's example).
    {
        let list = shared("marathon/raml/v2/examples/app_list.json");
        let listed = get(&url(&sim, "/v2/apps")).json();
        let ours = keys(&listed["apps"][0]);
        let theirs = keys(&list["apps"][0]);
        let absent: Vec<&String> = theirs
            .iter()
            .filter(|k| !["args", "ports", "uris", "cmd"].contains(&k.as_str()))
            .filter(|k| !ours.contains(*k))
            .collect();
        assert!(absent.is_empty(), "missing {absent:?}");
    }
}

#[test]
#[cfg_attr(
    not(canary_shared),
    ignore = "needs ../shared/reference (set CANARY_SHARED_DIR or place shared/ beside the repo)"
)]
fn marathon_lb_examples_are_accepted() {
    for file in ["1-nginx.json", "1-nginx-marathon1.5.json"] {
        let definition = shared(&format!("marathon-lb/{file}"));
        let sim = start();
        let reply = post(&sim, "/v2/apps", &definition);
        assert_eq!(reply.status, 201, "{file}: {}", reply.body);
        let created = reply.json();
        assert_eq!(created["id"], "/nginx");
        wait(&sim, 10);
        let a = app(&sim, "/nginx");
        assert_eq!(a["tasksHealthy"], 5, "{file}");
        assert_eq!(a["deployments"], json!([]));
        let task = &a["tasks"][0];
        assert_eq!(task["ports"].as_array().unwrap().len(), 1);
        assert_eq!(task["servicePorts"], json!([10000]));
    }
}

#[test]
#[cfg_attr(
    not(canary_shared),
    ignore = "needs ../shared/reference (set CANARY_SHARED_DIR or place shared/ beside the repo)"
)]
fn zdd_apps_fixture_loads_with_its_tasks() {
    let fixture = shared("marathon-lb/zdd_apps.json");
    let sim = start();
    let count = sim.load_apps_response(&fixture).expect("the fixture loads");
    assert_eq!(count, 2);
    let listed = get(&url(&sim, "/v2/apps?embed=apps.tasks")).json();
    let ours: Vec<&Value> = listed["apps"].as_array().unwrap().iter().collect();
    for original in fixture["apps"].as_array().unwrap() {
        let id = original["id"].as_str().unwrap();
        let mine = ours.iter().find(|a| a["id"] == id).expect("app listed");
        assert_eq!(mine["labels"], original["labels"]);
        assert_eq!(mine["versionInfo"], original["versionInfo"]);
        if original["tasks"].as_array().unwrap().len() as u64
            == original["instances"].as_u64().unwrap()
        {
            assert_eq!(mine["tasks"], original["tasks"], "{id}");
        }
    }
    for original in fixture["apps"].as_array().unwrap() {
        let app = sim.app(original["id"].as_str().unwrap()).expect("loaded");
        assert!(app.last_scaling_at_ms > 1_400_000_000_000);
        for task in &app.tasks {
            assert!(!task.ports.is_empty());
            assert!(!task.host.is_empty());
        }
    }
}

#[test]
fn restarts_follow_the_upgrade_strategy() {
    let sim = start();
    let task_ids = |sim: &SimHandle, id: &str| -> Vec<(String, String)> {
        app(sim, id)["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap().to_owned(),
                    t["version"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    // {0, 0}: the old task goes first, then the new one starts.
    let mut single = web(1);
    single["id"] = json!("/single");
    single["upgradeStrategy"] = json!({"minimumHealthCapacity": 0, "maximumOverCapacity": 0});
    post(&sim, "/v2/apps", &single);
    wait(&sim, 10);
    let before = task_ids(&sim, "/single");
    put(&sim, "/v2/apps/single", &json!({"cpus": 0.2}));
    let during = task_ids(&sim, "/single");
    assert_eq!(during.len(), 1);
    assert_ne!(during[0].0, before[0].0);

    // {1, 0}: no room and no slack; one old task is given up to progress.
    let mut tight = web(2);
    tight["id"] = json!("/tight");
    tight["upgradeStrategy"] = json!({"minimumHealthCapacity": 1, "maximumOverCapacity": 0});
    post(&sim, "/v2/apps", &tight);
    wait(&sim, 10);
    put(&sim, "/v2/apps/tight", &json!({"cpus": 0.2}));
    assert_eq!(task_ids(&sim, "/tight").len(), 2);
    // One clock jump replays every step of the rolling restart.
    wait(&sim, 600);
    assert!(deployments(&sim).is_empty(), "{:?}", deployments(&sim));
    let a = app(&sim, "/tight");
    assert_eq!(a["tasksHealthy"], 2);
    assert!(
        a["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["version"] == a["version"])
    );

    // Default {1, 1}: new tasks start next to the old ones.
    put(
        &sim,
        "/v2/apps/tight",
        &json!({"upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}}),
    );
    wait(&sim, 10);
    put(&sim, "/v2/apps/tight", &json!({"cpus": 0.3}));
    assert_eq!(task_ids(&sim, "/tight").len(), 4);
    wait(&sim, 7);
    assert_eq!(task_ids(&sim, "/tight").len(), 2);
    assert!(deployments(&sim).is_empty());
}

#[test]
fn the_same_seed_gives_the_same_ids() {
    // Ids, not host ports: those are whatever the OS gives the task servers.
    let run = || {
        let sim = start();
        let created = post(&sim, "/v2/apps", &web(2)).json();
        let tasks: Vec<Value> = app(&sim, "/web")["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].clone())
            .collect();
        (created["deployments"].clone(), tasks)
    };
    assert_eq!(run(), run());
}

#[test]
fn a_zdd_style_blue_green_swap_needs_no_force() {
    let sim = start();
    let mut blue = web(3);
    blue["id"] = json!("/nginx-blue");
    blue["labels"] = json!({"HAPROXY_DEPLOYMENT_GROUP": "nginx", "HAPROXY_0_PORT": "10000"});
    assert_eq!(post(&sim, "/v2/apps", &blue).status, 201);
    wait(&sim, 10);
    let mut green = blue.clone();
    green["id"] = json!("/nginx-green");
    green["instances"] = json!(1);
    assert_eq!(post(&sim, "/v2/apps", &green).status, 201);
    let group: Vec<String> = get(&url(&sim, "/v2/apps")).json()["apps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["HAPROXY_DEPLOYMENT_GROUP"] == "nginx")
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(group, ["/nginx-blue", "/nginx-green"]);
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 60, "the swap converges");
        let old = app(&sim, "/nginx-blue");
        let new = app(&sim, "/nginx-green");
        if !new["deployments"].as_array().unwrap().is_empty() {
            wait(&sim, 1);
            continue;
        }
        let new_instances = new["instances"].as_u64().unwrap();
        let old_instances = old["instances"].as_u64().unwrap();
        if new_instances == 3 && old_instances == 0 {
            assert_eq!(delete(&sim, "/v2/apps/nginx-blue").status, 200);
            break;
        }
        // Kill as many old tasks as the new app has healthy ones beyond
        // what was already swapped, then grow the new app by one.
        let healthy = new["tasksHealthy"].as_u64().unwrap();
        let kill = (healthy + old_instances)
            .saturating_sub(3)
            .min(old_instances);
        if kill > 0 {
            let ids: Vec<&Value> = old["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .take(kill as usize)
                .map(|t| &t["id"])
                .collect();
            let reply = post(&sim, "/v2/tasks/delete?scale=true", &json!({ "ids": ids }));
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
        if new_instances < 3 {
            let reply = put(
                &sim,
                "/v2/apps/nginx-green",
                &json!({"instances": new_instances + 1}),
            );
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
        wait(&sim, 1);
    }
    assert_eq!(get(&url(&sim, "/v2/apps/nginx-blue")).status, 404);
    let green = app(&sim, "/nginx-green");
    assert_eq!(green["tasks"].as_array().unwrap().len(), 3);
    let task = &green["tasks"][0];
    assert_eq!(task["ipAddresses"][0]["ipAddress"], "127.0.0.1");
    assert_eq!(task["ports"].as_array().unwrap().len(), 1);
}

#[test]
fn versions_list_show_and_roll_back() {
    let sim = start();
    post(
        &sim,
        "/v2/apps",
        &json!({"id": "/v", "cmd": "sleep 1", "mem": 16}),
    );
    let first = app(&sim, "/v")["version"].as_str().unwrap().to_owned();
    wait(&sim, 5);
    // The id in a PUT body is ignored: the path wins.
    let reply = put(&sim, "/v2/apps/v", &json!({"id": "/other", "mem": 32}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let second = reply.json()["version"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(get(&url(&sim, "/v2/apps/other")).status, 404);
    wait(&sim, 5);
    let versions = get(&url(&sim, "/v2/apps/v/versions")).json();
    assert_eq!(versions, json!({"versions": [second, first]}));
    let old = get(&url(&sim, &format!("/v2/apps/v/versions/{first}")));
    assert_eq!(old.status, 200);
    assert_eq!(old.json()["mem"], 16);
    assert_eq!(
        get(&url(&sim, "/v2/apps/v/versions/2000-01-01T00:00:00.000Z")).status,
        404
    );
    let back = put(&sim, "/v2/apps/v", &json!({"version": first}));
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(app(&sim, "/v")["mem"], 16);
    assert_eq!(
        deployments(&sim)[0]["currentActions"][0]["action"],
        "RestartApplication"
    );
}
