//! The conformance suite against exec-http on dcos-sim.

mod common;

use canary_core::clock::ManualClock;
use canary_core::executor::Executor;
use common::{Cluster, SimHarness};
use exec_http::{Credentials, Endpoints, HttpConfig, HttpExecutor};
use executor_conformance::{Harness, recorded_waits, tiny_retries};
use std::sync::Arc;

/// With the conformance retry policy, waiting through `waits`.
fn executor_for(url: &str, credentials: Credentials, waits: Arc<ManualClock>) -> Box<dyn Executor> {
    let config = HttpConfig::new(Endpoints::dcos(url).expect("a DC/OS URL"))
        .with_credentials(credentials)
        .with_retry(tiny_retries())
        .with_clock(waits);
    Box::new(HttpExecutor::new(config).expect("an HTTP executor"))
}

fn http() -> Result<Box<dyn Harness>, String> {
    let cluster = Cluster::start();
    let waits = recorded_waits();
    let executor = executor_for(
        cluster.sim.dcos_url(),
        Credentials::Token(cluster.token()),
        waits.clone(),
    );
    Ok(Box::new(SimHarness {
        name: "exec-http on dcos-sim".to_owned(),
        cluster,
        executor,
        unauthenticated: Box::new(|c| {
            executor_for(c.sim.dcos_url(), Credentials::None, recorded_waits())
        }),
        unreachable: Box::new(|url| executor_for(url, Credentials::None, recorded_waits())),
        keep: None,
        waits,
    }))
}

executor_conformance::conformance_suite!(http;
    attributes: [];
    every_case_applicable;
);
