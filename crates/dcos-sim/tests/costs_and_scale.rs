//! What a client costs the cluster (requests and bytes per class of
//! endpoint), and a cluster of the size canary must not burden: 150
//! unrelated apps of 5 serving tasks each beside a deployment group.

mod common;

use common::{create_app, get, group_app, send, unique_loopback, wait_until};
use dcos_sim::{CostClass, SimConfig, SimHandle};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[test]
fn costs_count_requests_and_bytes_per_class_and_reset() {
    let sim = SimHandle::start(SimConfig {
        time_scale: 0.0,
        control: true,
        lb_binds: vec![SocketAddr::from((unique_loopback(), 0))],
        ..SimConfig::default()
    })
    .unwrap();
    create_app(
        sim.dcos_url(),
        &group_app("/web-blue", "web", 10000, "httpd:2.4", 1, json!({})),
    );
    sim.reset_costs();
    let all = get(&format!("{}/v2/apps?embed=apps.tasks", sim.dcos_url()));
    let some = get(&format!(
        "{}/service/marathon/v2/apps?label=HAPROXY_DEPLOYMENT_GROUP%3D%3Dweb",
        sim.dcos_url()
    ));
    let lb = &sim.lb_urls()[0];
    let csv = get(&format!("{lb}/haproxy?stats;csv;scope=web"));
    let html = get(&format!("{lb}/haproxy?stats;norefresh"));
    get(&format!("{lb}/_haproxy_getpids"));
    get(&format!("{lb}/_haproxy_getpids"));
    get(&format!("{}/v2/deployments", sim.dcos_url()));
    get(&format!("{}/__sim/state", sim.dcos_url()));
    let costs = sim.costs();
    let of = |c| costs.of(c);
    assert_eq!(of(CostClass::MarathonAppsList).requests, 1);
    assert_eq!(of(CostClass::MarathonAppsList).bytes, all.body.len() as u64);
    assert_eq!(of(CostClass::MarathonAppsLabel).requests, 1);
    assert_eq!(
        of(CostClass::MarathonAppsLabel).bytes,
        some.body.len() as u64
    );
    assert_eq!(of(CostClass::LbStatsCsv).bytes, csv.body.len() as u64);
    assert_eq!(of(CostClass::LbStatsHtml).bytes, html.body.len() as u64);
    assert_eq!(of(CostClass::LbGetpids).requests, 2);
    assert_eq!(of(CostClass::MarathonOther).requests, 1);
    assert_eq!(of(CostClass::Metronome).requests, 0);
    // Over HTTP too; the control endpoints are not counted.
    let reported = get(&format!("{}/__sim/costs", sim.dcos_url())).json();
    assert_eq!(reported["classes"]["lb_getpids"]["requests"], 2);
    send(
        "DELETE",
        &format!("{}/__sim/costs", sim.dcos_url()),
        &[],
        None,
    );
    assert!(sim.costs().classes.is_empty(), "{:?}", sim.costs());
}

/// 150 apps of 5 tasks (750 task servers) beside a group of 4: the sim
/// starts them all and `GET /v2/apps?embed=apps.tasks` lists every one.
#[test]
fn a_cluster_of_150_apps_and_750_serving_tasks_runs() {
    let sim = SimHandle::start(SimConfig {
        time_scale: 20.0,
        lb_binds: vec![SocketAddr::from((unique_loopback(), 0))],
        ..SimConfig::default()
    })
    .unwrap();
    let started = Instant::now();
    create_app(
        sim.dcos_url(),
        &group_app("/web-blue", "web", 10000, "httpd:2.4", 4, json!({})),
    );
    for i in 0..150 {
        let app = json!({
            "id": format!("/fleet/app-{i:03}"), "instances": 5, "cpus": 0.01, "mem": 16,
            "container": {"type": "DOCKER", "docker": {"image": "nginx:1.25"},
                          "portMappings": [{"containerPort": 80, "hostPort": 0}]},
            "networks": [{"mode": "container/bridge"}],
            "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0,
                              "intervalSeconds": 5}]
        });
        create_app(sim.dcos_url(), &app);
    }
    let running = || -> (usize, usize) {
        let reply = get(&format!("{}/v2/apps?embed=apps.tasks", sim.dcos_url()));
        assert_eq!(reply.status, 200);
        let apps = reply.json()["apps"].as_array().unwrap().clone();
        let tasks = apps
            .iter()
            .flat_map(|a| a["tasks"].as_array().unwrap().clone())
            .filter(|t| t["state"] == "TASK_RUNNING")
            .count();
        (apps.len(), tasks)
    };
    wait_until(Duration::from_secs(120), "every task running", || {
        running() == (151, 754)
    });
    assert_eq!(sim.served_tasks(), 754);
    eprintln!(
        "151 apps and 754 serving tasks up in {:?}",
        started.elapsed()
    );
    let reply = get(&format!("{}/v2/apps?embed=apps.tasks", sim.dcos_url()));
    eprintln!("GET /v2/apps?embed=apps.tasks: {} bytes", reply.body.len());
}
