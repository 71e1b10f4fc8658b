//! Shared helpers for dcos-sim's integration tests: a blocking HTTP client
//! that reports every status instead of failing on 4xx/5xx.

#![allow(dead_code)]

pub mod cli;
pub mod jobs;

use serde_json::Value;
#[allow(unused_imports)] // not every test binary uses them
pub use test_support::{haproxy_binary, unique_loopback};

/// A response: status, content type, body text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The body as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into()
}

fn reply(response: ureq::http::Response<ureq::Body>) -> Reply {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect::<Vec<_>>();
    let content_type = headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let body = response.into_body().read_to_string().unwrap_or_default();
    Reply {
        status,
        content_type,
        headers,
        body,
    }
}

/// Sends a request; `body` is sent as JSON when given. `Err` on a transport
/// failure (connection refused or dropped).
pub fn try_send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Reply, ureq::Error> {
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let agent = agent();
    let response = match body {
        Some(json) => agent.run(
            request
                .header("content-type", "application/json")
                .body(json.to_string())
                .unwrap(),
        )?,
        None => agent.run(request.body(()).unwrap())?,
    };
    Ok(reply(response))
}

/// [`try_send`] that panics on transport failures.
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Reply {
    try_send(method, url, headers, body).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// GET without headers.
pub fn get(url: &str) -> Reply {
    send("GET", url, &[], None)
}

/// One server row of marathon-lb's `;csv` stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbRow {
    pub backend: String,
    pub server: String,
    pub qcur: u64,
    pub scur: u64,
    pub status: String,
}

/// The server rows of `backend` on the marathon-lb at `lb_url`, read by
/// column name from the CSV header as zdd.py does.
pub fn lb_rows(lb_url: &str, backend: &str) -> Vec<LbRow> {
    let reply = get(&format!("{lb_url}/haproxy?stats;csv"));
    assert_eq!(reply.status, 200, "{lb_url}: {}", reply.body);
    let mut lines = reply.body.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("a header")
        .trim_start_matches(['#', ' '])
        .trim_end_matches(',')
        .split(',')
        .collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let (px, sv, q, s, st) = (
        column("pxname"),
        column("svname"),
        column("qcur"),
        column("scur"),
        column("status"),
    );
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[px] == backend && f[sv] != "FRONTEND" && f[sv] != "BACKEND")
        .map(|f| LbRow {
            backend: f[px].to_owned(),
            server: f[sv].to_owned(),
            qcur: f[q].parse().unwrap_or(0),
            scur: f[s].parse().unwrap_or(0),
            status: f[st].to_owned(),
        })
        .collect()
}

/// How many haproxy pids `/_haproxy_getpids` lists (more than 2: reloading).
pub fn lb_pids(lb_url: &str) -> usize {
    let reply = get(&format!("{lb_url}/_haproxy_getpids"));
    assert_eq!(reply.status, 200, "{lb_url}: {}", reply.body);
    reply.body.split_whitespace().count()
}

/// An app of deployment group `group` on its public port `port`
/// (`HAPROXY_0_PORT`), with an HTTP health check every second, as zdd.py
/// would deploy it (`labels` added).
pub fn group_app(
    id: &str,
    group: &str,
    port: u16,
    image: &str,
    instances: u64,
    labels: Value,
) -> Value {
    let mut all = serde_json::json!({
        "HAPROXY_GROUP": "external",
        "HAPROXY_DEPLOYMENT_GROUP": group,
        "HAPROXY_0_PORT": port.to_string(),
    });
    if let (Some(all), Some(more)) = (all.as_object_mut(), labels.as_object()) {
        all.extend(more.clone());
    }
    serde_json::json!({
        "id": id, "instances": instances, "cpus": 0.1, "mem": 32,
        "container": {"type": "DOCKER", "docker": {"image": image},
                      "portMappings": [{"containerPort": 80, "hostPort": 0, "servicePort": 0}]},
        "networks": [{"mode": "container/bridge"}],
        "labels": all,
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0,
                          "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 2}]
    })
}

/// Polls a condition, bounded (one home: test-support).
pub use test_support::wait_until;

/// A server row of the `;csv` stats with every column, by name.
pub fn lb_columns(lb_url: &str, backend: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let reply = get(&format!("{lb_url}/haproxy?stats;csv"));
    assert_eq!(reply.status, 200, "{lb_url}: {}", reply.body);
    let mut lines = reply.body.lines();
    let header: Vec<String> = lines
        .next()
        .expect("a header")
        .trim_start_matches(['#', ' '])
        .trim_end_matches(',')
        .split(',')
        .map(str::to_owned)
        .collect();
    lines
        .map(|l| l.split(',').map(str::to_owned).collect::<Vec<_>>())
        .filter(|f| f[0] == backend && f[1] != "FRONTEND" && f[1] != "BACKEND")
        .map(|f| header.iter().cloned().zip(f).collect())
        .collect()
}

/// `POST /v2/apps` of `app` to the sim at `dcos_url`; asserts the 201.
pub fn create_app(dcos_url: &str, app: &Value) {
    let reply = send("POST", &format!("{dcos_url}/v2/apps"), &[], Some(app));
    assert_eq!(reply.status, 201, "{}", reply.body);
}

/// `POST /v2/tasks/delete?scale=true&force=true` of `task` on the sim at
/// `dcos_url`; asserts the 200.
pub fn kill_task(dcos_url: &str, task: &str) {
    let reply = send(
        "POST",
        &format!("{dcos_url}/v2/tasks/delete?scale=true&force=true"),
        &[],
        Some(&serde_json::json!({"ids": [task]})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}
