//! A run's report for people: what a deploy, a traffic ladder or an
//! analysis did, as structured data ([`RunReport`]) and as one
//! self-contained HTML page with pictures ([`html`]).
//!
//! # The model
//!
//! A [`RunReport`] is a timeline, in milliseconds from its start:
//!
//! * [`Marker`]s: what happened when (a phase started or ended, the canary
//!   reached a ladder step, an analysis decided), each with whether it went
//!   well;
//! * [`TrafficBucket`]s: how many responses each version served in each
//!   interval (the demo counts every request it sent; a real run's log has
//!   the canary's and the baseline's counts from each analysis read or
//!   window);
//! * [`AnalysisPoint`]s: the canary's and the baseline's error rate and
//!   mean response time at each window or read, with its verdict.
//!
//! [`from_events`] builds one from any `--events json` log (one JSON
//! object per line, as `canary deploy|rollout|rollback|promote|analyze
//! --events json` print them); the demo builds one from its own traffic
//! and its commands' events. [`html`] draws it: the share of responses per
//! version over time with the markers, and the two sides' error rates and
//! response times with the verdicts. The pictures are SVG written
//! directly (a few primitives: no plotting crate, no font files, no
//! script), so the page needs nothing but a browser and shows the same
//! everywhere.

mod events;
mod html;

pub use events::{ReportError, from_events};
pub use html::html;

use serde::Serialize;
use std::collections::BTreeMap;

/// The most bytes [`from_events`] reads (a day of reads every second is
/// well under it).
pub const MAX_EVENTS_BYTES: usize = 64 * 1024 * 1024;

/// Something that happened at a moment of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Marker {
    /// When, in ms from the run's start.
    pub at_ms: u64,
    /// What, in a few words (`step 2 of 3: 2 of 4`, `rollout done`).
    pub label: String,
    /// Whether it went well (`None`: neither, e.g. a start).
    pub ok: Option<bool>,
}

/// The responses each version served in one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrafficBucket {
    /// The interval's start, in ms from the run's start.
    pub at_ms: u64,
    /// Its length, in ms.
    pub width_ms: u64,
    /// Responses by version (an image, or `canary`/`baseline`).
    pub by_version: BTreeMap<String, u64>,
}

/// One side's numbers at an analysis point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SidePoint {
    /// Requests counted.
    pub requests: u64,
    /// Errors among them over requests; `None` without requests.
    pub error_rate: Option<f64>,
    /// The mean response time, ms; `None` without responses.
    pub mean_response_ms: Option<f64>,
}

/// The analysis at one window or read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalysisPoint {
    /// When it was judged, in ms from the run's start.
    pub at_ms: u64,
    /// `window 2`, `read 7`.
    pub label: String,
    /// The canary's numbers.
    pub canary: SidePoint,
    /// The baseline's, when there was one.
    pub baseline: Option<SidePoint>,
    /// `pass`, `fail`, `inconclusive` (a window) or the decision after a
    /// read (`continue`, `promote`, `rollback`, `stop`).
    pub verdict: String,
}

/// A run, ready to be shown.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunReport {
    /// The page's title.
    pub title: String,
    /// Lines that say what the run proves, with their numbers (`56,204
    /// requests through marathon-lb, 0 lost`).
    pub claims: Vec<String>,
    /// What happened when.
    pub markers: Vec<Marker>,
    /// The responses per version over time.
    pub traffic: Vec<TrafficBucket>,
    /// The analysis, window by window or read by read.
    pub analysis: Vec<AnalysisPoint>,
    /// How long the run took, in ms.
    pub duration_ms: u64,
}

impl RunReport {
    /// The versions in the traffic, in the order they first served.
    pub fn versions(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for bucket in &self.traffic {
            for (version, n) in &bucket.by_version {
                if *n > 0 && !seen.contains(version) {
                    seen.push(version.clone());
                }
            }
        }
        seen
    }
}
