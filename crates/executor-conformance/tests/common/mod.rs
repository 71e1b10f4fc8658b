//! dcos-sim as a conformance cluster: authentication on, a manual clock,
//! and run hooks that end each run as its job's outcome label says.

#![allow(dead_code)]

use canary_core::clock::ManualClock;
use canary_core::executor::Executor;
use dcos_sim::faults::FaultRule;
use dcos_sim::metronome::{RunHook, RunPlan};
use dcos_sim::{SimConfig, SimHandle};
use executor_conformance::{Harness, NotApplicable, OUTCOME_LABEL};
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
        sim.set_run_hook_for_label(OUTCOME_LABEL, "failure", fail);
        sim.set_run_hook(Some(succeed));
        Cluster { sim }
    }

    /// A token the sim accepts.
    pub fn token(&self) -> String {
        self.sim.issue_token(USER)
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

/// Builds an executor for a cluster (or a URL) in a given state.
pub type MakeExecutor<T> = Box<dyn Fn(&T) -> Box<dyn Executor>>;

/// A harness on a [`Cluster`]: the executor under test and how to build
/// the unauthenticated and unreachable ones; `keep` holds what they need
/// alive (e.g. a CLI's configuration directory).
pub struct SimHarness {
    /// Names the executor.
    pub name: String,
    /// The sim.
    pub cluster: Cluster,
    /// The executor under test, authorised.
    pub executor: Box<dyn Executor>,
    /// An executor for the cluster without credentials.
    pub unauthenticated: MakeExecutor<Cluster>,
    /// An executor for a URL nothing answers.
    pub unreachable: MakeExecutor<str>,
    /// Dropped with the harness.
    pub keep: Option<tempfile::TempDir>,
    /// The waits of the executor under test (its clock).
    pub waits: Arc<ManualClock>,
}

impl Harness for SimHarness {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn executor(&mut self) -> &mut dyn Executor {
        self.executor.as_mut()
    }

    fn finish_runs(&mut self, _job_id: &str) {
        self.cluster.finish_runs();
    }

    fn add_app(&mut self, app: &Value) {
        self.cluster.add_app(app);
    }

    fn settle(&mut self) {
        // Past any start, health and deployment delay of the sim.
        self.cluster.sim.advance(Duration::from_secs(60));
    }

    fn runs_tasks(&self) -> Result<(), NotApplicable> {
        Ok(())
    }

    fn validates_specs(&self) -> Result<(), NotApplicable> {
        Ok(())
    }

    fn unauthenticated(&mut self) -> Result<Box<dyn Executor>, NotApplicable> {
        Ok((self.unauthenticated)(&self.cluster))
    }

    fn unreachable(&mut self) -> Result<Box<dyn Executor>, NotApplicable> {
        Ok((self.unreachable)(&closed_url()))
    }

    fn inject_fault(&mut self, rule: &Value) -> Result<(), NotApplicable> {
        let rule: FaultRule = serde_json::from_value(rule.clone()).expect("a dcos-sim fault rule");
        self.cluster.sim.add_fault(rule);
        Ok(())
    }

    fn retry_waits(&self) -> Vec<Duration> {
        self.waits.sleeps()
    }

    fn job_count(&self) -> usize {
        self.cluster.sim.job_ids().len()
    }

    fn active_run_count(&self, job_id: &str) -> usize {
        self.cluster.sim.active_run_ids(job_id).len()
    }
}
