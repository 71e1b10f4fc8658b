//! marathon-lb as zdd.py sees it: `/haproxy?stats;csv` and
//! `/_haproxy_getpids`, built from the cluster's apps by marathon-lb's rules.

use crate::config::SimConfig;
use crate::state::Shared;
use axum::Router;

/// marathon-lb's simulated sessions and queues.
#[derive(Debug, Default)]
pub struct MarathonLb {}

impl MarathonLb {
    /// marathon-lb with no sessions.
    pub fn new(_config: &SimConfig) -> Self {
        MarathonLb::default()
    }
}

/// The routes of marathon-lb instance `index`.
pub fn routes(_index: usize) -> Router<Shared> {
    Router::new()
}
