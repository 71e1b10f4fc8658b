//! marathon-lb instances as a cluster has them: several on distinct loopback
//! addresses with one port, each with its own view that lags Marathon by its
//! update delay, reloads after each change, can fail, and shows sessions
//! that end or linger on drained servers; all in cluster time.

mod common;

use common::{LbRow, get, lb_pids, lb_rows, send, try_send};
use dcos_sim::faults::FaultAction;
use dcos_sim::lb::{SessionDrain, Traffic};
use dcos_sim::{SimConfig, SimHandle, StartError};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

const T0: u64 = 1_700_000_000_000;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn config() -> SimConfig {
    SimConfig {
        time_scale: 0.0,
        start_time_ms: Some(T0),
        seed: 11,
        ..SimConfig::default()
    }
}

fn web(instances: u64) -> Value {
    json!({
        "id": "/web", "instances": instances, "cmd": "serve", "cpus": 0.1, "mem": 32,
        "portDefinitions": [{"port": 10000}],
        "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0}]
    })
}

fn post_app(sim: &SimHandle, app: &Value) {
    let reply = send(
        "POST",
        &format!("{}/v2/apps", sim.dcos_url()),
        &[],
        Some(app),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
}

fn put_app(sim: &SimHandle, id: &str, body: &Value) {
    let reply = send(
        "PUT",
        &format!("{}/v2/apps{id}", sim.dcos_url()),
        &[],
        Some(body),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn instances_on_distinct_loopback_addresses_share_one_port() {
    let sim = SimHandle::start(SimConfig {
        lb_binds: vec![addr("127.0.0.2:0"), addr("127.0.0.3:0")],
        ..config()
    })
    .expect("binding 127.0.0.2 and 127.0.0.3 works on Linux loopback");
    let urls = sim.lb_urls();
    assert_eq!(urls.len(), 2);
    let port = |u: &str| u.rsplit(':').next().unwrap().to_owned();
    assert!(urls[0].starts_with("http://127.0.0.2:"), "{urls:?}");
    assert!(urls[1].starts_with("http://127.0.0.3:"), "{urls:?}");
    assert_eq!(port(&urls[0]), port(&urls[1]), "one port, two A records");
    for url in urls {
        assert_eq!(lb_pids(url), 2);
    }
    // The DC/OS URL stays on 127.0.0.1.
    assert!(sim.dcos_url().starts_with("http://127.0.0.1:"));

    // A given port is used as given.
    let taken = std::net::TcpListener::bind("127.0.0.4:0").unwrap();
    let free = taken.local_addr().unwrap().port();
    drop(taken);
    let fixed = SimHandle::start(SimConfig {
        lb_binds: vec![addr(&format!("127.0.0.4:{free}"))],
        ..config()
    })
    .unwrap();
    assert_eq!(fixed.lb_urls(), [format!("http://127.0.0.4:{free}")]);
}

#[test]
fn bind_addresses_off_loopback_or_disagreeing_counts_are_refused() {
    let refused = SimHandle::start(SimConfig {
        lb_binds: vec![addr("10.0.0.1:9090")],
        ..config()
    });
    assert!(matches!(
        refused,
        Err(StartError::NotLoopback { addr: a }) if a == addr("10.0.0.1:9090")
    ));
    let refused = SimHandle::start(SimConfig {
        lb_binds: vec![addr("127.0.0.2:0")],
        marathon_lb_count: 3,
        ..config()
    });
    assert!(matches!(
        refused,
        Err(StartError::LbCount { count: 3, binds: 1 })
    ));
    let refused = SimHandle::start_on(
        SimConfig {
            lb_binds: vec![addr("127.0.0.2:0")],
            ..config()
        },
        0,
        &[9090],
    );
    assert!(matches!(refused, Err(StartError::PortsWithBinds)));
    // marathon_lb_count alone keeps working: 127.0.0.1, ports the OS picks.
    let counted = SimHandle::start(SimConfig {
        marathon_lb_count: 3,
        ..config()
    })
    .unwrap();
    assert_eq!(counted.lb_urls().len(), 3);
    assert!(
        counted
            .lb_urls()
            .iter()
            .all(|u| u.starts_with("http://127.0.0.1:"))
    );
}

#[test]
fn each_instance_adopts_changes_after_its_own_delay() {
    let sim = SimHandle::start(SimConfig {
        marathon_lb_count: 2,
        lb_update_delay: secs(2),
        ..config()
    })
    .unwrap();
    sim.set_lb_update_delay(1, secs(6));
    let (lb0, lb1) = (sim.lb_urls()[0].clone(), sim.lb_urls()[1].clone());
    post_app(&sim, &web(2));
    // Healthy at 7 s: instance 0 shows it at 9 s, instance 1 at 13 s.
    sim.advance(ms(8_999));
    assert!(lb_rows(&lb0, "web_10000").is_empty());
    sim.advance(ms(1));
    assert_eq!(lb_rows(&lb0, "web_10000").len(), 2);
    assert!(
        lb_rows(&lb1, "web_10000").is_empty(),
        "the slower instance disagrees for a while"
    );
    sim.advance(ms(3_999));
    assert!(lb_rows(&lb1, "web_10000").is_empty());
    sim.advance(ms(1));
    assert_eq!(lb_rows(&lb1, "web_10000").len(), 2);

    // A scale-down shows late too: the killed task stays listed until then.
    put_app(&sim, "/web", &json!({"instances": 1}));
    assert_eq!(lb_rows(&lb0, "web_10000").len(), 2);
    sim.advance(secs(2));
    assert_eq!(lb_rows(&lb0, "web_10000").len(), 1);
    assert_eq!(lb_rows(&lb1, "web_10000").len(), 2);
    sim.advance(secs(4));
    assert_eq!(lb_rows(&lb1, "web_10000").len(), 1);
}

#[test]
fn an_instance_reports_a_reload_after_each_adopted_change_and_when_forced() {
    let sim = SimHandle::start(SimConfig {
        marathon_lb_count: 2,
        lb_update_delay: secs(1),
        lb_reload_window: secs(3),
        ..config()
    })
    .unwrap();
    let lb0 = sim.lb_urls()[0].clone();
    post_app(&sim, &web(1));
    // The new app's (empty) backend is a change, adopted at 1 s: a reload
    // until 4 s. Its task is left out until healthy (7 s): nothing more
    // until 8 s.
    sim.advance(ms(999));
    assert_eq!(lb_pids(&lb0), 2);
    sim.advance(ms(1));
    assert_eq!(lb_pids(&lb0), 3);
    sim.advance(ms(3_000));
    assert_eq!(lb_pids(&lb0), 2);
    sim.advance(ms(3_999));
    assert_eq!(lb_pids(&lb0), 2);
    sim.advance(ms(1));
    assert_eq!(lb_pids(&lb0), 3, "reloading from 8 s");
    let during = get(&format!("{lb0}/_haproxy_getpids")).body;
    sim.advance(ms(2_999));
    assert_eq!(lb_pids(&lb0), 3);
    sim.advance(ms(1));
    assert_eq!(lb_pids(&lb0), 2, "the old worker is gone at 11 s");
    let after = get(&format!("{lb0}/_haproxy_getpids")).body;
    let worker = |pids: &str| pids.split_whitespace().last().unwrap().to_owned();
    assert_eq!(worker(&during), worker(&after), "the new worker stays");

    sim.set_reloading(1, true);
    assert_eq!(lb_pids(&sim.lb_urls()[1]), 3);
    assert_eq!(lb_pids(&lb0), 2);
    sim.advance(secs(60));
    assert_eq!(lb_pids(&sim.lb_urls()[1]), 3, "forced until told otherwise");
    sim.set_reloading(1, false);
    assert_eq!(lb_pids(&sim.lb_urls()[1]), 2);
}

#[test]
fn an_instance_listener_fails_for_a_while() {
    let sim = SimHandle::start(SimConfig {
        marathon_lb_count: 2,
        ..config()
    })
    .unwrap();
    let (lb0, lb1) = (sim.lb_urls()[0].clone(), sim.lb_urls()[1].clone());
    sim.fail_lb(
        0,
        FaultAction::Status {
            code: 503,
            body: None,
        },
        secs(5),
    );
    assert_eq!(get(&format!("{lb0}/haproxy?stats;csv")).status, 503);
    assert_eq!(get(&format!("{lb0}/_haproxy_getpids")).status, 503);
    assert_eq!(get(&format!("{lb1}/haproxy?stats;csv")).status, 200);
    assert_eq!(
        get(&format!("{}/v2/apps", sim.dcos_url())).status,
        200,
        "the DC/OS URL is another listener"
    );
    assert_eq!(sim.fault_rules()[0].lb, Some(0));
    sim.advance(secs(5));
    assert_eq!(get(&format!("{lb0}/haproxy?stats;csv")).status, 200);
    assert!(sim.fault_rules().is_empty(), "expired");

    sim.fail_lb(1, FaultAction::Drop, secs(2));
    assert!(try_send("GET", &format!("{lb1}/_haproxy_getpids"), &[], None).is_err());
    assert_eq!(lb_pids(&lb0), 2);
    sim.advance(secs(2));
    assert_eq!(lb_pids(&lb1), 2);
}

#[test]
fn traffic_can_end_at_a_time_and_drained_servers_keep_sessions_per_instance() {
    let sim = SimHandle::start(SimConfig {
        marathon_lb_count: 2,
        session_drain: Some(SessionDrain {
            sessions: 2,
            duration: secs(10),
        }),
        ..config()
    })
    .unwrap();
    sim.set_lb_update_delay(1, secs(4));
    let (lb0, lb1) = (sim.lb_urls()[0].clone(), sim.lb_urls()[1].clone());
    let group = |id: &str, started: &str, port: u64, instances: u64, extra: Value| {
        let mut app = web(instances);
        app["id"] = json!(id);
        app["portDefinitions"] = json!([{"port": port}]);
        let mut labels = json!({"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_0_PORT": "10000",
                                "HAPROXY_DEPLOYMENT_STARTED_AT": started,
                                "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "2"});
        labels
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        app["labels"] = labels;
        app
    };
    post_app(
        &sim,
        &group("/web-blue", "2026-01-01T00:00:00", 10000, 2, json!({})),
    );
    sim.advance(secs(20));
    let rows = lb_rows(&lb0, "web_10000");
    assert_eq!(rows.len(), 2);
    // Fixed traffic, and traffic that ends.
    let first = rows[0].server.clone();
    let second = rows[1].server.clone();
    sim.set_traffic(
        None,
        &first,
        Traffic {
            sessions: 5,
            queued: 0,
            until_ms: None,
        },
    );
    sim.set_traffic(
        Some(1),
        &second,
        Traffic {
            sessions: 3,
            queued: 2,
            until_ms: Some(sim.now_ms() + 1_000),
        },
    );
    let find = |rows: Vec<LbRow>, name: &str| rows.into_iter().find(|r| r.server == name).unwrap();
    assert_eq!(find(lb_rows(&lb1, "web_10000"), &first).scur, 5);
    assert_eq!(find(lb_rows(&lb0, "web_10000"), &first).scur, 5);
    let ending = find(lb_rows(&lb1, "web_10000"), &second);
    assert_eq!((ending.scur, ending.qcur), (3, 2));
    assert_eq!(find(lb_rows(&lb0, "web_10000"), &second).scur, 0);
    sim.advance(secs(1));
    let ended = find(lb_rows(&lb1, "web_10000"), &second);
    assert_eq!((ended.scur, ended.qcur), (0, 0));
    sim.clear_traffic();
    assert_eq!(find(lb_rows(&lb0, "web_10000"), &first).scur, 0);

    // A healthy canary makes marathon-lb drain one old task: each instance
    // shows 2 sessions on it for 10 s from the moment it disabled it.
    post_app(
        &sim,
        &group(
            "/web-green",
            "2026-01-02T00:00:00",
            10001,
            1,
            json!({"HAPROXY_DEPLOYMENT_NEW_INSTANCES": "1"}),
        ),
    );
    sim.advance(secs(7)); // the canary is healthy; instance 0 adopts at once
    let maint = |rows: Vec<LbRow>| rows.into_iter().find(|r| r.status == "MAINT");
    let drained = maint(lb_rows(&lb0, "web_10000")).expect("one old task drained");
    assert_eq!(drained.scur, 2);
    assert!(maint(lb_rows(&lb1, "web_10000")).is_none(), "not yet there");
    sim.advance(secs(4));
    assert_eq!(maint(lb_rows(&lb1, "web_10000")).unwrap().scur, 2);
    sim.advance(secs(6)); // 10 s after instance 0 disabled it
    assert_eq!(maint(lb_rows(&lb0, "web_10000")).unwrap().scur, 0);
    assert_eq!(maint(lb_rows(&lb1, "web_10000")).unwrap().scur, 2);
    sim.advance(secs(4));
    assert_eq!(maint(lb_rows(&lb1, "web_10000")).unwrap().scur, 0);
    // UP servers never get drain sessions.
    assert!(
        lb_rows(&lb0, "web_10000")
            .iter()
            .filter(|r| r.status == "UP")
            .all(|r| r.scur == 0)
    );
}

#[test]
fn the_control_endpoints_set_delays_drains_traffic_and_failures() {
    let sim = SimHandle::start(SimConfig {
        marathon_lb_count: 2,
        control: true,
        ..config()
    })
    .unwrap();
    let control = |path: &str, body: Value| {
        send(
            "POST",
            &format!("{}/__sim/{path}", sim.dcos_url()),
            &[],
            Some(&body),
        )
    };
    assert_eq!(
        control("lb/delay", json!({"lb": 1, "seconds": 3})).status,
        200
    );
    let bad = control("lb/delay", json!({"lb": 2, "seconds": 3}));
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("no marathon-lb instance 2"),
        "{}",
        bad.body
    );
    assert_eq!(
        control("lb/reloading", json!({"lb": 5, "reloading": true})).status,
        400
    );
    assert_eq!(
        control("lb/drain", json!({"sessions": 1, "seconds": 30})).status,
        200
    );
    post_app(&sim, &web(1));
    sim.advance(secs(7));
    let (lb0, lb1) = (sim.lb_urls()[0].clone(), sim.lb_urls()[1].clone());
    assert_eq!(lb_rows(&lb0, "web_10000").len(), 1);
    assert!(lb_rows(&lb1, "web_10000").is_empty(), "3 s behind");
    sim.advance(secs(3));
    let server = lb_rows(&lb1, "web_10000")[0].server.clone();
    assert_eq!(
        control(
            "lb/traffic",
            json!({"server": server, "sessions": 4, "lb": 1, "seconds": 2})
        )
        .status,
        200
    );
    assert_eq!(lb_rows(&lb1, "web_10000")[0].scur, 4);
    sim.advance(secs(2));
    assert_eq!(lb_rows(&lb1, "web_10000")[0].scur, 0);
    let fault = json!({"path_prefix": "/haproxy", "lb": 1, "until_ms": sim.now_ms() + 1000,
                       "action": {"status": {"code": 503}}});
    assert_eq!(control("faults", fault).status, 201);
    assert_eq!(get(&format!("{lb1}/haproxy?stats;csv")).status, 503);
    assert_eq!(lb_pids(&lb1), 2, "only the stats path fails");
    assert_eq!(get(&format!("{lb0}/haproxy?stats;csv")).status, 200);
    let records = get(&format!("{}/__sim/records", sim.dcos_url())).json();
    assert_eq!(records["kills"]["records"], json!([]));
    assert_eq!(records["capacity"]["samples"][0]["group"], "/web");
}

#[test]
fn stats_need_no_token_when_the_cluster_asks_for_one() {
    let sim = SimHandle::start(SimConfig {
        auth: true,
        ..config()
    })
    .unwrap();
    assert_eq!(get(&format!("{}/v2/apps", sim.dcos_url())).status, 401);
    assert_eq!(lb_pids(&sim.lb_urls()[0]), 2);
    assert!(lb_rows(&sim.lb_urls()[0], "web_10000").is_empty());
}

/// The whole view, as a client would read it, at each second.
fn transcript(seed: u64) -> Vec<String> {
    let sim = SimHandle::start(SimConfig {
        seed,
        marathon_lb_count: 2,
        lb_update_delay: ms(1_500),
        lb_reload_window: secs(1),
        session_drain: Some(SessionDrain {
            sessions: 1,
            duration: secs(3),
        }),
        ..config()
    })
    .unwrap();
    sim.set_lb_update_delay(1, ms(2_500));
    post_app(&sim, &web(3));
    let mut seen = Vec::new();
    for second in 0..30 {
        if second == 12 {
            put_app(&sim, "/web", &json!({"instances": 1}));
        }
        if second == 15 {
            put_app(&sim, "/web", &json!({"labels": {"v": "2"}}));
        }
        for lb in sim.lb_urls() {
            seen.push(format!(
                "{second} {lb} {} {:?}",
                lb_pids(lb),
                lb_rows(lb, "web_10000")
            ));
        }
        sim.advance(secs(1));
    }
    seen.push(format!("{:?}", sim.kill_log()));
    seen.push(format!("{:?}", sim.capacity_timeline()));
    seen
}

#[test]
fn the_same_seed_and_request_times_give_the_same_view_and_records() {
    let strip_ports = |lines: Vec<String>| -> Vec<String> {
        lines
            .into_iter()
            .map(|l| {
                l.split_once(' ').map_or(l.clone(), |(s, rest)| {
                    // Drop the listener URL (its port is the OS's choice).
                    let rest = rest.split_once(' ').map_or(rest, |(_, r)| r);
                    format!("{s} {rest}")
                })
            })
            .collect()
    };
    // Server names carry the tasks' host ports, which the OS picks: name
    // them by first appearance instead.
    let number_servers = |lines: Vec<String>| -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        lines
            .into_iter()
            .map(|line| {
                let mut out = String::new();
                let mut rest = line.as_str();
                while let Some(at) = rest.find("127_0_0_1_") {
                    let (before, after) = rest.split_at(at + "127_0_0_1_".len());
                    out.push_str(before);
                    let digits = after.chars().take_while(char::is_ascii_digit).count();
                    let port = after[..digits].to_owned();
                    let index = seen.iter().position(|p| *p == port).unwrap_or_else(|| {
                        seen.push(port);
                        seen.len() - 1
                    });
                    out.push_str(&format!("#{index}"));
                    rest = &after[digits..];
                }
                out.push_str(rest);
                out
            })
            .collect()
    };
    let a = number_servers(strip_ports(transcript(5)));
    let b = number_servers(strip_ports(transcript(5)));
    assert_eq!(a, b);
    let kills = &a[a.len() - 2];
    assert!(
        kills.contains("ScaledDown") && kills.contains("Replaced"),
        "{kills}"
    );
}
