//! The driver of canary-core's canary analysis ([`canary_core::analysis`]):
//! it takes the windows, the pure module judges them.
//!
//! Two methods ([`Method`]): fixed windows judged by thresholds, or the
//! sequential test of [`canary_core::analysis::sequential`] judged at every
//! read (the private `sequential` module).
//!
//! Per window: `interval` of the handed clock between two readings of every
//! marathon-lb's stats and of the group's apps (the backend's port; who is
//! canary and who baseline, as they stand at the end); then
//! [`analyze_window`] and [`Sequence::record`], until the decision is
//! final. The reading that ends a window starts the next. Nothing on the
//! cluster is changed: acting on the decision (the next step, a rollout, a
//! rollback) is the caller's.

use crate::events::EngineEvent;
pub use crate::outcome::AnalysisOutcome;
use crate::session::Session;
use canary_core::MarathonApp;
pub use canary_core::analysis::Method;
use canary_core::analysis::{Checks, Roles, Sequence, SequencePolicy, Snapshot, analyze_window};
use canary_core::executor::{ExecError, Executor};
use canary_core::plan::LbQuery;
use canary_core::plan::intent::{AppIdentity, Binding, Moved};
use canary_core::plan::predict::by_started_at;
use canary_core::plan::sample::group_port;
use std::collections::BTreeMap;
use std::time::Duration;

mod sequential;

/// One analysis to drive: what to judge, by which rules.
#[derive(Debug, Clone)]
pub struct AnalysisRun {
    /// The deployment group (marathon-lb's backend is named after it).
    pub group: String,
    /// The canary the analysis is for (a climb's, as it left it); `None`:
    /// the canary in progress at the start. Either way the analysis is
    /// bound to the group's apps as it found them: a window in which they
    /// changed is void, and the analysis stops.
    pub canary: Option<AppIdentity>,
    /// What is analysed, in words for the events (`step 1 of 2 (1: 1 of
    /// 4)`, `the canary as it stands`).
    pub at: String,
    /// How it judges.
    pub method: Method,
    /// How long each window lasts (windows), or the time between two reads
    /// (sequential).
    pub interval: Duration,
}

/// Why an analysis did not reach a decision.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The group has no app, or none with a service port marathon-lb
    /// could name a backend by.
    #[error("{0}")]
    Unanalysable(String),
    /// No marathon-lb could be read: every window would be inconclusive.
    #[error("no marathon-lb could be read ({0})")]
    NoLoadBalancer(String),
    /// Someone else changed the group during window `window` (0: before
    /// the first): the window is void and the analysis stopped.
    #[error("the analysis stopped: {moved} (window {window} is void); nothing was changed")]
    Moved {
        /// The window it happened in.
        window: u32,
        /// What was found.
        moved: Moved,
    },
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
) -> Result<(Vec<MarathonApp>, u16), AnalysisError> {
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

/// Fails when no marathon-lb of the session can be read (each one's URL
/// and why): an analysis without one would only judge inconclusive
/// windows, so this is said before any of them.
pub fn probe(session: &mut Session<'_>, group: &str) -> Result<(), AnalysisError> {
    let views = session
        .lbs()
        .observe(&LbQuery::for_group(group, None, false));
    match crate::status::none_read(&views) {
        None => Ok(()),
        Some(why) => Err(AnalysisError::NoLoadBalancer(why)),
    }
}

/// Runs the analysis to its decision, telling the session's events about
/// every window or read; changes nothing.
pub fn analyze(
    session: &mut Session<'_>,
    run: AnalysisRun,
) -> Result<AnalysisOutcome, AnalysisError> {
    let AnalysisRun {
        group,
        canary,
        at,
        method,
        interval,
    } = run;
    session.emit(&EngineEvent::AnalysisStarted {
        group: &group,
        at: &at,
        method: &method,
        interval,
    });
    // Every backend of the group (the port may move between reads), and
    // the answering worker, which tells a reload apart; never getpids.
    let query = LbQuery::for_group(&group, None, true);
    let (apps, port) = read_group(session.executor(), &group)?;
    let mut binding = Binding::default();
    for app in &apps {
        binding.keep(app);
    }
    if let Some(canary) = canary {
        let newest = apps.last().expect("read_group returns at least one app");
        if !canary.is(newest) {
            return Err(AnalysisError::Moved {
                window: 0,
                moved: Moved::Gone { app: canary },
            });
        }
    }
    let start = Snapshot::for_group(&group, port, &session.lbs().observe(&query));
    let bound = Bound {
        group: &group,
        query,
        binding,
        port,
        start,
    };
    let outcome = match method {
        Method::Windows { checks, policy } => windows(session, bound, &checks, policy, interval)?,
        Method::Sequential(policy) => sequential::run(session, bound, policy, interval)?,
    };
    session.emit(&EngineEvent::AnalysisDone {
        group: &group,
        at: &at,
        outcome: &outcome,
    });
    Ok(outcome)
}

/// An analysis at its start: what it reads, what it is bound to, its first
/// reading.
struct Bound<'g> {
    group: &'g str,
    query: LbQuery,
    binding: Binding,
    port: u16,
    start: Snapshot,
}

impl Bound<'_> {
    /// The next reading, `n` (window or read): every marathon-lb, then the
    /// group, checked against the binding (a change voids `n`); the new
    /// snapshot of the backend the reading started on, the group's roles,
    /// and the snapshot to start the next from.
    fn read(
        &mut self,
        session: &mut Session<'_>,
        n: u32,
    ) -> Result<(Snapshot, Roles, Snapshot), AnalysisError> {
        let views = session.lbs().observe(&self.query);
        let (apps, next_port) = read_group(session.executor(), self.group)?;
        self.binding
            .check(&apps)
            .map_err(|moved| AnalysisError::Moved { window: n, moved })?;
        let end = Snapshot::for_group(self.group, self.port, &views);
        // Servers are named from task host and port; the engine's names
        // take the host as Marathon reports it (no address lookup), as
        // marathon-lb's do for hosts given as addresses.
        let roles = Roles::from_group(&apps, &BTreeMap::new())
            .expect("read_group returns at least one app");
        let next = if next_port == self.port {
            end.clone()
        } else {
            Snapshot::for_group(self.group, next_port, &views)
        };
        self.port = next_port;
        Ok((end, roles, next))
    }
}

/// Fixed windows: one reading ends a window and starts the next, so
/// windows follow each other without a gap, each costing one read of every
/// load balancer and of the group.
fn windows(
    session: &mut Session<'_>,
    mut bound: Bound<'_>,
    checks: &Checks,
    policy: SequencePolicy,
    interval: Duration,
) -> Result<AnalysisOutcome, AnalysisError> {
    let group = bound.group;
    let mut sequence = Sequence::new(policy);
    let mut windows = Vec::new();
    for window in 1..=policy.count() {
        session.emit(&EngineEvent::WindowStarted {
            group,
            window,
            of: policy.count(),
            interval,
        });
        if session.sleep(interval).is_err() {
            return Err(AnalysisError::Interrupted { window });
        }
        let (end, roles, next) = bound.read(session, window)?;
        let analysis = analyze_window(&bound.start, &end, &roles, checks);
        let decision = sequence.record(&analysis.verdict).clone();
        session.emit(&EngineEvent::WindowJudged {
            group,
            window,
            analysis: &analysis,
            decision: &decision,
            tally: sequence.tally(),
        });
        windows.push(analysis);
        bound.start = next;
        if decision.is_final() {
            break;
        }
    }
    Ok(AnalysisOutcome {
        decision: sequence.decision().clone(),
        tally: sequence.tally(),
        windows,
        sequential: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use canary_core::analysis::{Decision, SequentialPolicy, Verdict};
    use canary_core::clock::ManualClock;
    use canary_core::executor::{Call, RecordingExecutor};
    use canary_core::plan::stats::parse_stats_csv;
    use canary_core::plan::{LbSource, LbState, LbView};
    use serde_json::json;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    /// A marathon-lb whose counters grow by `per_read` (baseline 2xx,
    /// canary 2xx, canary 5xx) at every read.
    struct GrowingLb {
        reads: u64,
        per_read: (u64, u64, u64),
    }

    impl LbSource for GrowingLb {
        fn observe(&mut self, query: &LbQuery) -> Vec<LbView> {
            assert!(query.worker && query.keeps("web_10000"), "{query:?}");
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
                    worker: None,
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

    fn windows() -> Method {
        Method::Windows {
            checks: Checks::default(),
            policy: SequencePolicy::new(3, 2, 2).unwrap(),
        }
    }

    fn run_with(
        per_read: (u64, u64, u64),
        stop: bool,
        events: &mut Vec<String>,
    ) -> (Result<AnalysisOutcome, AnalysisError>, Vec<Call>, Duration) {
        run_method(per_read, stop, events, windows(), Duration::from_secs(10))
    }

    fn run_method(
        per_read: (u64, u64, u64),
        stop: bool,
        events: &mut Vec<String>,
        method: Method,
        interval: Duration,
    ) -> (Result<AnalysisOutcome, AnalysisError>, Vec<Call>, Duration) {
        let mut executor = executor();
        let clock = Arc::new(ManualClock::default());
        let outcome = {
            let mut session = Session::new(
                Box::new(&mut executor),
                Box::new(GrowingLb { reads: 0, per_read }),
                clock.clone(),
                Arc::new(AtomicBool::new(stop)),
                Box::new(|event: &EngineEvent<'_>| match event {
                    EngineEvent::WindowStarted { window, .. } => {
                        events.push(format!("start {window}"))
                    }
                    EngineEvent::WindowJudged {
                        window, decision, ..
                    } => events.push(format!("judged {window}: {decision}")),
                    EngineEvent::ReadJudged { report, .. } => {
                        events.push(format!("read {}: {}", report.read, report.decision))
                    }
                    _ => {}
                }),
            );
            analyze(
                &mut session,
                AnalysisRun {
                    group: "web".into(),
                    canary: None,
                    at: "the canary as it stands".into(),
                    method,
                    interval,
                },
            )
        };
        (outcome, executor.calls().to_vec(), clock.slept())
    }

    #[test]
    fn a_failing_canary_is_judged_rollback_after_the_failure_limit_and_nothing_changes() {
        let mut events = Vec::new();
        let (outcome, calls, slept) = run_with((300, 80, 20), false, &mut events);
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
                .all(|c| matches!(c, Call::MarathonApps(g) if g == "web")),
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
        let (outcome, _, slept) = run_with((300, 100, 0), false, &mut events);
        assert_eq!(outcome.unwrap().decision, Decision::Promote);
        assert_eq!(slept, Duration::from_secs(30));

        let (outcome, _, _) = run_with((0, 0, 0), false, &mut events);
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
        let (outcome, _, slept) = run_with((300, 100, 0), true, &mut events);
        assert!(
            matches!(outcome, Err(AnalysisError::Interrupted { window: 1 })),
            "{outcome:?}"
        );
        assert_eq!(slept, Duration::ZERO);
    }

    fn sequential(min_duration: u64, max_duration: u64) -> Method {
        Method::Sequential(SequentialPolicy {
            min_duration: Duration::from_secs(min_duration),
            max_duration: Duration::from_secs(max_duration),
            ..SequentialPolicy::default()
        })
    }

    #[test]
    fn the_sequential_analysis_reads_every_interval_and_decides_at_the_first_read_it_can() {
        // Canary 20% errors over 100 requests per read: the guard rail at
        // the first read with 100 canary requests.
        let mut events = Vec::new();
        let (outcome, calls, slept) = run_method(
            (300, 80, 20),
            false,
            &mut events,
            sequential(60, 600),
            Duration::from_secs(5),
        );
        let outcome = outcome.unwrap();
        assert!(
            matches!(outcome.decision, Decision::Rollback { .. }),
            "{outcome:?}"
        );
        assert_eq!(slept, Duration::from_secs(5), "one read");
        let report = outcome.sequential.unwrap();
        assert_eq!((report.read, report.canary.requests), (1, 100));
        assert!(
            calls
                .iter()
                .all(|c| matches!(c, Call::MarathonApps(g) if g == "web")),
            "read-only: {calls:?}"
        );
        assert!(
            events[0].starts_with("read 1: rollback: guard rail"),
            "{events:?}"
        );
        assert!(outcome.windows.is_empty());
    }

    #[test]
    fn a_sequential_analysis_without_traffic_stops_at_its_maximum_duration() {
        let mut events = Vec::new();
        let (outcome, _, slept) = run_method(
            (0, 0, 0),
            false,
            &mut events,
            sequential(10, 22),
            Duration::from_secs(5),
        );
        let outcome = outcome.unwrap();
        assert!(
            matches!(outcome.decision, Decision::Stop { .. }),
            "{outcome:?}"
        );
        // Reads at 5, 10, 15, 20 and at the maximum, 22: never past it.
        assert_eq!(slept, Duration::from_secs(22));
        assert_eq!(events.len(), 5, "{events:?}");
    }
}
