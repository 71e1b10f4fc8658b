//! The driver of canary-core's canary analysis ([`canary_core::analysis`]):
//! it takes the windows, the pure module judges them.
//!
//! Per window: `interval` of the handed clock between two readings of every
//! marathon-lb's stats and of the group's apps (the backend's port; who is
//! canary and who baseline, as they stand at the end); then
//! [`analyze_window`] and [`Sequence::record`], until the decision is
//! final. The reading that ends a window starts the next. Nothing on the
//! cluster is changed: acting on the decision (the next step, a rollout, a
//! rollback) is the caller's.

use canary_core::analysis::{
    Checks, Decision, Roles, Sequence, SequencePolicy, Snapshot, Tally, WindowAnalysis,
    analyze_window,
};
use canary_core::clock::Clock;
use canary_core::engine::predict::by_started_at;
use canary_core::engine::sample::group_port;
use canary_core::engine::{GroupApp, LbSource};
use canary_core::executor::{ExecError, Executor};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often a window's wait looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(200);

/// One analysis to drive: what to judge, by which rules, with what.
pub struct AnalysisRun<'a> {
    /// The deployment group (marathon-lb's backend is named after it).
    pub group: String,
    /// The checks of every window (validated by the caller).
    pub checks: Checks,
    /// How many windows, and the limits that end the analysis early.
    pub policy: SequencePolicy,
    /// How long each window lasts.
    pub interval: Duration,
    /// Reads the group's apps (nothing is changed through it).
    pub executor: &'a mut dyn Executor,
    /// Every marathon-lb.
    pub lbs: &'a mut dyn LbSource,
    /// The clock windows are timed on.
    pub clock: &'a dyn Clock,
    /// Set (by a signal) to stop at the next poll.
    pub stop: &'a AtomicBool,
}

/// What the driver reports as it goes.
#[derive(Debug)]
pub enum AnalysisEvent<'a> {
    /// A window began (its first reading is taken).
    WindowStarted {
        /// Its number, from 1.
        window: u32,
        /// The most windows the analysis takes.
        of: u32,
        /// How long it lasts.
        interval: Duration,
    },
    /// A window was judged.
    WindowJudged {
        /// Its number, from 1.
        window: u32,
        /// The verdict with every number behind it.
        analysis: &'a WindowAnalysis,
        /// The decision after it.
        decision: &'a Decision,
        /// The verdicts so far.
        tally: Tally,
    },
}

/// A finished analysis.
#[derive(Debug, Clone)]
pub struct AnalysisOutcome {
    /// The final decision (promote, rollback or stop).
    pub decision: Decision,
    /// The verdicts counted.
    pub tally: Tally,
    /// Every window judged, in order.
    pub windows: Vec<WindowAnalysis>,
}

impl AnalysisOutcome {
    /// The last window judged (the one behind the decision).
    pub fn last(&self) -> Option<&WindowAnalysis> {
        self.windows.last()
    }
}

/// Why an analysis did not reach a decision.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The group has no app, or none with a service port marathon-lb
    /// could name a backend by.
    #[error("{0}")]
    Unanalysable(String),
    /// Stopped on request (a signal) during window `window`.
    #[error("stopped during window {window} of the analysis; nothing was changed")]
    Interrupted {
        /// The window it stopped in.
        window: u32,
    },
    /// The cluster failed a read past the executor's retries.
    #[error("{doing}: {source}")]
    Cluster {
        /// What the driver was reading.
        doing: String,
        /// The executor's error.
        source: ExecError,
    },
}

/// The group's apps, oldest first, and the port of its backend.
fn read_group(
    executor: &mut dyn Executor,
    group: &str,
) -> Result<(Vec<GroupApp>, u16), AnalysisError> {
    let mut apps = executor
        .group_apps(group)
        .map_err(|source| AnalysisError::Cluster {
            doing: format!("reading deployment group {group}"),
            source,
        })?;
    apps.sort_by(by_started_at);
    if apps.is_empty() {
        return Err(AnalysisError::Unanalysable(format!(
            "deployment group {group} has no app: there is no canary to analyse"
        )));
    }
    let port = group_port(&apps).ok_or_else(|| {
        AnalysisError::Unanalysable(format!(
            "deployment group {group} has no app with a service port (HAPROXY_0_PORT or servicePort): \
             marathon-lb serves it on no frontend"
        ))
    })?;
    Ok((apps, port))
}

/// Waits `interval` on `clock` in slices, returning early with `false`
/// when `stop` is set.
fn wait(clock: &dyn Clock, interval: Duration, stop: &AtomicBool) -> bool {
    let mut left = interval;
    while !left.is_zero() {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let slice = left.min(STOP_POLL);
        clock.sleep(slice);
        left -= slice;
    }
    !stop.load(Ordering::SeqCst)
}

/// Runs the analysis to its decision, reporting every window to `observe`.
pub fn analyze(
    run: AnalysisRun<'_>,
    observe: &mut dyn FnMut(&AnalysisEvent<'_>),
) -> Result<AnalysisOutcome, AnalysisError> {
    let AnalysisRun {
        group,
        checks,
        policy,
        interval,
        executor,
        lbs,
        clock,
        stop,
    } = run;
    let mut sequence = Sequence::new(policy);
    let mut windows = Vec::new();
    // One reading ends a window and starts the next: windows follow each
    // other without a gap, and each costs one read of every load balancer
    // and of the group.
    let (_, mut port) = read_group(executor, &group)?;
    let mut start = Snapshot::for_group(&group, port, &lbs.observe());
    for window in 1..=policy.count() {
        observe(&AnalysisEvent::WindowStarted {
            window,
            of: policy.count(),
            interval,
        });
        if !wait(clock, interval, stop) {
            return Err(AnalysisError::Interrupted { window });
        }
        let views = lbs.observe();
        let (apps, next_port) = read_group(executor, &group)?;
        let end = Snapshot::for_group(&group, port, &views);
        // Servers are named from task host and port; the engine's names
        // take the host as Marathon reports it (no address lookup), as
        // marathon-lb's do for hosts given as addresses.
        let roles = Roles::from_group(&apps, &BTreeMap::new())
            .expect("read_group returns at least one app");
        let analysis = analyze_window(&start, &end, &roles, &checks);
        let decision = sequence.record(&analysis.verdict).clone();
        observe(&AnalysisEvent::WindowJudged {
            window,
            analysis: &analysis,
            decision: &decision,
            tally: sequence.tally(),
        });
        windows.push(analysis);
        start = if next_port == port {
            end
        } else {
            Snapshot::for_group(&group, next_port, &views)
        };
        port = next_port;
        if decision.is_final() {
            break;
        }
    }
    Ok(AnalysisOutcome {
        decision: sequence.decision().clone(),
        tally: sequence.tally(),
        windows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use canary_core::analysis::Verdict;
    use canary_core::clock::ManualClock;
    use canary_core::engine::observe::parse_stats_csv;
    use canary_core::engine::{LbState, LbView};
    use canary_core::executor::{Call, RecordingExecutor};
    use serde_json::json;

    /// A marathon-lb whose counters grow by `per_read` (baseline 2xx,
    /// canary 2xx, canary 5xx) at every read.
    struct GrowingLb {
        reads: u64,
        per_read: (u64, u64, u64),
    }

    impl LbSource for GrowingLb {
        fn observe(&mut self) -> Vec<LbView> {
            let (b, c, e) = self.per_read;
            let n = self.reads;
            self.reads += 1;
            let csv = format!(
                "# pxname,svname,status,scur,qcur,hrsp_2xx,hrsp_5xx,rtime\n\
                 web_10000,10_0_0_1_31000,UP,0,0,{},0,10\n\
                 web_10000,10_0_0_1_31001,UP,0,0,{},{},10\n",
                b * n,
                c * n,
                e * n
            );
            vec![LbView {
                url: "http://10.0.0.2:9090".into(),
                state: LbState::Stats {
                    pids: 1,
                    rows: parse_stats_csv(&csv).unwrap(),
                },
            }]
        }
    }

    fn executor() -> RecordingExecutor {
        let mut executor = RecordingExecutor::new();
        for (id, started, port) in [
            ("/web-blue", "2026-01-01T00:00:00", 31000),
            ("/web-green", "2026-02-01T00:00:00", 31001),
        ] {
            executor.insert_marathon_app(json!({
                "id": id, "instances": 1,
                "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_STARTED_AT": started,
                           "HAPROXY_0_PORT": "10000"},
                "tasks": [{"id": format!("{id}.1"), "host": "10.0.0.1", "ports": [port]}]
            }));
        }
        executor.clear_calls();
        executor
    }

    fn run_with(
        per_read: (u64, u64, u64),
        stop: &AtomicBool,
        events: &mut Vec<String>,
    ) -> (Result<AnalysisOutcome, AnalysisError>, Vec<Call>, Duration) {
        let mut executor = executor();
        let mut lbs = GrowingLb { reads: 0, per_read };
        let clock = ManualClock::default();
        let outcome = analyze(
            AnalysisRun {
                group: "web".into(),
                checks: Checks::default(),
                policy: SequencePolicy::new(3, 2, 2).unwrap(),
                interval: Duration::from_secs(10),
                executor: &mut executor,
                lbs: &mut lbs,
                clock: &clock,
                stop,
            },
            &mut |event| match event {
                AnalysisEvent::WindowStarted { window, .. } => {
                    events.push(format!("start {window}"))
                }
                AnalysisEvent::WindowJudged {
                    window, decision, ..
                } => events.push(format!("judged {window}: {decision}")),
            },
        );
        (outcome, executor.calls().to_vec(), clock.slept())
    }

    #[test]
    fn a_failing_canary_is_judged_rollback_after_the_failure_limit_and_nothing_changes() {
        let mut events = Vec::new();
        let (outcome, calls, slept) = run_with((300, 80, 20), &AtomicBool::new(false), &mut events);
        let outcome = outcome.unwrap();
        assert!(
            matches!(outcome.decision, Decision::Rollback { .. }),
            "{outcome:?}"
        );
        assert_eq!(outcome.windows.len(), 2);
        assert!(matches!(outcome.windows[0].verdict, Verdict::Fail { .. }));
        assert_eq!(outcome.last().unwrap().metrics.canary.error_rate, Some(0.2));
        assert_eq!(slept, Duration::from_secs(20), "two windows of 10 s");
        assert!(
            calls
                .iter()
                .all(|c| matches!(c, Call::GroupApps(g) if g == "web")),
            "read-only: {calls:?}"
        );
        assert_eq!(events[0], "start 1");
        assert_eq!(events[1], "judged 1: continue");
        assert!(
            events[3].starts_with("judged 2: rollback: 2 of 2 windows failed"),
            "{events:?}"
        );
    }

    #[test]
    fn a_good_canary_is_promoted_after_every_window_and_no_traffic_stops() {
        let mut events = Vec::new();
        let (outcome, _, slept) = run_with((300, 100, 0), &AtomicBool::new(false), &mut events);
        assert_eq!(outcome.unwrap().decision, Decision::Promote);
        assert_eq!(slept, Duration::from_secs(30));

        let (outcome, _, _) = run_with((0, 0, 0), &AtomicBool::new(false), &mut events);
        let outcome = outcome.unwrap();
        assert!(
            matches!(outcome.decision, Decision::Stop { .. }),
            "{outcome:?}"
        );
        assert_eq!(outcome.tally.inconclusive, 2);
    }

    #[test]
    fn a_stop_request_ends_the_window_without_a_decision() {
        let mut events = Vec::new();
        let (outcome, _, slept) = run_with((300, 100, 0), &AtomicBool::new(true), &mut events);
        assert!(
            matches!(outcome, Err(AnalysisError::Interrupted { window: 1 })),
            "{outcome:?}"
        );
        assert_eq!(slept, Duration::ZERO);
    }
}
