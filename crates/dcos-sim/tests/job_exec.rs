//! Metronome runs that execute their `run.cmd` (SimConfig::jobs =
//! JobExecution::Execute): statuses that follow the process, the
//! environment and secrets, the time limit and stops killing the process
//! group, logs through the files API and dcos-log, the runner directory on
//! PATH, hooks winning over execution, the bounds, and the sim's shutdown.
//!
//! The clock is manual; waits poll a condition with a deadline, and a run
//! that must stay active waits for a file the test writes into its sandbox.

mod common;

use common::jobs::{Api, LIMIT, encode, exec_sim, gone, wait_gone};
use common::wait_until;
use dcos_sim::metronome::RunPlan;
use dcos_sim::{SimConfig, SimHandle};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

/// A command that records its shell's pid and a background child's, then
/// waits until the test writes `release` into the sandbox.
const HOLD: &str = "sleep 1000 & echo $! > child.pid; echo $$ > sh.pid; \
                    while [ ! -e release ]; do sleep 0.02; done; kill $!; echo released";

fn pids(api: &Api, task: &str) -> Vec<u32> {
    ["sh.pid", "child.pid"]
        .iter()
        .map(|name| api.wait_line(task, name).parse().expect("a pid"))
        .collect()
}

fn release(api: &Api, task: &str) {
    let (_, dir) = api.sandbox(task);
    std::fs::write(format!("{dir}/release"), "").unwrap();
}

#[test]
fn a_run_is_active_while_its_process_runs_and_succeeds_on_exit_0() {
    let sim = exec_sim(None);
    let api = Api::new(&sim);
    api.add_job("hold", json!({"cmd": HOLD}));
    let run = api.run("hold");
    let active = api.wait_status("hold", &run, "ACTIVE");
    assert_eq!(active["tasks"][0]["status"], "TASK_RUNNING", "{active}");
    let task = active["tasks"][0]["id"].as_str().unwrap().to_owned();
    assert!(task.starts_with(&format!("hold_{run}.")), "{task}");
    let pids = pids(&api, &task);
    assert!(pids.iter().all(|p| !gone(*p)), "{pids:?} run");
    assert_eq!(sim.executing_runs(), 1);
    // Still active: nothing ends it but the process.
    sim.advance(Duration::from_secs(3600));
    assert_eq!(api.wait_status("hold", &run, "ACTIVE")["status"], "ACTIVE");

    release(&api, &task);
    let ended = api.wait_end("hold", &run);
    assert!(ended.success, "{:?}", ended);
    assert_eq!(ended.entry["exitCode"], 0);
    assert_eq!(ended.message(), "Command exited with status 0");
    assert_eq!(ended.task(), task);
    assert_eq!(api.read(&task, "stdout"), "released\n");
    wait_gone(&pids);
    assert_eq!(sim.executing_runs(), 0);
    // The Mesos state lists the task as finished.
    let master = api.call("GET", "/mesos/master/state.json", None).json();
    let done = &master["frameworks"][0]["completed_tasks"][0];
    assert_eq!(done["id"], task.as_str());
    assert_eq!(done["state"], "TASK_FINISHED");
    assert_eq!(done["framework_id"], master["frameworks"][0]["id"]);
}

#[test]
fn exit_codes_and_signals_fail_the_run_with_the_reason() {
    let sim = exec_sim(None);
    let api = Api::new(&sim);
    api.add_job("three", json!({"cmd": "echo failing >&2; exit 3"}));
    api.add_job("signal", json!({"cmd": "kill -9 $$"}));
    let three = api.run("three");
    let signal = api.run("signal");

    let ended = api.wait_end("three", &three);
    assert!(!ended.success);
    assert_eq!(ended.entry["exitCode"], 3, "{:?}", ended);
    assert_eq!(ended.message(), "Command exited with status 3");
    assert_eq!(api.read(&ended.task(), "stderr"), "failing\n");

    let ended = api.wait_end("signal", &signal);
    assert!(!ended.success);
    assert_eq!(ended.entry["signal"], 9, "{:?}", ended);
    assert!(ended.entry.get("exitCode").is_none(), "{:?}", ended);
    assert_eq!(ended.message(), "Command terminated by signal 9");

    let job = api
        .call(
            "GET",
            "/service/metronome/v1/jobs/three?embed=history",
            None,
        )
        .json();
    assert_eq!(job["history"]["failureCount"], 1);
    assert_eq!(job["history"]["successCount"], 0);
}

#[test]
fn the_environment_is_the_base_then_the_job_then_its_secrets() {
    let sim = exec_sim(None);
    let api = Api::new(&sim);
    sim.put_secret("team/db-password", "s3cret value").unwrap();
    api.add_job(
        "env",
        json!({
            "cmd": "echo \"plain=$PLAIN pw=$PW lang=$LANG\"; echo \"home=$HOME\"; echo \"pwd=$(pwd)\"; \
                    echo \"sandbox=$MESOS_SANDBOX\"; echo \"task=$MESOS_TASK_ID\"; env > env.txt",
            "env": {"PLAIN": "plain value", "PW": {"secret": "pw"}},
            "secrets": {"pw": {"source": "/team/db-password"}},
        }),
    );
    let run = api.run("env");
    let ended = api.wait_end("env", &run);
    assert!(ended.success, "{:?}", ended);
    let task = ended.task();
    let (_, sandbox) = api.sandbox(&task);
    let stdout = api.read(&task, "stdout");
    let expected = format!(
        "plain=plain value pw=s3cret value lang=C.UTF-8\nhome={sandbox}\npwd={sandbox}\n\
         sandbox={sandbox}\ntask={task}\n"
    );
    assert_eq!(stdout, expected);
    // Nothing of the sim's own environment leaks into a run.
    let env = api.read(&task, "env.txt");
    let names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
    assert!(names.contains(&"MESOS_FRAMEWORK_ID"), "{env}");
    for name in &names {
        assert!(
            !name.starts_with("CARGO") && *name != "RUST_TEST_THREADS",
            "{name} leaked: {env}"
        );
    }
    // The secret's value is not in the job, the run or the history.
    for path in [
        "/service/metronome/v1/jobs/env?embed=history&embed=activeRuns",
        "/mesos/master/state.json",
    ] {
        let body = api.call("GET", path, None).body;
        assert!(!body.contains("s3cret"), "{path}: {body}");
    }
}

#[test]
fn a_missing_secret_fails_the_run_before_anything_runs() {
    let sim = exec_sim(None);
    let api = Api::new(&sim);
    let marker = tempfile::tempdir().unwrap();
    let ran = marker.path().join("ran");
    api.add_job(
        "nosecret",
        json!({
            "cmd": format!("touch {}", ran.display()),
            "env": {"PW": {"secret": "pw"}},
            "secrets": {"pw": {"source": "team/missing"}},
        }),
    );
    let run = api.run("nosecret");
    let ended = api.wait_end("nosecret", &run);
    assert!(!ended.success);
    let message = ended.message();
    assert!(
        message.contains("Failed to resolve secret 'pw' (source 'team/missing')")
            && message.contains("'PW'"),
        "{message}"
    );
    assert_eq!(ended.entry["tasks"], json!([]), "{:?}", ended);
    assert!(!ran.exists(), "the command ran");
    // Once the secret exists, the same job runs.
    sim.put_secret("team/missing", "here").unwrap();
    let run = api.run("nosecret");
    assert!(api.wait_end("nosecret", &run).success);
    assert!(ran.exists());
}

#[test]
fn the_time_limit_kills_the_process_group() {
    let sim = exec_sim(None);
    let api = Api::new(&sim);
    api.add_job(
        "slow",
        json!({
            "cmd": "sleep 1000 & echo $! > child.pid; echo $$ > sh.pid; wait",
            "restart": {"policy": "NEVER", "activeDeadlineSeconds": 1},
        }),
    );
    // A command that ignores SIGTERM is killed after the grace.
    api.add_job(
        "stubborn",
        json!({
            "cmd": "trap '' TERM; sleep 1000 & echo $! > child.pid; echo $$ > sh.pid; wait",
            "restart": {"policy": "NEVER", "activeDeadlineSeconds": 1},
            "taskKillGracePeriodSeconds": 1,
        }),
    );
    for job in ["slow", "stubborn"] {
        let run = api.run(job);
        let task = api.active_task(job, &run);
        let pids = pids(&api, &task);
        let ended = api.wait_end(job, &run);
        assert!(!ended.success, "{job}");
        assert!(
            ended
                .message()
                .contains("time limit of 1 s (run.restart.activeDeadlineSeconds)"),
            "{job}: {:?}",
            ended
        );
        wait_gone(&pids);
        let master = api.call("GET", "/mesos/master/state.json", None).json();
        let killed = master["frameworks"][0]["completed_tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == task.as_str())
            .cloned()
            .unwrap();
        assert_eq!(killed["state"], "TASK_KILLED", "{job}");
    }
}

#[test]
fn a_stop_kills_the_process_group() {
    let sim = exec_sim(None);
    let api = Api::new(&sim);
    api.add_job("hold", json!({"cmd": HOLD}));
    let run = api.run("hold");
    let task = api.active_task("hold", &run);
    let pids = pids(&api, &task);
    let stop = api.call(
        "POST",
        &format!("/service/metronome/v1/jobs/hold/runs/{run}/actions/stop"),
        None,
    );
    assert_eq!(stop.status, 200, "{}", stop.body);
    assert_eq!(stop.json()["id"], run.as_str());
    let ended = api.wait_end("hold", &run);
    assert!(!ended.success);
    assert_eq!(ended.message(), "Task killed: the run was stopped");
    wait_gone(&pids);
    let job = api
        .call("GET", "/service/metronome/v1/jobs/hold?embed=history", None)
        .json();
    assert_eq!(job["history"]["failureCount"], 1);
}

#[test]
fn deleting_a_job_with_its_runs_kills_them() {
    let sim = exec_sim(None);
    let api = Api::new(&sim);
    api.add_job("hold", json!({"cmd": HOLD}));
    let run = api.run("hold");
    let task = api.active_task("hold", &run);
    let pids = pids(&api, &task);
    let refused = api.call("DELETE", "/service/metronome/v1/jobs/hold", None);
    assert_eq!(refused.status, 409);
    let deleted = api.call(
        "DELETE",
        "/service/metronome/v1/jobs/hold?stopCurrentJobRuns=true",
        None,
    );
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    wait_gone(&pids);
    wait_until(LIMIT, "the task to be recorded as killed", || {
        let master = api.call("GET", "/mesos/master/state.json", None).json();
        master["frameworks"][0]["completed_tasks"][0]["state"] == "TASK_KILLED"
    });
}

#[test]
fn logs_are_readable_through_the_files_api_and_dcos_log() {
    let sim = exec_sim(None);
    let api = Api::new(&sim);
    api.add_job(
        "logs",
        json!({"cmd": "for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2; \
                       head -c 17000000 /dev/zero | tr '\\0' x > big.txt; cat big.txt >&2"}),
    );
    let run = api.run("logs");
    let ended = api.wait_end("logs", &run);
    assert!(ended.success, "{:?}", ended);
    let task = ended.task();
    assert_eq!(
        api.read(&task, "stdout"),
        "line 1\nline 2\nline 3\nline 4\nline 5\n"
    );
    let (agent, dir) = api.sandbox(&task);

    // offset -1: the size, no data.
    let size = api
        .call(
            "GET",
            &format!(
                "/agent/{agent}/files/read?path={}&offset=-1",
                encode(&format!("{dir}/stdout"))
            ),
            None,
        )
        .json();
    assert_eq!(size, json!({"data": "", "offset": 35}));
    // A slice, through Admin Router's older /slave/ path and read.json.
    let slice = api
        .call(
            "GET",
            &format!(
                "/slave/{agent}/files/read.json?path={}&offset=7&length=6",
                encode(&format!("{dir}/stdout"))
            ),
            None,
        )
        .json();
    assert_eq!(slice, json!({"data": "line 2", "offset": 7}));
    // Paths outside a sandbox are not served.
    let outside = api.call(
        "GET",
        &format!("/agent/{agent}/files/read?path=/etc/passwd&offset=0"),
        None,
    );
    assert_eq!(outside.status, 404);

    // stderr is cut at 16 MiB, with a note.
    let stderr = api.read(&task, "stderr");
    assert!(stderr.starts_with("oops\nxxx"), "{}", &stderr[..20]);
    let cap = 16 * 1024 * 1024;
    assert!(
        stderr.len() > cap && stderr.len() < cap + 200,
        "{}",
        stderr.len()
    );
    assert!(
        stderr.ends_with("a sandbox keeps 16 MiB of each stream]\n"),
        "{}",
        &stderr[stderr.len() - 100..]
    );

    let listing = api
        .call(
            "GET",
            &format!("/agent/{agent}/files/browse?path={}", encode(&dir)),
            None,
        )
        .json();
    let names: Vec<&str> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(names, ["big.txt", "stderr", "stdout"]);
    assert_eq!(listing[2]["size"], 35);

    // dcos-log v2, as `dcos task log` reads it: a redirect to the task's
    // file, then its last lines as text.
    let tail = api.call(
        "GET",
        &format!("/system/v1/logs/v2/task/{task}/file/stdout?cursor=END&skip=-2"),
        None,
    );
    assert_eq!(tail.status, 200, "{}", tail.body);
    assert_eq!(tail.body, "line 4\nline 5\n");
    let head = api.call(
        "GET",
        &format!("/system/v1/logs/v2/task/{task}?limit=1"),
        None,
    );
    assert_eq!(head.body, "line 1\n");
    let unknown = api.call("GET", "/system/v1/logs/v2/task/nope/file/stdout", None);
    assert_eq!(unknown.status, 500, "{}", unknown.body);
}

#[test]
fn the_runner_path_comes_first_on_path() {
    let runner = tempfile::tempdir().unwrap();
    let canary = runner.path().join("canary");
    std::fs::write(&canary, "#!/bin/sh\necho \"runner canary $*\"\n").unwrap();
    std::fs::set_permissions(&canary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = runner.path().canonicalize().unwrap();
    let sim = exec_sim(Some(dir.clone()));
    let api = Api::new(&sim);
    api.add_job(
        "runner",
        json!({"cmd": "canary deploy --app testapp; command -v canary; echo \"$PATH\""}),
    );
    let run = api.run("runner");
    let ended = api.wait_end("runner", &run);
    assert!(ended.success, "{:?}", ended);
    let dir = dir.display();
    assert_eq!(
        api.read(&ended.task(), "stdout"),
        format!(
            "runner canary deploy --app testapp\n{dir}/canary\n\
             {dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        )
    );
}

#[test]
fn hooks_win_over_execution() {
    let sim = exec_sim(None);
    let api = Api::new(&sim);
    let marker = tempfile::tempdir().unwrap();
    let hooked = marker.path().join("hooked");
    let executed = marker.path().join("executed");
    sim.set_run_hook_for_label(
        "canary",
        "zdd",
        Arc::new(|_| RunPlan::success(Duration::from_secs(5))),
    );
    let reply = api.call(
        "POST",
        "/service/metronome/v1/jobs",
        Some(&json!({"id": "hooked", "labels": {"canary": "zdd"},
                     "run": {"cmd": format!("touch {}", hooked.display()),
                             "cpus": 0.1, "mem": 32, "disk": 0}})),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    api.add_job(
        "plain",
        json!({"cmd": format!("touch {}", executed.display())}),
    );
    let hooked_run = api.run("hooked");
    let plain_run = api.run("plain");
    assert!(api.wait_end("plain", &plain_run).success);
    assert!(executed.exists());
    // The hooked run follows its plan on the clock and executes nothing.
    assert!(api.active_run("hooked", &hooked_run).is_some());
    sim.advance(Duration::from_secs(5));
    let ended = api.wait_end("hooked", &hooked_run);
    assert!(ended.success);
    assert!(ended.entry.get("message").is_none(), "{:?}", ended);
    assert!(!hooked.exists(), "the hooked run executed");
    let master = api.call("GET", "/mesos/master/state.json", None).json();
    assert_eq!(
        master["frameworks"][0]["completed_tasks"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "only the plain run is a Mesos task: {master}"
    );
}

#[test]
fn simulated_runs_execute_nothing() {
    let sim = SimHandle::start(SimConfig {
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .unwrap();
    let api = Api::new(&sim);
    let marker = tempfile::tempdir().unwrap();
    let ran = marker.path().join("ran");
    api.add_job("sim", json!({"cmd": format!("touch {}", ran.display())}));
    let run = api.run("sim");
    sim.advance(Duration::from_secs(10));
    let ended = api.wait_end("sim", &run);
    assert!(ended.success);
    assert!(!ran.exists());
    let master = api.call("GET", "/mesos/master/state.json", None).json();
    assert_eq!(master["frameworks"][0]["completed_tasks"], json!([]));
}

#[test]
fn what_is_not_emulated_fails_the_run_with_the_reason() {
    let sim = exec_sim(None);
    let api = Api::new(&sim);
    api.add_job("args", json!({"cmd": "true", "args": ["x"]}));
    api.add_job(
        "volumes",
        json!({"cmd": "true", "volumes": [{"containerPath": "data", "hostPath": "/tmp", "mode": "RO"}]}),
    );
    api.add_job("image", json!({"docker": {"image": "nginx"}}));
    for (job, why) in [
        ("args", "run.args is not emulated"),
        ("volumes", "run.volumes are not emulated"),
        ("image", "no run.cmd"),
    ] {
        let run = api.run(job);
        let ended = api.wait_end(job, &run);
        assert!(!ended.success, "{job}");
        assert!(ended.message().contains(why), "{job}: {:?}", ended);
    }
}

#[test]
fn at_most_16_runs_execute_at_once() {
    let sim = exec_sim(None);
    let api = Api::new(&sim);
    api.add_job("hold", json!({"cmd": HOLD}));
    let runs: Vec<String> = (0..16).map(|_| api.run("hold")).collect();
    let tasks: Vec<String> = runs.iter().map(|r| api.active_task("hold", r)).collect();
    assert_eq!(sim.executing_runs(), 16);
    let extra = api.run("hold");
    let ended = api.wait_end("hold", &extra);
    assert!(!ended.success);
    assert!(
        ended.message().contains("at most 16 runs execute at once"),
        "{:?}",
        ended
    );
    for task in &tasks {
        release(&api, task);
    }
    for run in &runs {
        assert!(api.wait_end("hold", run).success);
    }
    assert_eq!(sim.executing_runs(), 0);
}

#[test]
fn stopping_the_sim_kills_every_process_group_and_removes_the_sandboxes() {
    let sim = exec_sim(None);
    let api = Api::new(&sim);
    api.add_job("hold", json!({"cmd": HOLD}));
    let run = api.run("hold");
    let task = api.active_task("hold", &run);
    let pids = pids(&api, &task);
    let (_, sandbox) = api.sandbox(&task);
    drop(api);
    drop(sim);
    wait_gone(&pids);
    assert!(
        !std::path::Path::new(&sandbox).exists(),
        "{sandbox} is left"
    );
}
