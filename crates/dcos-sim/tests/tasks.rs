//! Tasks that serve: every launched task is a real HTTP server at the host
//! port Marathon reports, answering as its image does, and a kill ends it
//! as SIGKILL would.

mod common;

use common::{Reply, get, send, try_send, wait_until};
use dcos_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn start() -> SimHandle {
    SimHandle::start(SimConfig {
        time_scale: 0.0,
        start_time_ms: Some(1_600_000_000_000),
        ..SimConfig::default()
    })
    .expect("sim starts")
}

fn app_def(id: &str, image: &str, instances: u64) -> Value {
    json!({
        "id": id, "instances": instances, "cpus": 0.1, "mem": 32,
        "container": {"type": "DOCKER", "docker": {"image": image},
                      "portMappings": [{"containerPort": 80, "hostPort": 0}]},
        "networks": [{"mode": "container/bridge"}],
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0}]
    })
}

fn post(sim: &SimHandle, path: &str, body: &Value) -> Reply {
    send(
        "POST",
        &format!("{}{path}", sim.dcos_url()),
        &[],
        Some(body),
    )
}

fn app(sim: &SimHandle, id: &str) -> Value {
    get(&format!("{}/v2/apps{id}", sim.dcos_url())).json()["app"].clone()
}

/// `(task id, host port)` of every task of `id`.
fn tasks(sim: &SimHandle, id: &str) -> Vec<(String, u16)> {
    app(sim, id)["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["ports"][0].as_u64().unwrap() as u16,
            )
        })
        .collect()
}

fn task_url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

#[test]
fn each_task_answers_with_its_app_and_image() {
    let sim = start();
    for (id, image, text) in [
        ("/web", "httpd:2.4", "It works!"),
        ("/front", "nginx:1.25", "Welcome to nginx!"),
        (
            "/api",
            "registry.example.com/api:7",
            "registry.example.com/api:7",
        ),
    ] {
        assert_eq!(post(&sim, "/v2/apps", &app_def(id, image, 2)).status, 201);
        let tasks = tasks(&sim, id);
        assert_eq!(tasks.len(), 2);
        assert_ne!(tasks[0].1, tasks[1].1, "each task has its own port");
        for (_, port) in tasks {
            let reply = get(&task_url(port, "/"));
            assert_eq!(reply.status, 200, "{id}");
            assert!(reply.body.contains(text), "{id}: {}", reply.body);
            assert_eq!(
                reply.header("x-canary-version"),
                Some(format!("{id} {image}").as_str())
            );
        }
    }
}

#[test]
fn broken_answers_500_everywhere_and_never_gets_healthy() {
    let sim = start();
    post(&sim, "/v2/apps", &app_def("/bad", "httpd:broken", 1));
    let (_, port) = tasks(&sim, "/bad")[0];
    assert_eq!(get(&task_url(port, "/")).status, 500);
    assert_eq!(get(&task_url(port, "/anything")).status, 500);
    let check = send(
        "GET",
        &task_url(port, "/"),
        &[(dcos_sim::image::CHECK_HEADER, "1")],
        None,
    );
    assert_eq!(check.status, 500, "its health check fails too");
    sim.advance(Duration::from_secs(10));
    let task = &app(&sim, "/bad")["tasks"][0];
    assert_eq!(task["healthCheckResults"][0]["alive"], false);
}

#[test]
fn errors_n_fails_exactly_n_percent_of_traffic_but_no_health_check() {
    let sim = start();
    post(&sim, "/v2/apps", &app_def("/flaky", "httpd:errors-20", 1));
    let (_, port) = tasks(&sim, "/flaky")[0];
    let statuses: Vec<u16> = (0..100).map(|_| get(&task_url(port, "/")).status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 500).count(), 20);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 80);
    for _ in 0..10 {
        let check = send(
            "GET",
            &task_url(port, "/"),
            &[(dcos_sim::image::CHECK_HEADER, "1")],
            None,
        );
        assert_eq!(check.status, 200);
    }
    sim.advance(Duration::from_secs(10));
    assert_eq!(app(&sim, "/flaky")["tasksHealthy"], 1);
}

#[test]
fn slow_requests_answer_late_and_slow_images_add_their_delay() {
    let sim = start();
    post(&sim, "/v2/apps", &app_def("/web", "httpd:slow-150ms", 1));
    let (_, port) = tasks(&sim, "/web")[0];
    let started = Instant::now();
    assert_eq!(get(&task_url(port, "/slow?ms=200")).status, 200);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(350), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// Sends `GET path` on a fresh connection and returns the stream, the
/// request written.
fn send_raw(port: u16, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream
}

/// What the server sent before the connection ended, or the error it ended
/// with.
fn read_all(mut stream: TcpStream) -> std::io::Result<String> {
    let mut out = Vec::new();
    stream.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn a_killed_task_resets_its_request_in_flight_and_refuses_new_ones() {
    let sim = start();
    post(&sim, "/v2/apps", &app_def("/web", "httpd:2.4", 2));
    // Running and healthy: the deployment is over, so a scale is not locked.
    sim.advance(Duration::from_secs(10));
    let tasks = tasks(&sim, "/web");
    let (victim, port) = tasks[0].clone();
    let (_, other_port) = tasks[1];
    let in_flight = send_raw(port, "/slow?ms=10000");
    let survivor = send_raw(other_port, "/slow?ms=300");
    let reader = std::thread::spawn(move || {
        let started = Instant::now();
        (read_all(in_flight), started.elapsed())
    });
    // Let the server read the request before the kill (either way the
    // request must fail; this makes it a request in flight).
    std::thread::sleep(Duration::from_millis(100));
    // dcos CLI 0.6.1 sends `scale=True`: it must mean scale.
    let reply = post(
        &sim,
        "/v2/tasks/delete?scale=True",
        &json!({"ids": [victim.clone()]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.json()["deploymentId"].is_string(),
        "a scale deployment"
    );
    assert_eq!(app(&sim, "/web")["instances"], 1);
    let (outcome, took) = reader.join().unwrap();
    match outcome {
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{e:?}"
        ),
        Ok(text) => assert!(!text.contains("200 OK"), "no answer, only EOF: {text}"),
    }
    assert!(
        took < Duration::from_secs(5),
        "failed at the kill: {took:?}"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the killed task's port refuses connections"
    );
    // The other task is untouched.
    let text = read_all(survivor).expect("the other task answers");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[test]
fn deleted_and_scaled_away_tasks_stop_serving() {
    let sim = start();
    post(&sim, "/v2/apps", &app_def("/web", "httpd:2.4", 3));
    sim.advance(Duration::from_secs(10));
    let before = tasks(&sim, "/web");
    let reply = send(
        "PUT",
        &format!("{}/v2/apps/web", sim.dcos_url()),
        &[],
        Some(&json!({"instances": 1})),
    );
    assert_eq!(reply.status, 200);
    let after = tasks(&sim, "/web");
    assert_eq!(after.len(), 1);
    for (id, port) in &before {
        let kept = after.iter().any(|(a, _)| a == id);
        let answers = try_send("GET", &task_url(*port, "/"), &[], None).is_ok();
        assert_eq!(answers, kept, "{id}");
    }
    let reply = send(
        "DELETE",
        &format!("{}/v2/apps/web", sim.dcos_url()),
        &[],
        None,
    );
    assert_eq!(reply.status, 200);
    assert!(try_send("GET", &task_url(after[0].1, "/"), &[], None).is_err());
}

#[test]
fn a_fixed_host_port_that_is_taken_fails_the_launch_until_it_is_free() {
    let sim = start();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let mut def = app_def("/fixed", "httpd:2.4", 1);
    def["container"]["portMappings"][0]["hostPort"] = json!(port);
    assert_eq!(post(&sim, "/v2/apps", &def).status, 201);
    let a = app(&sim, "/fixed");
    assert_eq!(a["tasks"], json!([]));
    let failure = &a["lastTaskFailure"];
    assert_eq!(failure["state"], "TASK_FAILED");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}")),
        "{failure}"
    );
    // Marathon retries after its backoff: still taken, still failing.
    sim.advance(Duration::from_secs(2));
    assert_eq!(app(&sim, "/fixed")["tasks"], json!([]));
    drop(holder);
    sim.advance(Duration::from_secs(5));
    let tasks = tasks(&sim, "/fixed");
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].1, port, "the fixed port, as defined");
    wait_until(Duration::from_secs(5), "the fixed port serving", || {
        try_send("GET", &task_url(port, "/"), &[], None).is_ok_and(|r| r.status == 200)
    });
}
