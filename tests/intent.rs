//! Operator intent through the binary against dcos-sim: a long command
//! (a paused ladder, an analysis) never acts on a group someone else moved
//! meanwhile, and says so with exit 12; a deploy never adopts another
//! image's canary or another ladder. Each case failed before the fix: the
//! paused ladder recreated a canary a rollback had removed and rolled it
//! out (exit 0); `promote` during the pause made it end with exit 8 and a
//! false "nothing was changed"; `deploy --analyze` judged and rolled back
//! another operator's canary (exit 10).

mod common;

use common::Running;
use common::sim_cli::{apps, canary, command, ended_with, live, ok, sim};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);

#[test]
fn a_paused_ladder_stops_when_someone_rolls_the_canary_back_and_never_undoes_it() {
    let sim = sim();
    live(&sim);
    let dir = tempfile::tempdir().unwrap();
    let mut deploy = Running::start(command(
        &sim,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "httpd:2.4",
            "--steps",
            "1,2,3",
            "--pause",
            "3s",
        ],
        dir.path(),
    ));
    deploy.wait_for("step 1 of 3 (1: 1 of 4) reached; pausing 3s", LIMIT);
    ok(&canary(&sim, &["rollback", "--app", "testapp"]));
    let (code, said) = deploy.finish(LIMIT);
    assert_eq!(code, Some(12), "{said}");
    assert!(
        said.contains("deployment group testapp was changed by someone else at step 1 of 3")
            && said.contains("/testapp-green (httpd:2.4) is gone"),
        "{said}"
    );
    // The rollback stands: the canary was not recreated, nothing rolled out.
    assert_eq!(
        apps(&sim),
        [("/testapp-blue".into(), 4, "nginx:1.25".into())]
    );
}

#[test]
fn a_paused_ladder_moved_on_by_promote_stops_saying_so() {
    let sim = sim();
    live(&sim);
    let dir = tempfile::tempdir().unwrap();
    let mut deploy = Running::start(command(
        &sim,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "httpd:2.4",
            "--steps",
            "1,2,3",
            "--pause",
            "3s",
        ],
        dir.path(),
    ));
    deploy.wait_for("reached; pausing 3s", LIMIT);
    let promoted = ok(&canary(&sim, &["promote", "--app", "testapp"]));
    assert!(promoted.contains("step 2 of 3"), "{promoted}");
    let (code, said) = deploy.finish(LIMIT);
    assert_eq!(code, Some(12), "{said}");
    assert!(
        said.contains("runs 2 instance(s), not the 1 this command left it at"),
        "{said}"
    );
    assert!(!said.contains("nothing was changed"), "{said}");
    // Left where the operator's promote put it.
    assert_eq!(
        apps(&sim),
        [
            ("/testapp-blue".into(), 2, "nginx:1.25".into()),
            ("/testapp-green".into(), 2, "httpd:2.4".into())
        ]
    );
}

#[test]
fn a_rollback_during_an_analysis_window_voids_it_and_the_analysis_stops() {
    let sim = sim();
    live(&sim);
    let dir = tempfile::tempdir().unwrap();
    let mut deploy = Running::start(command(
        &sim,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "httpd:2.4",
            "--analyze",
            "--interval",
            "2s",
            "--analysis",
            "windows",
            "--count",
            "3",
        ],
        dir.path(),
    ));
    deploy.wait_for("window 1 of 3", LIMIT);
    ok(&canary(&sim, &["rollback", "--app", "testapp"]));
    let (code, said) = deploy.finish(LIMIT);
    assert_eq!(code, Some(12), "{said}");
    assert!(said.contains("(window 1 is void)"), "{said}");
    assert!(!said.contains("left the canary as it is"), "{said}");
    assert_eq!(
        apps(&sim),
        [("/testapp-blue".into(), 4, "nginx:1.25".into())]
    );
}

#[test]
fn a_deploy_never_takes_another_images_canary_or_another_ladder_for_its_own() {
    let sim = sim();
    live(&sim);
    ok(&canary(
        &sim,
        &["deploy", "--app", "testapp", "--image", "httpd:2.4"],
    ));
    let before = apps(&sim);
    // Another image with --analyze: refused, the other canary untouched.
    let out = canary(
        &sim,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "httpd:2.5",
            "--analyze",
            "--interval",
            "1s",
        ],
    );
    ended_with(
        &out,
        8,
        "a canary of another image is in progress in deployment group testapp: /testapp-green runs httpd:2.4, not httpd:2.5",
    );
    assert_eq!(apps(&sim), before);
    // The same image with a ladder over a plain canary: refused (it would
    // climb without CANARY_STEPS, and promote would roll out at once).
    let out = canary(
        &sim,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "httpd:2.4",
            "--steps",
            "1,50%",
        ],
    );
    ended_with(&out, 8, "climbs no ladder (a plain canary");
    assert_eq!(apps(&sim), before);
    // A laddered canary, then another ladder: refused, naming the first.
    ok(&canary(&sim, &["rollback", "--app", "testapp"]));
    ok(&canary(
        &sim,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "httpd:2.4",
            "--steps",
            "1,50%",
        ],
    ));
    let laddered = apps(&sim);
    let out = canary(
        &sim,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "httpd:2.4",
            "--steps",
            "1,2,3",
        ],
    );
    ended_with(
        &out,
        8,
        "climbs the ladder 1,50% (resume it with --steps 1,50%",
    );
    assert_eq!(apps(&sim), laddered);
    // The same ladder goes on.
    let out = ok(&canary(
        &sim,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "httpd:2.4",
            "--steps",
            "1,50%",
        ],
    ));
    // (A rerun of the same ladder climbs on to the next step.)
    assert!(out.contains("step 2 of 2"), "{out}");
}

/// A hook that says it runs (`waiting`) and agrees once `go` exists: it
/// holds a phase at its first kill for as long as a test needs.
fn held_hook(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("hold.sh");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\ntouch {d}/waiting\nwhile [ ! -e {d}/go ]; do sleep 0.05; done\n",
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Phases racing: the one overtaken while its pre-kill hook ran (a
/// rollout overtaken by a rollback, a deploy by a rollout) stops with exit
/// 12, saying what it found, kills nothing more and never hints at
/// resuming itself. Before the fix the rollout killed a task of the app
/// the rollback had just restored and said "resume with: canary rollout
/// …" over a rolled-back group. (A rollback runs no hook: like zdd.py's,
/// it only deletes the drained canary.)
#[test]
fn phases_racing_end_with_one_outcome_and_no_wrong_resume_hint() {
    for (held, other, after) in [
        ("rollout", "rollback", ("/testapp-blue", 4, "nginx:1.25")),
        ("deploy", "rollout", ("/testapp-green", 4, "httpd:2.4")),
    ] {
        let sim = sim();
        live(&sim);
        if held == "rollout" {
            ok(&canary(
                &sim,
                &["deploy", "--app", "testapp", "--image", "httpd:2.4"],
            ));
        }
        let dir = tempfile::tempdir().unwrap();
        let hook = held_hook(dir.path());
        let running = Running::start(command(
            &sim,
            &[
                held,
                "--app",
                "testapp",
                "--image",
                "httpd:2.4",
                "--pre-kill-hook",
                hook.to_str().unwrap(),
            ],
            dir.path(),
        ));
        let waiting = dir.path().join("waiting");
        let deadline = std::time::Instant::now() + LIMIT;
        while !waiting.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "{held}: the hook never ran"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let before = sim.kill_log().records.len();
        ok(&canary(&sim, &[other, "--app", "testapp"]));
        let theirs = sim.kill_log().records.len();
        std::fs::write(dir.path().join("go"), "").unwrap();
        let (code, said) = running.finish(LIMIT);
        assert_eq!(code, Some(12), "{held}: {said}");
        assert!(
            said.contains(&format!(
                "{held} stopped: deployment group testapp was changed by someone else"
            )) && said.contains("it changed nothing more"),
            "{held}: {said}"
        );
        assert!(!said.contains("resume with"), "{held}: {said}");
        assert_eq!(
            sim.kill_log().records.len(),
            theirs,
            "{held} killed nothing after the hook (before it: {before})"
        );
        assert_eq!(
            apps(&sim),
            [(after.0.into(), after.1, after.2.into())],
            "{held}: the other's outcome stands"
        );
    }
}
