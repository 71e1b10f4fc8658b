use super::records::Records;
use super::rules::{LbApp, LbTask, Server, backends};
use super::*;
use serde_json::Value;

/// marathon-lb's `zdd_apps.json` fixture from the upstream reference data
/// (the build decides whether it is there: see build.rs).
fn fixture_apps() -> Vec<LbApp> {
    let path =
        std::path::Path::new(env!("CANARY_SHARED_REFERENCE")).join("marathon-lb/zdd_apps.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text).unwrap();
    value["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(LbApp::from_marathon_json)
        .collect()
}

#[test]
#[cfg_attr(
    not(canary_shared),
    ignore = "needs ../shared/reference (set CANARY_SHARED_DIR or place shared/ beside the repo)"
)]
fn zdd_apps_fixture_gives_one_backend_with_one_server_in_maint() {
    let apps = fixture_apps();
    let backends = backends(apps);
    assert_eq!(backends.len(), 1);
    assert_eq!(backends[0].name, "nginx_10000");
    assert_eq!(backends[0].group, "/nginx");
    let names: Vec<&str> = backends[0]
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    let maint: Vec<&str> = backends[0]
        .servers
        .iter()
        .filter(|s| s.disabled)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(maint, ["10_0_6_25_31184"]);
    let csv = stats::stats_csv(0, &backends, |_, _| stats::ServerRow::default());
    let maint_rows: Vec<&str> = csv
        .lines()
        .filter(|l| l.starts_with("nginx_10000,") && l.contains(",MAINT,"))
        .collect();
    assert_eq!(maint_rows.len(), 1);
    assert!(maint_rows[0].starts_with("nginx_10000,10_0_6_25_31184,"));
    // Every row has the 94 columns (HAProxy 2.6's through ttime_max) plus
    // the trailing empty field.
    assert!(csv.lines().skip(1).all(|l| l.split(',').count() == 95));
}

fn task(id: &str, port: u64, alive: bool, running: bool) -> LbTask {
    LbTask {
        id: id.into(),
        host: "127.0.0.1".into(),
        ip: None,
        ports: vec![port],
        alive,
        running,
    }
}

#[test]
fn unhealthy_and_staging_tasks_are_left_out_and_traffic_shows() {
    let app = LbApp {
        id: "/web".into(),
        labels: BTreeMap::new(),
        instances: 3,
        has_health_checks: true,
        http_check: None,
        service_port: Some(10000),
        ip_per_task: false,
        last_scaling_at: String::new(),
        tasks: vec![
            task("a", 31000, true, true),
            task("b", 31001, false, true),
            task("c", 31002, true, false),
        ],
    };
    let backends = backends(vec![app]);
    assert_eq!(backends[0].name, "web_10000");
    assert_eq!(
        backends[0].servers,
        [Server {
            name: "127_0_0_1_31000".into(),
            ip: "127.0.0.1".into(),
            port: 31000,
            disabled: false,
            task_id: "a".into(),
        }]
    );
    let mut lb = MarathonLb::new(
        &SimConfig {
            marathon_lb_count: 2,
            ..SimConfig::default()
        },
        Proxies::default(),
        0,
    );
    for instance in &mut lb.instances {
        instance.adopt(&backends, 0, 0);
    }
    lb.set_traffic(
        Some(1),
        "127_0_0_1_31000",
        Traffic {
            sessions: 3,
            queued: 1,
            until_ms: Some(5_000),
        },
    );
    assert!(
        lb.stats_csv(1, 4_999)
            .contains("web_10000,127_0_0_1_31000,1,,3,")
    );
    assert!(
        lb.stats_csv(1, 5_000)
            .contains("web_10000,127_0_0_1_31000,0,,0,"),
        "the traffic ended"
    );
    assert!(
        lb.stats_csv(0, 0)
            .contains("web_10000,127_0_0_1_31000,0,,0,")
    );
    assert_eq!(lb.pids(0, 0).split(' ').count(), 2);
    lb.set_reloading(0, true);
    assert_eq!(lb.pids(0, 0).split(' ').count(), 3);
    assert_eq!(lb.pids(1, 0).split(' ').count(), 2);
}

#[test]
fn a_disabled_server_keeps_drain_sessions_for_the_drain_time() {
    let app = |id: &str, started: &str, instances: u64, tasks: Vec<LbTask>| {
        let mut labels = BTreeMap::new();
        labels.insert("HAPROXY_DEPLOYMENT_GROUP".to_owned(), "web".to_owned());
        labels.insert(
            "HAPROXY_DEPLOYMENT_STARTED_AT".to_owned(),
            started.to_owned(),
        );
        LbApp {
            id: id.into(),
            labels,
            instances,
            has_health_checks: true,
            http_check: None,
            service_port: Some(10000),
            ip_per_task: false,
            last_scaling_at: String::new(),
            tasks,
        }
    };
    let old = app(
        "/web-blue",
        "2026-01-01",
        2,
        vec![task("b1", 31000, true, true), task("b2", 31001, true, true)],
    );
    let new = app(
        "/web-green",
        "2026-01-02",
        1,
        vec![task("g1", 31002, true, true)],
    );
    let backends = backends(vec![old, new]);
    let maint: Vec<&str> = backends[0]
        .servers
        .iter()
        .filter(|s| s.disabled)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(maint, ["127_0_0_1_31000"], "the lowest old task id drains");
    let mut lb = MarathonLb::new(
        &SimConfig {
            session_drain: Some(SessionDrain {
                sessions: 2,
                duration: Duration::from_secs(10),
            }),
            ..SimConfig::default()
        },
        Proxies::default(),
        0,
    );
    lb.instances[0].adopt(&backends, 1_000, 0);
    let row = |csv: &str| {
        csv.lines()
            .find(|l| l.starts_with("web_10000,127_0_0_1_31000,"))
            .unwrap()
            .to_owned()
    };
    assert!(row(&lb.stats_csv(0, 10_999)).starts_with("web_10000,127_0_0_1_31000,0,,2,"));
    assert!(row(&lb.stats_csv(0, 11_000)).starts_with("web_10000,127_0_0_1_31000,0,,0,"));
    // UP servers get no drain sessions.
    assert!(
        lb.stats_csv(0, 1_000)
            .contains("web_10000,127_0_0_1_31001,0,,0,")
    );
}

#[test]
fn the_records_are_bounded_and_say_when_a_mark_is_out_of_reach() {
    let mut records = Records::default();
    let counts = |n: usize| {
        let mut c = BTreeMap::new();
        c.insert("/web".to_owned(), ("web_10000".to_owned(), n));
        c
    };
    records.note_capacity(0, 0, &counts(4));
    let early = records.mark(0, 1);
    records.note_capacity(1, 0, &counts(4));
    assert_eq!(records.timeline().samples.len(), 1, "no change, no sample");
    records.note_capacity(2, 0, &counts(1));
    let late = records.mark(2, 1);
    assert_eq!(records.min_since(&early, "web"), Ok(1));
    assert_eq!(
        records.min_since(&late, "/web"),
        Ok(1),
        "the value at the mark counts"
    );
    for i in 0..CAPACITY_CAP as u64 {
        records.note_capacity(3 + i, 0, &counts(2 + (i as usize % 2)));
    }
    let timeline = records.timeline();
    assert_eq!(timeline.samples.len(), CAPACITY_CAP);
    assert_eq!(timeline.dropped, 2);
    assert!(matches!(
        records.min_since(&early, "web"),
        Err(RecordError::Truncated { at_ms: 0, .. })
    ));
    let recent = records.mark(1_000_000, 1);
    assert_eq!(records.min_since(&recent, "web"), Ok(3));

    for i in 0..KILL_LOG_CAP as u64 + 5 {
        records.record_kill(KillRecord {
            at_ms: i,
            app_id: "/web".into(),
            task_id: format!("t{i}"),
            cause: crate::marathon::KillCause::ScaledDown,
            servers: Vec::new(),
            seen: Vec::new(),
            old_workers: Vec::new(),
            task_in_flight: None,
        });
    }
    let log = records.kill_log();
    assert_eq!(log.records.len(), KILL_LOG_CAP);
    assert_eq!(log.dropped, 5);
    assert_eq!(log.records[0].task_id, "t5", "the oldest go first");
}

#[test]
fn a_group_that_disappears_drops_to_zero() {
    let mut records = Records::default();
    let mut counts = BTreeMap::new();
    counts.insert("/web".to_owned(), ("web_10000".to_owned(), 2));
    records.note_capacity(0, 0, &counts);
    let mark = records.mark(0, 2);
    assert_eq!(
        records.min_since(&mark, "web"),
        Ok(0),
        "instance 1 never routed to it"
    );
    records.note_capacity(5, 0, &BTreeMap::new());
    let samples = records.timeline().samples;
    assert_eq!(samples.last().map(|s| (s.at_ms, s.serving)), Some((5, 0)));
    assert_eq!(samples.last().unwrap().backend, "");
}
