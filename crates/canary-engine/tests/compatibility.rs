//! canary speaks zdd.py's label contract: the canary it prepares for the
//! group of marathon-lb's own fixtures is the app zdd.py's `test_hybrid`
//! expects (zdd.md §4), so marathon-lb drains for it and zdd.py can finish
//! what canary started; and the pre-kill hook runs with zdd.py's arguments
//! before each kill, a refusing hook stopping the phase with nothing killed.

mod common;

use canary_core::MarathonApp;
use canary_core::Phase;
use canary_core::clock::Timestamp;
use canary_core::plan::prepare;
use canary_core::{AppDefinition, CanaryApp};
use canary_engine::{HookError, PhaseError, PreKillHook};
use common::{app, cluster, request};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CANARY_SHARED_REFERENCE"))
        .join("marathon-lb")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
#[cfg_attr(
    not(canary_shared),
    ignore = "needs ../shared/reference (set CANARY_SHARED_DIR or place shared/ beside the repo)"
)]
fn the_canary_is_the_app_zdds_test_hybrid_expects() {
    for (input, group) in [
        ("1-nginx.json", "zdd_app_blue.json"),
        ("1-nginx-marathon1.5.json", "zdd_app_blue_marathon1.5.json"),
    ] {
        let rendered = CanaryApp::new(AppDefinition::from_value(fixture(input)).unwrap()).unwrap();
        let live = MarathonApp::group_from_marathon(&fixture(group), "nginx").unwrap();
        let canary = prepare::canary(
            &rendered,
            &live[0],
            1,
            None,
            Timestamp::from_unix_secs(1_454_338_298),
        );
        assert_eq!(canary["id"], "/nginx-blue", "{input}");
        assert_eq!(canary["instances"], 1, "{input}");
        let labels = &canary["labels"];
        for (key, value) in [
            ("HAPROXY_0_PORT", "10000"),
            ("HAPROXY_APP_ID", "nginx"),
            ("HAPROXY_DEPLOYMENT_COLOUR", "blue"),
            ("HAPROXY_DEPLOYMENT_NEW_INSTANCES", "1"),
            ("HAPROXY_DEPLOYMENT_TARGET_INSTANCES", "3"),
            ("HAPROXY_DEPLOYMENT_GROUP", "nginx"),
            ("HAPROXY_DEPLOYMENT_ALT_PORT", "10001"),
        ] {
            assert_eq!(labels[key], value, "{input}: {key}");
        }
        assert_eq!(
            labels["HAPROXY_DEPLOYMENT_STARTED_AT"],
            "2016-02-01T14:51:38.000000"
        );
        let ports: Vec<&Value> = [
            "/container/docker/portMappings/0/servicePort",
            "/container/portMappings/0/servicePort",
        ]
        .iter()
        .filter_map(|p| canary.pointer(p))
        .collect();
        assert_eq!(
            ports,
            [&Value::from(10001)],
            "{input}: the ALT port, where the port is"
        );
    }
}

/// Records each call; refuses when asked to.
struct Hook {
    calls: Vec<(String, Vec<String>, String)>,
    refuse: bool,
}

impl PreKillHook for Hook {
    fn before_kill(
        &mut self,
        old: &Value,
        ids: &[String],
        new: &Value,
        _stop: &dyn Fn() -> bool,
    ) -> Result<(), HookError> {
        self.calls.push((
            old["id"].as_str().unwrap_or("").to_owned(),
            ids.to_vec(),
            new["id"].as_str().unwrap_or("").to_owned(),
        ));
        if self.refuse {
            Err(HookError::Refused("the hook said no".into()))
        } else {
            Ok(())
        }
    }
}

fn deploy_with_hook(
    cluster: &common::Cluster,
    hook: &mut Hook,
) -> Result<canary_engine::Outcome, PhaseError> {
    cluster.drive_hooked(
        request(Phase::Deploy, "web", Some((app("web", "httpd:2.4"), 1))),
        Duration::from_secs(600),
        Some(hook),
        &mut |_| {},
    )
}

#[test]
fn the_pre_kill_hook_runs_before_each_kill_and_can_stop_it() {
    let cluster = cluster(1, 40);
    cluster.first_deploy("web", "nginx:1.25");
    let mut refusing = Hook {
        calls: Vec::new(),
        refuse: true,
    };
    let outcome = deploy_with_hook(&cluster, &mut refusing);
    assert!(
        matches!(outcome, Err(PhaseError::Hook(ref m)) if m.contains("the hook said no")),
        "{outcome:?}"
    );
    assert_eq!(refusing.calls.len(), 1);
    assert!(cluster.sim.kill_log().records.is_empty(), "nothing killed");
    let mut hook = Hook {
        calls: Vec::new(),
        refuse: false,
    };
    deploy_with_hook(&cluster, &mut hook).unwrap();
    let (old, ids, new) = &hook.calls[0];
    assert_eq!((old.as_str(), new.as_str()), ("/web-blue", "/web-green"));
    assert_eq!(ids.len(), 1);
    assert_eq!(cluster.sim.kill_log().records[0].task_id, ids[0]);
}
