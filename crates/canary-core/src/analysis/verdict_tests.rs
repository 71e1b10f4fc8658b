//! The verdict rules of one window, each at its edge, and the serialised
//! shape of a judged window.

use super::counters::Counters;
use super::metrics::tests::roles;
use super::metrics::{Side, WindowMetrics, metrics};
use super::snapshot::tests::{read, served, snapshot};
use super::snapshot::{LbSnapshot, delta};
use super::verdict::*;
use super::{PolicyError, analyze_window};

const CANARY: &str = "10_0_0_1_31003";
const BASELINE: &str = "10_0_0_1_31000";

/// The metrics of a window in which the canary served `canary` and the
/// baseline `baseline`, on one load balancer.
fn window(canary: Counters, baseline: Counters) -> WindowMetrics {
    let start = snapshot(vec![("http://lb-a:9090", read(&[]))]);
    let end = snapshot(vec![(
        "http://lb-a:9090",
        read(&[(CANARY, canary), (BASELINE, baseline)]),
    )]);
    metrics(&delta(&start, &end), &roles())
}

/// Only the error rate check, at 5%, on 100 requests.
fn error_rate_only() -> Checks {
    Checks {
        max_error_rate: Some(0.05),
        max_error_rate_increase: None,
        max_latency_ratio: None,
        ..Checks::default()
    }
}

fn outcomes(w: &WindowAnalysis) -> Vec<(CheckName, Option<f64>, CheckOutcome)> {
    w.checks
        .iter()
        .map(|c| (c.check, c.value, c.outcome))
        .collect()
}

fn reasons(w: &WindowAnalysis) -> Vec<InconclusiveReason> {
    match &w.verdict {
        Verdict::Inconclusive { reasons } => reasons.clone(),
        other => panic!("not inconclusive: {other}"),
    }
}

#[test]
fn a_canary_like_its_baseline_passes_every_check() {
    let w = judge(
        window(served(198, 2, 10), served(597, 3, 10)),
        &Checks::default(),
    );
    assert_eq!(w.verdict, Verdict::Pass);
    assert_eq!(
        outcomes(&w),
        [
            (CheckName::MaxErrorRate, Some(0.01), CheckOutcome::Passed),
            (
                CheckName::MaxErrorRateIncrease,
                Some(0.01 - 0.005),
                CheckOutcome::Passed
            ),
            (CheckName::MaxLatencyRatio, Some(1.0), CheckOutcome::Passed),
        ]
    );
    assert_eq!(w.limits, Checks::default());
}

#[test]
fn the_error_rate_limit_itself_passes() {
    let at = judge(
        window(served(95, 5, 1), served(100, 0, 1)),
        &error_rate_only(),
    );
    assert_eq!(at.metrics.canary.error_rate, Some(0.05));
    assert_eq!(at.verdict, Verdict::Pass);
    let over = judge(
        window(served(94, 6, 1), served(100, 0, 1)),
        &error_rate_only(),
    );
    let Verdict::Fail { failed } = &over.verdict else {
        panic!("6% is over 5%: {}", over.verdict);
    };
    assert_eq!(
        failed[0].to_string(),
        "canary error rate 6.00% (limit 5.00%)"
    );
}

#[test]
fn the_increase_limit_itself_passes_despite_rounding() {
    let checks = Checks {
        max_error_rate: None,
        max_error_rate_increase: Some(0.02),
        max_latency_ratio: None,
        ..Checks::default()
    };
    // 7% against 5%: exactly 2 points, though 0.07 - 0.05 > 0.02 in f64.
    let at = judge(window(served(93, 7, 1), served(95, 5, 1)), &checks);
    let increase = at.checks[0].value.unwrap();
    assert!(
        increase > 0.02,
        "the rounding this test is about: {increase}"
    );
    assert_eq!(at.verdict, Verdict::Pass, "{at}");
    let over = judge(window(served(92, 8, 1), served(95, 5, 1)), &checks);
    assert!(matches!(over.verdict, Verdict::Fail { .. }), "{over}");
    // A canary better than its baseline has a negative increase: a pass.
    let better = judge(window(served(100, 0, 1), served(90, 10, 1)), &checks);
    assert_eq!(better.checks[0].value, Some(-0.1));
    assert_eq!(better.verdict, Verdict::Pass);
}

#[test]
fn the_latency_ratio_limit_itself_passes_and_fast_services_meet_the_floor() {
    let checks = Checks {
        max_error_rate: None,
        max_error_rate_increase: None,
        max_latency_ratio: Some(1.5),
        ..Checks::default()
    };
    let ratio = |canary_ms, baseline_ms| {
        let w = judge(
            window(served(100, 0, canary_ms), served(100, 0, baseline_ms)),
            &checks,
        );
        (w.checks[0].value.unwrap(), w.checks[0].outcome)
    };
    assert_eq!(ratio(15, 10), (1.5, CheckOutcome::Passed));
    assert_eq!(ratio(16, 10), (1.6, CheckOutcome::Failed));
    assert_eq!(ratio(200, 100), (2.0, CheckOutcome::Failed));
    // Below the 5 ms floor both count as 5 ms: 4 ms beside 1 ms is noise.
    assert_eq!(ratio(4, 1), (1.0, CheckOutcome::Passed));
    assert_eq!(ratio(10, 1), (2.0, CheckOutcome::Failed));
    assert_eq!(ratio(0, 0), (1.0, CheckOutcome::Passed));
}

#[test]
fn exactly_min_requests_is_enough_and_one_fewer_is_inconclusive() {
    let enough = judge(
        window(served(100, 0, 1), served(100, 0, 1)),
        &Checks::default(),
    );
    assert_eq!(enough.verdict, Verdict::Pass);
    let short = judge(
        window(served(99, 0, 1), served(100, 0, 1)),
        &Checks::default(),
    );
    assert_eq!(
        reasons(&short),
        [InconclusiveReason::TooFewRequests {
            side: Side::Canary,
            requests: 99,
            min: 100
        }]
    );
    assert!(
        short
            .checks
            .iter()
            .all(|c| c.outcome == CheckOutcome::NotEvaluated && c.value.is_none())
    );
    let short = judge(
        window(served(100, 0, 1), served(60, 39, 1)),
        &Checks::default(),
    );
    assert_eq!(
        reasons(&short),
        [InconclusiveReason::TooFewRequests {
            side: Side::Baseline,
            requests: 99,
            min: 100
        }]
    );
    // A minimum of 0 is 1: no traffic is never a pass.
    let zero = Checks {
        min_requests: 0,
        ..Checks::default()
    };
    let none = judge(window(served(0, 0, 0), served(5, 0, 1)), &zero);
    assert_eq!(
        reasons(&none),
        [InconclusiveReason::TooFewRequests {
            side: Side::Canary,
            requests: 0,
            min: 1
        }]
    );
}

#[test]
fn a_failure_on_enough_canary_requests_fails_even_beside_a_short_baseline() {
    let w = judge(
        window(served(80, 20, 1), served(3, 0, 1)),
        &Checks::default(),
    );
    let Verdict::Fail { failed } = &w.verdict else {
        panic!("20% errors fail: {}", w.verdict);
    };
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].check, CheckName::MaxErrorRate);
    assert_eq!(
        outcomes(&w)[1..],
        [
            (
                CheckName::MaxErrorRateIncrease,
                None,
                CheckOutcome::NotEvaluated
            ),
            (CheckName::MaxLatencyRatio, None, CheckOutcome::NotEvaluated),
        ]
    );
}

#[test]
fn without_a_baseline_a_good_canary_is_inconclusive_and_a_bad_one_fails() {
    use super::metrics::Roles;
    use super::metrics::tests::app;
    use std::collections::BTreeMap;
    let green = app("/web-green", "2026-02-01T00:00:00", &[31003]);
    let alone = Roles::from_group(&[green], &BTreeMap::new()).unwrap();
    let start = snapshot(vec![("a", read(&[]))]);
    let judged = |canary| {
        let end = snapshot(vec![("a", read(&[(CANARY, canary)]))]);
        analyze_window(&start, &end, &alone, &Checks::default())
    };
    let good = judged(served(500, 0, 1));
    assert_eq!(reasons(&good), [InconclusiveReason::NoBaseline]);
    assert!(good.metrics.baseline.is_none());
    assert!(matches!(
        judged(served(400, 100, 1)).verdict,
        Verdict::Fail { .. }
    ));
}

#[test]
fn numbers_missing_a_load_balancer_give_no_pass_but_a_failure_stands() {
    let unread = LbSnapshot::Unread {
        message: "connection refused".into(),
    };
    let start = snapshot(vec![("a", read(&[])), ("b", read(&[]))]);
    let judged = |canary| {
        let end = snapshot(vec![
            (
                "a",
                read(&[(CANARY, canary), (BASELINE, served(300, 0, 1))]),
            ),
            ("b", unread.clone()),
        ]);
        analyze_window(&start, &end, &roles(), &Checks::default())
    };
    let good = judged(served(100, 0, 1));
    assert_eq!(
        reasons(&good),
        [InconclusiveReason::LbsNotRead {
            urls: vec!["b".into()]
        }]
    );
    assert!(
        good.checks
            .iter()
            .all(|c| c.outcome == CheckOutcome::Passed)
    );
    assert!(matches!(
        judged(served(50, 50, 1)).verdict,
        Verdict::Fail { .. }
    ));
    // No load balancer read at both ends: no numbers at all.
    let end = snapshot(vec![("a", unread.clone()), ("b", unread)]);
    let none = analyze_window(&start, &end, &roles(), &Checks::default());
    assert_eq!(reasons(&none)[0], InconclusiveReason::NoLbRead);
    let empty = analyze_window(
        &snapshot(vec![]),
        &snapshot(vec![]),
        &roles(),
        &Checks::default(),
    );
    assert_eq!(reasons(&empty)[0], InconclusiveReason::NoLbRead);
}

#[test]
fn a_side_with_requests_but_no_response_cannot_be_timed() {
    let refused = Counters {
        econ: 150,
        ..Counters::default()
    };
    let w = judge(window(served(100, 0, 1), refused), &Checks::default());
    assert_eq!(
        reasons(&w),
        [InconclusiveReason::NoResponseTime {
            side: Side::Baseline
        }]
    );
    let untimed = Checks {
        max_latency_ratio: None,
        ..Checks::default()
    };
    assert_eq!(
        judge(window(served(100, 0, 1), refused), &untimed).verdict,
        Verdict::Pass
    );
    // A canary refusing every connection fails on its error rate.
    let w = judge(window(refused, served(100, 0, 1)), &Checks::default());
    assert_eq!(w.metrics.canary.error_rate, Some(1.0));
    assert!(matches!(w.verdict, Verdict::Fail { .. }));
}

#[test]
fn checks_that_are_off_are_not_listed_and_all_off_passes_on_enough_data() {
    let none = Checks {
        max_error_rate: None,
        max_error_rate_increase: None,
        max_latency_ratio: None,
        ..Checks::default()
    };
    let w = judge(window(served(0, 100, 1), served(100, 0, 1)), &none);
    assert!(w.checks.is_empty());
    assert_eq!(w.verdict, Verdict::Pass);
}

#[test]
fn limits_that_cannot_work_are_refused_naming_the_field() {
    assert_eq!(Checks::default().validate(), Ok(()));
    let refused = |checks: Checks| checks.validate().unwrap_err();
    let e = refused(Checks {
        max_error_rate: Some(1.5),
        ..Checks::default()
    });
    assert_eq!(
        e,
        PolicyError::NotAShare {
            field: "max_error_rate",
            value: 1.5
        }
    );
    assert_eq!(
        e.to_string(),
        "max_error_rate must be a share between 0 and 1 (0.05 is 5%), not 1.5"
    );
    let nan = refused(Checks {
        max_error_rate_increase: Some(f64::NAN),
        ..Checks::default()
    });
    assert_eq!(nan.field(), "max_error_rate_increase");
    let field = |checks| refused(checks).field();
    assert_eq!(
        field(Checks {
            max_error_rate_increase: Some(-0.01),
            ..Checks::default()
        }),
        "max_error_rate_increase"
    );
    assert_eq!(
        field(Checks {
            max_latency_ratio: Some(0.0),
            ..Checks::default()
        }),
        "max_latency_ratio"
    );
    assert_eq!(
        field(Checks {
            latency_floor_ms: f64::INFINITY,
            ..Checks::default()
        }),
        "latency_floor_ms"
    );
    // The edges themselves are valid.
    let edges = Checks {
        max_error_rate: Some(0.0),
        max_error_rate_increase: Some(1.0),
        ..Checks::default()
    };
    assert_eq!(edges.validate(), Ok(()));
}

#[test]
fn a_limit_that_is_not_a_number_fails_rather_than_passes() {
    let broken = Checks {
        max_error_rate: Some(f64::NAN),
        max_error_rate_increase: None,
        max_latency_ratio: None,
        ..Checks::default()
    };
    let w = judge(window(served(100, 0, 1), served(100, 0, 1)), &broken);
    assert!(matches!(w.verdict, Verdict::Fail { .. }));
}

/// The serialised shape is a stable interface (`--events json`, `canary
/// analyze --json`): a failing window with a restarted and an unread load
/// balancer, pinned as a snapshot.
#[test]
fn a_judged_window_serialises_flat_with_stable_names() {
    let start = snapshot(vec![
        (
            "http://lb-a:9090",
            read(&[(CANARY, served(10, 0, 9)), (BASELINE, served(900, 9, 9))]),
        ),
        ("http://lb-b:9090", read(&[(BASELINE, served(5, 0, 9))])),
    ]);
    let end = snapshot(vec![
        (
            "http://lb-a:9090",
            read(&[
                (CANARY, served(80, 20, 12)),
                (BASELINE, served(300, 3, 10)),
                ("10_0_0_1_39999", served(4, 0, 1)),
            ]),
        ),
        (
            "http://lb-b:9090",
            LbSnapshot::Unread {
                message: "timed out".into(),
            },
        ),
    ]);
    let w = analyze_window(&start, &end, &roles(), &Checks::default());
    insta::assert_json_snapshot!("failing_window", w);
    let quiet = analyze_window(&start, &start, &roles(), &Checks::default());
    insta::assert_json_snapshot!("inconclusive_window", quiet);
    assert_eq!(
        w.to_string(),
        "fail: canary error rate 20.00% (limit 5.00%); canary error rate 19.01 points above \
         the baseline's (limit 2.00) | canary /web-green: 100 requests, 20 errors (20.00%), 12.0 ms \
         | baseline /web-blue: 303 requests, 3 errors (0.99%), 10.0 ms"
    );
    // Fast servers: HAProxy's whole milliseconds say 0 (under 1 ms), and a
    // mean of 0s and 1s reads in µs, never "0.0 ms".
    let fast = snapshot(vec![(
        "http://lb-a:9090",
        read(&[(CANARY, served(100, 0, 0)), (BASELINE, served(300, 0, 1))]),
    )]);
    let from = snapshot(vec![(
        "http://lb-a:9090",
        read(&[(CANARY, served(0, 0, 0)), (BASELINE, served(0, 0, 0))]),
    )]);
    let shown = analyze_window(&from, &fast, &roles(), &Checks::default()).to_string();
    assert!(
        shown.contains("100 requests, 0 errors (0.00%), <1 ms"),
        "{shown}"
    );
    assert!(
        shown.contains("300 requests, 0 errors (0.00%), 1.0 ms"),
        "{shown}"
    );
}
