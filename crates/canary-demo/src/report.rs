//! What each step of the demo did and saw, as structured data (the JSON of
//! `canary demo --report FILE.json`), and the run's timeline for the
//! pictures (`--report FILE.html`).

use serde::Serialize;

/// One Marathon app of the group, as the cluster showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppState {
    /// The app id, e.g. `/testapp-green`.
    pub id: String,
    /// Its wanted instance count.
    pub instances: u64,
    /// Its tasks that pass their health checks.
    pub healthy: u64,
    /// Its container image.
    pub image: String,
}

/// One thing a step verified on the cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What was verified, with what was seen (`/testapp-green: 1 of 1
    /// healthy, httpd:2.4`).
    pub what: String,
    /// Whether it was as it should be.
    pub ok: bool,
}

/// The requests through marathon-lb while a step ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StepTraffic {
    /// Requests that finished during the step.
    pub requests: u64,
    /// Of which answered by no version of the app (a reset, a refused
    /// connection, a timeout, HAProxy's own 503): lost.
    pub lost: u64,
    /// Answers by image, with how many of them were 5xx from the app
    /// itself: (image, answers, 5xx).
    pub by_image: Vec<(String, u64, u64)>,
    /// The median time to an answer, in µs.
    pub median_us: u64,
}

/// One step of the story.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Its number, from 1.
    pub number: usize,
    /// What the step does, in one plain sentence.
    pub title: String,
    /// The command, as a user would type it.
    pub command: String,
    /// Its exit code (`None`: ended by a signal, or it could not run).
    pub exit_code: Option<i32>,
    /// The group's apps afterwards, by id.
    pub group: Vec<AppState>,
    /// Of the responses sampled through the frontend afterwards, how many
    /// came from each image (image, count), when the step sampled.
    pub responses: Vec<(String, u64)>,
    /// The background requests through marathon-lb during the step, once
    /// they run (from the second step on).
    pub traffic: Option<StepTraffic>,
    /// Everything verified, each with its outcome.
    pub checks: Vec<Check>,
    /// Whether it did what it should (every check passed).
    pub ok: bool,
    /// When it started and ended, in ms on the demo's timeline.
    pub started_ms: u64,
    /// When it ended.
    pub ended_ms: u64,
}

/// Every step played, in order, and the run's timeline.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// How the marathon-lb instances served traffic: a real HAProxy (its
    /// path) or the sim's own frontend.
    pub load_balancer: String,
    /// What the demo proves, with its numbers.
    pub claims: Vec<String>,
    /// The steps.
    pub steps: Vec<StepReport>,
    /// The timeline for the pictures: the traffic per version, the steps,
    /// the analysis reads.
    pub run: canary_report::RunReport,
}
