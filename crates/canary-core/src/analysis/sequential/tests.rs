//! The sequential analysis on generated reads: its decisions, and its
//! properties (the evidence depends on the traffic, not on how it was
//! read; more canary errors never make a better verdict; resets are
//! counted by the reset rule).

use super::*;
use crate::analysis::counters::Counters;
use crate::analysis::metrics::tests::roles;
use crate::analysis::snapshot::tests::{read, snapshot};
use crate::analysis::snapshot::{Snapshot, delta};
use proptest::prelude::*;

const BASELINE: [&str; 3] = ["10_0_0_1_31000", "10_0_0_1_31001", "10_0_0_1_31002"];
const CANARY: &str = "10_0_0_1_31003";

/// One marathon-lb's cumulative counters, read as snapshots.
#[derive(Default, Clone)]
struct Lb {
    servers: BTreeMap<&'static str, Counters>,
}

impl Lb {
    /// Every baseline server serves `ok_b` with `err_b` errors, the canary
    /// `ok_c` with `err_c`, at these response times.
    fn serve(
        &mut self,
        (ok_b, err_b, rt_b): (u64, u64, u64),
        (ok_c, err_c, rt_c): (u64, u64, u64),
    ) {
        for (name, (ok, err, rt)) in BASELINE
            .iter()
            .map(|n| (*n, (ok_b, err_b, rt_b)))
            .chain([(CANARY, (ok_c, err_c, rt_c))])
        {
            let c = self.servers.entry(name).or_default();
            c.hrsp_2xx += ok;
            c.hrsp_5xx += err;
            c.stot += ok + err;
            c.rtime = rt;
        }
    }

    fn reload(&mut self) {
        self.servers.clear();
    }

    fn snapshot(&self) -> Snapshot {
        let servers: Vec<(&str, Counters)> = self.servers.iter().map(|(n, c)| (*n, *c)).collect();
        snapshot(vec![("http://lb:9090", read(&servers))])
    }
}

fn policy() -> SequentialPolicy {
    SequentialPolicy {
        min_duration: Duration::from_secs(60),
        max_duration: Duration::from_secs(600),
        ..SequentialPolicy::default()
    }
}

/// Reads every 5 s while `serve` adds each read's traffic; the reports.
fn run(
    policy: SequentialPolicy,
    reads: u32,
    mut serve: impl FnMut(u32, &mut Lb),
) -> Vec<SequentialReport> {
    let mut lb = Lb::default();
    lb.serve((0, 0, 0), (0, 0, 0));
    let mut analysis = SequentialAnalysis::new(policy);
    let mut start = lb.snapshot();
    let mut reports = Vec::new();
    for i in 1..=reads {
        serve(i, &mut lb);
        let end = lb.snapshot();
        let report = analysis.record(
            &delta(&start, &end),
            &roles(),
            Duration::from_secs(5 * u64::from(i)),
        );
        let done = report.decision.is_final();
        reports.push(report);
        start = end;
        if done {
            break;
        }
    }
    reports
}

#[test]
fn a_canary_failing_a_fifth_of_its_requests_is_rolled_back_within_seconds() {
    // 50 requests per second: 12.5 per server per second, 62 per read.
    let reports = run(policy(), 120, |_, lb| lb.serve((62, 0, 10), (50, 12, 10)));
    let last = reports.last().unwrap();
    let Decision::Rollback { reason } = &last.decision else {
        panic!("{last}");
    };
    assert!(
        reason.contains("guard rail") || reason.contains("more than the margin"),
        "{reason}"
    );
    assert!(last.elapsed_ms <= 15_000, "{last}");
}

#[test]
fn a_canary_two_points_worse_fails_by_the_test_not_the_guard_rail() {
    // Baseline 1%, canary 4% (3 points over, margin 1): below the 5%
    // guard rail, so only the test can fail it.
    let reports = run(policy(), 120, |_, lb| lb.serve((495, 5, 10), (480, 20, 10)));
    let last = reports.last().unwrap();
    let Decision::Rollback { reason } = &last.decision else {
        panic!("{last}");
    };
    assert!(reason.contains("more than the margin"), "{reason}");
    let e = last.errors.as_ref().unwrap();
    assert!(e.lower > e.margin && e.e_value >= 20.0, "{e:?}");
}

#[test]
fn a_good_canary_passes_once_the_minimum_time_is_over_not_before() {
    let reports = run(policy(), 120, |_, lb| lb.serve((495, 5, 10), (495, 5, 10)));
    let last = reports.last().unwrap();
    assert_eq!(last.decision, Decision::Promote, "{last}");
    assert!(last.elapsed_ms >= 60_000, "{last}");
    let e = last.errors.as_ref().unwrap();
    assert!(e.upper < e.margin, "{e:?}");
}

#[test]
fn no_traffic_is_inconclusive_at_the_maximum_never_a_failure() {
    let reports = run(policy(), 200, |_, _| {});
    let last = reports.last().unwrap();
    let Decision::Stop { reason } = &last.decision else {
        panic!("{last}");
    };
    assert!(
        reason.contains("too few requests: canary 0, baseline 0"),
        "{reason}"
    );
    assert_eq!(last.elapsed_ms, 600_000);
}

#[test]
fn a_slower_canary_fails_the_latency_test_once_it_has_the_readings() {
    // 1100 responses per server per read: a kept reading every read.
    let reports = run(
        SequentialPolicy {
            guard_rails: Checks {
                max_latency_ratio: None,
                ..policy().guard_rails
            },
            // Its errors are as good as the baseline's: too few latency
            // readings never block a pass, so the pass comes later here.
            min_duration: Duration::from_secs(500),
            ..policy()
        },
        120,
        |i, lb| {
            let jitter = u64::from(i % 7);
            lb.serve((1100, 0, 40 + jitter), (1100, 0, 70 + jitter))
        },
    );
    let last = reports.last().unwrap();
    let Decision::Rollback { reason } = &last.decision else {
        panic!("{last}");
    };
    assert!(reason.contains("the canary is slower"), "{reason}");
    let l = last.latency.as_ref().unwrap();
    assert_eq!((l.look, l.canary_readings), (0, 50), "{l:?}");
}

#[test]
fn a_reload_counts_what_the_new_process_served() {
    // 201 per server, then a reload (the new process's counters start
    // below the old ones') and 101 twice.
    let reports = run(policy(), 3, |i, lb| match i {
        1 => lb.serve((200, 1, 10), (200, 1, 10)),
        2 => {
            lb.reload();
            lb.serve((100, 1, 10), (100, 1, 10));
        }
        _ => lb.serve((100, 1, 10), (100, 1, 10)),
    });
    let last = reports.last().unwrap();
    assert_eq!((last.canary.requests, last.baseline.requests), (403, 1209));
    assert_eq!(last.reloads, 1);
}

#[test]
fn policies_are_checked() {
    let bad = |p: SequentialPolicy| p.validate().unwrap_err().field();
    assert_eq!(
        bad(SequentialPolicy {
            alpha: 0.0,
            ..policy()
        }),
        "alpha"
    );
    assert_eq!(
        bad(SequentialPolicy {
            alpha: 0.6,
            ..policy()
        }),
        "alpha"
    );
    assert_eq!(
        bad(SequentialPolicy {
            margin: 1.5,
            ..policy()
        }),
        "margin"
    );
    assert_eq!(
        bad(SequentialPolicy {
            min_duration: Duration::from_secs(601),
            ..policy()
        }),
        "min_duration"
    );
    policy().validate().unwrap();
}

/// A policy that never decides: the evidence only.
fn watching() -> SequentialPolicy {
    SequentialPolicy {
        alpha: 1e-300,
        guard_rails: Checks {
            max_error_rate: None,
            max_latency_ratio: None,
            ..policy().guard_rails
        },
        max_duration: Duration::from_secs(86_400),
        min_duration: Duration::from_secs(86_400),
        ..policy()
    }
}

proptest! {
    /// The evidence after some traffic is the same whether it was read
    /// once or in many reads: the test's statistics are the totals'.
    #[test]
    fn the_evidence_is_invariant_to_splitting_reads(
        parts in prop::collection::vec(((0u64..300, 0u64..20), (0u64..300, 0u64..30)), 1..12),
    ) {
        let serve = |lb: &mut Lb, part: &((u64, u64), (u64, u64))| {
            lb.serve((part.0.0, part.0.1, 10), (part.1.0, part.1.1, 10));
        };
        let split = run(watching(), parts.len() as u32, |i, lb| serve(lb, &parts[i as usize - 1]));
        let whole = run(watching(), 1, |_, lb| {
            for part in &parts {
                serve(lb, part);
            }
        });
        let (split, whole) = (split.last().unwrap(), whole.last().unwrap());
        prop_assert_eq!(&split.canary, &whole.canary);
        prop_assert_eq!(&split.baseline, &whole.baseline);
        prop_assert_eq!(&split.errors, &whole.errors);
    }

    /// One more canary error (instead of a success) never makes a better
    /// verdict: the confidence sequence moves up, the e-value above the
    /// margin grows, and a rollback stays a rollback.
    #[test]
    fn more_canary_errors_never_make_a_better_verdict(
        nb in 100u64..100_000, eb_permille in 0u64..100,
        nc in 100u64..20_000, ec_permille in 0u64..200,
    ) {
        let eb = nb * eb_permille / 1000;
        let ec = nc * ec_permille / 1000;
        prop_assume!(ec < nc);
        let verdict = |ec: u64| {
            let reports = run(SequentialPolicy { min_duration: Duration::ZERO, ..policy() }, 1, |_, lb| {
                lb.serve((nb - eb, eb, 10), (nc - ec, ec, 10));
            });
            reports.last().unwrap().clone()
        };
        let (fewer, more) = (verdict(ec), verdict(ec + 1));
        let (a, b) = (fewer.errors.unwrap(), more.errors.unwrap());
        prop_assert!(b.lower > a.lower && b.upper > a.upper);
        if a.difference > a.margin {
            prop_assert!(b.e_value >= a.e_value);
        }
        let rank = |d: &Decision| match d {
            Decision::Promote => 0,
            Decision::Continue | Decision::Stop { .. } => 1,
            Decision::Rollback { .. } => 2,
        };
        prop_assert!(rank(&more.decision) >= rank(&fewer.decision), "{} then {}", fewer.decision, more.decision);
    }

    /// A reload between reads never inflates a total: the totals count at
    /// most what was served (exactly that without a reload), and both
    /// sides alike.
    #[test]
    fn resets_are_handled(
        traffic in prop::collection::vec((0u64..500, 0u64..50, any::<bool>()), 1..10),
    ) {
        let all: u64 = traffic.iter().map(|(ok, err, _)| ok + err).sum();
        let reloaded = traffic.iter().skip(1).any(|t| t.2);
        let reports = run(watching(), traffic.len() as u32, |i, lb| {
            let (ok, err, reload) = traffic[i as usize - 1];
            if reload && i > 1 {
                lb.reload();
            }
            lb.serve((ok, err, 10), (ok, err, 10));
        });
        let last = reports.last().unwrap();
        prop_assert!(last.canary.requests <= all);
        prop_assert_eq!(last.baseline.requests, 3 * last.canary.requests);
        if !reloaded {
            prop_assert_eq!(last.canary.requests, all);
        }
    }
}
