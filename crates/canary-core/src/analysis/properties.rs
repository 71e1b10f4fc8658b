//! Properties of the analysis over generated traffic: where it is counted
//! does not matter, a reload never inflates a count, more errors never
//! make a better verdict, and the sequence rule is the rule of its docs.

use super::counters::Counters;
use super::metrics::tests::roles;
use super::metrics::{SideMetrics, WindowMetrics, metrics};
use super::sequence::{Decision, SequencePolicy, decide};
use super::snapshot::tests::snapshot;
use super::snapshot::{LbSnapshot, LbStatus, delta};
use super::verdict::{Checks, Verdict, judge};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// The servers of the usual roles: three baseline tasks, one canary, and
/// one server of no task.
const SERVERS: [&str; 5] = [
    "10_0_0_1_31000",
    "10_0_0_1_31001",
    "10_0_0_1_31002",
    "10_0_0_1_31003",
    "10_0_0_1_39999",
];

/// Traffic of one server: counts of each cumulative counter and its
/// response time.
fn traffic() -> impl Strategy<Value = Counters> {
    (
        prop::array::uniform6(0u64..400),
        prop::array::uniform5(0u64..60),
        0u64..400,
    )
        .prop_map(|(hrsp, [econ, eresp, cli_abrt, srv_abrt, extra], rtime)| {
            let responses: u64 = hrsp.iter().sum();
            Counters {
                hrsp_1xx: hrsp[0],
                hrsp_2xx: hrsp[1],
                hrsp_3xx: hrsp[2],
                hrsp_4xx: hrsp[3],
                hrsp_5xx: hrsp[4],
                hrsp_other: hrsp[5],
                econ,
                eresp,
                cli_abrt,
                srv_abrt,
                stot: responses + econ + extra,
                rtime,
            }
        })
}

fn fields(c: &Counters) -> [u64; 11] {
    [
        c.hrsp_1xx,
        c.hrsp_2xx,
        c.hrsp_3xx,
        c.hrsp_4xx,
        c.hrsp_5xx,
        c.hrsp_other,
        c.econ,
        c.eresp,
        c.cli_abrt,
        c.srv_abrt,
        c.stot,
    ]
}

fn from_fields(f: [u64; 11], rtime: u64) -> Counters {
    Counters {
        hrsp_1xx: f[0],
        hrsp_2xx: f[1],
        hrsp_3xx: f[2],
        hrsp_4xx: f[3],
        hrsp_5xx: f[4],
        hrsp_other: f[5],
        econ: f[6],
        eresp: f[7],
        cli_abrt: f[8],
        srv_abrt: f[9],
        stot: f[10],
        rtime,
    }
}

fn plus(a: &Counters, b: &Counters) -> Counters {
    let (a, b) = (fields(a), fields(b));
    from_fields(std::array::from_fn(|i| a[i] + b[i]), 0)
}

/// `total` cut into `weights.len()` parts in proportion to the weights
/// (the last part takes the rounding).
fn split(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u64 = weights.iter().sum::<u64>().max(1);
    let mut parts: Vec<u64> = weights.iter().map(|w| total * w / sum).collect();
    let given: u64 = parts.iter().sum();
    *parts.last_mut().expect("at least one part") += total - given;
    parts
}

fn as_refs(lbs: &[(String, LbSnapshot)]) -> Vec<(&str, LbSnapshot)> {
    lbs.iter().map(|(u, l)| (u.as_str(), l.clone())).collect()
}

fn read(servers: BTreeMap<String, Counters>) -> LbSnapshot {
    LbSnapshot::Read {
        worker: None,
        servers,
    }
}

/// A side's numbers without the count of server rows, which grows with
/// the load balancers by design.
fn numbers(m: &SideMetrics) -> SideMetrics {
    SideMetrics {
        servers: 0,
        ..m.clone()
    }
}

fn same_numbers(a: &WindowMetrics, b: &WindowMetrics) -> bool {
    numbers(&a.canary) == numbers(&b.canary)
        && a.baseline.as_ref().map(numbers) == b.baseline.as_ref().map(numbers)
}

/// Pass < Inconclusive < Fail.
fn rank(v: &Verdict) -> u8 {
    match v {
        Verdict::Pass => 0,
        Verdict::Inconclusive { .. } => 1,
        Verdict::Fail { .. } => 2,
    }
}

/// The metrics of one load balancer on which every server served `window`
/// (index-aligned with [`SERVERS`]) from zero.
fn served_alone(window: &[Counters]) -> WindowMetrics {
    let servers = SERVERS
        .iter()
        .zip(window)
        .map(|(n, c)| ((*n).to_owned(), *c))
        .collect();
    let start = snapshot(vec![("lb", read(BTreeMap::new()))]);
    let end = snapshot(vec![("lb", read(servers))]);
    metrics(&delta(&start, &end), &roles())
}

fn checks() -> impl Strategy<Value = Checks> {
    (
        prop::option::of(0.0f64..0.5),
        prop::option::of(0.0f64..0.5),
        prop::option::of(1.0f64..3.0),
        0u64..300,
    )
        .prop_map(|(rate, increase, ratio, min)| Checks {
            max_error_rate: rate,
            max_error_rate_increase: increase,
            max_latency_ratio: ratio,
            min_requests: min,
            ..Checks::default()
        })
}

fn verdicts() -> impl Strategy<Value = Vec<Verdict>> {
    prop::collection::vec(
        prop_oneof![
            Just(Verdict::Pass),
            Just(Verdict::Fail { failed: vec![] }),
            Just(Verdict::Inconclusive { reasons: vec![] }),
        ],
        0..14,
    )
}

fn policy() -> impl Strategy<Value = SequencePolicy> {
    (1u32..10)
        .prop_flat_map(|count| (Just(count), 1..=count, 1..=count))
        .prop_map(|(c, f, i)| SequencePolicy::new(c, f, i).expect("limits within count"))
}

proptest! {
    /// However each server's traffic is split over however many load
    /// balancers, each starting from its own counters, the sides' numbers
    /// and the verdict are those of one load balancer that saw it all.
    #[test]
    fn splitting_traffic_over_load_balancers_changes_nothing(
        window in prop::collection::vec(traffic(), SERVERS.len()),
        lbs in 1usize..5,
        weights in prop::collection::vec(prop::collection::vec(0u64..10, 5), SERVERS.len() * 11),
        bases in prop::collection::vec(traffic(), SERVERS.len() * 5),
        checks in checks(),
    ) {
        let mut start = Vec::new();
        let mut end = Vec::new();
        for lb in 0..lbs {
            let (mut then, mut now) = (BTreeMap::new(), BTreeMap::new());
            for (s, name) in SERVERS.iter().enumerate() {
                let total = fields(&window[s]);
                let part: [u64; 11] = std::array::from_fn(|f| {
                    split(total[f], &weights[s * 11 + f][..lbs])[lb]
                });
                let base = Counters { rtime: 0, ..bases[s * 5 + lb] };
                then.insert((*name).to_owned(), base);
                let gained = from_fields(part, 0);
                now.insert((*name).to_owned(), Counters { rtime: window[s].rtime, ..plus(&base, &gained) });
            }
            start.push((format!("lb{lb}"), read(then)));
            end.push((format!("lb{lb}"), read(now)));
        }
        let split_up = metrics(&delta(&snapshot(as_refs(&start)), &snapshot(as_refs(&end))), &roles());
        let alone = served_alone(&window);
        prop_assert!(same_numbers(&split_up, &alone), "{split_up:?}\n{alone:?}");
        prop_assert_eq!(judge(split_up, &checks).verdict, judge(alone, &checks).verdict);
    }

    /// A reload at any point of the window: the old process served `before`
    /// after the start and is gone; the new one served `after`. No count
    /// exceeds what was served after the reload, and when any counter shows
    /// the reset, every server counts exactly that.
    #[test]
    fn a_reload_never_yields_more_than_was_served_after_it(
        old in prop::collection::vec(traffic(), SERVERS.len()),
        before in prop::collection::vec(traffic(), SERVERS.len()),
        after in prop::collection::vec(traffic(), SERVERS.len()),
    ) {
        let named = |cs: &[Counters]| -> BTreeMap<String, Counters> {
            SERVERS.iter().zip(cs).map(|(n, c)| ((*n).to_owned(), *c)).collect()
        };
        let start = snapshot(vec![("lb", read(named(&old)))]);
        let end = snapshot(vec![("lb", read(named(&after)))]);
        let d = delta(&start, &end);
        let visible = old.iter().zip(&after).any(|(o, a)| a.went_down_since(o));
        for (s, name) in SERVERS.iter().enumerate() {
            let counted = d.lbs[0].servers[*name];
            let (counted_f, after_f, served_f) =
                (fields(&counted), fields(&after[s]), fields(&plus(&before[s], &after[s])));
            for f in 0..11 {
                prop_assert!(counted_f[f] <= after_f[f], "{name} field {f}: {counted:?} > {:?}", after[s]);
                prop_assert!(counted_f[f] <= served_f[f]);
            }
            prop_assert_eq!(counted.rtime, after[s].rtime);
            if visible {
                prop_assert_eq!(counted, after[s]);
            }
        }
        let status = &d.lbs[0].coverage.status;
        prop_assert_eq!(status == &LbStatus::Restarted, visible);
        let m = metrics(&d, &roles());
        let served_canary = after[3].requests();
        prop_assert!(m.canary.requests <= served_canary);
        prop_assert!(m.canary.error_rate.is_none_or(|r| (0.0..=1.0).contains(&r)));
    }

    /// Turning canary successes into 5xx never improves the verdict; adding
    /// failed connections or response errors never turns a failure into
    /// anything else; more baseline errors never worsen it.
    #[test]
    fn verdicts_are_monotone_in_the_errors(
        canary in traffic(),
        baseline in traffic(),
        moved in 0u64..400,
        econ in 0u64..100,
        eresp in 0u64..100,
        checks in checks(),
    ) {
        let mut window = [Counters::default(); 5];
        window[0] = baseline;
        window[3] = canary;
        let verdict = |w: &[Counters; 5]| judge(served_alone(w), &checks).verdict;
        let v = verdict(&window);
        let moved = moved.min(canary.hrsp_2xx);
        let mut worse = window;
        worse[3].hrsp_2xx -= moved;
        worse[3].hrsp_5xx += moved;
        prop_assert!(rank(&verdict(&worse)) >= rank(&v));
        let mut failing = window;
        failing[3].econ += econ;
        failing[3].eresp += eresp;
        if rank(&v) == 2 {
            prop_assert_eq!(rank(&verdict(&failing)), 2);
        }
        let moved_b = moved.min(baseline.hrsp_2xx);
        let mut noisy = window;
        noisy[0].hrsp_2xx -= moved_b;
        noisy[0].hrsp_5xx += moved_b;
        prop_assert!(rank(&verdict(&noisy)) <= rank(&v));
    }

    /// The sequence decision against the rule as its docs word it,
    /// recounted over every prefix.
    #[test]
    fn the_sequence_follows_its_rule(policy in policy(), verdicts in verdicts()) {
        let expected = (1..=verdicts.len())
            .find_map(|k| {
                let prefix = &verdicts[..k];
                let count = |r: u8| prefix.iter().filter(|v| rank(v) == r).count() as u32;
                let (passed, inconclusive, failed) = (count(0), count(1), count(2));
                if failed >= policy.failure_limit() {
                    Some("rollback")
                } else if inconclusive >= policy.inconclusive_limit() {
                    Some("stop")
                } else if k as u32 == policy.count() {
                    Some(if passed > 0 { "promote" } else { "stop" })
                } else {
                    None
                }
            })
            .unwrap_or("continue");
        let got = decide(policy, &verdicts);
        let kind = match &got {
            Decision::Continue => "continue",
            Decision::Promote => "promote",
            Decision::Rollback { .. } => "rollback",
            Decision::Stop { .. } => "stop",
        };
        prop_assert_eq!(kind, expected);
        // Inconclusive windows alone never roll back; failures alone never
        // promote; a final decision stands whatever follows.
        if verdicts.iter().all(|v| rank(v) != 2) {
            prop_assert!(!matches!(got, Decision::Rollback { .. }), "rolled back without a failure");
        }
        if verdicts.iter().all(|v| rank(v) != 0) {
            prop_assert!(!matches!(got, Decision::Promote), "promoted without a pass");
        }
        if got.is_final() {
            let mut longer = verdicts.clone();
            longer.push(Verdict::Fail { failed: vec![] });
            longer.push(Verdict::Pass);
            prop_assert_eq!(decide(policy, &longer), got);
        }
    }
}
