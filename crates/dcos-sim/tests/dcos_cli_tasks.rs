//! The real DC/OS CLI (dcoscli 0.6.1) reading the sandboxes of runs that
//! execute: `dcos task log [--completed]` (the Mesos master's state, then
//! dcos-log v2, which DC/OS 2.x advertises as `LOGGING_V2`), `dcos task ls`
//! (the agent's state and files API) and `dcos job history`. Ignored, with
//! the reason, where the CLI is not installed (see dcos_cli.rs).

mod common;

use common::cli::Dcos;
use common::jobs::{Api, exec_sim_with};
use dcos_sim::SimConfig;
use serde_json::json;

fn lines(range: std::ops::RangeInclusive<u32>) -> String {
    range.map(|i| format!("line {i}\n")).collect()
}

#[test]
#[cfg_attr(
    not(canary_dcos_cli),
    ignore = "needs the real dcos CLI (scripts/install-dcoscli.sh target/dcoscli-venv, or DCOS_CLI)"
)]
fn task_log_and_ls_read_a_runs_sandbox() {
    let dcos = Dcos::new();
    let sim = exec_sim_with(
        None,
        SimConfig {
            auth: true,
            ..SimConfig::default()
        },
    );
    dcos.setup(&sim).ok();
    let api = Api::authenticated(&sim);
    let job = json!({"id": "logs", "run": {
        "cmd": "for i in $(seq 1 12); do echo line $i; done; echo problem >&2; \
                while [ ! -e release ]; do sleep 0.02; done; exit 3",
        "cpus": 0.1, "mem": 32, "disk": 0}});
    let file = dcos.write_json("logs.json", &job);
    dcos.run(&["job", "add", &file]).ok();
    let started = dcos.run(&["job", "run", "logs", "--json"]);
    let run = started.ok().json()["id"].as_str().unwrap().to_owned();
    let task = api.active_task("logs", &run);
    api.wait_line(&task, "stderr");

    // While it runs: the last lines so far, by a part of the task id.
    let prefix = task.split('.').next().unwrap();
    let running = dcos.run(&["task", "log", "--lines=2", prefix]);
    assert_eq!(running.ok().stdout, "line 11\nline 12\n", "{running}");

    let (_, sandbox) = api.sandbox(&task);
    std::fs::write(format!("{sandbox}/release"), "").unwrap();
    let ended = api.wait_end("logs", &run);
    assert_eq!(ended.entry["exitCode"], 3, "{:?}", ended);

    let hint = dcos.run(&["task", "log", &task]);
    hint.fails_with("however, there is 1 matching completed task. Run with --completed");
    let log = dcos.run(&["task", "log", "--completed", &task]);
    assert_eq!(log.ok().stdout, lines(3..=12), "{log}");
    let stderr = dcos.run(&["task", "log", "--completed", "--lines=1", &task, "stderr"]);
    assert_eq!(stderr.ok().stdout, "problem\n", "{stderr}");

    let ls = dcos.run(&["task", "ls", "--completed", &task]);
    assert_eq!(ls.ok().stdout, "release  stderr  stdout\n", "{ls}");

    let history = dcos.run(&["job", "history", "logs", "--failures"]);
    let text = &history.ok().stdout;
    assert!(text.contains(&run), "{history}");
}
