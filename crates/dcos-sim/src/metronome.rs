//! Metronome v1: jobs and runs.

use crate::config::SimConfig;
use crate::rng::SimRng;
use crate::state::Shared;
use axum::Router;

/// Metronome's state.
#[derive(Debug, Default)]
pub struct Metronome {}

impl Metronome {
    /// An empty Metronome.
    pub fn new(_config: &SimConfig) -> Self {
        Metronome::default()
    }

    /// Progresses job runs up to `now_ms`.
    pub fn advance(&mut self, _now_ms: u64, _rng: &mut SimRng, _config: &SimConfig) {}
}

/// Metronome's routes (`/v1/...`), mounted at `/service/metronome` and the root.
pub fn routes() -> Router<Shared> {
    Router::new()
}
