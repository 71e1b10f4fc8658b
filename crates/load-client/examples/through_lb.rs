//! Requests per second through one simulated marathon-lb, with the real
//! HAProxy (`--haproxy PATH`) or the sim's emulated frontend: a group of 4
//! tasks behind one frontend, `CONNECTIONS` keep-alive connections for
//! `SECONDS`, 10 % of them slow (50 ms). Used by `scripts/bench-lb`.
//!
//! `cargo run --release -p load-client --example through_lb -- SECONDS CONNECTIONS [HAPROXY]`

use dcos_sim::{SimConfig, SimHandle};
use load_client::{LoadClient, LoadConfig};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let connections: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(16);
    let haproxy = args.get(3).map(std::path::PathBuf::from);
    let ip = Ipv4Addr::new(127, 88, (std::process::id() % 250) as u8, 1);
    let sim = SimHandle::start(SimConfig {
        time_scale: 10.0,
        lb_binds: vec![SocketAddr::from((ip, 0))],
        haproxy: haproxy.clone(),
        ..SimConfig::default()
    })
    .expect("the sim starts");
    let app = serde_json::json!({
        "id": "/bench-blue", "instances": 4, "cpus": 0.1, "mem": 32,
        "container": {"type": "DOCKER", "docker": {"image": "httpd:2.4"},
                      "portMappings": [{"containerPort": 80, "hostPort": 0}]},
        "networks": [{"mode": "container/bridge"}],
        "labels": {"HAPROXY_DEPLOYMENT_GROUP": "bench", "HAPROXY_0_PORT": "10000"},
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0, "intervalSeconds": 1}]
    });
    ureq::post(format!("{}/v2/apps", sim.dcos_url()))
        .send_json(&app)
        .expect("the app is created");
    let frontend = format!("http://{ip}:10000");
    let deadline = Instant::now() + Duration::from_secs(30);
    // Every task UP in the stats, then the load.
    loop {
        let csv = ureq::get(format!("{}/haproxy?stats;csv", sim.lb_urls()[0]))
            .call()
            .ok()
            .and_then(|r| r.into_body().read_to_string().ok())
            .unwrap_or_default();
        let up = csv
            .lines()
            .filter(|l| l.starts_with("bench_10000,127_") && l.contains(",UP,"))
            .count();
        if up == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tasks did not come up: {csv}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let client = LoadClient::start(LoadConfig {
        max_requests: 1_000_000,
        max_duration: Duration::from_secs_f64(seconds),
        slow_share: 0.1,
        slow_ms: 50,
        ..LoadConfig::new(frontend, connections)
    })
    .expect("the load starts");
    while !client.finished() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = client.stop();
    let summary = report.summary();
    let mode = if haproxy.is_some() {
        "real haproxy"
    } else {
        "emulated frontend"
    };
    println!(
        "{mode}: {} requests in {:.1} s = {:.0} requests/s, {} failed, {connections} connections",
        summary.total,
        report.elapsed.as_secs_f64(),
        summary.total as f64 / report.elapsed.as_secs_f64(),
        summary.failed()
    );
}
