//! The simulated DC/OS secret store (`/secrets/v1/secret/default/...`):
//! served under auth like the rest, created, read, updated, listed and
//! deleted as Enterprise's Secrets API does, and bounded.

mod common;

use common::jobs::Api;
use common::send;
use dcos_sim::{SimConfig, SimHandle};
use serde_json::json;

fn sim() -> SimHandle {
    SimHandle::start(SimConfig {
        auth: true,
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .unwrap()
}

#[test]
fn without_a_token_every_secret_request_is_refused() {
    let sim = sim();
    sim.put_secret("team/db", "s3cret").unwrap();
    let url = format!("{}/secrets/v1/secret/default/team/db", sim.dcos_url());
    for method in ["GET", "PUT", "PATCH", "DELETE"] {
        let reply = send(method, &url, &[], Some(&json!({"value": "x"})));
        assert_eq!(reply.status, 401, "{method}");
        assert_eq!(reply.header("www-authenticate"), Some("acsjwt"));
        assert!(!reply.body.contains("s3cret"));
    }
    let expired = sim.issue_token_with_expiry("bootstrapuser", 0);
    let header = format!("token={expired}");
    let reply = send("GET", &url, &[("authorization", &header)], None);
    assert_eq!(reply.status, 401);
    // Nothing changed.
    let api = Api::authenticated(&sim);
    let read = api.call("GET", "/secrets/v1/secret/default/team/db", None);
    assert_eq!(read.json(), json!({"value": "s3cret"}));
}

#[test]
fn secrets_are_created_read_updated_listed_and_deleted() {
    let sim = sim();
    let api = Api::authenticated(&sim);
    let path = "/secrets/v1/secret/default/team/app/db-password";
    let created = api.call("PUT", path, Some(&json!({"value": "one"})));
    assert_eq!(created.status, 201, "{}", created.body);
    let again = api.call("PUT", path, Some(&json!({"value": "two"})));
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(!again.body.contains("two"), "{}", again.body);
    assert_eq!(api.call("GET", path, None).json(), json!({"value": "one"}));
    let patched = api.call("PATCH", path, Some(&json!({"value": "two"})));
    assert_eq!(patched.status, 204, "{}", patched.body);
    assert_eq!(api.call("GET", path, None).json(), json!({"value": "two"}));

    sim.put_secret("team/other", "x").unwrap();
    sim.put_secret("/top", "y").unwrap();
    let team = api.call("GET", "/secrets/v1/secret/default/team?list=true", None);
    assert_eq!(team.json(), json!({"array": ["app/db-password", "other"]}));
    let all = api.call("GET", "/secrets/v1/secret/default/?list=true", None);
    assert_eq!(
        all.json(),
        json!({"array": ["team/app/db-password", "team/other", "top"]})
    );

    assert_eq!(api.call("DELETE", path, None).status, 204);
    assert_eq!(api.call("GET", path, None).status, 404);
    assert_eq!(api.call("DELETE", path, None).status, 404);
    let missing = api.call("PATCH", path, Some(&json!({"value": "three"})));
    assert_eq!(missing.status, 404);
}

#[test]
fn bad_paths_bodies_and_stores_are_refused() {
    let sim = sim();
    let api = Api::authenticated(&sim);
    for (path, status) in [
        ("/secrets/v1/secret/default/a/../b", 400),
        ("/secrets/v1/secret/default/a%20b", 400),
        ("/secrets/v1/secret/other/a", 404),
    ] {
        let reply = api.call("PUT", path, Some(&json!({"value": "v"})));
        assert_eq!(reply.status, status, "{path}: {}", reply.body);
    }
    let path = "/secrets/v1/secret/default/a";
    for body in [json!({"value": 5}), json!({"other": "v"}), json!("v")] {
        let reply = api.call("PUT", path, Some(&body));
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
    }
    let token = format!("token={}", api.token.as_deref().unwrap());
    let binary = send(
        "PUT",
        &format!("{}{path}", sim.dcos_url()),
        &[
            ("authorization", &token),
            ("content-type", "application/octet-stream"),
        ],
        None,
    );
    assert_eq!(binary.status, 415, "{}", binary.body);
    let big = "z".repeat(dcos_sim::secrets::MAX_VALUE_BYTES + 1);
    let reply = api.call("PUT", path, Some(&json!({"value": big})));
    assert_eq!(
        reply.status,
        400,
        "{}",
        &reply.body[..100.min(reply.body.len())]
    );
    assert!(!reply.body.contains("zzzz"));
    assert!(sim.put_secret("bad//path", "v").is_err());
}
