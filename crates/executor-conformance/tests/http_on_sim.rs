//! The conformance suite against exec-http on dcos-sim.

mod common;

use canary_core::executor::Executor;
use common::{Cluster, closed_url};
use exec_http::{Credentials, Endpoints, HttpConfig, HttpExecutor, RetryPolicy};
use executor_conformance::{Harness, NotApplicable};
use serde_json::Value;

struct HttpHarness {
    cluster: Cluster,
    executor: HttpExecutor,
}

fn executor_for(url: &str, credentials: Credentials) -> HttpExecutor {
    let config = HttpConfig::new(Endpoints::dcos(url).expect("a DC/OS URL"))
        .with_credentials(credentials)
        .with_retry(RetryPolicy::no_retries());
    HttpExecutor::new(config).expect("an HTTP executor")
}

impl Harness for HttpHarness {
    fn name(&self) -> String {
        "exec-http on dcos-sim".to_owned()
    }

    fn executor(&mut self) -> &mut dyn Executor {
        &mut self.executor
    }

    fn finish_runs(&mut self, _job_id: &str) {
        self.cluster.finish_runs();
    }

    fn add_app(&mut self, app: &Value) {
        self.cluster.add_app(app);
    }

    fn validates_specs(&self) -> Result<(), NotApplicable> {
        Ok(())
    }

    fn unauthenticated(&mut self) -> Result<Box<dyn Executor>, NotApplicable> {
        Ok(Box::new(executor_for(
            self.cluster.sim.dcos_url(),
            Credentials::None,
        )))
    }

    fn unreachable(&mut self) -> Result<Box<dyn Executor>, NotApplicable> {
        Ok(Box::new(executor_for(&closed_url(), Credentials::None)))
    }
}

fn http() -> Result<Box<dyn Harness>, String> {
    let cluster = Cluster::start();
    let executor = executor_for(cluster.sim.dcos_url(), Credentials::Token(cluster.token()));
    Ok(Box::new(HttpHarness { cluster, executor }))
}

executor_conformance::conformance_suite!(http);
