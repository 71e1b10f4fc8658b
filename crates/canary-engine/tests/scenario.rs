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
