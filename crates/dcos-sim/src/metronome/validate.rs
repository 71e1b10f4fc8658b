//! Job spec validation and normalisation, in Metronome's order: the JSON
//! Schema first, then the rules the schema cannot express, then the defaults
//! Metronome makes explicit in its answers.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

// Built at compile time from the project's own copy of the job schema.
#[jsonschema::validator(path = "../../schemas/metronome-job.schema.json", draft = Draft7)]
struct JobSchema;

/// Schema locations whose checks Metronome makes after the schema, with its
/// own messages (something to run; docker and ucr exclusive): errors found
/// there are left to [`semantic_errors`].
const LEFT_TO_SEMANTICS: [&str; 2] = ["/definitions/run/allOf/0", "/definitions/run/allOf/1"];

/// One `details` entry of a 422: a JSON pointer and what is wrong there.
pub(crate) type Details = BTreeMap<String, Vec<String>>;

/// Whether `id` is a valid job (or schedule-free) id: dot-separated names of
/// `[a-z0-9]` with inner hyphens.
pub(crate) fn is_valid_job_id(id: &str) -> bool {
    !id.is_empty()
        && id.split('.').all(|name| {
            !name.is_empty()
                && !name.starts_with('-')
                && !name.ends_with('-')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Schema violations of `spec`, grouped by instance path (`/` for the root).
pub(crate) fn schema_errors(spec: &Value) -> Details {
    let mut details = Details::new();
    if JobSchema::is_valid(spec) {
        return details;
    }
    for error in JobSchema::iter_errors(spec) {
        let schema_path = error.schema_path().to_string();
        if LEFT_TO_SEMANTICS
            .iter()
            .any(|prefix| schema_path.starts_with(prefix))
        {
            continue;
        }
        let path = error.instance_path().to_string();
        let path = if path.is_empty() {
            "/".to_owned()
        } else {
            path
        };
        let entry = details.entry(path).or_default();
        let text = error.to_string();
        if !entry.contains(&text) {
            entry.push(text);
        }
    }
    details
}

/// The rules Metronome checks after the schema: something to run, docker
/// and ucr exclusive, and secrets defined exactly when referenced.
pub(crate) fn semantic_errors(spec: &Value) -> Details {
    let mut details = Details::new();
    let run = &spec["run"];
    let has = |key: &str| run.get(key).is_some_and(|v| !v.is_null());
    let mut add = |path: &str, text: String| {
        details.entry(path.to_owned()).or_default().push(text);
    };
    let docker_image = run["docker"]["image"]
        .as_str()
        .is_some_and(|s| !s.is_empty());
    if !has("cmd") && !docker_image && !has("ucr") {
        add("/run", "Cmd, Docker or UCR image must be specified".into());
    }
    if has("docker") && has("ucr") {
        add(
            "/run",
            "Either Docker or UCR should be provided, but not both".into(),
        );
    }
    let defined: BTreeSet<&str> = run["secrets"]
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut referenced = BTreeSet::new();
    if let Some(env) = run["env"].as_object() {
        for (name, value) in env {
            if let Some(secret) = value.get("secret").and_then(Value::as_str) {
                referenced.insert(secret);
                if !defined.contains(secret) {
                    add(
                        &format!("/run/env/{name}"),
                        format!(
                            "references the secret '{secret}', which is not defined in run.secrets"
                        ),
                    );
                }
            }
        }
    }
    if let Some(volumes) = run["volumes"].as_array() {
        for (index, volume) in volumes.iter().enumerate() {
            if let Some(secret) = volume.get("secret").and_then(Value::as_str) {
                referenced.insert(secret);
                if !defined.contains(secret) {
                    add(
                        &format!("/run/volumes/{index}/secret"),
                        format!(
                            "references the secret '{secret}', which is not defined in run.secrets"
                        ),
                    );
                }
            }
        }
    }
    for name in defined.difference(&referenced) {
        add(
            &format!("/run/secrets/{name}"),
            "the secret is not referenced by an environment variable or a volume".into(),
        );
    }
    details
}

/// The `{"message":"Object is not valid","details":[…]}` body of a 422.
pub(crate) fn invalid_body(details: &Details) -> Value {
    let details: Vec<Value> = details
        .iter()
        .map(|(path, errors)| json!({"path": path, "errors": errors}))
        .collect();
    json!({"message": "Object is not valid", "details": details})
}

fn object(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn default_key(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_owned(), value);
    }
}

/// `spec` (already valid) with Metronome's defaults made explicit, without
/// its `schedules` (stored apart).
pub(crate) fn normalize(spec: &Value) -> Value {
    let mut top = Map::new();
    top.insert("id".into(), spec["id"].clone());
    if let Some(description) = spec.get("description").filter(|v| !v.is_null()) {
        top.insert("description".into(), description.clone());
    }
    top.insert(
        "labels".into(),
        spec.get("labels")
            .filter(|v| v.is_object())
            .cloned()
            .unwrap_or_else(|| json!({})),
    );
    if let Some(dependencies) = spec.get("dependencies").filter(|v| v.is_array()) {
        let deps: Vec<Value> = dependencies
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| json!({"id": d["id"]}))
            .collect();
        top.insert("dependencies".into(), Value::Array(deps));
    }
    top.insert("run".into(), normalize_run(&spec["run"]));
    Value::Object(top)
}

fn normalize_run(run: &Value) -> Value {
    let mut run = object(run);
    default_key(&mut run, "disk", json!(0));
    default_key(&mut run, "gpus", json!(0));
    default_key(&mut run, "env", json!({}));
    default_key(&mut run, "secrets", json!({}));
    default_key(&mut run, "volumes", json!([]));
    default_key(&mut run, "artifacts", json!([]));
    default_key(&mut run, "networks", json!([]));
    default_key(&mut run, "maxLaunchDelay", json!(3600));
    default_key(&mut run, "restart", json!({"policy": "NEVER"}));
    default_key(&mut run, "placement", json!({"constraints": []}));
    if let Some(placement) = run.get_mut("placement").and_then(Value::as_object_mut) {
        default_key(placement, "constraints", json!([]));
        if let Some(constraints) = placement
            .get_mut("constraints")
            .and_then(Value::as_array_mut)
        {
            for constraint in constraints {
                if constraint["operator"] == "EQ" {
                    constraint["operator"] = json!("IS");
                }
            }
        }
    }
    if let Some(artifacts) = run.get_mut("artifacts").and_then(Value::as_array_mut) {
        for artifact in artifacts.iter_mut().filter_map(Value::as_object_mut) {
            default_key(artifact, "extract", json!(true));
            default_key(artifact, "executable", json!(false));
            default_key(artifact, "cache", json!(false));
        }
    }
    if let Some(docker) = run.get_mut("docker").and_then(Value::as_object_mut) {
        default_key(docker, "forcePullImage", json!(false));
        default_key(docker, "privileged", json!(false));
        default_key(docker, "parameters", json!([]));
    }
    if let Some(ucr) = run.get_mut("ucr").and_then(Value::as_object_mut) {
        default_key(ucr, "privileged", json!(false));
        if let Some(image) = ucr.get_mut("image").and_then(Value::as_object_mut) {
            default_key(image, "kind", json!("docker"));
            default_key(image, "forcePull", json!(false));
        }
    }
    Value::Object(run)
}

/// Checks a schedule (`schedulespec`): id pattern, a five-field cron, the
/// enums and minimums; the details of a 422 when invalid.
pub(crate) fn schedule_errors(schedule: &Value) -> Details {
    let mut details = Details::new();
    let mut add = |path: &str, text: &str| {
        details
            .entry(path.to_owned())
            .or_default()
            .push(text.to_owned());
    };
    let Some(map) = schedule.as_object() else {
        add("/", "expected a JSON object");
        return details;
    };
    match map.get("id").and_then(Value::as_str) {
        None => add("/id", "error.path.missing"),
        Some(id) if !is_valid_schedule_id(id) => add(
            "/id",
            "must be digits, dashes and lowercase letters, not beginning or ending with a dash",
        ),
        Some(_) => {}
    }
    match map.get("cron").and_then(Value::as_str) {
        None => add("/cron", "error.path.missing"),
        Some(cron) if cron.split_whitespace().count() != 5 => {
            add("/cron", "Cron expression not valid")
        }
        Some(_) => {}
    }
    let checks: [ScheduleCheck; 4] = [
        (
            "startingDeadlineSeconds",
            |v| v.as_i64().is_some_and(|n| n >= 1),
            "must be an integer >= 1",
        ),
        (
            "concurrencyPolicy",
            |v| matches!(v.as_str(), Some("ALLOW" | "FORBID")),
            "must be one of ALLOW, FORBID",
        ),
        ("enabled", Value::is_boolean, "must be a boolean"),
        ("timezone", Value::is_string, "must be a string"),
    ];
    for (key, ok, text) in checks {
        if map.get(key).is_some_and(|v| !ok(v)) {
            add(&format!("/{key}"), text);
        }
    }
    details
}

/// A schedule field, its test and the error when the test fails.
type ScheduleCheck = (&'static str, fn(&Value) -> bool, &'static str);

fn is_valid_schedule_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('-')
        && !id.ends_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A valid schedule with its defaults: timezone UTC, a 900 s starting
/// deadline, concurrency ALLOW, enabled.
pub(crate) fn normalize_schedule(schedule: &Value) -> Value {
    let mut map = object(schedule);
    default_key(&mut map, "timezone", json!("UTC"));
    default_key(&mut map, "startingDeadlineSeconds", json!(900));
    default_key(&mut map, "concurrencyPolicy", json!("ALLOW"));
    default_key(&mut map, "enabled", json!(true));
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({"id": "a", "run": {"cmd": "x", "cpus": 0.1, "mem": 64, "disk": 0}})
    }

    #[test]
    fn ids() {
        for ok in ["a", "a.b", "a-b.c0", "a--b", "0"] {
            assert!(is_valid_job_id(ok), "{ok}");
        }
        for bad in ["", "A", "a_b", "-a", "a-", "a..b", "a/b", ".a", "a."] {
            assert!(!is_valid_job_id(bad), "{bad}");
        }
    }

    #[test]
    fn run_rules_are_left_to_the_semantic_checks() {
        let mut spec = base();
        spec["run"].as_object_mut().unwrap().remove("cmd");
        assert_eq!(schema_errors(&spec), Details::new());
        assert_eq!(
            semantic_errors(&spec)["/run"],
            ["Cmd, Docker or UCR image must be specified"]
        );
        let mut spec = base();
        spec["run"]["docker"] = json!({"image": "a"});
        spec["run"]["ucr"] = json!({"image": {"id": "a"}});
        assert_eq!(schema_errors(&spec), Details::new());
        assert_eq!(
            semantic_errors(&spec)["/run"],
            ["Either Docker or UCR should be provided, but not both"]
        );
        let mut spec = base();
        spec["run"]["mem"] = json!(16);
        assert!(schema_errors(&spec).contains_key("/run/mem"));
    }

    #[test]
    fn defaults() {
        let spec = normalize(&base());
        assert_eq!(spec["run"]["restart"], json!({"policy": "NEVER"}));
        assert_eq!(spec["run"]["maxLaunchDelay"], 3600);
        assert_eq!(spec["labels"], json!({}));
        assert!(spec.get("description").is_none());
    }
}
