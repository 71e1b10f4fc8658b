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
    assert_eq!(served(&steps[0], "nginx:1.25"), (200, 200));
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
    assert!(
        stdout.contains("marathon-lb counted 400 response(s) in backend testapp_10000"),
        "{stdout}"
    );
    // The rollout job: 4 of 4 on httpd.
    let green = app("/testapp-green", 4, 4, "httpd:2.4");
    assert_eq!(group(&steps[5]), std::slice::from_ref(&green));
    assert_eq!(served(&steps[5], "httpd:2.4"), (200, 200));
    // The broken canary: its deploy job fails (exit 7), the live app keeps
    // serving every request, the reason is in the job's log.
    assert_eq!(steps[7]["exit_code"], 7);
    assert_eq!(
        group(&steps[7]),
        [app("/testapp-blue", 1, 0, "broken:1"), green.clone()]
    );
    assert_eq!(served(&steps[7], "httpd:2.4"), (200, 200));
    assert!(
        stdout.contains("the canary /testapp-blue (broken:1) has 0 of 1 tasks healthy after 10s"),
        "{stdout}"
    );
    // The rollback job restores the app.
    assert_eq!(steps[8]["exit_code"], 0);
    assert_eq!(group(&steps[8]), std::slice::from_ref(&green));
    // The ladder with analysis under traffic: a canary failing a fifth of
    // its requests is rolled back (exit 10) and the group is as before;
    // every answer the traffic got was either a success or the canary's
    // own 500, none lost.
    assert_eq!(steps[9]["exit_code"], 10);
    assert_eq!(group(&steps[9]), std::slice::from_ref(&green));
    let (errors, total) = served(&steps[9], "httpd:errors-20, 500");
    assert!(errors > 0 && total > 1000, "{errors} of {total}");
    assert_eq!(served(&steps[9], "(failed").0, 0, "{report:#}");
    assert!(
        stdout.contains("the canary httpd:errors-20 failed its analysis at step 1 of 2"),
        "{stdout}"
    );
    // A good canary passes each step's windows and is rolled out; not one
    // request of the traffic failed.
    let next = app("/testapp-blue", 4, 4, "httpd:2.4.62");
    assert_eq!(steps[10]["exit_code"], 0);
    assert_eq!(group(&steps[10]), std::slice::from_ref(&next));
    let (good, total) = served(&steps[10], "httpd:2.4");
    assert_eq!(good, total, "{report:#}");
    assert!(served(&steps[10], "httpd:2.4.62").0 > 0);
    assert!(stdout.contains("step 2 of 2 (50%: 2 of 4): the canary passed its analysis"));
    assert_eq!(group(&steps[11]), [next]);
    assert!(stdout.contains("Every step did what it should (12 steps)."));
}
