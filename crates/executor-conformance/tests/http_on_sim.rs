//! The conformance suite against exec-http on dcos-sim.

mod common;

use canary_core::executor::Executor;
use common::{Cluster, SimHarness};
use exec_http::{Credentials, Endpoints, HttpConfig, HttpExecutor, RetryPolicy};
use executor_conformance::Harness;

fn executor_for(url: &str, credentials: Credentials) -> Box<dyn Executor> {
    let config = HttpConfig::new(Endpoints::dcos(url).expect("a DC/OS URL"))
        .with_credentials(credentials)
        .with_retry(RetryPolicy::no_retries());
    Box::new(HttpExecutor::new(config).expect("an HTTP executor"))
}

fn http() -> Result<Box<dyn Harness>, String> {
    let cluster = Cluster::start();
    let executor = executor_for(cluster.sim.dcos_url(), Credentials::Token(cluster.token()));
    Ok(Box::new(SimHarness {
        name: "exec-http on dcos-sim".to_owned(),
        cluster,
        executor,
        unauthenticated: Box::new(|c| executor_for(c.sim.dcos_url(), Credentials::None)),
        unreachable: Box::new(|url| executor_for(url, Credentials::None)),
        keep: None,
    }))
}

executor_conformance::conformance_suite!(http);
