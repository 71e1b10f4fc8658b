//! dcos-sim as a conformance cluster: authentication on, a manual clock,
//! and run hooks that end each run as its job's outcome label says.

#![allow(dead_code)]

use dcos_sim::metronome::{RunHook, RunPlan};
use dcos_sim::{SimConfig, SimHandle};
use executor_conformance::OUTCOME_LABEL;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How long a conformance run takes, in cluster time.
const RUN_TIME: Duration = Duration::from_secs(60);

/// The sim's default user.
pub const USER: &str = "bootstrapuser";
/// Its password.
pub const PASSWORD: &str = "deleteme";

/// A started sim and what the harnesses need of it.
pub struct Cluster {
    /// The running sim.
    pub sim: SimHandle,
}

impl Cluster {
    /// A fresh sim: auth on, the clock still until advanced, runs of jobs
    /// labelled `conformance.outcome=failure` failing after [`RUN_TIME`],
    /// every other run succeeding after it.
    pub fn start() -> Cluster {
        let sim = SimHandle::start(SimConfig {
            auth: true,
            time_scale: 0.0,
            ..SimConfig::default()
        })
        .expect("the sim starts");
        let fail: RunHook = Arc::new(|_| RunPlan::failure(RUN_TIME));
        let succeed: RunHook = Arc::new(|_| RunPlan::success(RUN_TIME));
        sim.with_cluster(|c| {
            c.metronome
                .set_run_hook_for_label(OUTCOME_LABEL, "failure", fail);
            c.metronome.set_run_hook(Some(succeed));
        });
        Cluster { sim }
    }

    /// A token the sim accepts.
    pub fn token(&self) -> String {
        self.sim.with_cluster(|c| c.iam.issue_token(USER, c.now_ms))
    }

    /// Lets every active run finish (the sim's clock moves past their end).
    pub fn finish_runs(&self) {
        self.sim.advance(RUN_TIME * 2);
    }

    /// `POST /service/marathon/v2/apps` with a token.
    pub fn add_app(&self, app: &Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let reply = agent
            .post(&format!("{}/service/marathon/v2/apps", self.sim.dcos_url()))
            .header("Authorization", &format!("token={}", self.token()))
            .send_json(app)
            .expect("the sim answers");
        assert_eq!(reply.status().as_u16(), 201, "adding {app}");
    }
}

/// A loopback URL nothing listens on (a port bound, then released).
pub fn closed_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    format!("http://127.0.0.1:{port}")
}
