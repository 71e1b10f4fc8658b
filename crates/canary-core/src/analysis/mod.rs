//! Automated canary analysis from marathon-lb's own counters, as pure
//! data: counters in, verdict out.
//!
//! # The model
//!
//! Every marathon-lb counts, per server, what a canary analysis needs
//! (marathon-lb-haproxy.md §6): responses by class, connection and
//! response errors, aborts, and an average response time. A driver outside
//! this crate reads the stats of every marathon-lb at the start and at the
//! end of each window; this module does the rest:
//!
//! 1. [`counters`]: one server's [`Counters`] from its stats row: the
//!    cumulative `hrsp_1xx`..`hrsp_other`, `econ`, `eresp`, `cli_abrt`,
//!    `srv_abrt` (and `stot`), and the `rtime` gauge.
//! 2. [`snapshot`]: a [`Snapshot`] is every load balancer's rows of the
//!    group's backend; [`delta`] turns two into what each server served in
//!    the window, per load balancer. A counter that went down means a new
//!    HAProxy process (marathon-lb reloads on every change), whose counts
//!    are taken as they are: never a negative rate, never more than was
//!    served. A load balancer not read at both ends adds nothing.
//! 3. [`metrics`](mod@metrics): servers map to tasks by marathon-lb's
//!    names; the newest app's tasks are the canary, the previous app's the
//!    baseline ([`Roles`]). Per side, summed over every load balancer:
//!    requests (responses, plus the failed connections and response errors
//!    that got none), errors (5xx, failed connections, response errors),
//!    the error rate and the mean response time weighted by responses.
//!    Servers on neither side are reported, not counted.
//! 4. [`verdict`]: the [`Checks`] (maximum error rate, maximum increase
//!    over the baseline, maximum latency ratio, minimum requests per side)
//!    give each window a [`Verdict`]: pass, fail (the failed checks with
//!    value and limit) or inconclusive (with the reasons), inside a
//!    [`WindowAnalysis`] that carries every number behind it. A fail needs
//!    evidence of failure; a pass needs all the evidence.
//! 5. [`sequence`]: over the windows, the [`Decision`]: continue, promote,
//!    roll back after too many failing windows, or stop (leave the canary
//!    as it is) after too many inconclusive ones. Missing data never rolls
//!    a canary back and never promotes one.
//!
//! [`analyze_window`] runs steps 2 to 4 for one window.
//!
//! # Driving it
//!
//! The driver validates the [`Checks`] and builds the [`SequencePolicy`]
//! once (their [`PolicyError`]s name the field; the binary words them as
//! flags), then per window: [`Snapshot::for_group`] of every marathon-lb
//! at the start and at the end (the backend of the group's port), the
//! [`Roles`] of the group's apps as observed at the end, [`analyze_window`],
//! and [`Sequence::record`] of the verdict until the [`Decision`] is final.
//! A [`WindowAnalysis`] and a [`Decision`] serialise to the stable JSON of
//! `--events json` and `canary analyze --json`; their `Display` is the
//! one-line human wording.
//!
//! ```
//! use canary_core::analysis::{Checks, Roles, Snapshot, Verdict, analyze_window};
//! use canary_core::MarathonApp;
//! use canary_core::plan::{LbState, LbView};
//! use canary_core::plan::stats::parse_stats_csv;
//! use std::collections::BTreeMap;
//!
//! let app = |id: &str, started: &str, port: u16| MarathonApp::from_marathon(&serde_json::json!({
//!     "id": id, "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_STARTED_AT": started},
//!     "tasks": [{"id": format!("{id}.1"), "host": "10.0.0.1", "ports": [port]}]
//! })).unwrap();
//! let apps = [app("/web-blue", "2026-01-01T00:00:00", 31000), app("/web-green", "2026-02-01T00:00:00", 31001)];
//! let lb = |blue: u64, green_ok: u64, green_5xx: u64| [LbView {
//!     url: "http://10.0.0.2:9090".into(),
//!     state: LbState::Stats { worker: None, rows: parse_stats_csv(&format!(
//!         "# pxname,svname,status,scur,qcur,hrsp_2xx,hrsp_5xx,rtime\n\
//!          web_10000,10_0_0_1_31000,UP,0,0,{blue},0,10\n\
//!          web_10000,10_0_0_1_31001,UP,0,0,{green_ok},{green_5xx},12\n")).unwrap() },
//! }];
//! let roles = Roles::from_group(&apps, &BTreeMap::new()).unwrap();
//! let start = Snapshot::for_group("web", 10000, &lb(1000, 0, 0));
//! let end = Snapshot::for_group("web", 10000, &lb(1400, 160, 40));
//! let window = analyze_window(&start, &end, &roles, &Checks::default());
//! assert!(matches!(window.verdict, Verdict::Fail { .. }));
//! assert_eq!(window.metrics.canary.error_rate, Some(0.2));
//! ```

pub mod counters;
pub mod error;
pub mod method;
pub mod metrics;
pub mod sequence;
pub mod sequential;
pub mod snapshot;
pub mod verdict;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod verdict_tests;

pub use counters::Counters;
pub use error::PolicyError;
pub use method::Method;
pub use metrics::{Roles, Side, SideMetrics, UnmatchedServer, WindowMetrics, metrics};
pub use sequence::{Decision, Sequence, SequencePolicy, Tally, decide};
pub use sequential::{SequentialAnalysis, SequentialPolicy, SequentialReport};
pub use snapshot::{
    LbCoverage, LbDelta, LbSnapshot, LbStatus, Snapshot, WindowDelta, WindowEnd, delta,
};
pub use verdict::{
    CheckName, CheckOutcome, CheckResult, Checks, InconclusiveReason, Verdict, WindowAnalysis,
    judge,
};

/// One window judged: the [`delta`] from `start` to `end`, its [`metrics`](fn@metrics)
/// by `roles`, and the [`judge`]ment by `checks`.
pub fn analyze_window(
    start: &Snapshot,
    end: &Snapshot,
    roles: &Roles,
    checks: &Checks,
) -> WindowAnalysis {
    judge(metrics(&delta(start, end), roles), checks)
}
