//! Phases against each other, through the binary and dcos-sim: parallel
//! `canary run`s leave one phase run going, parallel `canary apply`s of
//! different images never let a phase start on mixed jobs, and `status`
//! shows the mismatch.

mod common;

use dcos_sim::metronome::{RunContext, RunPlan};
use dcos_sim::{SimConfig, SimHandle};
use serde_json::Value;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn canary(args: &[&str]) -> Output {
    let dcos_dir = tempfile::tempdir().unwrap();
    common::canary_in(args, dcos_dir.path(), &[])
}

/// Starts every one of `commands` at once (each its own process) and
/// returns their outputs in order.
fn all_at_once(commands: Vec<Vec<String>>) -> Vec<Output> {
    let dcos_dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = commands
        .iter()
        .map(|args| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::canary_command(&args, dcos_dir.path(), &[])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("canary starts")
        })
        .collect();
    children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect()
}

fn apply_args(sim: &SimHandle, image: &str) -> Vec<String> {
    common::apply_web(sim.dcos_url(), image)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

fn status(sim: &SimHandle, extra: &[&str]) -> Output {
    let mut args = vec!["status", "--app", "web", "--dcos-url", sim.dcos_url()];
    args.extend_from_slice(extra);
    canary(&args)
}

fn run_deploy(sim: &SimHandle) -> Output {
    canary(&[
        "run",
        "deploy",
        "--app",
        "web",
        "--dcos-url",
        sim.dcos_url(),
    ])
}

fn sim_with_day_long_runs() -> SimHandle {
    // Real time: Metronome's createdAt tells the runs' ages apart.
    let sim = SimHandle::start(SimConfig {
        time_scale: 1.0,
        ..SimConfig::default()
    })
    .unwrap();
    sim.set_run_hook(Some(Arc::new(|_: &RunContext| {
        RunPlan::success(Duration::from_secs(86_400))
    })));
    sim
}

fn every_active_run(sim: &SimHandle) -> Vec<String> {
    ["deploy", "rollout", "rollback"]
        .iter()
        .flat_map(|phase| sim.active_run_ids(&format!("{phase}-web-canary")))
        .collect()
}

#[test]
fn of_four_runs_started_at_once_at_most_one_goes_on_and_the_others_exit_8() {
    let sim = sim_with_day_long_runs();
    let out = canary(
        &apply_args(&sim, "nginx:1.25")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for round in 0..5 {
        let run: Vec<String> = [
            "run",
            "deploy",
            "--app",
            "web",
            "--dcos-url",
            sim.dcos_url(),
        ]
        .map(str::to_owned)
        .to_vec();
        let outs = all_at_once(vec![run; 4]);
        let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
        let winners: Vec<&Output> = outs.iter().filter(|o| o.status.success()).collect();
        // Runs created in the same millisecond all stop: at most one wins.
        assert!(winners.len() <= 1, "round {round}: {codes:?}");
        for loser in outs.iter().filter(|o| !o.status.success()) {
            let stderr = text(&loser.stderr);
            assert_eq!(loser.status.code(), Some(8), "{stderr}");
            // Refused by the preflight, or started and stopped as the
            // younger of a race: either way it says why.
            assert!(
                stderr.contains("has an active run") || stderr.contains("was stopped: run "),
                "{stderr}"
            );
        }
        let active = every_active_run(&sim);
        assert_eq!(
            active.len(),
            winners.len(),
            "round {round}: only the winner's phase run goes on: {active:?}"
        );
        if let Some(winner) = winners.first() {
            let started = text(&winner.stdout);
            assert!(started.contains(&active[0]), "{started} vs {active:?}");
        }
        // Clear the way for the next round.
        let out = canary(&[
            "apply",
            "--app",
            "web",
            "--image",
            &format!("nginx:1.{round}"),
            "--dcos-url",
            sim.dcos_url(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(every_active_run(&sim).is_empty());
    }
}

fn job_images(sim: &SimHandle) -> Vec<String> {
    ["deploy", "rollout", "rollback"]
        .iter()
        .map(|phase| {
            let job = sim_job(sim, &format!("{phase}-web-canary"));
            job["labels"]["canary.image"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn sim_job(sim: &SimHandle, id: &str) -> Value {
    let token = sim.issue_token("bootstrapuser");
    agent()
        .get(&format!(
            "{}/service/metronome/v1/jobs/{id}",
            sim.dcos_url()
        ))
        .header("Authorization", &format!("token={token}"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

/// Replaces a job directly, as an apply of another image that stopped
/// after its first write leaves it.
fn relabel(sim: &SimHandle, id: &str, image: &str) {
    let mut job = sim_job(sim, id);
    job["labels"]["canary.image"] = Value::from(image);
    let token = sim.issue_token("bootstrapuser");
    let response = agent()
        .put(&format!(
            "{}/service/metronome/v1/jobs/{id}",
            sim.dcos_url()
        ))
        .header("Authorization", &format!("token={token}"))
        .send_json(&job)
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[test]
fn phases_refuse_jobs_that_disagree_on_the_image_and_status_shows_it() {
    let sim = sim_with_day_long_runs();
    let apply = |image: &str| {
        let args = apply_args(&sim, image);
        canary(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert_eq!(apply("nginx:1.25").status.code(), Some(0));
    relabel(&sim, "rollback-web-canary", "nginx:1.26");

    let out = run_deploy(&sim);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    assert!(
        stderr.contains(
            "the phase jobs disagree on the image they deploy (deploy-web-canary nginx:1.25, \
             rollout-web-canary nginx:1.25, rollback-web-canary nginx:1.26): apply the jobs again"
        ),
        "{stderr}"
    );
    assert!(every_active_run(&sim).is_empty(), "nothing started");

    let out = status(&sim, &[]);
    assert!(
        text(&out.stdout).contains("warning: the phase jobs deploy different images"),
        "{}",
        text(&out.stdout)
    );
    let out = status(&sim, &["--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["job_images_agree"], false);

    // Eight applies of different images at once: whatever they leave,
    // no phase starts unless the jobs agree.
    let outs = all_at_once(
        (0..8)
            .map(|i| apply_args(&sim, &format!("nginx:2.{i}")))
            .collect(),
    );
    for out in &outs {
        let code = out.status.code();
        assert!(
            matches!(code, Some(0) | Some(5)),
            "{code:?}: {}",
            text(&out.stderr)
        );
    }
    let images = job_images(&sim);
    let agree = images.iter().all(|i| *i == images[0]);
    let out = run_deploy(&sim);
    if agree {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    } else {
        assert_eq!(out.status.code(), Some(8), "{images:?}");
        assert!(text(&out.stderr).contains("disagree"));
    }

    // One more apply makes them agree again (stopping what runs).
    assert_eq!(apply("nginx:3.0").status.code(), Some(0));
    assert_eq!(job_images(&sim), ["nginx:3.0"; 3]);
    let out = run_deploy(&sim);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
