//! `canary status` against dcos-sim: the deployment group before and after
//! a canary's deploy run, as a table and as JSON.
//!
//! The sim's clock is manual. The deploy job's run is played by a run hook
//! that does to Marathon what zdd.py's deploy does (start one instance of
//! the new version as the other colour, take one old instance away), so the
//! status shows the original README's "1 of 4".

mod common;

use dcos_sim::Cluster;
use dcos_sim::marathon::UpdateOptions;
use dcos_sim::metronome::{RunContext, RunPlan};
use dcos_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

fn canary(args: &[&str]) -> Output {
    let dcos_dir = tempfile::tempdir().unwrap();
    common::canary_in(args, dcos_dir.path(), &[])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn app(id: &str, colour: &str, image: &str, instances: u64, started_at: &str) -> Value {
    json!({
        "id": id, "instances": instances, "cpus": 0.1, "mem": 64,
        "container": {"type": "DOCKER", "docker": {"image": image}},
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/"}],
        "labels": {
            "HAPROXY_DEPLOYMENT_GROUP": "web",
            "HAPROXY_DEPLOYMENT_ALT_PORT": "10081",
            "HAPROXY_DEPLOYMENT_COLOUR": colour,
            "HAPROXY_DEPLOYMENT_STARTED_AT": started_at
        }
    })
}

/// What zdd.py's deploy (`--new-instances 1`) leaves: the new version as
/// `/web-green` with one instance, the old one scaled from 4 to 3.
fn deploy_like_zdd(ctx: &RunContext, cluster: &mut Cluster) -> RunPlan {
    let image = ctx.labels["canary.image"].clone();
    let canary = app(
        "/web-green",
        "green",
        &image,
        1,
        "2026-11-27T12:00:00.000001",
    );
    // Both calls launch (and kill) tasks at once, as Marathon would, not at
    // the next request.
    cluster
        .create_app(canary)
        .expect("the canary app is created");
    cluster
        .update_app(
            "/web",
            json!({"instances": 3}),
            UpdateOptions {
                partial: true,
                ..UpdateOptions::default()
            },
        )
        .expect("the old app is scaled down");
    RunPlan::success(Duration::from_secs(5))
}

#[test]
fn status_before_and_after_a_canary_deploy() {
    let sim = SimHandle::start(SimConfig {
        time_scale: 0.0,
        start_time_ms: Some(1_795_000_000_000),
        ..SimConfig::default()
    })
    .unwrap();
    let url = sim.dcos_url().to_owned();
    let status = |json: bool| {
        let mut args = vec!["status", "--app", "web", "--dcos-url", url.as_str()];
        if json {
            args.push("--json");
        }
        canary(&args)
    };

    // Nothing yet: no app, no jobs.
    let empty = ok(&status(false));
    assert!(empty.contains("no app of the group runs"), "{empty}");
    insta::assert_snapshot!("status_empty", empty);

    let live = app(
        "/web",
        "blue",
        "httpd:2.4.1",
        4,
        "2026-11-01T09:00:00.000001",
    );
    let reply = ureq::post(&format!("{url}/service/marathon/v2/apps"))
        .send_json(&live)
        .unwrap();
    assert_eq!(reply.status(), 201);
    sim.advance(Duration::from_secs(10));
    ok(&canary(&[
        "apply",
        "--app",
        "web",
        "--image",
        "httpd:2.4.2",
        "--dcos-url",
        &url,
    ]));

    let before = ok(&status(false));
    assert!(before.contains("no canary in progress"), "{before}");
    insta::assert_snapshot!("status_before_canary", before);
    let json: Value = serde_json::from_str(&ok(&status(true))).unwrap();
    assert_eq!(json["canary_in_progress"], false);
    assert_eq!(json["apps"][0]["role"], "stable");
    assert_eq!(json["apps"][0]["share_percent"], 100.0);
    assert_eq!(json["jobs"][0]["exists"], true);
    assert_eq!(json["jobs"][0]["last_run"], Value::Null);

    sim.set_cluster_run_hook_for_label("canary.phase", "deploy", Arc::new(deploy_like_zdd));
    ok(&canary(&[
        "run",
        "deploy",
        "--app",
        "web",
        "--dcos-url",
        &url,
    ]));
    // The run (5 s) and the canary's health (start 2 s + health 5 s).
    sim.advance(Duration::from_secs(10));

    let after = ok(&status(false));
    assert!(after.contains("canary in progress"), "{after}");
    assert!(after.contains("1 of 4 (25%)"), "{after}");
    assert!(after.contains("3 of 4 (75%)"), "{after}");
    insta::assert_snapshot!("status_after_canary", after);
    let json: Value = serde_json::from_str(&ok(&status(true))).unwrap();
    assert_eq!(json["canary_in_progress"], true);
    let roles: Vec<_> = json["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a["role"].as_str().unwrap()))
        .collect();
    assert_eq!(roles, [("/web", "previous"), ("/web-green", "canary")]);
    assert_eq!(json["apps"][1]["image"], "httpd:2.4.2");
    assert_eq!(json["apps"][1]["colour"], "green");
    assert_eq!(json["jobs"][0]["last_run"]["status"], "SUCCESS");
    insta::assert_json_snapshot!("status_after_canary_json", json);
}

#[test]
fn status_of_a_bad_app_name_or_unreachable_cluster_fails_with_its_code() {
    let out = canary(&[
        "status",
        "--app",
        "Web!",
        "--dcos-url",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--app"), "{}", text(&out.stderr));
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let out = canary(&[
        "status",
        "--app",
        "web",
        "--dcos-url",
        &url,
        "--retry-for",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("reading the status of web"),
        "{}",
        text(&out.stderr)
    );
}

/// Text from the cluster cannot drive the terminal: every control
/// character in ids, images and labels is printed as an escape in the
/// table, while `--json` keeps the exact strings.
#[test]
fn status_escapes_terminal_controls_from_the_cluster() {
    let sim = SimHandle::start(SimConfig {
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .unwrap();
    let url = sim.dcos_url().to_owned();
    let retitle = "\u{1b}]0;pwned\u{7}";
    let clear = "\u{1b}[2J\u{1b}[H";
    let image = format!("httpd:2.4{clear}");
    let mut live = app("/web", retitle, &image, 2, &format!("2026{clear}"));
    live["labels"]["HAPROXY_DEPLOYMENT_COLOUR"] = Value::from(format!("blue{retitle}\u{9b}31m"));
    let reply = ureq::post(&format!("{url}/service/marathon/v2/apps"))
        .send_json(&live)
        .unwrap();
    assert_eq!(reply.status(), 201);
    sim.advance(Duration::from_secs(10));

    let table = ok(&canary(&["status", "--app", "web", "--dcos-url", &url]));
    assert!(
        !table.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached the terminal: {table:?}"
    );
    assert!(table.contains("httpd:2.4\\u{1b}[2J\\u{1b}[H"), "{table}");
    assert!(
        table.contains("blue\\u{1b}]0;pwned\\u{7}\\u{9b}31m"),
        "{table}"
    );
    let json: Value = serde_json::from_str(&ok(&canary(&[
        "status",
        "--app",
        "web",
        "--dcos-url",
        &url,
        "--json",
    ])))
    .unwrap();
    assert_eq!(json["apps"][0]["image"], image.as_str());
    assert_eq!(
        json["apps"][0]["colour"],
        format!("blue{retitle}\u{9b}31m").as_str()
    );
}

/// `--sample N` sends N requests through the group's marathon-lb frontend
/// (the sim's emulated one, with HAProxy's counters) and shows the split
/// those counters saw: with 3 old tasks and 1 canary behind round robin,
/// exactly 1 in 4 on each of the two instances.
#[test]
fn sample_shows_the_split_marathon_lb_counted_next_to_the_instance_split() {
    let binds: Vec<std::net::SocketAddr> = (0..2)
        .map(|_| std::net::SocketAddr::from((common::unique_loopback(), 0)))
        .collect();
    let sim = SimHandle::start(SimConfig {
        time_scale: 20.0,
        lb_binds: binds,
        ..SimConfig::default()
    })
    .unwrap();
    let lbs: Vec<&str> = sim
        .lb_urls()
        .iter()
        .flat_map(|u| ["--marathon-lb", u.as_str()])
        .collect();
    let phase = |image: &str| {
        let mut args = vec![
            "deploy",
            "--app",
            "testapp",
            "--image",
            image,
            "--dcos-url",
            sim.dcos_url(),
        ];
        args.extend(&lbs);
        ok(&canary(&args))
    };
    phase("nginx:1.25");
    phase("httpd:2.4");
    let mut args = vec![
        "status",
        "--app",
        "testapp",
        "--sample",
        "400",
        "--json",
        "--dcos-url",
        sim.dcos_url(),
    ];
    args.extend(&lbs);
    let status: Value = serde_json::from_str(&ok(&canary(&args))).unwrap();
    let sample = &status["sample"];
    assert_eq!(sample["sent"], 400, "{sample:#}");
    assert_eq!(
        (sample["ok"].as_u64(), sample["failed"].as_u64()),
        (Some(400), Some(0))
    );
    assert_eq!(sample["frontends"].as_array().unwrap().len(), 2);
    let observed = &sample["observed"];
    assert_eq!(observed["backend"], "testapp_10000");
    assert_eq!(observed["lbs_read"], 2);
    let served = |id: &str| {
        observed["by_app"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["app_id"] == id)
            .and_then(|a| a["responses"].as_u64())
    };
    assert_eq!(served("/testapp-blue"), Some(300), "{observed:#}");
    assert_eq!(served("/testapp-green"), Some(100), "{observed:#}");

    args.retain(|a| *a != "--json");
    let table = ok(&canary(&args));
    assert!(
        table.contains("sample: 400 request(s) to http://"),
        "{table}"
    );
    assert!(
        table.contains(
            "marathon-lb counted 400 response(s) in backend testapp_10000 on 2 instance(s)"
        ),
        "{table}"
    );
    let green = table
        .lines()
        .rfind(|l| l.starts_with("/testapp-green"))
        .unwrap();
    assert!(
        green.contains("1 of 4 (25%)") && green.ends_with("100 of 400 (25%)"),
        "{table}"
    );
}
