//! DC/OS IAM: login with uid and password or a service login token, and the
//! token check Admin Router applies to every other request.

use crate::config::SimConfig;
use crate::rng::SimRng;
use crate::state::Shared;
use axum::Router;
use axum::http::HeaderMap;

/// IAM's state.
#[derive(Debug, Default)]
pub struct Iam {}

impl Iam {
    /// IAM with the configured accounts.
    pub fn new(_config: &SimConfig, _rng: &mut SimRng) -> Self {
        Iam::default()
    }

    /// Whether a request carries a valid token (header `token=`, `Bearer`, or
    /// the `dcos-acs-auth-cookie` cookie).
    pub fn is_authorized(&self, _headers: &HeaderMap, _now_ms: u64) -> bool {
        false
    }
}

/// IAM's routes (`/acs/api/v1/auth/...`).
pub fn routes() -> Router<Shared> {
    Router::new()
}
