//! The conformance suite against canary-core's recording fake.

use executor_conformance::{FakeHarness, Harness};

fn fake() -> Result<Box<dyn Harness>, String> {
    Ok(Box::new(FakeHarness::new()))
}

executor_conformance::conformance_suite!(fake);
