//! The sequential analysis (the default `--analysis`) through the binary
//! under load: dcos-sim whose marathon-lb runs a real HAProxy, the load
//! client through the group's frontend, canary reading HAProxy's own
//! per-server counters every second. A bad canary is rolled back within
//! seconds, a good one passes once the minimum time is over, no traffic is
//! inconclusive (never a failure), and reloads during the analysis give
//! no false verdict.
//!
//! Compiled ignored, with the reason, where no haproxy was found at build
//! time (never under CI=true: `scripts/test` installs it).

mod common;

use common::haproxy::*;
use load_client::Outcome;
use serde_json::Value;

/// The reports of the `analysis_read` events, in order.
fn reads(events: &[Value]) -> Vec<&Value> {
    of_kind(events, "analysis_read")
        .into_iter()
        .map(|e| &e["report"])
        .collect()
}

/// The analysis's time at its decision (its own clock: real time here).
fn decided_after_ms(events: &[Value]) -> u64 {
    let done = of_kind(events, "analysis_done");
    done.last().expect("an analysis_done")["report"]["elapsed_ms"]
        .as_u64()
        .expect("a sequential report")
}

/// `errors-20` answers a fifth of its requests with 500: the sequential
/// analysis rolls it back within 15 s of its start (a read a second; the
/// guard rail or the test decides once the canary has 50 requests, here
/// within the first reads).
#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn a_canary_failing_a_fifth_of_requests_is_rolled_back_within_seconds() {
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
            "1s",
            "--min-requests",
            "50",
            "--events",
            "json",
        ],
    );
    let stderr = text(&out.stderr);
    eprintln!("{stderr}");
    assert_eq!(out.status.code(), Some(10), "{stderr}");
    assert!(stderr.contains("failed its analysis"), "{stderr}");
    let events = events(&out);
    let started = of_kind(&events, "analysis_started");
    assert_eq!(started[0]["method"], "sequential");
    assert!(decided_after_ms(&events) <= 15_000, "{stderr}");
    // Every read carries its numbers; the last one the decision's.
    let reads = reads(&events);
    let last = reads.last().unwrap();
    assert_eq!(last["decision"]["decision"], "rollback", "{last:#}");
    let rate = last["canary"]["error_rate"].as_f64().unwrap();
    assert!((0.1..=0.3).contains(&rate), "about 20%: {last:#}");
    assert_eq!(last["baseline"]["errors"], 0, "{last:#}");
    assert!(last["canary"]["requests"].as_u64().unwrap() >= 50);
    assert_eq!(apps(&c), [("/testapp-blue".into(), 4, OLD.into())]);
    load.mark("after");
    wait_for_requests(&load, 300);
    let report = load.stop();
    // What failed is the canary's own 500s, none after the rollback.
    for record in report.failures() {
        assert_eq!(record.outcome, Outcome::ServerError, "{record:?}");
        assert_ne!(report.phase_of(record.start), "after", "{record:?}");
    }
    assert_no_kill_before_drain(&c.sim);
}

/// A good canary passes once `--min-duration` is over and its confidence
/// sequence lies below the margin: the ladder's one step goes on to the
/// rollout, nothing lost.
#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn a_good_canary_passes_once_the_evidence_allows_and_is_rolled_out() {
    let c = cluster(1);
    c.first_deploy();
    let load = steady_load(&c);
    load.mark("deploy");
    let out = c.phase(
        "deploy",
        &[
            "--image",
            NEW,
            "--analyze",
            "--interval",
            "1s",
            "--min-duration",
            "5s",
            "--max-duration",
            "2m",
            "--min-requests",
            "50",
            "--events",
            "json",
        ],
    );
    let stderr = text(&out.stderr);
    eprintln!("{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let events = events(&out);
    let reads = reads(&events);
    let last = reads.last().unwrap();
    assert_eq!(last["decision"]["decision"], "promote", "{last:#}");
    let errors = &last["errors"];
    assert!(
        errors["upper"].as_f64().unwrap() < errors["margin"].as_f64().unwrap(),
        "{last:#}"
    );
    assert!(last["elapsed_ms"].as_u64().unwrap() >= 5_000, "{last:#}");
    assert!(
        stderr.contains("CS [") && stderr.contains("e-value"),
        "the numbers in the human output: {stderr}"
    );
    assert_eq!(apps(&c), [("/testapp-green".into(), 4, NEW.into())]);
    // The log drawn: `canary report` makes the page an operator attaches
    // to the change, one analysis row per read.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.jsonl");
    std::fs::write(&log, &out.stdout).unwrap();
    let page = dir.path().join("report.html");
    let drawn = common::canary_in(
        &[
            "report",
            log.to_str().unwrap(),
            "--out",
            page.to_str().unwrap(),
        ],
        dir.path(),
        &[],
    );
    assert_eq!(drawn.status.code(), Some(0), "{}", text(&drawn.stderr));
    assert!(
        text(&drawn.stdout).starts_with("wrote "),
        "{}",
        text(&drawn.stdout)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    for id in ["traffic", "errors", "latency"] {
        assert!(html.contains(&format!("<svg id=\"{id}\"")), "{id}");
    }
    assert_eq!(
        html.matches("<td>read ").count(),
        reads.len(),
        "a row per read"
    );
    load.mark("after");
    wait_for_requests(&load, 200);
    let report = load.stop();
    assert_none_lost(&report, "a deploy with sequential analysis and its rollout");
    assert_no_kill_before_drain(&c.sim);
}

/// Without traffic the analysis stops at `--max-duration`, inconclusive
/// (exit 11), saying why; the canary is left as it is.
#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn no_traffic_is_inconclusive_never_a_failure() {
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
            "--min-duration",
            "2s",
            "--max-duration",
            "4s",
            "--events",
            "json",
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(11), "{stderr}");
    assert!(
        stderr.contains("no decision within --max-duration 4 s: too few requests"),
        "{stderr}"
    );
    let events = events(&out);
    assert!(
        reads(&events)
            .iter()
            .all(|r| r["decision"]["decision"] != "rollback")
    );
    assert_eq!(
        apps(&c),
        [
            ("/testapp-blue".into(), 3, OLD.into()),
            ("/testapp-green".into(), 1, NEW.into())
        ]
    );
}

/// Another group's app scaled during the analysis: every change reloads
/// HAProxy (its new process starts its counters at zero); the reset rule
/// counts what the new process served, and the good canary passes.
#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn reloads_during_the_analysis_give_no_false_verdict() {
    let c = cluster(1);
    c.first_deploy();
    c.ok("deploy", &["--image", NEW]);
    let load = steady_load(&c);
    let (out, changes) = with_reloads(
        &c,
        &[
            "analyze",
            "--app",
            "testapp",
            "--interval",
            "1s",
            "--min-duration",
            "8s",
            "--max-duration",
            "90s",
            "--min-requests",
            "20",
            "--json",
        ],
        std::time::Duration::ZERO,
    );
    load.stop();
    let stderr = text(&out.stderr);
    eprintln!("{stderr}");
    assert!(changes >= 3, "only {changes} reloads during the analysis");
    let result: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(result["method"], "sequential");
    let report = &result["report"];
    assert!(report["reloads"].as_u64().unwrap() >= 1, "{result:#}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(result["decision"]["decision"], "promote", "{result:#}");
}
