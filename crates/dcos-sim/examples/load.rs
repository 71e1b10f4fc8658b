//! Load on a simulated cluster over loopback: requests per second for
//! `GET /v2/apps` with 100 apps, and for starting job runs.
//!
//! ```text
//! cargo run --release -p dcos-sim --example load -- [SECONDS] [THREADS]
//! ```
//!
//! It starts the sim in-process on 127.0.0.1, loads 100 apps and one job
//! through the HTTP API, then runs THREADS client threads (keep-alive
//! connections) for SECONDS each phase. Every loop is bounded by time and
//! stops by itself.

use dcos_sim::{SimConfig, SimHandle};
use serde_json::json;
use std::time::{Duration, Instant};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Runs `threads` loops of `request` for `seconds`; returns (requests, failures).
fn hammer(
    threads: usize,
    seconds: f64,
    request: impl Fn(&ureq::Agent) -> bool + Sync,
) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let agent = agent();
                    let (mut ok, mut failed) = (0u64, 0u64);
                    while Instant::now() < deadline {
                        if request(&agent) {
                            ok += 1;
                        } else {
                            failed += 1;
                        }
                    }
                    (ok, failed)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("load thread"))
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5.0);
    let threads: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(4);
    let sim = SimHandle::start(SimConfig {
        time_scale: 1000.0,
        ..SimConfig::default()
    })?;
    let base = sim.dcos_url().to_owned();
    let client = agent();
    for i in 0..100 {
        let app = json!({
            "id": format!("/load/app-{i:03}"), "instances": 2, "cpus": 0.1, "mem": 32,
            "container": {"type": "DOCKER", "docker": {"image": "nginx:1.25"},
                          "portMappings": [{"containerPort": 80, "hostPort": 0, "servicePort": 10000 + i}]},
            "networks": [{"mode": "container/bridge"}],
            "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0}],
            "labels": {"HAPROXY_GROUP": "external"}
        });
        let status = client
            .post(&format!("{base}/service/marathon/v2/apps"))
            .send_json(&app)?
            .status();
        assert_eq!(status.as_u16(), 201, "creating app {i}");
    }
    let job = json!({"id": "load-job", "run": {"cmd": "true", "cpus": 0.1, "mem": 32, "disk": 0}});
    let status = client
        .post(&format!("{base}/service/metronome/v1/jobs"))
        .send_json(&job)?
        .status();
    assert_eq!(status.as_u16(), 201, "creating the job");

    let apps_url = format!("{base}/service/marathon/v2/apps");
    let check = client
        .get(&apps_url)
        .call()?
        .into_body()
        .read_json::<serde_json::Value>()?;
    assert_eq!(check["apps"].as_array().map(Vec::len), Some(100));
    let (ok, failed) = hammer(threads, seconds, |agent| {
        agent
            .get(&apps_url)
            .call()
            .ok()
            .filter(|r| r.status() == 200)
            .and_then(|r| r.into_body().read_to_vec().ok())
            .is_some()
    });
    println!(
        "GET /v2/apps (100 apps): {:.0} requests/s ({ok} ok, {failed} failed, {threads} threads, {seconds} s)",
        ok as f64 / seconds
    );

    let runs_url = format!("{base}/service/metronome/v1/jobs/load-job/runs");
    let (ok, failed) = hammer(threads, seconds, |agent| {
        agent
            .post(&runs_url)
            .send_empty()
            .ok()
            .filter(|r| r.status() == 201)
            .and_then(|r| r.into_body().read_to_vec().ok())
            .is_some()
    });
    println!(
        "POST /v1/jobs/ID/runs: {:.0} runs started/s ({ok} ok, {failed} failed, {threads} threads, {seconds} s)",
        ok as f64 / seconds
    );
    Ok(())
}
