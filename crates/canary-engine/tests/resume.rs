//! Interrupted phases resume: all state is the cluster's. Also a
//! deployment lock and a Marathon leader change during a phase, and a group
//! described by marathon-lb's own upstream fixture finished by canary.

mod common;

use canary_core::Phase;
use canary_engine::PhaseError;
use common::{app, cluster, request};
use dcos_sim::faults::{FaultAction, FaultRule};
use std::time::Duration;

const TEN_MINUTES: Duration = Duration::from_secs(600);

/// A rollout stopped after each of its steps in turn, then rerun, ends
/// exactly where an uninterrupted one does.
#[test]
fn a_rollout_interrupted_after_any_step_resumes_to_the_same_end() {
    for stop_after in 1..=5 {
        let cluster = cluster(2, 20 + stop_after as u64);
        cluster.first_deploy("web", "nginx:1.25");
        let (outcome, _) = cluster.drive(
            request(Phase::Deploy, "web", Some((app("web", "httpd:2.4"), 1))),
            TEN_MINUTES,
        );
        outcome.unwrap();
        let (outcome, steps) =
            cluster.drive_interrupted(request(Phase::Rollout, "web", None), stop_after);
        assert!(
            matches!(outcome, Err(PhaseError::Interrupted { .. })),
            "{stop_after}: {outcome:?} {steps:?}"
        );
        // The rerun knows the canary only by its image, as the command that
        // resumes gives it.
        let mut resumed = request(Phase::Rollout, "web", None);
        resumed.canary.image = Some("httpd:2.4".into());
        let (outcome, _) = cluster.drive(resumed, TEN_MINUTES);
        outcome.unwrap_or_else(|e| panic!("{stop_after}: {e}"));
        assert_eq!(
            cluster.apps("web"),
            [("/web-green".into(), 4, 4, "httpd:2.4".into())],
            "{stop_after}"
        );
        assert!(cluster.unsafe_kills().is_empty(), "{stop_after}");
    }
}

/// A deploy stopped right after creating the canary resumes (its canary is
/// recognised by image and count, not refused as someone else's).
#[test]
fn a_deploy_interrupted_after_creating_the_canary_resumes() {
    let cluster = cluster(1, 30);
    cluster.first_deploy("web", "nginx:1.25");
    let deploy = request(Phase::Deploy, "web", Some((app("web", "httpd:2.4"), 1)));
    let (outcome, _) = cluster.drive_interrupted(deploy.clone(), 1);
    assert!(
        matches!(outcome, Err(PhaseError::Interrupted { .. })),
        "{outcome:?}"
    );
    let (outcome, steps) = cluster.drive(deploy, TEN_MINUTES);
    outcome.unwrap();
    assert_eq!(steps.len(), 1, "only the kill was left: {steps:?}");
    assert_eq!(cluster.apps("web")[0].1, 3);
}

/// Marathon answers 409 "locked by a deployment" to two scales and 503 to
/// every request for 10 s (a leader election) in the middle of a rollout:
/// the executor's retries wait both out and the rollout completes.
#[test]
fn a_deployment_lock_and_a_leader_change_during_a_rollout_are_waited_out() {
    let cluster = cluster(1, 31);
    cluster.first_deploy("web", "nginx:1.25");
    let (outcome, _) = cluster.drive(
        request(Phase::Deploy, "web", Some((app("web", "httpd:2.4"), 1))),
        TEN_MINUTES,
    );
    outcome.unwrap();
    cluster.sim.add_fault(FaultRule {
        method: Some("PUT".into()),
        path_prefix: "/service/marathon/v2/apps".into(),
        lb: None,
        action: FaultAction::Status {
            code: 409,
            body: Some(serde_json::json!({
                "message": "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
                "deployments": [{"id": "97c136bf-5a28-4821-9d94-480d9fbb01c8"}]})),
        },
        times: Some(2),
        rate: None,
        until_ms: None,
    });
    cluster.sim.add_fault(FaultRule::leader_change(
        "/service/marathon",
        cluster.sim.now_ms(),
        10_000,
    ));
    let (outcome, _) = cluster.drive(request(Phase::Rollout, "web", None), TEN_MINUTES);
    outcome.unwrap();
    assert_eq!(
        cluster.apps("web"),
        [("/web-green".into(), 4, 4, "httpd:2.4".into())]
    );
    assert!(
        cluster.sim.fault_rules().iter().all(|r| r.times != Some(2)),
        "the locks were met"
    );
}

/// marathon-lb's own test fixture (`zdd_apps.json`): green with 3 tasks,
/// blue with 1, neither labelled NEW_INSTANCES. canary rolls blue out to
/// its target of 3 and deletes green, killing only drained tasks.
#[test]
#[cfg_attr(
    not(canary_shared),
    ignore = "needs ../shared/reference (set CANARY_SHARED_DIR or place shared/ beside the repo)"
)]
fn a_group_from_marathon_lbs_fixture_is_rolled_out() {
    let path =
        std::path::Path::new(env!("CANARY_SHARED_REFERENCE")).join("marathon-lb/zdd_apps.json");
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let cluster = cluster(1, 32);
    cluster
        .sim
        .load_apps_response(&fixture)
        .expect("the fixture loads");
    let (outcome, steps) = cluster.drive(request(Phase::Rollout, "nginx", None), TEN_MINUTES);
    outcome.unwrap_or_else(|e| panic!("{e} {steps:?}"));
    let apps = cluster.apps("nginx");
    assert_eq!(apps.len(), 1, "{apps:?}");
    assert_eq!((apps[0].0.as_str(), apps[0].1), ("/nginx-blue", 3));
    assert!(
        cluster.unsafe_kills().is_empty(),
        "{:?}",
        cluster.unsafe_kills()
    );
}
