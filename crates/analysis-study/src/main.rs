//! The simulation study behind the README's analysis figures: canary's
//! two analyses, sequential (the default) and windows, judged on the same
//! modelled marathon-lb counters, run after run, seeded.
//!
//! `cargo run --release -p analysis-study` (about 30 s on two cores);
//! `-- --runs N` for the failure scenarios' runs (default 1,000; the A/A
//! scenarios take ten times as many), `-- --seed S`.
//!
//! Each run reads the counters every 4 to 6 s and feeds both analyses
//! until both decided (the sequential one stops at its 30-minute
//! maximum; the windows one after its five 60-s windows at most). Counted:
//! false failures of A/A canaries (both sides the same), the verdicts at
//! the margin itself (a canary exactly one point worse: any verdict there
//! is the confidence sequence missing, at most alpha), the time to a
//! rollback of canaries worse by 2, 5 and 20 points of error rate, and the
//! time to a pass, at 50 and 1,000 requests per second.

mod model;

use canary_core::analysis::{
    Checks, Decision, Sequence, SequencePolicy, SequentialAnalysis, SequentialPolicy,
    analyze_window, delta,
};
use model::{Lb, Scenario, roles};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// One analysis's end in a run: the decision and when.
#[derive(Clone)]
struct Ended {
    decision: Decision,
    seconds: f64,
}

/// One run: both analyses on the same reads.
fn run(scenario: Scenario, rng: &mut StdRng) -> (Ended, Ended) {
    let roles = roles();
    let mut lb = Lb::new(scenario);
    let mut sequential = SequentialAnalysis::new(SequentialPolicy::default());
    let mut windows = Sequence::new(SequencePolicy::with_count(5).expect("5 windows"));
    let checks = Checks::default();
    let (mut seq_end, mut win_end) = (None, None);
    let mut t = 0.0;
    let mut last = lb.snapshot();
    let (mut window_start, mut window_started_at) = (last.clone(), 0.0);
    while seq_end.is_none() || win_end.is_none() {
        let dt = rng.gen_range(4.0..6.0);
        t += dt;
        lb.serve(dt, rng);
        let now = lb.snapshot();
        if seq_end.is_none() {
            // The driver's last read is at the maximum, not past it.
            let elapsed = Duration::from_secs_f64(t.min(1800.0));
            let report = sequential.record(&delta(&last, &now), &roles, elapsed);
            if report.decision.is_final() {
                seq_end = Some(Ended {
                    decision: report.decision,
                    seconds: t.min(1800.0),
                });
            }
        }
        if win_end.is_none() && t - window_started_at >= 60.0 {
            let analysis = analyze_window(&window_start, &now, &roles, &checks);
            let decision = windows.record(&analysis.verdict).clone();
            if decision.is_final() {
                win_end = Some(Ended {
                    decision,
                    seconds: t,
                });
            }
            (window_start, window_started_at) = (now.clone(), t);
        }
        last = now;
    }
    (seq_end.expect("ended"), win_end.expect("ended"))
}

/// The share of runs ended by `what`, and the median and 90th percentile
/// of their times.
fn summary(ends: &[Ended], what: fn(&Decision) -> bool) -> String {
    let mut times: Vec<f64> = ends
        .iter()
        .filter(|e| what(&e.decision))
        .map(|e| e.seconds)
        .collect();
    times.sort_by(f64::total_cmp);
    let share = times.len() as f64 / ends.len() as f64;
    if times.is_empty() {
        return "0.00% (—)".to_owned();
    }
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    format!(
        "{:.2}% (median {:.0} s, p90 {:.0} s)",
        share * 100.0,
        at(0.5),
        at(0.9)
    )
}

fn failed(d: &Decision) -> bool {
    matches!(d, Decision::Rollback { .. })
}

fn passed(d: &Decision) -> bool {
    matches!(d, Decision::Promote)
}

fn stopped(d: &Decision) -> bool {
    matches!(d, Decision::Stop { .. })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut runs, mut seed) = (1_000usize, 2026u64);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (arg.as_str(), value) {
            ("--runs", Some(v)) => runs = v as usize,
            ("--seed", Some(v)) => seed = v,
            _ => {
                eprintln!("usage: analysis-study [--runs N] [--seed S]");
                std::process::exit(2);
            }
        }
    }
    let mut rng = StdRng::seed_from_u64(seed);
    println!(
        "canary analysis study (seed {seed}): baseline 1% errors, 20 ms; reads every 4-6 s; a reload about once a minute\n"
    );
    println!("| scenario | rps | runs | method | failed (rolled back) | passed | inconclusive |");
    println!("|---|---|---|---|---|---|---|");
    let base = Scenario {
        rps: 50.0,
        baseline_rate: 0.01,
        canary_rate: 0.01,
        baseline_ms: 20.0,
        canary_ms: 20.0,
    };
    for (name, extra, n) in [
        ("A/A (the same)", 0.0, runs * 10),
        // The boundary of the sequential test's null: any verdict here is
        // the confidence sequence missing the truth, at most alpha.
        ("+1 point (at the margin)", 0.01, runs * 10),
        ("+2 points", 0.02, runs),
        ("+5 points", 0.05, runs),
        ("+20 points", 0.20, runs),
    ] {
        for rps in [50.0, 1000.0] {
            let scenario = Scenario {
                rps,
                canary_rate: base.baseline_rate + extra,
                ..base
            };
            let (seq, win): (Vec<Ended>, Vec<Ended>) =
                (0..n).map(|_| run(scenario, &mut rng)).unzip();
            for (method, ends) in [("sequential", &seq), ("windows", &win)] {
                println!(
                    "| {name} | {rps:.0} | {n} | {method} | {} | {} | {} |",
                    summary(ends, failed),
                    summary(ends, passed),
                    summary(ends, stopped)
                );
            }
        }
    }
}
