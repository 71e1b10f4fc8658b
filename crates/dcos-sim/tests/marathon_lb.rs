//! marathon-lb's stats over HTTP, built from the sim's Marathon apps.

mod common;

use common::{get, send};
use dcos_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// A JSON file of the upstream reference data (build.rs decides whether it
/// is there; the tests that read it are ignored, with the reason, if not).
fn shared_file(rel: &str) -> Value {
    let path = PathBuf::from(env!("CANARY_SHARED_REFERENCE")).join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The server rows (`pxname,svname,…`) of a backend in a CSV dump.
fn servers<'a>(csv: &'a str, backend: &str) -> Vec<Vec<&'a str>> {
    csv.lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[0] == backend && f[1] != "FRONTEND" && f[1] != "BACKEND")
        .collect()
}

#[test]
#[cfg_attr(
    not(canary_shared),
    ignore = "needs ../shared/reference (set CANARY_SHARED_DIR or place shared/ beside the repo)"
)]
fn zdd_apps_fixture_shows_one_backend_with_one_server_in_maint() {
    let apps = shared_file("marathon-lb/zdd_apps.json");
    let sim = SimHandle::start(SimConfig {
        control: true,
        time_scale: 0.0,
        marathon_lb_count: 2,
        ..SimConfig::default()
    })
    .unwrap();
    let loaded = send(
        "POST",
        &format!("{}/__sim/marathon/apps", sim.dcos_url()),
        &[],
        Some(&apps),
    );
    assert_eq!(loaded.status, 201, "{}", loaded.body);
    assert_eq!(loaded.json()["loaded"], 2);
    for lb in sim.lb_urls() {
        let csv = get(&format!("{lb}/haproxy?stats;csv"));
        assert_eq!(csv.status, 200);
        assert!(csv.content_type.starts_with("text/plain"));
        let backends: std::collections::BTreeSet<&str> = csv
            .body
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .filter(|p| *p != "stats")
            .collect();
        assert_eq!(backends.into_iter().collect::<Vec<_>>(), ["nginx_10000"]);
        let rows = servers(&csv.body, "nginx_10000");
        assert_eq!(rows.len(), 4);
        let maint: Vec<&str> = rows
            .iter()
            .filter(|f| f[17] == "MAINT")
            .map(|f| f[1])
            .collect();
        assert_eq!(maint, ["10_0_6_25_31184"]);
        assert_eq!(
            get(&format!("{lb}/_haproxy_getpids"))
                .body
                .split_whitespace()
                .count(),
            2
        );
    }
}

#[test]
fn a_canary_group_drains_the_old_app_and_traffic_and_reloads_show() {
    let sim = SimHandle::start(SimConfig {
        control: true,
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .unwrap();
    let base = sim.dcos_url();
    let app = |id: &str, instances: u64, port: u64, started: &str, extra: Value| {
        let mut labels = json!({"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_0_PORT": "10000",
                                "HAPROXY_DEPLOYMENT_STARTED_AT": started, "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "3"});
        labels
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"id": id, "instances": instances, "cmd": "serve", "cpus": 0.1, "mem": 32,
               "portDefinitions": [{"port": port}], "labels": labels,
               "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0}]})
    };
    let post = |body: Value| {
        assert_eq!(
            send("POST", &format!("{base}/v2/apps"), &[], Some(&body)).status,
            201
        )
    };
    post(app("/web-blue", 3, 10000, "2026-01-01T00:00:00", json!({})));
    sim.advance(Duration::from_secs(60));
    post(app(
        "/web-green",
        1,
        10001,
        "2026-01-02T00:00:00",
        json!({"HAPROXY_DEPLOYMENT_NEW_INSTANCES": "1"}),
    ));
    let lb = &sim.lb_urls()[0];
    // Before the canary passes its health check, nothing is drained.
    let csv = get(&format!("{lb}/haproxy?stats;csv")).body;
    assert_eq!(
        servers(&csv, "web_10000").len(),
        3,
        "unhealthy canary left out:\n{csv}"
    );
    assert!(servers(&csv, "web_10000").iter().all(|f| f[17] == "UP"));
    sim.advance(Duration::from_secs(60));
    let csv = get(&format!("{lb}/haproxy?stats;csv")).body;
    let rows = servers(&csv, "web_10000");
    assert_eq!(rows.len(), 4, "{csv}");
    let maint: Vec<&str> = rows
        .iter()
        .filter(|f| f[17] == "MAINT")
        .map(|f| f[1])
        .collect();
    assert_eq!(
        maint.len(),
        1,
        "one old task drained for one healthy canary:\n{csv}"
    );

    // Sessions and queue on the drained server, then a reload.
    let traffic = json!({"server": maint[0], "sessions": 2, "queued": 1});
    assert_eq!(
        send(
            "POST",
            &format!("{base}/__sim/lb/traffic"),
            &[],
            Some(&traffic)
        )
        .status,
        200
    );
    let csv = get(&format!("{lb}/haproxy?stats;csv")).body;
    let row = servers(&csv, "web_10000")
        .into_iter()
        .find(|f| f[1] == maint[0])
        .unwrap()
        .join(",");
    let fields: Vec<&str> = row.split(',').collect();
    assert_eq!((fields[2], fields[4]), ("1", "2"), "qcur and scur: {row}");
    let reload = json!({"lb": 0, "reloading": true});
    assert_eq!(
        send(
            "POST",
            &format!("{base}/__sim/lb/reloading"),
            &[],
            Some(&reload)
        )
        .status,
        200
    );
    assert_eq!(
        get(&format!("{lb}/_haproxy_getpids"))
            .body
            .split_whitespace()
            .count(),
        3
    );
}
