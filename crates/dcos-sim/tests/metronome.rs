//! Metronome v1 over loopback HTTP: jobs, validation, runs, history,
//! embeds, schedules and the run hook. The clock is manual: no sleeps.

mod common;

use common::{Reply, get, send};
use dcos_sim::metronome::{ClusterRunHook, RunContext, RunHook, RunOutcome, RunPlan};
use dcos_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// 2016-07-15T13:02:59.735Z, the RAML examples' time.
const START_MS: u64 = 1_468_587_779_735;

fn start() -> SimHandle {
    SimHandle::start(SimConfig {
        time_scale: 0.0,
        start_time_ms: Some(START_MS),
        ..SimConfig::default()
    })
    .expect("the sim starts")
}

fn url(sim: &SimHandle, path: &str) -> String {
    format!("{}/service/metronome{path}", sim.dcos_url())
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

fn fetch(sim: &SimHandle, path: &str) -> Reply {
    get(&url(sim, path))
}

fn job(id: &str) -> Value {
    json!({"id": id, "run": {"cmd": "sleep 1", "cpus": 0.1, "mem": 32, "disk": 0}})
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Whether `text` looks like `2016-07-15T13:02:59.735+0000`.
fn is_metronome_time(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| range.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() == 28
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && &text[23..] == "+0000"
}

/// Metronome's examples in the upstream reference data (build.rs decides
/// whether they are there; the tests that read them are ignored, with the
/// reason, if not).
fn shared_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CANARY_SHARED_REFERENCE")).join("metronome/v1/examples");
    assert!(dir.is_dir(), "{} is absent", dir.display());
    dir
}

fn example(dir: &std::path::Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn crud_echoes_defaults() {
    let sim = start();
    let created = post(&sim, "/v1/jobs", &job("deploy.a-canary"));
    assert_eq!(created.status, 201, "{}", created.body);
    let spec = created.json();
    assert_eq!(spec["id"], "deploy.a-canary");
    assert_eq!(spec["labels"], json!({}));
    assert_eq!(spec["schedules"], json!([]));
    let run = &spec["run"];
    assert_eq!(run["restart"], json!({"policy": "NEVER"}));
    assert_eq!(run["maxLaunchDelay"], 3600);
    assert_eq!(run["placement"], json!({"constraints": []}));
    for (key, empty) in [
        ("env", json!({})),
        ("secrets", json!({})),
        ("artifacts", json!([])),
        ("volumes", json!([])),
        ("networks", json!([])),
    ] {
        assert_eq!(run[key], empty, "{key}");
    }
    assert_eq!(run["gpus"], 0);
    assert!(spec.get("description").is_none());

    assert_eq!(fetch(&sim, "/v1/jobs/deploy.a-canary").json(), spec);
    // Also at the root, as a job inside the cluster would call it.
    assert_eq!(
        get(&format!("{}/v1/jobs/deploy.a-canary", sim.dcos_url())).json(),
        spec
    );

    let duplicate = post(&sim, "/v1/jobs", &job("deploy.a-canary"));
    assert_eq!(duplicate.status, 409);
    assert_eq!(
        duplicate.json(),
        json!({"message": "Job with this id already exists"})
    );

    // PUT replaces the spec; the path id wins over the body's.
    let mut update = job("other");
    update["description"] = json!("updated");
    update["run"]["docker"] = json!({"image": "nginx"});
    let updated = put(&sim, "/v1/jobs/deploy.a-canary", &update);
    assert_eq!(updated.status, 200, "{}", updated.body);
    let updated = updated.json();
    assert_eq!(updated["id"], "deploy.a-canary");
    assert_eq!(updated["description"], "updated");
    assert_eq!(
        updated["run"]["docker"],
        json!({"image": "nginx", "forcePullImage": false, "privileged": false, "parameters": []})
    );
    assert_eq!(put(&sim, "/v1/jobs/nope", &update).status, 404);

    let list = fetch(&sim, "/v1/jobs").json();
    assert_eq!(list.as_array().unwrap().len(), 1);

    let deleted = delete(&sim, "/v1/jobs/deploy.a-canary");
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.json()["description"], "updated");
    let missing = fetch(&sim, "/v1/jobs/deploy.a-canary");
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json(),
        json!({"id": "deploy.a-canary", "message": "Job not found"})
    );
    assert_eq!(delete(&sim, "/v1/jobs/deploy.a-canary").status, 404);
    assert_eq!(fetch(&sim, "/v1/jobs").json(), json!([]));
}

#[test]
fn schema_errors_have_metronomes_shape() {
    let sim = start();
    let mut bad = job("a");
    bad["run"]["mem"] = json!(16);
    bad["run"]["cpus"] = json!(0);
    let reply = post(&sim, "/v1/jobs", &bad);
    assert_eq!(reply.status, 422);
    let body = reply.json();
    assert_eq!(body["message"], "Object is not valid");
    let details = body["details"].as_array().unwrap();
    let paths: Vec<&str> = details
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/run/cpus", "/run/mem"]);
    for detail in details {
        assert_eq!(keys(detail), keys(&json!({"path": 0, "errors": 0})));
        let errors = detail["errors"].as_array().unwrap();
        assert!(!errors.is_empty() && errors.iter().all(Value::is_string));
    }

    for (edit, path) in [(json!({"id": "Bad_Id"}), "/id"), (json!({"foo": 1}), "/")] {
        let mut spec = job("a");
        for (k, v) in edit.as_object().unwrap() {
            spec[k] = v.clone();
        }
        let reply = post(&sim, "/v1/jobs", &spec);
        assert_eq!(reply.status, 422, "{spec}");
        assert!(
            reply.json()["details"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["path"] == path),
            "{}",
            reply.body
        );
    }
    let mut no_run = job("a");
    no_run.as_object_mut().unwrap().remove("run");
    assert_eq!(post(&sim, "/v1/jobs", &no_run).status, 422);
    let not_json = send(
        "POST",
        &url(&sim, "/v1/jobs"),
        &[("content-type", "application/json")],
        None,
    );
    assert_eq!(not_json.status, 422);
    assert_eq!(not_json.json()["message"], "Object is not valid");
    assert_eq!(fetch(&sim, "/v1/jobs").json(), json!([]));
}

#[test]
fn semantic_errors() {
    let sim = start();
    let detail_errors = |reply: &Reply| -> Vec<String> {
        assert_eq!(reply.status, 422, "{}", reply.body);
        let body = reply.json();
        assert_eq!(body["message"], "Object is not valid");
        body["details"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["errors"].as_array().unwrap().clone())
            .map(|e| e.as_str().unwrap().to_owned())
            .collect()
    };
    let mut nothing = job("a");
    nothing["run"].as_object_mut().unwrap().remove("cmd");
    assert_eq!(
        detail_errors(&post(&sim, "/v1/jobs", &nothing)),
        ["Cmd, Docker or UCR image must be specified"]
    );
    let mut both = job("a");
    both["run"]["docker"] = json!({"image": "a"});
    both["run"]["ucr"] = json!({"image": {"id": "a"}});
    assert_eq!(
        detail_errors(&post(&sim, "/v1/jobs", &both)),
        ["Either Docker or UCR should be provided, but not both"]
    );
    let mut undefined = job("a");
    undefined["run"]["env"] = json!({"X": {"secret": "s"}});
    let reply = post(&sim, "/v1/jobs", &undefined);
    detail_errors(&reply);
    assert_eq!(reply.json()["details"][0]["path"], "/run/env/X");
    let mut unused = job("a");
    unused["run"]["secrets"] = json!({"s": {"source": "/x"}});
    let reply = post(&sim, "/v1/jobs", &unused);
    detail_errors(&reply);
    assert_eq!(reply.json()["details"][0]["path"], "/run/secrets/s");

    let mut dependent = job("b");
    dependent["dependencies"] = json!([{"id": "a"}]);
    let reply = post(&sim, "/v1/jobs", &dependent);
    assert_eq!(reply.status, 422);
    assert_eq!(
        reply.json(),
        json!({"message": "Dependencies contain unknown jobs. unknown=[a]"})
    );
    assert_eq!(post(&sim, "/v1/jobs", &job("a")).status, 201);
    assert_eq!(post(&sim, "/v1/jobs", &dependent).status, 201);
    assert_eq!(
        fetch(&sim, "/v1/jobs/b").json()["dependencies"],
        json!([{"id": "a"}])
    );
    let refused = delete(&sim, "/v1/jobs/a");
    assert_eq!(refused.status, 409);
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("There are jobs with a dependency on a"),
        "{}",
        refused.body
    );
    // A cycle through PUT is refused.
    let mut cyclic = job("a");
    cyclic["dependencies"] = json!([{"id": "b"}]);
    assert_eq!(put(&sim, "/v1/jobs/a", &cyclic).status, 422);
    assert_eq!(delete(&sim, "/v1/jobs/b").status, 200);
    assert_eq!(delete(&sim, "/v1/jobs/a").status, 200);
}

#[test]
fn bad_ids_in_the_path_and_unknown_routes() {
    let sim = start();
    for path in ["/v1/jobs/Bad_Id", "/v1/jobs/-a/runs", "/v1/jobs/a..b"] {
        let reply = fetch(&sim, path);
        assert_eq!(reply.status, 400, "{path}");
        assert!(
            reply.json()["message"]
                .as_str()
                .unwrap()
                .starts_with("Not a valid id: "),
            "{}",
            reply.body
        );
    }
    let reply = fetch(&sim, "/v1/nothing/here");
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.json(),
        json!({"message": "Unknown route.", "requestPath": "/v1/nothing/here"})
    );
    assert_eq!(fetch(&sim, "/v1/jobs/x/y/z").status, 404);
    let ping = fetch(&sim, "/ping");
    assert_eq!((ping.status, ping.body.as_str()), (200, "pong"));
    assert!(fetch(&sim, "/v1/info").json()["version"].is_string());
    assert_eq!(fetch(&sim, "/v1/queue").json(), json!([]));
}

#[test]
fn run_lifecycle_ends_in_history() {
    let sim = start();
    assert_eq!(post(&sim, "/v1/jobs", &job("a")).status, 201);
    let reply = post(&sim, "/v1/jobs/a/runs", &json!({}));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let run = reply.json();
    let example_run = json!({"completedAt": null, "createdAt": "", "id": "", "jobId": "", "status": "", "tasks": []});
    assert_eq!(keys(&run), keys(&example_run));
    assert_eq!(run["status"], "INITIAL");
    assert_eq!(run["jobId"], "a");
    assert_eq!(run["completedAt"], Value::Null);
    assert_eq!(run["createdAt"], "2016-07-15T13:02:59.735+0000");
    let run_id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(run_id.len(), 19);
    assert!(run_id.starts_with("20160715130259"), "{run_id}");
    assert!(run_id[14..].chars().all(|c| c.is_ascii_alphanumeric()));

    let one = fetch(&sim, &format!("/v1/jobs/a/runs/{run_id}")).json();
    assert_eq!(one["status"], "STARTING");
    assert_eq!(one["tasks"], json!([]));
    assert_eq!(
        fetch(&sim, "/v1/queue").json(),
        json!([{"jobId": "a", "runs": [{"runId": run_id}]}])
    );

    sim.advance(Duration::from_secs(1));
    let runs = fetch(&sim, "/v1/jobs/a/runs").json();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    let active = &runs[0];
    assert_eq!(active["status"], "ACTIVE");
    let task = &active["tasks"][0];
    assert_eq!(task["status"], "TASK_RUNNING");
    assert_eq!(task["completedAt"], Value::Null);
    assert!(is_metronome_time(task["startedAt"].as_str().unwrap()));
    assert!(
        task["id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("a_{run_id}."))
    );
    assert_eq!(fetch(&sim, "/v1/queue").json(), json!([]));

    // The default run takes job_run_duration (10 s) from creation.
    sim.advance(Duration::from_secs(8));
    assert_eq!(fetch(&sim, "/v1/jobs/a/runs").json()[0]["status"], "ACTIVE");
    sim.advance(Duration::from_secs(1));
    assert_eq!(fetch(&sim, "/v1/jobs/a/runs").json(), json!([]));
    let gone = fetch(&sim, &format!("/v1/jobs/a/runs/{run_id}"));
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.json(),
        json!({"jobSpec": "a", "id": run_id, "message": "Job Run not found"})
    );

    let with_history = fetch(&sim, "/v1/jobs/a?embed=history").json();
    let history = &with_history["history"];
    assert_eq!(history["successCount"], 1);
    assert_eq!(history["failureCount"], 0);
    assert_eq!(history["lastSuccessAt"], "2016-07-15T13:03:09.735+0000");
    assert_eq!(history["lastFailureAt"], Value::Null);
    let finished = &history["successfulFinishedRuns"][0];
    assert_eq!(finished["id"], run_id.as_str());
    assert_eq!(finished["createdAt"], "2016-07-15T13:02:59.735+0000");
    assert_eq!(finished["finishedAt"], "2016-07-15T13:03:09.735+0000");
    assert_eq!(finished["tasks"], json!([task["id"]]));
    assert_eq!(history["failedFinishedRuns"], json!([]));
    assert_eq!(post(&sim, "/v1/jobs/nope/runs", &json!({})).status, 404);
    assert_eq!(fetch(&sim, "/v1/jobs/nope/runs").status, 404);
}

#[test]
fn stopped_runs_fail_and_delete_needs_stop_current_job_runs() {
    let sim = start();
    post(&sim, "/v1/jobs", &job("a"));
    let run_id = post(&sim, "/v1/jobs/a/runs", &json!({})).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.advance(Duration::from_secs(2));
    let stopped = post(
        &sim,
        &format!("/v1/jobs/a/runs/{run_id}/actions/stop"),
        &json!({}),
    );
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    let stopped = stopped.json();
    assert_eq!(stopped["status"], "FAILED");
    assert_eq!(stopped["tasks"][0]["status"], "TASK_KILLED");
    assert!(is_metronome_time(stopped["completedAt"].as_str().unwrap()));
    assert_eq!(fetch(&sim, "/v1/jobs/a/runs").json(), json!([]));
    let summary = fetch(&sim, "/v1/jobs/a?embed=historySummary").json()["historySummary"].clone();
    assert_eq!(summary["failureCount"], 1);
    assert_eq!(summary["successCount"], 0);
    assert!(is_metronome_time(
        summary["lastFailureAt"].as_str().unwrap()
    ));
    let history = fetch(&sim, "/v1/jobs/a?embed=history").json()["history"].clone();
    assert_eq!(history["failedFinishedRuns"][0]["id"], run_id.as_str());
    let again = post(
        &sim,
        &format!("/v1/jobs/a/runs/{run_id}/actions/stop"),
        &json!({}),
    );
    assert_eq!(again.status, 404);

    post(&sim, "/v1/jobs/a/runs", &json!({}));
    let refused = delete(&sim, "/v1/jobs/a");
    assert_eq!(refused.status, 409);
    assert_eq!(
        refused.json(),
        json!({"message": "There are active job runs. Override with stopCurrentJobRuns=true"})
    );
    assert_eq!(
        delete(&sim, "/v1/jobs/a?stopCurrentJobRuns=false").status,
        409
    );
    let deleted = delete(&sim, "/v1/jobs/a?stopCurrentJobRuns=true");
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.json()["id"], "a");
    assert_eq!(fetch(&sim, "/v1/jobs/a").status, 404);
}

#[test]
fn embeds() {
    let sim = start();
    post(&sim, "/v1/jobs", &job("a"));
    post(&sim, "/v1/jobs", &job("b"));
    post(&sim, "/v1/jobs/a/runs", &json!({}));

    // What `dcos job list` asks for.
    let list = fetch(
        &sim,
        "/v1/jobs?embed=activeRuns&embed=schedules&embed=historySummary",
    )
    .json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["activeRuns"].as_array().unwrap().len(), 1);
    assert!(
        list[1].get("activeRuns").is_none(),
        "no active runs, no key"
    );
    for job in list {
        assert_eq!(
            keys(&job["historySummary"]),
            keys(
                &json!({"successCount": 0, "failureCount": 0, "lastSuccessAt": 0, "lastFailureAt": 0})
            )
        );
        assert_eq!(job["historySummary"]["lastSuccessAt"], Value::Null);
        assert!(job.get("history").is_none());
    }
    // Comma-separated is the same as repeated.
    let comma = fetch(&sim, "/v1/jobs?embed=activeRuns,schedules,historySummary").json();
    assert_eq!(comma.as_array().unwrap(), list);
    let encoded = fetch(&sim, "/v1/jobs?embed=activeRuns%2ChistorySummary").json();
    assert_eq!(encoded.as_array().unwrap(), list);

    // No embed: the specs with schedules only.
    for job in fetch(&sim, "/v1/jobs").json().as_array().unwrap() {
        assert_eq!(
            keys(job),
            ["id", "labels", "run", "schedules"]
                .map(String::from)
                .into()
        );
    }
    // One job: activeRuns present even when empty.
    let b = fetch(&sim, "/v1/jobs/b?embed=activeRuns,history").json();
    assert_eq!(b["activeRuns"], json!([]));
    assert_eq!(
        keys(&b["history"]),
        [
            "successCount",
            "failureCount",
            "lastSuccessAt",
            "lastFailureAt",
            "successfulFinishedRuns",
            "failedFinishedRuns"
        ]
        .map(String::from)
        .into()
    );
    // What `dcos job history` asks for.
    let a = fetch(
        &sim,
        "/v1/jobs/a?embed=activeRuns&embed=schedules&embed=history",
    )
    .json();
    assert_eq!(a["activeRuns"][0]["status"], "STARTING");

    for path in ["/v1/jobs?embed=bogus", "/v1/jobs/a?embed=activeRuns,bogus"] {
        let reply = fetch(&sim, path);
        assert_eq!(reply.status, 400, "{path}");
        assert!(reply.json()["message"].as_str().unwrap().contains("bogus"));
    }
}

#[test]
fn run_hook_decides_outcome_and_duration() {
    let sim = start();
    let mut labelled = job("zdd");
    labelled["labels"] = json!({"canary": "zdd"});
    post(&sim, "/v1/jobs", &labelled);
    post(&sim, "/v1/jobs", &job("plain"));
    let seen = Arc::new(std::sync::Mutex::new(Vec::<RunContext>::new()));
    let record = seen.clone();
    let failing: RunHook = Arc::new(move |ctx: &RunContext| {
        record.lock().unwrap().push(ctx.clone());
        RunPlan {
            duration: Duration::from_secs(3),
            outcome: RunOutcome::Failure,
        }
    });
    sim.set_run_hook_for_label("canary", "zdd", failing);
    sim.set_run_hook(Some(Arc::new(|_| {
        RunPlan::success(Duration::from_secs(60))
    })));
    let zdd_run = post(&sim, "/v1/jobs/zdd/runs", &json!({})).json()["id"].clone();
    post(&sim, "/v1/jobs/plain/runs", &json!({}));
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].job_id, "zdd");
        assert_eq!(seen[0].run_id, zdd_run.as_str().unwrap());
        assert_eq!(seen[0].labels["canary"], "zdd");
        assert_eq!(seen[0].spec["run"]["cmd"], "sleep 1");
    }
    sim.advance(Duration::from_secs(3));
    let zdd = fetch(&sim, "/v1/jobs/zdd?embed=history").json();
    assert_eq!(zdd["history"]["failureCount"], 1);
    assert_eq!(zdd["history"]["failedFinishedRuns"][0]["id"], zdd_run);
    assert_eq!(
        zdd["history"]["failedFinishedRuns"][0]["finishedAt"],
        "2016-07-15T13:03:02.735+0000"
    );
    // The global hook: 60 s instead of the configured 10 s.
    sim.advance(Duration::from_secs(20));
    assert_eq!(
        fetch(&sim, "/v1/jobs/plain/runs").json()[0]["status"],
        "ACTIVE"
    );
    sim.advance(Duration::from_secs(40));
    assert_eq!(fetch(&sim, "/v1/jobs/plain/runs").json(), json!([]));
    assert_eq!(
        fetch(&sim, "/v1/jobs/plain?embed=historySummary").json()["historySummary"]["successCount"],
        1
    );
    // Without hooks, the default again.
    sim.clear_run_hooks();
    post(&sim, "/v1/jobs/zdd/runs", &json!({}));
    sim.advance(Duration::from_secs(10));
    assert_eq!(
        fetch(&sim, "/v1/jobs/zdd?embed=historySummary").json()["historySummary"]["successCount"],
        1
    );
}

#[test]
fn schedules_are_stored_and_kept_by_put() {
    let sim = start();
    let mut scheduled = job("a");
    scheduled["schedules"] = json!([{"id": "nightly", "cron": "0 2 * * *"}]);
    let created = post(&sim, "/v1/jobs", &scheduled);
    assert_eq!(created.status, 201, "{}", created.body);
    let expected = json!([{"id": "nightly", "cron": "0 2 * * *", "timezone": "UTC",
        "startingDeadlineSeconds": 900, "concurrencyPolicy": "ALLOW", "enabled": true}]);
    assert_eq!(created.json()["schedules"], expected);
    assert_eq!(
        put(&sim, "/v1/jobs/a", &job("a")).json()["schedules"],
        expected
    );
    assert_eq!(fetch(&sim, "/v1/jobs/a/schedules").json(), expected);
    // A scheduled job cannot gain dependencies.
    post(&sim, "/v1/jobs", &job("b"));
    let mut dependent = job("a");
    dependent["dependencies"] = json!([{"id": "b"}]);
    assert_eq!(put(&sim, "/v1/jobs/a", &dependent).status, 422);
    assert_eq!(
        fetch(&sim, "/v1/jobs/a/schedules/nightly").json(),
        expected[0]
    );
    // One schedule at most.
    let second = post(
        &sim,
        "/v1/jobs/a/schedules",
        &json!({"id": "other", "cron": "* * * * *"}),
    );
    assert_eq!(second.status, 422);
    assert_eq!(
        post(
            &sim,
            "/v1/jobs/a/schedules",
            &json!({"id": "nightly", "cron": "* * * * *"})
        )
        .status,
        409
    );
    let updated = put(
        &sim,
        "/v1/jobs/a/schedules/nightly",
        &json!({"id": "nightly", "cron": "*/5 * * * *", "enabled": false}),
    );
    assert_eq!(updated.status, 200);
    assert_eq!(updated.json()["enabled"], false);
    assert_eq!(delete(&sim, "/v1/jobs/a/schedules/nightly").status, 200);
    assert_eq!(fetch(&sim, "/v1/jobs/a/schedules/nightly").status, 404);
    assert_eq!(
        post(
            &sim,
            "/v1/jobs/a/schedules",
            &json!({"id": "x", "cron": "nope"})
        )
        .status,
        422
    );
    let schedule = json!({"id": "everyminute", "cron": "* * * * *", "concurrencyPolicy": "ALLOW",
        "enabled": true, "startingDeadlineSeconds": 60, "timezone": "America/Chicago"});
    let added = post(&sim, "/v1/jobs/a/schedules", &schedule);
    assert_eq!(added.status, 201);
    assert_eq!(added.json(), schedule);
    // Schedules are never executed.
    sim.advance(Duration::from_secs(3600));
    assert_eq!(fetch(&sim, "/v1/jobs/a/runs").json(), json!([]));
}

#[test]
#[cfg_attr(
    not(canary_shared),
    ignore = "needs ../shared/reference (set CANARY_SHARED_DIR or place shared/ beside the repo)"
)]
fn upstream_schedule_example_round_trips() {
    let sim = start();
    let created = post(&sim, "/v1/jobs", &job("a"));
    assert_eq!(created.status, 201, "{}", created.body);
    let schedule = example(&shared_dir(), "schedule.json");
    let added = post(&sim, "/v1/jobs/a/schedules", &schedule);
    assert_eq!(added.status, 201, "{}", added.body);
    assert_eq!(added.json(), schedule);
}

#[test]
#[cfg_attr(
    not(canary_shared),
    ignore = "needs ../shared/reference (set CANARY_SHARED_DIR or place shared/ beside the repo)"
)]
fn upstream_job_examples() {
    let dir = shared_dir();
    let sim = start();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("job") && n.ends_with(".json") && n != "job_list.json")
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in &names {
        let spec = example(&dir, name);
        let reply = post(&sim, "/v1/jobs", &spec);
        if spec["run"].get("disk").is_none() {
            // Metronome's schema requires run.disk: the real service says 422;
            // `dcos job add` sends disk 0, which is accepted.
            assert_eq!(reply.status, 422, "{name}: {}", reply.body);
            assert!(
                reply.json()["details"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|d| d["path"] == "/run"),
                "{name}: {}",
                reply.body
            );
            let mut with_disk = spec.clone();
            with_disk["run"]["disk"] = json!(0);
            let reply = post(&sim, "/v1/jobs", &with_disk);
            assert_eq!(reply.status, 201, "{name}: {}", reply.body);
        } else {
            assert_eq!(reply.status, 201, "{name}: {}", reply.body);
        }
        let id = spec["id"].as_str().unwrap();
        let stored = fetch(&sim, &format!("/v1/jobs/{id}")).json();
        // Everything given is echoed (EQ is read as IS).
        for (key, value) in spec["run"].as_object().unwrap() {
            if key != "placement" && key != "artifacts" && key != "docker" && key != "ucr" {
                assert_eq!(&stored["run"][key], value, "{name}: run.{key}");
            }
        }
        // Shape: at least the keys of a listed job (job_list.json).
        let listed = &example(&dir, "job_list.json")[0];
        let run_keys = keys(&listed["run"]);
        assert!(
            keys(&stored["run"]).is_superset(&run_keys),
            "{name}: {stored}"
        );
        assert!(keys(&stored).is_superset(&keys(listed)), "{name}: {stored}");
    }
    assert_eq!(
        fetch(&sim, "/v1/jobs/prod.example.app").json()["run"]["placement"]["constraints"][0]["operator"],
        "IS"
    );
    // The run examples' key set is what runs look like here.
    let run_example = example(&dir, "run.json");
    let run = post(&sim, "/v1/jobs/ucr-example/runs", &json!({})).json();
    assert_eq!(keys(&run), keys(&run_example));
    assert!(is_metronome_time(
        run_example["createdAt"].as_str().unwrap()
    ));
    let queue = example(&dir, "queue_job_list.json");
    let ours = fetch(&sim, "/v1/queue").json();
    assert_eq!(keys(&ours[0]), keys(&queue[0]));
    assert_eq!(keys(&ours[0]["runs"][0]), keys(&queue[0]["runs"][0]));
}

#[test]
fn timestamps_use_metronomes_format() {
    let sim = start();
    post(&sim, "/v1/jobs", &job("a"));
    post(&sim, "/v1/jobs/a/runs", &json!({}));
    sim.advance(Duration::from_millis(10_123));
    let a = fetch(&sim, "/v1/jobs/a?embed=history").json();
    let history = &a["history"];
    let finished = &history["successfulFinishedRuns"][0];
    for stamp in [
        &history["lastSuccessAt"],
        &finished["createdAt"],
        &finished["finishedAt"],
    ] {
        assert!(is_metronome_time(stamp.as_str().unwrap()), "{stamp}");
    }
}

#[test]
fn cluster_run_hook_sees_the_cluster() {
    let sim = start();
    let mut labelled = job("deploy");
    labelled["labels"] = json!({"canary": "zdd"});
    post(&sim, "/v1/jobs", &labelled);
    post(&sim, "/v1/jobs", &job("other"));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let hook: ClusterRunHook = Arc::new(move |ctx, cluster| {
        record
            .lock()
            .unwrap()
            .push((ctx.now_ms, cluster.now_ms(), cluster.job_ids()));
        RunPlan::failure(Duration::from_secs(2))
    });
    sim.set_cluster_run_hook_for_label("canary", "zdd", hook);
    let run = post(&sim, "/v1/jobs/deploy/runs", &json!({})).json();
    post(&sim, "/v1/jobs/other/runs", &json!({}));
    assert_eq!(
        *seen.lock().unwrap(),
        [(
            START_MS,
            START_MS,
            vec!["deploy".to_owned(), "other".to_owned()]
        )]
    );
    assert_eq!(sim.active_run_ids("deploy"), [run["id"].as_str().unwrap()]);
    sim.advance(Duration::from_secs(2));
    let history = fetch(&sim, "/v1/jobs/deploy?embed=history").json()["history"].clone();
    assert_eq!(history["failedFinishedRuns"][0]["id"], run["id"]);
    // The unlabelled job keeps the default (10 s).
    assert_eq!(
        fetch(&sim, "/v1/jobs/other/runs").json()[0]["status"],
        "ACTIVE"
    );
}
