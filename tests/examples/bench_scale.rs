//! What one canary deploy + rollout costs the cluster, with and without a
//! crowd of unrelated apps (scripts/bench-scale runs it in release): on
//! dcos-sim (10x, one emulated marathon-lb), the `canary` binary given by
//! `CANARY_BIN` deploys testapp (4 instances; not measured), then a canary
//! of another image and its rollout are measured: the requests and
//! response bytes the sim served per kind (Marathon's app lists, the
//! marathon-lb stats pages, getpids: dcos-sim's cost records) and the CPU
//! the two canary processes used (their user + system time).
//!
//! Usage: CANARY_BIN=target/release/canary bench_scale [UNRELATED_APPS ...]
//! (default 0 150; each unrelated app runs 5 tasks)

use dcos_sim::costs::{CostClass, Costs};
use dcos_sim::{SimConfig, SimHandle};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The CPU this process's finished children used so far (user + system),
/// from /proc/self/stat (`cutime`, `cstime`, in clock ticks of 1/100 s).
fn children_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces) in parentheses.
    let after = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // cutime and cstime are fields 16 and 17 of the whole line: 13 and 14
    // after the name and state.
    let ticks: u64 = fields[13].parse::<u64>().unwrap() + fields[14].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn canary(bin: &PathBuf, sim: &SimHandle, args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin)
        .args(args)
        .args(["--app", "testapp", "--dcos-url", sim.dcos_url()])
        .args(["--marathon-lb", &sim.lb_urls()[0]])
        .env("DCOS_DIR", dir.path())
        .env_remove("DCOS_URL")
        .output()
        .expect("canary runs");
    assert!(
        out.status.success(),
        "canary {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `n` unrelated apps of 5 tasks each, every one healthy.
fn crowd(sim: &SimHandle, n: usize) {
    let marathon = format!("{}/v2/apps", sim.dcos_url());
    for i in 0..n {
        let app = json!({
            "id": format!("/crowd/app-{i}"), "instances": 5, "cpus": 0.1, "mem": 32,
            "container": {"type": "DOCKER", "docker": {"image": "nginx:1.25"},
                          "portMappings": [{"containerPort": 80, "hostPort": 0, "servicePort": 11000 + i}]},
            "networks": [{"mode": "container/bridge"}],
            "labels": {"HAPROXY_GROUP": "external", "HAPROXY_DEPLOYMENT_GROUP": format!("crowd-{i}")},
            "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0}]
        });
        let answer = ureq::post(&marathon).send_json(&app).expect("app created");
        assert_eq!(answer.status(), 201);
    }
    let started = Instant::now();
    while sim.served_tasks() < n * 5 {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the crowd's tasks serve within 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn kb(bytes: u64) -> String {
    format!("{:.1} kB", bytes as f64 / 1000.0)
}

fn main() {
    let bin = PathBuf::from(
        std::env::var("CANARY_BIN").unwrap_or_else(|_| "target/release/canary".into()),
    );
    let mut sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a count"))
        .collect();
    if sizes.is_empty() {
        sizes = vec![0, 150];
    }
    println!(
        "| unrelated apps (5 tasks each) | Marathon: requests, bytes | of which app lists | marathon-lb: requests, bytes | getpids | canary CPU (user+system) |"
    );
    println!("|---|---|---|---|---|---|");
    for n in sizes {
        let sim = SimHandle::start(SimConfig {
            time_scale: 10.0,
            lb_binds: vec!["127.0.0.29:0".parse().unwrap()],
            ..SimConfig::default()
        })
        .expect("the sim starts");
        crowd(&sim, n);
        canary(&bin, &sim, &["deploy", "--image", "nginx:1.25"]);
        sim.reset_costs();
        let cpu_before = children_cpu();
        canary(&bin, &sim, &["deploy", "--image", "httpd:2.4"]);
        canary(&bin, &sim, &["rollout", "--image", "httpd:2.4"]);
        let cpu = children_cpu() - cpu_before;
        let costs: Costs = sim.costs();
        let sum = |classes: &[CostClass]| {
            classes.iter().fold((0, 0), |(r, b), c| {
                let cost = costs.of(*c);
                (r + cost.requests, b + cost.bytes)
            })
        };
        let marathon = sum(&[
            CostClass::MarathonAppsList,
            CostClass::MarathonAppsLabel,
            CostClass::MarathonOther,
        ]);
        let lists = sum(&[CostClass::MarathonAppsList, CostClass::MarathonAppsLabel]);
        let lb = sum(&[
            CostClass::LbStatsCsv,
            CostClass::LbStatsHtml,
            CostClass::LbGetpids,
            CostClass::LbOther,
        ]);
        let getpids = costs.of(CostClass::LbGetpids);
        println!(
            "| {n} | {}, {} | {}, {} | {}, {} | {} | {:.2} s |",
            marathon.0,
            kb(marathon.1),
            lists.0,
            kb(lists.1),
            lb.0,
            kb(lb.1),
            getpids.requests,
            cpu.as_secs_f64()
        );
    }
}
