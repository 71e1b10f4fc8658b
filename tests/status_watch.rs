//! `canary status --watch` against dcos-sim: a frame per refresh with the
//! group, the split marathon-lb counted since the last refresh and the
//! read-only analysis since the watch began; `--frames N` ends it, as
//! Ctrl-C does (exit 0: a watch ends by being stopped). It changes
//! nothing.

mod common;

use common::Running;
use common::sim_cli::{apps, canary, command, live, ok, sim, text};
use std::time::Duration;

#[test]
fn a_watch_refreshes_with_the_split_and_the_analysis_and_changes_nothing() {
    let sim = sim();
    live(&sim);
    ok(&canary(
        &sim,
        &["deploy", "--app", "testapp", "--image", "httpd:2.4"],
    ));
    let before = apps(&sim);
    let mut args = vec![
        "status", "--app", "testapp", "--watch", "--every", "1s", "--frames", "3",
    ];
    let lbs = sim.lb_urls();
    for lb in lbs {
        args.extend(["--marathon-lb", lb.as_str()]);
    }
    let out = canary(&sim, &args);
    let said = ok(&out);
    let frames: Vec<&str> = said
        .split("canary status --watch: refresh ")
        .skip(1)
        .collect();
    assert_eq!(frames.len(), 3, "{said}");
    assert!(
        frames[0].starts_with("1 (every 1s, 3 in all; Ctrl-C to stop)"),
        "{said}"
    );
    assert!(frames[0].contains("canary in progress"), "{said}");
    assert!(
        frames[0].contains("traffic split: counting from now"),
        "{said}"
    );
    for frame in &frames[1..] {
        assert!(
            frame.contains("since the last refresh marathon-lb counted"),
            "{frame}"
        );
        assert!(
            frame.contains("analysis since the watch began (read-only, sequential): read "),
            "{frame}"
        );
    }
    assert!(
        !said.contains("\x1b["),
        "no screen control codes when not on a terminal"
    );
    assert_eq!(apps(&sim), before, "a watch changes nothing");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn ctrl_c_ends_a_watch_with_exit_0() {
    let sim = sim();
    live(&sim);
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["status", "--app", "testapp", "--watch", "--every", "1s"];
    let lbs = sim.lb_urls();
    for lb in lbs {
        args.extend(["--marathon-lb", lb.as_str()]);
    }
    let mut watch = Running::start(command(&sim, &args, dir.path()));
    watch.wait_for("refresh 2 ", Duration::from_secs(60));
    let status = std::process::Command::new("kill")
        .args(["-INT", &watch.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (code, said) = watch.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{said}");
}
