//! The original README's story, natively: testapp on nginx with 4
//! instances; a canary of httpd gives 3 old + 1 new, both served; a
//! rollout ends with 4 new and the old app gone; from a fresh canary, a
//! rollback ends with the old app at 4 and the canary gone. Checked on the
//! sim's own records: no task killed while it had sessions, and serving
//! capacity never below 3.

mod common;

use canary_core::Phase;
use common::{app, cluster, request};
use std::time::Duration;

const MINUTES: Duration = Duration::from_secs(600);

#[test]
fn deploy_then_rollout_then_a_second_canary_rolled_back() {
    let cluster = cluster(2, 1);

    let (first, steps) = cluster.drive(
        request(
            Phase::Deploy,
            "testapp",
            Some((app("testapp", "nginx:1.25"), 1)),
        ),
        MINUTES,
    );
    first.unwrap();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(
        cluster.apps("testapp"),
        [("/testapp-blue".into(), 4, 4, "nginx:1.25".into())]
    );
    // From here on, 4 serve; a kill may leave no fewer than 4 - 1.
    let mark = cluster.sim.capacity_mark();

    let (canary, steps) = cluster.drive(
        request(
            Phase::Deploy,
            "testapp",
            Some((app("testapp", "httpd:2.4"), 1)),
        ),
        MINUTES,
    );
    let done = canary.unwrap();
    assert_eq!(
        cluster.apps("testapp"),
        [
            ("/testapp-blue".into(), 3, 3, "nginx:1.25".into()),
            ("/testapp-green".into(), 1, 1, "httpd:2.4".into()),
        ],
        "{steps:?} {done:?}"
    );
    assert_eq!(
        steps.len(),
        2,
        "create the canary, kill one drained task: {steps:?}"
    );

    let (rollout, steps) = cluster.drive(request(Phase::Rollout, "testapp", None), MINUTES);
    rollout.unwrap();
    assert_eq!(
        cluster.apps("testapp"),
        [("/testapp-green".into(), 4, 4, "httpd:2.4".into())],
        "{steps:?}"
    );

    let (again, _) = cluster.drive(
        request(
            Phase::Deploy,
            "testapp",
            Some((app("testapp", "httpd:2.5"), 1)),
        ),
        MINUTES,
    );
    again.unwrap();
    let (rollback, steps) = cluster.drive(request(Phase::Rollback, "testapp", None), MINUTES);
    rollback.unwrap();
    assert_eq!(
        cluster.apps("testapp"),
        [("/testapp-green".into(), 4, 4, "httpd:2.4".into())],
        "{steps:?}"
    );

    let kills = cluster.sim.kill_log();
    assert!(!kills.records.is_empty() && kills.dropped == 0);
    for kill in &kills.records {
        assert!(!kill.had_traffic(), "killed with sessions: {kill:?}");
        assert!(!kill.was_serving(), "killed while serving: {kill:?}");
    }
    let least = cluster.sim.min_capacity_since(&mark, "testapp").unwrap();
    assert!(least >= 3, "capacity fell to {least}");
}

/// zdd.py crashes on an app with `portDefinitions` only (host networking,
/// zdd.md §12.1); canary deploys, rolls out and moves the port where it is.
#[test]
fn an_app_with_port_definitions_only_is_canaried_and_rolled_out() {
    let host_app = |image: &str| {
        canary_core::CanaryApp::new(
            canary_core::AppDefinition::from_value(serde_json::json!({
                "id": "/hostapp", "instances": 3, "cpus": 0.1, "mem": 64,
                "container": {"type": "DOCKER", "docker": {"image": image}},
                "portDefinitions": [{"port": 10500, "protocol": "tcp", "name": "http"}],
                "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0}],
                "labels": {"HAPROXY_DEPLOYMENT_GROUP": "hostapp", "HAPROXY_DEPLOYMENT_ALT_PORT": "10501"}
            }))
            .unwrap(),
        )
        .unwrap()
    };
    let cluster = cluster(1, 2);
    for (image, phase) in [("nginx:1.25", Phase::Deploy), ("httpd:2.4", Phase::Deploy)] {
        let (outcome, steps) = cluster.drive(
            request(phase, "hostapp", Some((host_app(image), 1))),
            MINUTES,
        );
        outcome.unwrap_or_else(|e| panic!("{e} {steps:?}"));
    }
    let (outcome, _) = cluster.drive(request(Phase::Rollout, "hostapp", None), MINUTES);
    outcome.unwrap();
    assert_eq!(
        cluster.apps("hostapp"),
        [("/hostapp-green".into(), 3, 3, "httpd:2.4".into())]
    );
    use canary_core::executor::Executor;
    let green = cluster.executor().group_apps("hostapp").unwrap().remove(0);
    assert_eq!(green.service_port, Some(10501), "{:?}", green.definition);
    assert_eq!(green.definition["portDefinitions"][0]["port"], 10501);
    assert!(cluster.unsafe_kills().is_empty());
}

/// zdd.py never sees the drain of a group with `/` (it looks for the
/// backend `prod/web_10000`, marathon-lb writes `prod_web_10000`, zdd.md
/// §12.8); canary names it as marathon-lb does.
#[test]
fn a_nested_group_is_deployed_and_rolled_out() {
    let nested = |image: &str| {
        let mut definition = app("web", image).into_definition().into_value();
        definition["id"] = serde_json::json!("/prod/web");
        definition["labels"]["HAPROXY_DEPLOYMENT_GROUP"] = serde_json::json!("prod/web");
        canary_core::CanaryApp::new(canary_core::AppDefinition::from_value(definition).unwrap())
            .unwrap()
    };
    let cluster = cluster(2, 3);
    for image in ["nginx:1.25", "httpd:2.4"] {
        let (outcome, steps) = cluster.drive(
            request(Phase::Deploy, "prod/web", Some((nested(image), 1))),
            MINUTES,
        );
        outcome.unwrap_or_else(|e| panic!("{e} {steps:?}"));
    }
    assert_eq!(cluster.apps("prod/web").len(), 2);
    let (outcome, _) = cluster.drive(request(Phase::Rollout, "prod/web", None), MINUTES);
    outcome.unwrap();
    assert_eq!(
        cluster.apps("prod/web"),
        [("/prod/web-green".into(), 4, 4, "httpd:2.4".into())]
    );
    assert!(cluster.unsafe_kills().is_empty());
}

/// A traffic ladder (`1,25%,50%` of 8): the canary climbs 1, 2, 4 with the
/// previous app at the rest (7, 6, 4) at every step, each step's growth
/// healthy before its drained tasks go, serving capacity never below the
/// target minus the growth, nothing killed with sessions; a step lower
/// than the canary is refused; then the rollout from the last step.
#[test]
fn a_canary_climbs_a_ladder_step_by_step_then_rolls_out() {
    let cluster = cluster(2, 11);
    let mut first = app("web", "nginx:1.25");
    // 8 instances: shares of the target make distinct steps.
    let eight = {
        let mut value = first.definition().clone().into_value();
        value["instances"] = 8.into();
        canary_core::CanaryApp::new(canary_core::AppDefinition::from_value(value).unwrap()).unwrap()
    };
    first = eight;
    cluster
        .drive(request(Phase::Deploy, "web", Some((first, 1))), MINUTES)
        .0
        .unwrap();
    let ladder = canary_core::plan::ladder::Ladder::parse("1,25%,50%").unwrap();
    let counts = ladder.counts(8);
    assert_eq!(counts, [1, 2, 4]);
    for (i, n) in counts.iter().enumerate() {
        let mut step = request(Phase::Deploy, "web", Some((app("web", "httpd:2.4"), *n)));
        step.deploy.as_mut().unwrap().steps = Some(ladder.clone());
        let (outcome, steps) = cluster.drive(step, MINUTES);
        outcome.unwrap_or_else(|e| panic!("step {i} ({n}): {e} {steps:?}"));
        assert_eq!(
            cluster.apps("web"),
            [
                (
                    "/web-blue".into(),
                    8 - n,
                    (8 - n) as usize,
                    "nginx:1.25".into()
                ),
                ("/web-green".into(), *n, *n as usize, "httpd:2.4".into()),
            ],
            "step {i}: {steps:?}"
        );
        let label = cluster.sim.app("/web-green").unwrap().labels["CANARY_STEPS"].clone();
        assert_eq!(label, "1,25%,50%");
        assert_eq!(ladder.reached(8, *n), Some(i));
    }
    // Back down a step: refused, nothing changed.
    let (lower, _) = cluster.drive(
        request(Phase::Deploy, "web", Some((app("web", "httpd:2.4"), 2))),
        MINUTES,
    );
    assert!(
        matches!(lower, Err(canary_engine::PhaseError::Refused(ref r)) if r.contains("4 of 8")),
        "{lower:?}"
    );
    let (rollout, _) = cluster.drive(request(Phase::Rollout, "web", None), MINUTES);
    rollout.unwrap();
    assert_eq!(
        cluster.apps("web"),
        [("/web-green".into(), 8, 8, "httpd:2.4".into())]
    );
    assert!(
        cluster.unsafe_kills().is_empty(),
        "{:?}",
        cluster.unsafe_kills()
    );
}
