//! The engine where zdd.py fails: a canary that never gets healthy, a
//! rollback of one, slow drains, load balancers that disagree, a lasting
//! drain, a second deploy, and refusals.

mod common;

use canary_core::Phase;
use canary_core::clock::{Clock, Timestamp};
use canary_core::plan::{ReloadLinger, Step};
use canary_engine::{EngineEvent, PhaseError};
use common::{app, cluster, cluster_with, request};
use dcos_sim::faults::FaultAction;
use dcos_sim::lb::SessionDrain;
use std::time::Duration;

const TEN_MINUTES: Duration = Duration::from_secs(600);

/// zdd.py waits forever on a canary that never gets healthy. The engine
/// gives it the health timeout, then removes it: the live app never lost
/// a task (nothing was drained for a canary that never served).
#[test]
fn a_canary_that_never_gets_healthy_is_removed_and_the_deploy_fails() {
    let cluster = cluster(2, 3);
    cluster.first_deploy("web", "nginx:1.25");
    let mut broken = request(
        Phase::Deploy,
        "web",
        Some((app("web", "httpd:2.4-broken"), 1)),
    );
    broken.limits.health_timeout = Duration::from_secs(60);
    let (outcome, steps) = cluster.drive(broken, TEN_MINUTES);
    match outcome {
        Err(PhaseError::RolledBack { reason, now }) => {
            assert!(reason.contains("0 of 1 tasks healthy after 1m"), "{reason}");
            assert!(now.contains("/web-blue"), "{now}");
        }
        other => panic!("{other:?} {steps:?}"),
    }
    assert_eq!(
        steps,
        [
            "create /web-green (1 instance(s) of httpd:2.4-broken)",
            "delete /web-green"
        ]
    );
    assert_eq!(
        cluster.apps("web"),
        [("/web-blue".into(), 4, 4, "nginx:1.25".into())]
    );
    assert!(
        cluster.unsafe_kills().is_empty(),
        "{:?}",
        cluster.unsafe_kills()
    );
}

/// `--keep-failed-canary` leaves it for debugging; the rollback zdd.py
/// cannot do (its server is never drained: marathon-lb never listed it)
/// removes it, the live app untouched.
#[test]
fn a_failed_canary_kept_for_debugging_is_rolled_back() {
    let cluster = cluster(2, 4);
    cluster.first_deploy("web", "nginx:1.25");
    let mut broken = request(
        Phase::Deploy,
        "web",
        Some((app("web", "httpd:2.4-broken"), 1)),
    );
    broken.limits.health_timeout = Duration::from_secs(30);
    broken.limits.keep_failed_canary = true;
    let (outcome, _) = cluster.drive(broken, TEN_MINUTES);
    assert!(
        matches!(outcome, Err(PhaseError::Failed { .. })),
        "{outcome:?}"
    );
    assert_eq!(cluster.apps("web").len(), 2, "kept");
    let (outcome, steps) = cluster.drive(request(Phase::Rollback, "web", None), TEN_MINUTES);
    outcome.unwrap();
    assert_eq!(
        steps,
        ["delete /web-green"],
        "nothing to restore, nothing to drain"
    );
    assert_eq!(
        cluster.apps("web"),
        [("/web-blue".into(), 4, 4, "nginx:1.25".into())]
    );
}

/// Sessions linger 90 s on every drained server: the engine kills nothing
/// until they end (checked on the sim's kill log), then finishes.
#[test]
fn slow_drains_are_waited_out_and_nothing_is_killed_with_sessions() {
    let cluster = cluster_with(2, 5, |c| {
        c.session_drain = Some(SessionDrain {
            sessions: 3,
            duration: Duration::from_secs(90),
        });
    });
    cluster.first_deploy("web", "nginx:1.25");
    let before = cluster.sim.now_ms();
    let (outcome, _) = cluster.drive(
        request(Phase::Deploy, "web", Some((app("web", "httpd:2.4"), 1))),
        TEN_MINUTES,
    );
    outcome.unwrap();
    let (outcome, _) = cluster.drive(request(Phase::Rollout, "web", None), TEN_MINUTES);
    outcome.unwrap();
    assert_eq!(
        cluster.apps("web"),
        [("/web-green".into(), 4, 4, "httpd:2.4".into())]
    );
    assert!(
        cluster.unsafe_kills().is_empty(),
        "{:?}",
        cluster.unsafe_kills()
    );
    assert!(
        cluster.sim.now_ms() - before >= 90_000 * 4,
        "each of the 4 drains lasted its 90 s"
    );
}

/// A drain that outlasts the drain timeout stops the phase, resumable,
/// naming the task and its sessions; with kill-after-drain-timeout it
/// kills anyway, and the sim's kill log shows the sessions it had (the
/// control: the log does catch such a kill).
#[test]
fn a_lasting_drain_stops_the_phase_unless_killing_anyway_is_asked() {
    let cluster = cluster_with(1, 6, |c| {
        c.session_drain = Some(SessionDrain {
            sessions: 2,
            duration: Duration::from_secs(3600),
        });
    });
    cluster.first_deploy("web", "nginx:1.25");
    let mut deploy = request(Phase::Deploy, "web", Some((app("web", "httpd:2.4"), 1)));
    deploy.limits.drain_timeout = Duration::from_secs(20);
    let (outcome, _) = cluster.drive(deploy.clone(), TEN_MINUTES);
    match outcome {
        Err(PhaseError::Failed { reason, actions }) => {
            assert!(reason.contains("did not finish within 20s"), "{reason}");
            assert!(reason.contains("2 session(s)"), "{reason}");
            assert_eq!(actions, 1, "the canary was created");
        }
        other => panic!("{other:?}"),
    }
    assert!(cluster.unsafe_kills().is_empty());
    deploy.limits.kill_after_drain_timeout = true;
    let (outcome, steps) = cluster.drive(deploy, TEN_MINUTES);
    outcome.unwrap();
    assert!(
        steps[0].contains("with 2 session(s) still open"),
        "{steps:?}"
    );
    let unsafe_kills = cluster.unsafe_kills();
    assert_eq!(unsafe_kills.len(), 1, "{unsafe_kills:?}");
}

/// A drained server is killed only once the readings have shown it
/// `MAINT` for the reload linger (the old haproxy worker of the reload that
/// drained it finishing its requests), measured from the first reading
/// that showed it so; a reload on its own (getpids would list an old worker
/// forever here) blocks nothing: canary never asks getpids.
#[test]
fn a_drained_server_waits_out_the_reload_linger_and_a_reload_alone_blocks_nothing() {
    let cluster = cluster(1, 8);
    cluster.first_deploy("web", "nginx:1.25");
    cluster.sim.set_reloading(0, true);
    let mut deploy = request(Phase::Deploy, "web", Some((app("web", "httpd:2.4"), 1)));
    deploy.limits.reload_linger = ReloadLinger::Fixed(Duration::from_secs(7));
    let clock = cluster.clock.clone();
    let now = || clock.now();
    let mut first_linger = None;
    let mut killed_at = None;
    let outcome = cluster.drive_with(deploy, TEN_MINUTES, &mut |event| match event {
        EngineEvent::Waiting { wait, waited, .. } if wait.key.starts_with("linger:") => {
            first_linger.get_or_insert(now().since(Timestamp::default()) - *waited);
            assert!(
                wait.reason.contains("old haproxy worker"),
                "{}",
                wait.reason
            );
        }
        EngineEvent::Acting {
            step: Step::Kill { .. },
            ..
        } => {
            killed_at.get_or_insert(now().since(Timestamp::default()));
        }
        _ => {}
    });
    outcome.unwrap();
    let (first_linger, killed_at) = (first_linger.unwrap(), killed_at.unwrap());
    let lingered = killed_at - first_linger;
    assert!(
        lingered >= Duration::from_secs(7) && lingered < Duration::from_secs(9),
        "killed {lingered:?} after the first linger wait"
    );
    assert_eq!(cluster.sim.kill_log().records.len(), 1);
    assert!(
        cluster.unsafe_kills().is_empty(),
        "{:?}",
        cluster.unsafe_kills()
    );
}

/// One marathon-lb adopts changes 8 s after the other: nothing is killed
/// until both show the server drained, and the phase ends only once both
/// agree with Marathon.
#[test]
fn load_balancers_that_disagree_are_both_waited_for() {
    let cluster = cluster(2, 7);
    cluster.sim.set_lb_update_delay(1, Duration::from_secs(8));
    cluster.first_deploy("web", "nginx:1.25");
    let (outcome, _) = cluster.drive(
        request(Phase::Deploy, "web", Some((app("web", "httpd:2.4"), 1))),
        TEN_MINUTES,
    );
    outcome.unwrap();
    let (outcome, _) = cluster.drive(request(Phase::Rollout, "web", None), TEN_MINUTES);
    outcome.unwrap();
    assert_eq!(
        cluster.apps("web"),
        [("/web-green".into(), 4, 4, "httpd:2.4".into())]
    );
    assert!(
        cluster.unsafe_kills().is_empty(),
        "{:?}",
        cluster.unsafe_kills()
    );
}

/// A second deploy of another image while a canary is in progress is
/// refused, changing nothing; the same deploy again is a no-op.
#[test]
fn a_second_deploy_is_refused_and_a_rerun_changes_nothing() {
    let cluster = cluster(1, 8);
    cluster.first_deploy("web", "nginx:1.25");
    let (outcome, _) = cluster.drive(
        request(Phase::Deploy, "web", Some((app("web", "httpd:2.4"), 1))),
        TEN_MINUTES,
    );
    outcome.unwrap();
    let before = cluster.apps("web");
    let (outcome, steps) = cluster.drive(
        request(Phase::Deploy, "web", Some((app("web", "httpd:2.5"), 1))),
        TEN_MINUTES,
    );
    match outcome {
        Err(PhaseError::Refused(reason)) => assert!(
            reason.contains("a canary is already in progress"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(steps.is_empty());
    let (outcome, steps) = cluster.drive(
        request(Phase::Deploy, "web", Some((app("web", "httpd:2.4"), 1))),
        TEN_MINUTES,
    );
    outcome.unwrap();
    assert!(steps.is_empty(), "{steps:?}");
    assert_eq!(cluster.apps("web"), before);
}

/// Rollout and rollback need a canary; an empty group has nothing.
#[test]
fn phases_without_a_canary_are_refused() {
    let cluster = cluster(1, 9);
    for phase in [Phase::Rollout, Phase::Rollback] {
        let (outcome, _) = cluster.drive(request(phase, "web", None), TEN_MINUTES);
        assert!(
            matches!(outcome, Err(PhaseError::Refused(ref r)) if r.contains("has no app")),
            "{outcome:?}"
        );
    }
    cluster.first_deploy("web", "nginx:1.25");
    for phase in [Phase::Rollout, Phase::Rollback] {
        let (outcome, _) = cluster.drive(request(phase, "web", None), TEN_MINUTES);
        assert!(
            matches!(outcome, Err(PhaseError::Refused(ref r)) if r.contains("no canary in progress")),
            "{outcome:?}"
        );
    }
}

/// A marathon-lb that cannot be read before the first change refuses the
/// phase with nothing changed; one that stops answering mid-phase is
/// waited for (nothing is killed without its view), but not forever: an
/// outage longer than the drain timeout ends the phase with the load
/// balancer named, nothing killed, and a rerun after it is back finishes
/// the deploy.
#[test]
fn an_unreadable_load_balancer_is_waited_for_up_to_the_drain_timeout() {
    let cluster = cluster(2, 9);
    cluster.first_deploy("web", "nginx:1.25");
    let outage = || {
        cluster.sim.fail_lb(
            1,
            FaultAction::Status {
                code: 503,
                body: None,
            },
            Duration::from_secs(3600),
        )
    };
    let mut deploy = request(Phase::Deploy, "web", Some((app("web", "httpd:2.4"), 1)));
    deploy.limits.drain_timeout = Duration::from_secs(30);
    let lb = &cluster.sim.lb_urls()[1];

    outage();
    let (outcome, steps) = cluster.drive(deploy.clone(), TEN_MINUTES);
    assert!(
        matches!(outcome, Err(PhaseError::LoadBalancer(ref reason)) if reason.contains(lb.as_str())),
        "{outcome:?}"
    );
    assert!(steps.is_empty(), "nothing acted on: {steps:?}");
    assert_eq!(cluster.apps("web").len(), 1, "nothing changed");
    cluster.sim.clear_faults();

    let mut started = false;
    let outcome = cluster.drive_with(deploy.clone(), TEN_MINUTES, &mut |event| {
        if matches!(event, EngineEvent::Acting { .. }) && !started {
            started = true;
            outage();
        }
    });
    assert!(started, "the phase acted");
    assert!(
        matches!(outcome, Err(PhaseError::Failed { ref reason, .. })
            if reason.contains(&format!("marathon-lb {lb} cannot be read for over 30s"))),
        "{outcome:?}"
    );
    assert!(cluster.sim.kill_log().records.is_empty(), "nothing killed");

    cluster.sim.clear_faults();
    let (outcome, _) = cluster.drive(deploy, TEN_MINUTES);
    outcome.unwrap();
    assert_eq!(cluster.apps("web").len(), 2);
}
