//! The simulated cluster's plumbing: DC/OS metadata endpoints, Admin Router
//! authentication, the clock, faults and the control endpoints.

mod common;

use common::{get, send, try_send};
use dcos_sim::{CAPABILITIES_MEDIA_TYPE, SimConfig, SimHandle};
use serde_json::json;
use std::time::Duration;

fn start(config: SimConfig) -> SimHandle {
    SimHandle::start(config).expect("the sim starts")
}

#[test]
fn metadata_capabilities_and_version() {
    let sim = start(SimConfig {
        seed: 42,
        ..SimConfig::default()
    });
    let base = sim.dcos_url();
    assert!(base.starts_with("http://127.0.0.1:"));
    let metadata = get(&format!("{base}/metadata"));
    assert_eq!(metadata.status, 200);
    let id = metadata.json()["CLUSTER_ID"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4", "a UUIDv4: {id}");
    // Deterministic: the same seed gives the same cluster id.
    let again = start(SimConfig {
        seed: 42,
        ..SimConfig::default()
    });
    assert_eq!(
        get(&format!("{}/metadata", again.dcos_url())).json()["CLUSTER_ID"],
        id.as_str()
    );

    let caps = get(&format!("{base}/capabilities"));
    assert_eq!(caps.status, 200);
    assert!(
        caps.content_type.contains(CAPABILITIES_MEDIA_TYPE),
        "{}",
        caps.content_type
    );
    assert!(
        caps.json()["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "METRONOME")
    );

    let version = get(&format!("{base}/dcos-metadata/dcos-version.json")).json();
    assert!(version["version"].is_string() && version["bootstrap-id"].is_string());
    let summary = get(&format!("{base}/mesos/state-summary")).json();
    assert_eq!(summary["cluster"], "dcos-sim");
    assert_eq!(sim.lb_urls().len(), 1);
}

#[test]
fn auth_on_gives_admin_routers_401_to_anonymous_requests() {
    let sim = start(SimConfig {
        auth: true,
        ..SimConfig::default()
    });
    let base = sim.dcos_url();
    for path in [
        "/metadata",
        "/service/marathon/v2/apps",
        "/v2/apps",
        "/service/metronome/v1/jobs",
        "/pkgpanda/active.buildinfo.full.json",
    ] {
        let reply = get(&format!("{base}{path}"));
        assert_eq!(reply.status, 401, "{path}");
        assert_eq!(reply.header("www-authenticate"), Some("acsjwt"), "{path}");
        assert!(
            reply.content_type.starts_with("text/html"),
            "{path}: {}",
            reply.content_type
        );
        assert!(reply.body.contains("401 Authorization Required"));
    }
    // Public even with auth on.
    assert_eq!(
        get(&format!("{base}/dcos-metadata/dcos-version.json")).status,
        200
    );
    // Auth off: the same path answers.
    let open = start(SimConfig::default());
    assert_eq!(get(&format!("{}/metadata", open.dcos_url())).status, 200);
}

#[test]
fn control_endpoints_are_off_unless_asked_for() {
    let sim = start(SimConfig::default());
    assert_eq!(get(&format!("{}/__sim/state", sim.dcos_url())).status, 404);
}

#[test]
fn faults_status_drop_delay_and_expiry() {
    let sim = start(SimConfig {
        control: true,
        ..SimConfig::default()
    });
    let base = sim.dcos_url();
    let add = |rule: serde_json::Value| {
        assert_eq!(
            send("POST", &format!("{base}/__sim/faults"), &[], Some(&rule)).status,
            201
        );
    };
    add(json!({"path_prefix": "/metadata", "action": {"status": {"code": 503}}, "times": 2}));
    assert_eq!(get(&format!("{base}/metadata")).status, 503);
    assert_eq!(
        get(&format!("{base}/metadata")).json()["message"],
        "injected fault"
    );
    assert_eq!(
        get(&format!("{base}/metadata")).status,
        200,
        "the rule is used up"
    );

    add(json!({"method": "GET", "path_prefix": "/mesos", "action": "drop", "times": 1}));
    assert!(
        try_send("GET", &format!("{base}/mesos/state-summary"), &[], None).is_err(),
        "connection dropped"
    );
    assert_eq!(get(&format!("{base}/mesos/state-summary")).status, 200);

    add(json!({"path_prefix": "/capabilities", "action": {"delay": {"ms": 300}}, "times": 1}));
    let started = std::time::Instant::now();
    assert_eq!(get(&format!("{base}/capabilities")).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    add(json!({"path_prefix": "/metadata", "action": {"status": {"code": 500}}}));
    assert_eq!(
        get(&format!("{base}/__sim/state")).json()["faults"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        send("DELETE", &format!("{base}/__sim/faults"), &[], None).status,
        204
    );
    assert_eq!(get(&format!("{base}/metadata")).status, 200);
}

#[test]
fn leader_change_gives_marathon_503_for_a_while() {
    let sim = start(SimConfig {
        control: true,
        time_scale: 0.0,
        ..SimConfig::default()
    });
    let base = sim.dcos_url();
    let reply = send(
        "POST",
        &format!("{base}/__sim/faults/leader-change"),
        &[],
        Some(&json!({"seconds": 30})),
    );
    assert_eq!(reply.status, 201);
    assert_eq!(get(&format!("{base}/service/marathon/v2/apps")).status, 503);
    assert_eq!(get(&format!("{base}/v2/apps")).status, 503);
    assert_ne!(
        get(&format!("{base}/metadata")).status,
        503,
        "only Marathon is affected"
    );
    send(
        "POST",
        &format!("{base}/__sim/clock/advance"),
        &[],
        Some(&json!({"seconds": 31})),
    );
    assert_ne!(get(&format!("{base}/service/marathon/v2/apps")).status, 503);
}

#[test]
fn the_clock_scales_and_advances() {
    let sim = start(SimConfig {
        control: true,
        time_scale: 0.0,
        start_time_ms: Some(1_468_587_779_735),
        ..SimConfig::default()
    });
    let base = sim.dcos_url();
    let state = get(&format!("{base}/__sim/state")).json();
    assert_eq!(state["now"], "2016-07-15T13:02:59.735Z");
    let reply = send(
        "POST",
        &format!("{base}/__sim/clock/advance"),
        &[],
        Some(&json!({"seconds": 3600})),
    );
    assert_eq!(reply.json()["now"], "2016-07-15T14:02:59.735Z");
    sim.advance(Duration::from_secs(60));
    assert_eq!(sim.now_ms(), 1_468_587_779_735 + 3_660_000);
}

#[test]
fn a_fast_clock_lets_simulated_minutes_pass_in_milliseconds() {
    // 10,000 simulated seconds per real second: the 2 s start and 5 s health
    // delays take under a millisecond of real time.
    let sim = start(SimConfig {
        time_scale: 10_000.0,
        ..SimConfig::default()
    });
    let base = sim.dcos_url();
    let app = json!({"id": "/fast", "instances": 2, "cmd": "serve", "cpus": 0.1, "mem": 32,
                     "portDefinitions": [{"port": 0}],
                     "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0}]});
    assert_eq!(
        send("POST", &format!("{base}/v2/apps"), &[], Some(&app)).status,
        201
    );
    let started = std::time::Instant::now();
    // Polls on the state itself (no fixed sleep); bounded in real time.
    loop {
        let app = get(&format!("{base}/v2/apps/fast")).json();
        if app["app"]["tasksHealthy"] == 2 && app["app"]["deployments"] == json!([]) {
            break;
        }
        // 7 s of simulated delays must pass within 5 s of real time, which
        // only a clock faster than real time can do.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not healthy after 5 s real: {app}"
        );
    }
}

/// An injected refusal (Marathon's 409 on a locked app) is answered only
/// once the request's body was read, as Marathon does, so the connection
/// stays usable for the client's next request. A client that asks
/// `Expect: 100-continue` sees the order: the sim asks for the body (100)
/// before it refuses. Answering unread made hyper close the connection
/// under a client that had pooled it: the next request on it met a broken
/// pipe (seen once in CI as a failing conformance case).
#[test]
fn an_injected_refusal_reads_the_body_and_keeps_the_connection() {
    use std::io::{BufRead, BufReader, Read, Write};
    let sim = start(SimConfig {
        control: true,
        ..SimConfig::default()
    });
    let base = sim.dcos_url();
    let rule = json!({"method": "PUT", "path_prefix": "/service/marathon/v2/apps",
        "action": {"status": {"code": 409, "body": {"message": "App is locked"}}}, "times": 1});
    assert_eq!(
        send("POST", &format!("{base}/__sim/faults"), &[], Some(&rule)).status,
        201
    );
    let authority = base.trim_start_matches("http://");
    let stream = std::net::TcpStream::connect(authority).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a bounded read");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let body = br#"{"instances":2}"#;
    write!(
        writer,
        "PUT /service/marathon/v2/apps/web HTTP/1.1\r\nHost: {authority}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    )
    .expect("write the head");
    let read_head = |reader: &mut BufReader<std::net::TcpStream>| -> (String, usize) {
        let mut status = String::new();
        reader.read_line(&mut status).expect("a status line");
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("a header line");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().expect("a length");
            }
        }
        (status.trim_end().to_owned(), length)
    };
    let (first, _) = read_head(&mut reader);
    assert_eq!(
        first, "HTTP/1.1 100 Continue",
        "the sim must ask for the body before it answers"
    );
    writer.write_all(body).expect("write the body");
    let (refusal, length) = read_head(&mut reader);
    assert!(refusal.starts_with("HTTP/1.1 409"), "{refusal}");
    let mut answer = vec![0; length];
    reader.read_exact(&mut answer).expect("the refusal's body");
    write!(
        writer,
        "GET /metadata HTTP/1.1\r\nHost: {authority}\r\n\r\n"
    )
    .expect("the next request on the same connection");
    let (next, _) = read_head(&mut reader);
    assert!(
        next.starts_with("HTTP/1.1 200"),
        "the connection must still serve: {next:?}"
    );
}
