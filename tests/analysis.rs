//! The traffic ladder and the canary analysis under load, through the
//! binary: dcos-sim whose marathon-lb instances each run a real HAProxy,
//! the load client through the group's frontend, and canary reading every
//! HAProxy's own per-server counters (`--events json` parsed line by line).
//! Image behaviours of dcos-sim make the canaries bad: `errors-20` answers
//! a fifth of requests with 500, `slow-50ms` answers 50 ms late.
//!
//! Compiled ignored, with the reason, where no haproxy was found at build
//! time (never under CI=true: `scripts/test` installs it).

mod common;

use common::haproxy::*;
use load_client::Outcome;
use serde_json::Value;

/// The verdicts (`pass`, `fail`, `inconclusive`) of the `verdict` events.
fn verdicts(events: &[Value]) -> Vec<String> {
    of_kind(events, "verdict")
        .iter()
        .map(|e| e["analysis"]["verdict"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn a_good_canary_passes_every_window_up_a_three_step_ladder_and_is_rolled_out() {
    let c = cluster(1);
    c.first_deploy();
    let load = steady_load(&c);
    load.mark("ladder");
    let out = c.phase(
        "deploy",
        &[
            "--image",
            NEW,
            "--steps",
            "1,50%,75%",
            "--analyze",
            "--interval",
            "2s",
            "--analysis",
            "windows",
            "--count",
            "2",
            "--min-requests",
            "50",
            "--events",
            "json",
        ],
    );
    eprintln!("{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let events = events(&out);
    let steps: Vec<u64> = of_kind(&events, "ladder_step")
        .iter()
        .map(|e| e["canary_instances"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [1, 2, 3], "the canary at 1, 2 and 3 of 4");
    assert_eq!(verdicts(&events), ["pass"; 6], "two windows a step");
    // Each verdict carries its numbers: both sides counted, no 5xx.
    for verdict in of_kind(&events, "verdict") {
        let a = &verdict["analysis"];
        assert!(a["canary"]["requests"].as_u64().unwrap() >= 50, "{a}");
        assert!(a["baseline"]["requests"].as_u64().unwrap() >= 50, "{a}");
        assert_eq!(a["canary"]["errors"], 0, "{a}");
    }
    let decisions: Vec<&Value> = of_kind(&events, "analysis_done")
        .iter()
        .map(|e| &e["decision"]["decision"])
        .collect();
    assert_eq!(decisions, ["promote"; 3]);
    let last = events.last().unwrap();
    assert_eq!(last["event"], "done");
    assert_eq!(last["exit_code"], 0);
    assert!(
        of_kind(&events, "phase_done")
            .iter()
            .any(|e| e["phase"] == "rollout"),
        "the ladder ends with the rollout"
    );
    assert_eq!(apps(&c), [("/testapp-green".into(), 4, NEW.into())]);
    load.mark("after");
    wait_for_requests(&load, 200);
    let report = load.stop();
    assert_none_lost(&report, "a 3-step ladder with analysis");
    assert_no_kill_before_drain(&c.sim);
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn a_canary_failing_a_fifth_of_requests_is_rolled_back_within_two_windows() {
    const BAD: &str = "httpd:errors-20";
    let c = cluster(1);
    c.first_deploy();
    let load = steady_load(&c);
    load.mark("canary");
    let out = c.phase(
        "deploy",
        &[
            "--image",
            BAD,
            "--analyze",
            "--interval",
            "2s",
            "--analysis",
            "windows",
            "--count",
            "5",
            "--min-requests",
            "50",
            "--events",
            "json",
        ],
    );
    let stderr = text(&out.stderr);
    eprintln!("{stderr}");
    assert_eq!(out.status.code(), Some(10), "{stderr}");
    assert!(
        stderr.contains("failed its analysis") && stderr.contains("it was rolled back"),
        "{stderr}"
    );
    assert!(
        stderr.contains("canary error rate"),
        "the numbers: {stderr}"
    );
    let events = events(&out);
    assert_eq!(verdicts(&events), ["fail", "fail"], "rolled back after two");
    for verdict in of_kind(&events, "verdict") {
        let rate = verdict["analysis"]["canary"]["error_rate"]
            .as_f64()
            .unwrap();
        assert!((0.1..=0.3).contains(&rate), "about 20%: {rate}");
        assert_eq!(verdict["analysis"]["baseline"]["errors"], 0);
    }
    assert!(
        of_kind(&events, "phase_done")
            .iter()
            .any(|e| e["phase"] == "rollback")
    );
    assert_eq!(events.last().unwrap()["exit_code"], 10);
    assert_eq!(apps(&c), [("/testapp-blue".into(), 4, OLD.into())]);

    load.mark("after");
    wait_for_requests(&load, 300);
    let report = load.stop();
    // Every request that did not succeed is one of the canary's own 500s:
    // none was lost to the rollback (reset, refused, timed out), and none
    // failed once the canary was gone.
    let summary = report.summary();
    eprintln!("{summary}");
    for record in report.failures() {
        assert_eq!(record.outcome, Outcome::ServerError, "{record:?}");
        assert!(
            record.version.as_deref().is_some_and(|v| v.ends_with(BAD)),
            "{record:?}"
        );
        assert_ne!(report.phase_of(record.start), "after", "{record:?}");
    }
    assert!(summary.failed() > 0, "the canary's 500s reached the client");
    assert_no_kill_before_drain(&c.sim);
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn a_two_times_slower_canary_fails_the_latency_check_and_analyze_changes_nothing() {
    const SLOW: &str = "httpd:slow-50ms";
    let c = cluster(1);
    c.first_deploy();
    c.ok("deploy", &["--image", SLOW]);
    // Every request asks for 50 ms: the baseline answers in about 50 ms,
    // the canary in about 100 ms.
    let load = c.load_with(0, 24, 1.0, 50);
    wait_for_requests(&load, 200);
    let out = c.canary(&[
        "analyze",
        "--app",
        "testapp",
        "--interval",
        "3s",
        "--analysis",
        "windows",
        "--count",
        "1",
        "--min-requests",
        "30",
        "--json",
    ]);
    let stderr = text(&out.stderr);
    eprintln!("{stderr}");
    assert_eq!(out.status.code(), Some(10), "{stderr}");
    let result: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(result["decision"]["decision"], "rollback", "{result:#}");
    let window = &result["windows"][0];
    assert_eq!(window["verdict"], "fail");
    let failed = window["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "only the latency: {window:#}");
    assert_eq!(failed[0]["check"], "max_latency_ratio");
    let ratio = failed[0]["value"].as_f64().unwrap();
    assert!((1.6..=2.6).contains(&ratio), "about 2: {ratio}");
    load.stop();
    // Read-only: the canary is where it was.
    assert_eq!(
        apps(&c),
        [
            ("/testapp-blue".into(), 3, OLD.into()),
            ("/testapp-green".into(), 1, SLOW.into())
        ]
    );
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn no_traffic_is_inconclusive_and_the_canary_is_left_as_it_is() {
    let c = cluster(1);
    c.first_deploy();
    let out = c.phase(
        "deploy",
        &[
            "--image",
            NEW,
            "--analyze",
            "--interval",
            "1s",
            "--analysis",
            "windows",
            "--count",
            "3",
            "--events",
            "json",
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(11), "{stderr}");
    assert!(stderr.contains("is inconclusive"), "{stderr}");
    let events = events(&out);
    assert_eq!(verdicts(&events), ["inconclusive"; 3]);
    let reasons = &of_kind(&events, "verdict")[0]["analysis"]["reasons"];
    assert!(
        reasons
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["reason"] == "too_few_requests"),
        "{reasons}"
    );
    assert!(
        of_kind(&events, "phase_done")
            .iter()
            .all(|e| e["phase"] == "deploy"),
        "no rollback"
    );
    assert_eq!(
        apps(&c),
        [
            ("/testapp-blue".into(), 3, OLD.into()),
            ("/testapp-green".into(), 1, NEW.into())
        ]
    );
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn reloads_during_the_windows_give_no_false_verdict() {
    let c = cluster(1);
    c.first_deploy();
    c.ok("deploy", &["--image", NEW]);
    let load = steady_load(&c);
    // First, the share of this traffic marathon-lb saw the canary serve
    // (status --observe sends nothing itself): 1 of 4 instances, 1 in 4.
    let out = c.canary(&["status", "--app", "testapp", "--observe", "2s", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let status: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let observed = &status["observed"]["observed"];
    let total: u64 = observed["by_app"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["responses"].as_u64().unwrap())
        .sum();
    let green = observed["by_app"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app_id"] == "/testapp-green")
        .map_or(0, |a| a["responses"].as_u64().unwrap());
    assert!(total > 500, "{status:#}");
    let share = green as f64 / total as f64;
    assert!((share - 0.25).abs() <= 0.05, "{green} of {total}");
    assert!(status["observed"]["window_ms"].as_u64().unwrap() >= 2000);
    // Another group's app, scaled while the analysis runs: each change
    // reloads HAProxy, whose new process starts its counters at zero.
    let (out, changes) = with_reloads(
        &c,
        &[
            "analyze",
            "--app",
            "testapp",
            "--interval",
            "2s",
            "--analysis",
            "windows",
            "--count",
            "4",
            "--failure-limit",
            "1",
            "--min-requests",
            "20",
            "--json",
        ],
        std::time::Duration::from_millis(700),
    );
    load.stop();
    let stderr = text(&out.stderr);
    eprintln!("{stderr}");
    assert!(changes >= 3, "only {changes} reloads during the analysis");
    let result: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let windows = result["windows"].as_array().unwrap();
    let restarted = windows
        .iter()
        .filter(|w| {
            w["lbs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|lb| lb["status"] == "restarted")
        })
        .count();
    assert!(restarted >= 1, "a reload inside a window: {result:#}");
    assert!(
        windows.iter().all(|w| w["verdict"] != "fail"),
        "no false failure: {result:#}"
    );
    // A window cut by a reload may lack requests (inconclusive), never
    // more than the limit here.
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(result["decision"]["decision"], "promote");
}
