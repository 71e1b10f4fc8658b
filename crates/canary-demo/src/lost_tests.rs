//! The negative control of the demo's claim "0 lost": the same traffic
//! through the same frontends, while the app is deleted with no drain at
//! all, must be counted as lost and fail the step's check. If it were not,
//! the demo's "0 lost" would prove nothing.

use crate::DemoConfig;
use crate::cluster::{ACCOUNT, DemoCluster};
use crate::story::{traffic_between, traffic_check};
use serde_json::json;
use std::time::{Duration, Instant};
use test_support::wait_until;

#[test]
fn an_app_deleted_under_traffic_is_counted_lost_and_fails_the_check() {
    let config = DemoConfig {
        // Only symlinked for the jobs, which this test runs none of.
        canary: std::env::current_exe().unwrap(),
        haproxy: None,
        speed: 10.0,
        stop: Default::default(),
    };
    let cluster = DemoCluster::start(&config).expect("the demo's cluster");
    let token = format!("token={}", cluster.sim.issue_token(ACCOUNT));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let apps = format!("{}/service/marathon/v2/apps", cluster.sim.dcos_url());
    let app = json!({
        "id": "/lost-blue", "instances": 2, "cpus": 0.1, "mem": 32,
        "container": {"type": "DOCKER", "docker": {"image": "nginx:1.25"},
                      "portMappings": [{"containerPort": 80, "hostPort": 0, "servicePort": 0}]},
        "networks": [{"mode": "container/bridge"}],
        "labels": {"HAPROXY_GROUP": "external", "HAPROXY_DEPLOYMENT_GROUP": "lost",
                   "HAPROXY_0_PORT": "10000"},
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0,
                          "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 2}]
    });
    let created = agent
        .post(&apps)
        .header("Authorization", &token)
        .send_json(&app)
        .expect("create the app");
    assert_eq!(created.status().as_u16(), 201);
    wait_until(Duration::from_secs(30), "the app served", || {
        cluster
            .responses(4)
            .iter()
            .all(|(image, _)| image.starts_with("nginx"))
    });

    let epoch = Instant::now();
    let traffic = cluster.traffic(epoch).expect("traffic");
    wait_until(Duration::from_secs(30), "answers before the delete", || {
        traffic
            .requests()
            .iter()
            .filter(|r| r.image.is_some())
            .count()
            >= 200
    });
    let deleted = agent
        .delete(&format!("{apps}/lost-blue?force=true"))
        .header("Authorization", &token)
        .call()
        .expect("delete the app");
    assert_eq!(deleted.status().as_u16(), 200);
    wait_until(Duration::from_secs(30), "requests after the delete", || {
        traffic
            .requests()
            .iter()
            .filter(|r| r.image.is_none())
            .count()
            >= 10
    });
    let requests = traffic.finish();

    let step = traffic_between(
        &requests,
        Duration::ZERO,
        epoch.elapsed() + Duration::from_secs(1),
    );
    assert!(step.lost >= 10, "{step:?}");
    assert!(step.requests > step.lost, "{step:?}");
    let check = traffic_check(&step);
    assert!(
        !check.ok,
        "a step that lost requests must fail: {}",
        check.what
    );
    assert!(check.what.contains(" lost "), "{}", check.what);
}
