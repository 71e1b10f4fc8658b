//! `canary deploy`, `canary rollout` and `canary rollback` through the
//! binary against dcos-sim (cluster time 20 times real time, two
//! marathon-lb instances on 127.0.0.2 and 127.0.0.3): the original README's
//! story, natively, with no zdd.py, then the refusals and failures a user
//! meets, each with its exit code, checked on the sim's state and records.

mod common;

use dcos_sim::{SimConfig, SimHandle};
use serde_json::Value;
use std::process::Output;
use std::time::Duration;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sim() -> SimHandle {
    SimHandle::start(SimConfig {
        time_scale: 20.0,
        lb_binds: vec![
            "127.0.0.2:0".parse().unwrap(),
            "127.0.0.3:0".parse().unwrap(),
        ],
        ..SimConfig::default()
    })
    .expect("the sim starts")
}

/// The binary with `args` against `sim`: its DC/OS URL, every
/// marathon-lb, a short retry budget.
fn canary(sim: &SimHandle, args: &[&str]) -> Output {
    let dcos_dir = tempfile::tempdir().unwrap();
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.extend([
        "--dcos-url".to_owned(),
        sim.dcos_url().to_owned(),
        "--retry-for".into(),
        "5s".into(),
    ]);
    if ["deploy", "rollout", "rollback", "promote", "analyze"].contains(&args[0]) {
        for lb in sim.lb_urls() {
            all.extend(["--marathon-lb".to_owned(), lb.clone()]);
        }
    }
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    common::canary_in(&all, dcos_dir.path(), &[])
}

fn ok(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    text(&out.stdout)
}

/// `(id, instances, image)` of the sim's apps, by id.
fn apps(sim: &SimHandle) -> Vec<(String, u64, String)> {
    common::app_triples(sim.dcos_url(), None)
}

fn deploy(sim: &SimHandle, image: &str, extra: &[&str]) -> Output {
    let mut args = vec!["deploy", "--app", "testapp", "--image", image];
    args.extend_from_slice(extra);
    canary(sim, &args)
}

#[test]
fn the_readme_story_natively_deploy_rollout_and_a_rolled_back_canary() {
    let sim = sim();
    let first = ok(&deploy(&sim, "nginx:1.25", &[]));
    assert!(first.contains("deploy of group testapp done"), "{first}");
    assert_eq!(
        apps(&sim),
        [("/testapp-blue".into(), 4, "nginx:1.25".into())]
    );

    let out = deploy(&sim, "httpd:2.4", &[]);
    let done = ok(&out);
    assert!(
        done.contains("/testapp-green at 1 (httpd:2.4), /testapp-blue at 3 (nginx:1.25)"),
        "{done}"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("deploy testapp: create /testapp-green"),
        "one line per step: {stderr}"
    );
    assert!(
        stderr.contains("kill 1 drained task(s) of /testapp-blue"),
        "{stderr}"
    );
    assert_eq!(
        apps(&sim),
        [
            ("/testapp-blue".into(), 3, "nginx:1.25".into()),
            ("/testapp-green".into(), 1, "httpd:2.4".into())
        ]
    );
    // Both versions are in marathon-lb's backend, none MAINT.
    let stats: String = ureq::get(&format!("{}/haproxy?stats;csv", sim.lb_urls()[1]))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let servers: Vec<&str> = stats
        .lines()
        .filter(|l| {
            l.starts_with("testapp_10000,") && !l.contains(",FRONTEND,") && !l.contains(",BACKEND,")
        })
        .collect();
    assert_eq!(servers.len(), 4, "{stats}");
    assert!(servers.iter().all(|l| l.contains(",UP,")), "{stats}");

    let status = ok(&canary(&sim, &["status", "--app", "testapp"]));
    assert!(
        status.contains("1 of 4 (25%)") && status.contains("3 of 4 (75%)"),
        "{status}"
    );

    let rolled = ok(&canary(&sim, &["rollout", "--app", "testapp"]));
    assert!(rolled.contains("rolled out"), "{rolled}");
    assert_eq!(
        apps(&sim),
        [("/testapp-green".into(), 4, "httpd:2.4".into())]
    );

    ok(&deploy(&sim, "httpd:2.5", &[]));
    let back = ok(&canary(&sim, &["rollback", "--app", "testapp"]));
    assert!(back.contains("rolled back"), "{back}");
    assert_eq!(
        apps(&sim),
        [("/testapp-green".into(), 4, "httpd:2.4".into())]
    );
    let kills = sim.kill_log();
    assert!(
        kills
            .records
            .iter()
            .all(|k| !k.had_traffic() && !k.was_serving()),
        "{kills:?}"
    );
}

#[test]
fn refusals_failures_and_dry_runs_have_their_exit_codes() {
    let sim = sim();
    // No canary in progress: refused, nothing changed.
    let out = canary(&sim, &["rollout", "--app", "testapp"]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("has no app"),
        "{}",
        text(&out.stderr)
    );

    ok(&deploy(&sim, "nginx:1.25", &[]));
    // A dry run says what it would do and does nothing.
    let plan = ok(&deploy(&sim, "httpd:2.4", &["--dry-run"]));
    assert!(
        plan.contains("next step: create /testapp-green (1 instance(s) of httpd:2.4)"),
        "{plan}"
    );
    assert_eq!(apps(&sim).len(), 1);

    // A canary that never gets healthy: removed, exit 7 with the reason.
    let out = deploy(&sim, "httpd:2.4-broken", &["--health-timeout", "20s"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("0 of 1 tasks healthy after 20s"),
        "{stderr}"
    );
    assert!(stderr.contains("the canary was removed"), "{stderr}");
    assert_eq!(
        apps(&sim),
        [("/testapp-blue".into(), 4, "nginx:1.25".into())]
    );

    // A second canary while one is in progress: refused.
    ok(&deploy(&sim, "httpd:2.4", &[]));
    let out = deploy(&sim, "httpd:2.5", &[]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("a canary is already in progress"),
        "{}",
        text(&out.stderr)
    );

    // A timeout stops the phase, resumable: exit 9 with the command.
    let out = canary(&sim, &["rollout", "--app", "testapp", "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "resume with: canary rollout --app testapp --group testapp --image httpd:2.4"
        ),
        "{stderr}"
    );
    let done = ok(&canary(
        &sim,
        &["rollout", "--app", "testapp", "--image", "httpd:2.4"],
    ));
    assert!(done.contains("rolled out"), "{done}");
    // A rerun after success is a no-op.
    let again = ok(&canary(
        &sim,
        &["rollout", "--app", "testapp", "--image", "httpd:2.4"],
    ));
    assert!(again.contains("0 change(s)"), "{again}");
}

#[test]
fn bad_flags_are_invalid_input_naming_the_flag() {
    let sim = SimHandle::start(SimConfig::default()).unwrap();
    let out = canary(
        &sim,
        &["rollout", "--app", "testapp", "--marathon-lb", "http://lb"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--marathon-lb"),
        "{}",
        text(&out.stderr)
    );
    let dcos_dir = tempfile::tempdir().unwrap();
    let out = common::canary_in(
        &[
            "render",
            "--app",
            "testapp",
            "--image",
            "httpd",
            "--marathon-lb",
            "http://a:1",
            "--marathon-lb",
            "http://b:1",
        ],
        dcos_dir.path(),
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the zdd.py jobs take one marathon-lb URL (2 given)"),
        "{}",
        text(&out.stderr)
    );
    let _ = Duration::ZERO;
}

/// `canary deploy --app-definition FILE` (what a native deploy job runs)
/// deploys the definition `canary render` wrote, exactly: the same group
/// state as rendering it again; a definition of another image, or one that
/// names a key twice, is refused naming the file.
#[test]
fn deploy_takes_a_rendered_app_definition() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("rendered");
    let dcos_dir = tempfile::tempdir().unwrap();
    let rendered = |image: &str| {
        let out = common::canary_in(
            &[
                "render",
                "--app",
                "testapp",
                "--image",
                image,
                "--out",
                out_dir.to_str().unwrap(),
            ],
            dcos_dir.path(),
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        out_dir.join("new-app-definition.json")
    };
    let sim = sim();
    let first = rendered("nginx:1.25");
    let first = first.to_str().unwrap().to_owned();
    ok(&deploy(&sim, "nginx:1.25", &["--app-definition", &first]));
    let canary_def = rendered("httpd:2.4");
    let canary_def = canary_def.to_str().unwrap().to_owned();
    ok(&deploy(
        &sim,
        "httpd:2.4",
        &["--app-definition", &canary_def],
    ));
    assert_eq!(
        apps(&sim),
        [
            ("/testapp-blue".into(), 3, "nginx:1.25".into()),
            ("/testapp-green".into(), 1, "httpd:2.4".into())
        ]
    );

    let out = deploy(&sim, "nginx:1.26", &["--app-definition", &canary_def]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!(
            "--app-definition '{canary_def}' runs image 'httpd:2.4', not --image 'nginx:1.26'"
        )),
        "{}",
        text(&out.stderr)
    );
    let twice = dir.path().join("twice.json");
    std::fs::write(&twice, r#"{"id": "/testapp", "id": "/other"}"#).unwrap();
    let out = deploy(
        &sim,
        "httpd:2.4",
        &["--app-definition", twice.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("twice.json"),
        "{}",
        text(&out.stderr)
    );
    let out = deploy(
        &sim,
        "httpd:2.4",
        &[
            "--app-definition",
            &canary_def,
            "--app-template",
            &canary_def,
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// A traffic ladder through the binary: `deploy --steps 1,50%` stops at
/// each step until `canary promote` (status shows the step), promote past
/// the last step rolls out; with `--pause` it climbs and rolls out by
/// itself; on an empty group it is refused.
#[test]
fn a_ladder_climbs_by_promote_or_by_itself_with_a_pause_and_rolls_back_from_any_step() {
    let sim = sim();
    let out = deploy(&sim, "nginx:1.25", &["--steps", "1,50%"]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("is empty: a first deploy creates the whole app"));
    ok(&deploy(&sim, "nginx:1.25", &[]));

    let first = ok(&deploy(&sim, "httpd:2.4", &["--steps", "1,50%"]));
    assert!(
        first.contains("step 1 of 2 (1: 1 of 4) reached: `canary promote --app testapp` goes on"),
        "{first}"
    );
    assert_eq!(
        apps(&sim),
        [
            ("/testapp-blue".into(), 3, "nginx:1.25".into()),
            ("/testapp-green".into(), 1, "httpd:2.4".into())
        ]
    );
    let status = ok(&canary(&sim, &["status", "--app", "testapp"]));
    assert!(
        status.contains("canary in progress, step 1 of 2 of the ladder 1,50% (1 of 4 instances)"),
        "{status}"
    );
    // Before any window, a marathon-lb that cannot be read is exit 5.
    let dcos_dir = tempfile::tempdir().unwrap();
    let out = common::canary_in(
        &[
            "analyze",
            "--app",
            "testapp",
            "--dcos-url",
            sim.dcos_url(),
            "--marathon-lb",
            "http://127.0.0.1:1",
        ],
        dcos_dir.path(),
        &[],
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no marathon-lb could be read (http://127.0.0.1:1"),
        "{}",
        text(&out.stderr)
    );
    // With --events json: stdout is JSON lines only, the human text on stderr.
    let out = canary(&sim, &["promote", "--app", "testapp", "--events", "json"]);
    let events: Vec<Value> = ok(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"phase_started"), "{kinds:?}");
    assert!(kinds.contains(&"step"), "{kinds:?}");
    assert_eq!(
        kinds[kinds.len() - 2..],
        ["phase_done", "done"],
        "{kinds:?}"
    );
    assert_eq!(events[0]["phase"], "rollout");
    assert_eq!(events[0]["goal"], 2);
    assert!(events.iter().all(|e| e["time_ms"].as_u64().is_some()));
    let second = text(&out.stderr);
    assert!(
        second.contains(
            "step 2 of 2 (50%: 2 of 4) reached: `canary promote --app testapp` rolls it out"
        ),
        "{second}"
    );
    assert_eq!(
        apps(&sim),
        [
            ("/testapp-blue".into(), 2, "nginx:1.25".into()),
            ("/testapp-green".into(), 2, "httpd:2.4".into())
        ]
    );
    let json: Value = serde_json::from_str(&ok(&canary(
        &sim,
        &["status", "--app", "testapp", "--json"],
    )))
    .unwrap();
    assert_eq!(json["ladder"]["reached"], 2);
    assert_eq!(json["ladder"]["counts"], serde_json::json!([1, 2]));
    let done = ok(&canary(&sim, &["promote", "--app", "testapp"]));
    assert!(done.contains("rollout of group testapp done"), "{done}");
    let out = canary(&sim, &["analyze", "--app", "testapp", "--interval", "1s"]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no canary in progress in deployment group testapp (1 app(s))"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        apps(&sim),
        [("/testapp-green".into(), 4, "httpd:2.4".into())]
    );

    // With a pause: every step, then the rollout, in one command.
    let all = ok(&deploy(
        &sim,
        "httpd:2.5",
        &["--steps", "1,50%", "--pause", "1s"],
    ));
    assert!(
        all.contains("step 1 of 2 (1: 1 of 4) reached; pausing 1s"),
        "{all}"
    );
    assert!(
        all.contains("the last; pausing 1s before the rollout"),
        "{all}"
    );
    assert_eq!(
        apps(&sim),
        [("/testapp-blue".into(), 4, "httpd:2.5".into())]
    );
    let out = canary(&sim, &["promote", "--app", "testapp"]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));

    // A rollback from the second step restores the previous app's count.
    ok(&deploy(&sim, "httpd:2.6", &["--steps", "1,50%"]));
    ok(&canary(&sim, &["promote", "--app", "testapp"]));
    assert_eq!(
        apps(&sim),
        [
            ("/testapp-blue".into(), 2, "httpd:2.5".into()),
            ("/testapp-green".into(), 2, "httpd:2.6".into())
        ]
    );
    let back = ok(&canary(&sim, &["rollback", "--app", "testapp"]));
    assert!(back.contains("rollback of group testapp done"), "{back}");
    assert_eq!(
        apps(&sim),
        [("/testapp-blue".into(), 4, "httpd:2.5".into())]
    );
}
