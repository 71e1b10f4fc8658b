//! `GET /v2/apps?label=` as Marathon parses and applies it: backslash
//! escapes, refused characters (422 with Marathon's message), every
//! selector requiring its label, and the query canary sends for a
//! deployment group.

mod common;

use common::{get, send};
use dcos_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};

fn start() -> SimHandle {
    SimHandle::start(SimConfig {
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .expect("the sim starts")
}

/// Percent-encodes everything but unreserved characters, as a client
/// putting the selector in a query does.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A label value escaped for a selector term: every character outside
/// `[-A-Za-z0-9_.]` gets a backslash.
fn escape(value: &str) -> String {
    value
        .chars()
        .flat_map(|c| {
            let plain = c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
            (!plain).then_some('\\').into_iter().chain([c])
        })
        .collect()
}

fn create(sim: &SimHandle, id: &str, labels: Value) {
    let app = json!({"id": id, "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "labels": labels});
    let reply = send(
        "POST",
        &format!("{}/v2/apps", sim.dcos_url()),
        &[],
        Some(&app),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
}

/// The ids `selector` selects (the reply must be 200).
fn select(sim: &SimHandle, selector: &str) -> Vec<String> {
    let reply = get(&format!(
        "{}/v2/apps?label={}",
        sim.dcos_url(),
        encode(selector)
    ));
    assert_eq!(reply.status, 200, "{selector}: {}", reply.body);
    reply.json()["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn escaped_characters_match_the_plain_value() {
    let sim = start();
    create(&sim, "/spaced", json!({"note": "a b,c=d/e"}));
    create(&sim, "/other", json!({"note": "a b"}));
    assert_eq!(select(&sim, r"note==a\ b\,c\=d\/e"), ["/spaced"]);
    assert_eq!(select(&sim, r"note == a\ b"), ["/other"]);
    assert_eq!(select(&sim, r"note in (a\ b, x)"), ["/other"]);
    assert_eq!(select(&sim, r"note notin (a\ b)"), ["/spaced"]);
}

#[test]
fn unescaped_special_characters_are_refused_with_marathons_message() {
    let sim = start();
    create(&sim, "/web", json!({"g": "a/b"}));
    for bad in ["g==a/b", "g==a b", "g=a", "g==", "g in (a", "g,"] {
        let reply = get(&format!("{}/v2/apps?label={}", sim.dcos_url(), encode(bad)));
        assert_eq!(reply.status, 422, "{bad}: {}", reply.body);
        let message = reply.json()["message"].as_str().unwrap_or("").to_owned();
        assert!(
            message.starts_with(&format!("Can not parse label selector {bad}. Reason: ")),
            "{bad}: {message}"
        );
    }
}

#[test]
fn not_equal_and_notin_need_the_label_to_exist() {
    let sim = start();
    create(&sim, "/labelled", json!({"team": "a"}));
    create(&sim, "/bare", json!({}));
    assert_eq!(select(&sim, "team!=b"), ["/labelled"]);
    assert_eq!(select(&sim, "team notin (b)"), ["/labelled"]);
    assert!(select(&sim, "team!=a").is_empty());
    assert_eq!(select(&sim, ""), ["/bare", "/labelled"]);
}

#[test]
fn canarys_group_query_selects_exactly_the_group() {
    let sim = start();
    let groups = [
        "web",
        "team/web",
        "web.v2",
        "web-blue",
        "web_1",
        "team/web.v2-x_y",
    ];
    for (i, group) in groups.iter().enumerate() {
        for colour in ["blue", "green"] {
            create(
                &sim,
                &format!("/g{i}-{colour}"),
                json!({"HAPROXY_DEPLOYMENT_GROUP": group}),
            );
        }
    }
    create(&sim, "/ungrouped", json!({}));
    for (i, group) in groups.iter().enumerate() {
        let selector = format!("HAPROXY_DEPLOYMENT_GROUP=={}", escape(group));
        assert_eq!(
            select(&sim, &selector),
            [format!("/g{i}-blue"), format!("/g{i}-green")],
            "{selector}"
        );
    }
}
