//! The load client against dcos-sim's tasks and marathon-lb frontend, and
//! against tiny local servers that fail on purpose.

use dcos_sim::{SimConfig, SimHandle};
use load_client::{LoadClient, LoadConfig, LoadError, Outcome};
use serde_json::{Value, json};
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};
use test_support::wait_until;

fn post(sim: &SimHandle, path: &str, body: &Value) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .post(format!("{}{path}", sim.dcos_url()))
        .send_json(body)
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn app(id: &str, image: &str, instances: u64, labels: Value) -> Value {
    json!({
        "id": id, "instances": instances, "cpus": 0.1, "mem": 32,
        "container": {"type": "DOCKER", "docker": {"image": image},
                      "portMappings": [{"containerPort": 80, "hostPort": 0}]},
        "networks": [{"mode": "container/bridge"}],
        "labels": labels,
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0,
                          "intervalSeconds": 1, "timeoutSeconds": 1}]
    })
}

fn manual_sim() -> SimHandle {
    SimHandle::start(SimConfig {
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .expect("sim starts")
}

fn task_target(sim: &SimHandle, id: &str) -> (String, String) {
    let view = sim.app(id).expect("the app");
    let task = &view.tasks[0];
    (
        format!("http://127.0.0.1:{}", task.ports[0]),
        task.id.clone(),
    )
}

#[test]
fn counts_every_request_and_its_version_within_the_request_bound() {
    let sim = manual_sim();
    assert_eq!(
        post(&sim, "/v2/apps", &app("/web", "httpd:2.4", 1, json!({}))),
        201
    );
    let (target, _) = task_target(&sim, "/web");
    let client = LoadClient::start(LoadConfig {
        max_requests: 200,
        ..LoadConfig::new(target, 4)
    })
    .unwrap();
    wait_until(Duration::from_secs(20), "the load to end", || {
        client.finished()
    });
    let report = client.stop();
    let summary = report.summary();
    assert_eq!(summary.total, 200, "exactly the bound");
    assert_eq!(summary.succeeded, 200);
    assert_eq!(summary.failed(), 0);
    assert_eq!(summary.phases[0].versions["/web httpd:2.4"], 200);
    assert!(report.records.iter().all(|r| r.status == Some(200)));
    let connections: std::collections::BTreeSet<usize> =
        report.records.iter().map(|r| r.connection).collect();
    assert_eq!(connections.len(), 4, "every connection sent");
}

#[test]
fn server_errors_and_slow_requests_are_told_apart() {
    let sim = manual_sim();
    post(
        &sim,
        "/v2/apps",
        &app("/web", "httpd:errors-20", 1, json!({})),
    );
    let (target, _) = task_target(&sim, "/web");
    let client = LoadClient::start(LoadConfig {
        max_requests: 100,
        slow_share: 0.1,
        slow_ms: 50,
        ..LoadConfig::new(target, 2)
    })
    .unwrap();
    wait_until(Duration::from_secs(20), "the load to end", || {
        client.finished()
    });
    let report = client.stop();
    let summary = report.summary();
    assert_eq!(summary.failures.get(&Outcome::ServerError), Some(&20));
    assert_eq!(summary.succeeded, 80);
    let slow: Vec<_> = report.records.iter().filter(|r| r.slow).collect();
    assert_eq!(slow.len(), 10);
    assert!(slow.iter().all(|r| r.duration >= Duration::from_millis(50)));
}

#[test]
fn a_server_that_resets_is_counted_as_reset() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for stream in listener.incoming().take(5) {
            let mut stream = stream.unwrap();
            // Read one byte of the request, then close with the rest unread:
            // the kernel answers with a reset.
            let mut byte = [0u8; 1];
            let _ = stream.read(&mut byte);
        }
    });
    let client = LoadClient::start(LoadConfig {
        max_requests: 5,
        ..LoadConfig::new(format!("http://127.0.0.1:{port}"), 1)
    })
    .unwrap();
    wait_until(Duration::from_secs(20), "the load to end", || {
        client.finished()
    });
    let summary = client.stop().summary();
    server.join().unwrap();
    assert_eq!(summary.total, 5);
    assert_eq!(summary.failures.get(&Outcome::Reset), Some(&5), "{summary}");
}

#[test]
fn a_closed_port_is_refused_and_a_remote_target_is_not_even_tried() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = LoadClient::start(LoadConfig {
        max_requests: 10,
        ..LoadConfig::new(format!("http://127.0.0.1:{port}"), 2)
    })
    .unwrap();
    wait_until(Duration::from_secs(20), "the load to end", || {
        client.finished()
    });
    let summary = client.stop().summary();
    assert_eq!(summary.failures.get(&Outcome::Refused), Some(&10));
    assert!(matches!(
        LoadClient::start(LoadConfig::new("http://192.0.2.1:80", 1)),
        Err(LoadError::NotLoopback { .. })
    ));
}

#[test]
fn the_time_bound_stops_the_load() {
    let sim = manual_sim();
    post(&sim, "/v2/apps", &app("/web", "nginx", 1, json!({})));
    let (target, _) = task_target(&sim, "/web");
    let started = Instant::now();
    let client = LoadClient::start(LoadConfig {
        max_requests: 1_000_000,
        max_duration: Duration::from_millis(300),
        ..LoadConfig::new(target, 2)
    })
    .unwrap();
    wait_until(Duration::from_secs(5), "the load to stop by itself", || {
        client.finished()
    });
    assert!(started.elapsed() < Duration::from_secs(3));
    let report = client.stop();
    assert!(
        report
            .records
            .iter()
            .all(|r| r.start < Duration::from_millis(300))
    );
    assert!(!report.records.is_empty());
}

#[test]
fn killing_a_task_mid_request_is_recorded_as_failures() {
    let sim = manual_sim();
    post(&sim, "/v2/apps", &app("/web", "httpd:2.4", 1, json!({})));
    let (target, task) = task_target(&sim, "/web");
    let client = LoadClient::start(LoadConfig {
        max_requests: 3,
        slow_share: 1.0,
        slow_ms: 10_000,
        ..LoadConfig::new(target, 3)
    })
    .unwrap();
    wait_until(
        Duration::from_secs(10),
        "three slow requests in flight",
        || client.in_flight() == 3,
    );
    // Let the server read them: they are in flight on the task.
    std::thread::sleep(Duration::from_millis(100));
    client.mark("kill");
    let status = post(
        &sim,
        "/v2/tasks/delete?scale=true&force=true",
        &json!({"ids": [task]}),
    );
    assert_eq!(status, 200);
    wait_until(Duration::from_secs(5), "the requests to fail", || {
        client.finished()
    });
    let report = client.stop();
    let summary = report.summary();
    assert_eq!(summary.total, 3);
    assert_eq!(summary.failures.get(&Outcome::Reset), Some(&3), "{summary}");
    assert!(
        report
            .records
            .iter()
            .all(|r| r.duration < Duration::from_secs(5))
    );
}

#[test]
fn through_the_marathon_lb_frontend_with_phases_and_shares() {
    let ip = std::net::Ipv4Addr::new(127, 77, (std::process::id() % 250) as u8, 9);
    let sim = SimHandle::start(SimConfig {
        time_scale: 10.0,
        lb_binds: vec![SocketAddr::from((ip, 0))],
        ..SimConfig::default()
    })
    .expect("sim starts");
    let labels = json!({"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_0_PORT": "10000"});
    post(&sim, "/v2/apps", &app("/web-blue", "httpd:2.4", 2, labels));
    let frontend = format!("http://{ip}:10000");
    wait_until(Duration::from_secs(20), "the frontend serving", || {
        ureq::get(&frontend).call().is_ok_and(|r| r.status() == 200)
    });
    let client = LoadClient::start(LoadConfig {
        max_duration: Duration::from_secs(2),
        slow_share: 0.2,
        slow_ms: 100,
        window: Duration::from_millis(500),
        ..LoadConfig::new(frontend, 4)
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    client.mark("steady");
    wait_until(Duration::from_secs(10), "the load to end", || {
        client.finished()
    });
    let summary = client.stop().summary();
    assert_eq!(summary.failed(), 0, "{summary}");
    assert_eq!(summary.phases.len(), 2);
    assert_eq!(summary.phases[1].name, "steady");
    assert!(summary.phases.iter().all(|p| p.total > 0));
    let busy: Vec<_> = summary.shares.iter().filter(|w| w.total > 0).collect();
    assert!(busy.len() >= 3, "{summary}");
    assert!(busy.iter().all(|w| w.share("/web-blue httpd:2.4") == 1.0));
    println!("{summary}");
}
