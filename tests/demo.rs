//! `canary demo` end to end: the story on an in-process dcos-sim whose jobs
//! really run this canary. The demo checks each step itself; this test
//! checks the cluster state its report recorded after every step, so a demo
//! that printed the right words over the wrong cluster would fail here.

mod common;

use serde_json::Value;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `(id, instances, healthy, image)` of a step's group.
fn group(step: &Value) -> Vec<(String, u64, u64, String)> {
    step["group"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["instances"].as_u64().unwrap(),
                a["healthy"].as_u64().unwrap(),
                a["image"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn app(id: &str, instances: u64, healthy: u64, image: &str) -> (String, u64, u64, String) {
    (id.to_owned(), instances, healthy, image.to_owned())
}

/// The responses of a step's sample served by `image`, and all of them.
fn served(step: &Value, image: &str) -> (u64, u64) {
    let responses = step["responses"].as_array().unwrap();
    let count = |keep: &dyn Fn(&str) -> bool| {
        responses
            .iter()
            .filter(|r| keep(r[0].as_str().unwrap()))
            .map(|r| r[1].as_u64().unwrap())
            .sum()
    };
    (count(&|k| k.starts_with(image)), count(&|_| true))
}

#[test]
fn the_demo_plays_the_whole_story_and_each_step_leaves_the_cluster_as_it_should() {
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let dcos_dir = tempfile::tempdir().unwrap();
    let out = common::canary_in(
        &["demo", "--report", report_path.to_str().unwrap()],
        dcos_dir.path(),
        &[],
    );
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 12, "{report:#}");
    assert!(steps.iter().all(|s| s["ok"] == true), "{report:#}");
    let blue_old = app("/testapp-blue", 4, 4, "nginx:1.25");
    assert_eq!(group(&steps[0]), std::slice::from_ref(&blue_old));
    assert_eq!(served(&steps[0], "nginx:1.25"), (1000, 1000));
    // render and apply change nothing on Marathon.
    assert_eq!(group(&steps[1]), std::slice::from_ref(&blue_old));
    assert_eq!(group(&steps[2]), [blue_old]);
    assert!(
        steps[1]["command"]
            .as_str()
            .unwrap()
            .contains("--runner native")
    );
    // The deploy job: 1 of 4, and about 1 in 4 responses from httpd.
    assert_eq!(
        group(&steps[3]),
        [
            app("/testapp-blue", 3, 3, "nginx:1.25"),
            app("/testapp-green", 1, 1, "httpd:2.4")
        ]
    );
    let (httpd, total) = served(&steps[3], "httpd:2.4");
    let share = httpd as f64 / total as f64;
    assert!((share - 0.25).abs() <= 0.05, "{httpd} of {total}");
    // marathon-lb's own counters saw the sample and the background
    // requests (other clients' requests included, status says).
    assert!(
        stdout.contains("sample: 400 request(s) to ")
            && stdout.contains(" response(s) in backend testapp_10000 on 2 instance(s) meanwhile"),
        "{stdout}"
    );
    // The rollout job: 4 of 4 on httpd.
    let green = app("/testapp-green", 4, 4, "httpd:2.4");
    assert_eq!(group(&steps[5]), std::slice::from_ref(&green));
    assert_eq!(served(&steps[5], "httpd:2.4"), (1000, 1000));
    // The broken canary: its deploy job fails (exit 7), the live app keeps
    // serving every request, the reason is in the job's log.
    assert_eq!(steps[7]["exit_code"], 7);
    assert_eq!(
        group(&steps[7]),
        [app("/testapp-blue", 1, 0, "broken:1"), green.clone()]
    );
    assert_eq!(served(&steps[7], "httpd:2.4"), (1000, 1000));
    assert!(
        stdout.contains("the canary /testapp-blue (broken:1) has 0 of 1 tasks healthy after 10s"),
        "{stdout}"
    );
    // The rollback job restores the app.
    assert_eq!(steps[8]["exit_code"], 0);
    assert_eq!(group(&steps[8]), std::slice::from_ref(&green));
    // The ladder with analysis: a canary failing a fifth of its requests
    // is rolled back (exit 10) and the group is as before; the background
    // requests meanwhile were answered by a version every time (its own
    // 500s are the canary's), none lost.
    assert_eq!(steps[9]["exit_code"], 10);
    assert_eq!(group(&steps[9]), std::slice::from_ref(&green));
    let (answers, errors) = traffic_of(&steps[9], "httpd:errors-20");
    assert!(
        errors > 0 && answers > errors,
        "{answers} answers, {errors} 5xx"
    );
    assert!(
        stdout.contains("the canary httpd:errors-20 failed its analysis at step 1 of 2"),
        "{stdout}"
    );
    // A good canary passes each step's analysis and is rolled out.
    let next = app("/testapp-blue", 4, 4, "httpd:2.4.62");
    assert_eq!(steps[10]["exit_code"], 0);
    assert_eq!(group(&steps[10]), std::slice::from_ref(&next));
    assert_eq!(traffic_of(&steps[10], "httpd:2.4").1, 0, "{report:#}");
    assert!(traffic_of(&steps[10], "httpd:2.4.62").0 > 0);
    assert!(stdout.contains("step 2 of 2 (50%: 2 of 4): the canary passed its analysis"));
    assert_eq!(group(&steps[11]), [next]);
    // The final status says on its own why its jobs are another image's.
    assert!(
        stdout.contains("note: the jobs are for broken:1, which no app of the group runs"),
        "{stdout}"
    );
    // The claim: from the second step on requests flowed through both
    // frontends, and not one was lost, in any step.
    for step in &steps[1..] {
        let t = &step["traffic"];
        assert!(t["requests"].as_u64().unwrap() > 0, "{step:#}");
        assert_eq!(t["lost"], 0, "{step:#}");
    }
    let claim = report["claims"][0].as_str().unwrap();
    assert!(
        claim.contains(" requests through marathon-lb during the demo, 0 lost"),
        "{claim}"
    );
    // The output reads in the order things happened: each step's command,
    // then what it does, its output, then the check; a result after the
    // actions that made it.
    let step4 = &stdout[stdout.find("── step 4").unwrap()..stdout.find("── step 5").unwrap()];
    let at = |text: &str| {
        step4
            .find(text)
            .unwrap_or_else(|| panic!("{text} in {step4}"))
    };
    assert!(at("$ canary run deploy") < at("what it does: "));
    assert!(at("what it does: ") < at("checked on the cluster: ✓ exit 0"));
    let step1 = &stdout[..stdout.find("── step 2").unwrap()];
    assert!(
        step1.find("create /testapp-blue").unwrap()
            < step1.find("deploy of group testapp done").unwrap(),
        "{step1}"
    );
    // The closing table, then the last line.
    assert!(
        stdout.contains("\n step  exit  checks  what it did\n"),
        "{stdout}"
    );
    assert!(stdout.contains("Every step did what it should (12 steps)."));
    // Every check is data, not debug text.
    for step in steps {
        for check in step["checks"].as_array().unwrap() {
            assert_eq!(check["ok"], true, "{check}");
            assert!(!check["what"].as_str().unwrap().contains("(\""), "{check}");
        }
    }
}

/// A step's background requests answered by `image`: (answers, of them
/// 5xx).
fn traffic_of(step: &Value, image: &str) -> (u64, u64) {
    step["traffic"]["by_image"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row[0] == image)
        .map(|row| (row[1].as_u64().unwrap(), row[2].as_u64().unwrap()))
        .fold((0, 0), |(a, e), (n, x)| (a + n, e + x))
}

/// The processes (other than this test's) whose environment holds `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()) && *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| String::from_utf8_lossy(&env).contains(marker))
        })
        .collect()
}

/// Ctrl-C during a step: the step's child `canary` is stopped, the
/// simulated cluster and the demo's temporary files are removed, and the
/// demo ends by the signal (before the fix its directory stayed behind
/// and its children ran on against the stopped sim).
#[test]
fn ctrl_c_stops_the_demo_and_leaves_nothing_behind() {
    use std::os::unix::process::ExitStatusExt;
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().to_str().unwrap().to_owned();
    let dcos_dir = tempfile::tempdir().unwrap();
    let mut command = common::canary_command(&["demo", "--no-haproxy"], dcos_dir.path(), &[]);
    command.env("TMPDIR", tmp.path());
    let mut demo = common::Running::start(command);
    // Once the fourth step (a child `canary` that waits on the cluster)
    // has begun.
    demo.wait_for("── step 4", std::time::Duration::from_secs(120));
    let pid = demo.pid();
    send_signal(pid, "INT");
    let (status, said) = demo.finish_status(std::time::Duration::from_secs(60));
    assert_eq!(
        status.signal(),
        Some(2),
        "ended by SIGINT: {status:?}\n{said}"
    );
    assert!(said.contains("stopped during step"), "{said}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "the demo's files stayed: {left:?}");
    assert_eq!(
        processes_with(&marker),
        Vec::<String>::new(),
        "processes outlived the demo"
    );
}

/// Sends SIGNAL to `pid` with kill(1).
fn send_signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
