//! Properties of the engine against dcos-sim (the independent model of
//! Marathon and marathon-lb; no second model is written here), over random
//! clusters: group sizes 1–40, canary steps, health delays, canaries that
//! never get healthy, sessions that linger on drained servers, one to three
//! load balancers that lag each other and reload, and interruptions at any
//! step. Checked on the sim's own records:
//!
//! * no task is killed while a load balancer has sessions or a queue on it,
//!   or still routes to it;
//! * healthy serving capacity never drops below the target minus the
//!   canary's step;
//! * after a rollout only the new app remains, at the target; after a
//!   rollback only the previous app, at its count before the canary;
//! * a phase interrupted and resumed ends where it would have;
//! * every phase ends (done, or a clear failure) within its timeout.

mod common;

use canary_core::Phase;
use canary_engine::PhaseError;
use common::{Cluster, cluster_with, request};
use dcos_sim::lb::SessionDrain;
use proptest::prelude::*;
use std::time::Duration;

/// One random cluster and what is done to it.
#[derive(Debug, Clone)]
struct Case {
    instances: u32,
    canary: u32,
    lbs: usize,
    lb_delays: Vec<u64>,
    reload_window_ms: u64,
    health_delay_s: u64,
    drain: Option<(u64, u64)>,
    broken: bool,
    rollout: bool,
    interrupt_after: Option<usize>,
    seed: u64,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        (1u32..=40, 1u32..=3, 1usize..=3),
        (
            proptest::collection::vec(0u64..=8, 3),
            0u64..=2_000,
            1u64..=20,
        ),
        (
            proptest::option::of((1u64..=4, 1u64..=60)),
            proptest::bool::weighted(0.2),
        ),
        (
            any::<bool>(),
            proptest::option::of(1usize..=6),
            any::<u64>(),
        ),
    )
        .prop_map(
            |(
                (instances, canary, lbs),
                (lb_delays, reload_window_ms, health_delay_s),
                (drain, broken),
                (rollout, interrupt_after, seed),
            )| Case {
                instances,
                canary: canary.min(instances),
                lbs,
                lb_delays,
                reload_window_ms,
                health_delay_s,
                drain,
                broken,
                rollout,
                interrupt_after,
                seed,
            },
        )
}

/// The example app for group `web` at `instances`.
fn app(image: &str, instances: u32) -> canary_core::CanaryApp {
    let mut definition = common::app("web", image).into_definition().into_value();
    definition["instances"] = serde_json::json!(instances);
    canary_core::CanaryApp::new(canary_core::AppDefinition::from_value(definition).unwrap())
        .unwrap()
}

/// Generous: every round of a 40-instance rollout waits its health delay
/// and its drains.
const TIMEOUT: Duration = Duration::from_secs(6 * 3600);

fn run(case: &Case) -> Result<(), TestCaseError> {
    let cluster: Cluster = cluster_with(case.lbs, case.seed, |c| {
        c.health_delay = Duration::from_secs(case.health_delay_s);
        c.lb_reload_window = Duration::from_millis(case.reload_window_ms);
        c.session_drain = case.drain.map(|(sessions, secs)| SessionDrain {
            sessions,
            duration: Duration::from_secs(secs),
        });
    });
    for (lb, delay) in case.lb_delays.iter().take(case.lbs).enumerate() {
        cluster
            .sim
            .set_lb_update_delay(lb, Duration::from_secs(*delay));
    }
    let deploy =
        |image: &str, n: u32| request(Phase::Deploy, "web", Some((app(image, case.instances), n)));
    let (first, _) = cluster.drive(deploy("nginx:1.25", 1), TIMEOUT);
    first.map_err(|e| TestCaseError::fail(format!("first deploy: {e}")))?;
    let mark = cluster.sim.capacity_mark();
    let floor = case.instances - case.canary;

    let image = if case.broken {
        "httpd:2.4-broken"
    } else {
        "httpd:2.4"
    };
    let mut canary = deploy(image, case.canary);
    canary.limits.health_timeout = Duration::from_secs(120);
    let (outcome, steps) = cluster.drive(canary, TIMEOUT);
    if case.broken {
        prop_assert!(
            matches!(outcome, Err(PhaseError::RolledBack { .. })),
            "{outcome:?} {steps:?}"
        );
        prop_assert_eq!(
            cluster.apps("web"),
            vec![(
                "/web-blue".to_owned(),
                case.instances,
                case.instances as usize,
                "nginx:1.25".to_owned()
            )]
        );
    } else {
        outcome.map_err(|e| TestCaseError::fail(format!("deploy: {e} {steps:?}")))?;
        let apps = cluster.apps("web");
        prop_assert_eq!(apps.len(), 2);
        prop_assert_eq!(
            (apps[0].1, apps[1].1),
            (case.instances - case.canary, case.canary),
            "{:?}",
            apps
        );

        let phase = if case.rollout {
            Phase::Rollout
        } else {
            Phase::Rollback
        };
        let mut last = request(phase, "web", None);
        if let Some(after) = case.interrupt_after {
            let (outcome, _) = cluster.drive_interrupted(last.clone(), after);
            match outcome {
                Err(PhaseError::Interrupted { .. }) | Ok(_) => {}
                other => {
                    return Err(TestCaseError::fail(format!(
                        "interrupted {phase}: {other:?}"
                    )));
                }
            }
            last.canary.image = Some(image.to_owned());
        }
        let (outcome, steps) = cluster.drive(last, TIMEOUT);
        outcome.map_err(|e| TestCaseError::fail(format!("{phase}: {e} {steps:?}")))?;
        let expected = if case.rollout {
            (
                "/web-green".to_owned(),
                case.instances,
                case.instances as usize,
                "httpd:2.4".to_owned(),
            )
        } else {
            (
                "/web-blue".to_owned(),
                case.instances,
                case.instances as usize,
                "nginx:1.25".to_owned(),
            )
        };
        prop_assert_eq!(cluster.apps("web"), vec![expected]);
    }
    let unsafe_kills = cluster.unsafe_kills();
    prop_assert!(unsafe_kills.is_empty(), "{:?}", unsafe_kills);
    let least = cluster
        .sim
        .min_capacity_since(&mark, "web")
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(
        least >= floor as usize,
        "capacity fell to {} below {}",
        least,
        floor
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn phases_are_safe_complete_and_resumable(case in cases()) {
        run(&case)?;
    }
}
