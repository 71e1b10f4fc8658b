//! What each step of the demo did and saw.

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

/// One step of the story.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Its number, from 1.
    pub number: usize,
    /// What the step does.
    pub title: String,
    /// The command, as a user would type it.
    pub command: String,
    /// Its exit code (`None`: ended by a signal).
    pub exit_code: Option<i32>,
    /// The group's apps afterwards, by id.
    pub group: Vec<AppState>,
    /// Of the responses sampled through the frontend afterwards, how many
    /// came from each image (image, count), when the step sampled.
    pub responses: Vec<(String, u64)>,
    /// Whether it did what it should.
    pub ok: bool,
    /// What was checked, or what was wrong.
    pub verdict: String,
}

/// Every step played, in order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// How the marathon-lb instances served traffic: a real HAProxy (its
    /// path) or the sim's own frontend.
    pub load_balancer: String,
    /// The steps.
    pub steps: Vec<StepReport>,
}
