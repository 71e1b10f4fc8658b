//! Marathon v2: apps, tasks and deployments, with a simulated scheduler.

use crate::config::SimConfig;
use crate::rng::SimRng;
use crate::state::Shared;
use axum::Router;

/// Marathon's state.
#[derive(Debug, Default)]
pub struct Marathon {}

impl Marathon {
    /// An empty Marathon.
    pub fn new(_config: &SimConfig) -> Self {
        Marathon::default()
    }

    /// Every app as `GET /v2/apps?embed=apps.tasks` shows it (marathon-lb
    /// reads this).
    pub fn apps_json(&self) -> Vec<serde_json::Value> {
        Vec::new()
    }

    /// Runs the scheduler up to `now_ms`.
    pub fn advance(&mut self, _now_ms: u64, _rng: &mut SimRng, _config: &SimConfig) {}
}

/// Marathon's routes (`/v2/...`), mounted at `/service/marathon`, `/marathon`
/// and the root.
pub fn routes() -> Router<Shared> {
    Router::new()
}
