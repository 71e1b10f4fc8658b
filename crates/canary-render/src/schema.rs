//! The project's JSON Schemas, embedded and compiled once.

use serde_json::Value;
use std::sync::LazyLock;

/// `schemas/marathon-app.schema.json`: a Marathon v2 app definition.
pub const MARATHON_APP_SCHEMA: &str = include_str!("../../../schemas/marathon-app.schema.json");

/// `schemas/metronome-job.schema.json`: a Metronome v1 job spec.
pub const METRONOME_JOB_SCHEMA: &str = include_str!("../../../schemas/metronome-job.schema.json");

/// Which schema a document is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    /// [`MARATHON_APP_SCHEMA`].
    MarathonApp,
    /// [`METRONOME_JOB_SCHEMA`].
    MetronomeJob,
}

/// One place where a document breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer into the document (`""` for the whole document).
    pub pointer: String,
    /// What is wrong there.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "at {at}: {}", self.message)
    }
}

/// Builds a draft-07 validator that refuses to fetch any reference: the
/// schemas are self-contained, and validation never touches the network.
fn build(schema: &Value) -> Result<jsonschema::Validator, jsonschema::ValidationError<'static>> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .offline()
        .build(schema)
}

fn compile(text: &str, name: &str) -> jsonschema::Validator {
    // The schemas are part of the binary and covered by tests, so a failure
    // here is a build defect, not a user error. The crate is built without its
    // network resolver features, and the schemas use local references only.
    let schema: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("embedded schema {name} is not JSON: {e}"));
    build(&schema).unwrap_or_else(|e| panic!("embedded schema {name} does not compile: {e}"))
}

static APP_VALIDATOR: LazyLock<jsonschema::Validator> =
    LazyLock::new(|| compile(MARATHON_APP_SCHEMA, "marathon-app.schema.json"));
static JOB_VALIDATOR: LazyLock<jsonschema::Validator> =
    LazyLock::new(|| compile(METRONOME_JOB_SCHEMA, "metronome-job.schema.json"));

/// Compiles the job schema now, if it is not compiled yet. Compiling is most
/// of a cold `canary render`; a process that knows it will validate jobs can
/// call this on another thread early, so it overlaps other start-up work.
pub fn precompile_job_schema() {
    LazyLock::force(&JOB_VALIDATOR);
}

/// Checks `document` against a schema and lists every violation (empty when
/// valid), ordered by pointer so messages are stable.
pub fn check(kind: SchemaKind, document: &Value) -> Vec<Violation> {
    let validator = match kind {
        SchemaKind::MarathonApp => &*APP_VALIDATOR,
        SchemaKind::MetronomeJob => &*JOB_VALIDATOR,
    };
    if validator.is_valid(document) {
        return Vec::new();
    }
    let mut violations: Vec<Violation> = validator
        .iter_errors(document)
        .map(|error| Violation {
            pointer: error.instance_path().to_string(),
            message: error.to_string(),
        })
        .collect();
    violations.sort_by(|a, b| (&a.pointer, &a.message).cmp(&(&b.pointer, &b.message)));
    violations.dedup();
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn app_schema_rejects_what_marathon_rejects() {
        let base = json!({"id": "/a", "cmd": "x"});
        let with = |key: &str, value: Value| {
            let mut doc = base.clone();
            doc[key] = value;
            doc
        };
        let rejected = [
            (with("id", json!("Bad_Id")), "/id"),
            (with("instances", json!(-1)), "/instances"),
            (with("labels", json!({"A": 1})), "/labels/A"),
            (with("args", json!(["y"])), ""),
            (
                with("upgradeStrategy", json!({"minimumHealthCapacity": 2})),
                "/upgradeStrategy/minimumHealthCapacity",
            ),
            (
                with("healthChecks", json!([{"protocol": "FOO"}])),
                "/healthChecks/0/protocol",
            ),
            (
                with("constraints", json!([["hostname", "NEAR", "x"]])),
                "/constraints/0/1",
            ),
            (
                with(
                    "container",
                    json!({"type": "DOCKER", "docker": {"image": ""}}),
                ),
                "/container/docker/image",
            ),
        ];
        for (doc, pointer) in rejected {
            let v = check(SchemaKind::MarathonApp, &doc);
            assert!(v.iter().any(|v| v.pointer == pointer), "{doc}: {v:?}");
        }
        assert_eq!(
            check(
                SchemaKind::MarathonApp,
                &with("storeUrls", json!(["legacy"]))
            ),
            []
        );
    }

    #[test]
    fn job_schema_rejects_what_metronome_rejects() {
        let base = json!({"id": "deploy-a-canary", "run": {"cmd": "x", "cpus": 0.1, "mem": 64, "disk": 0}});
        let with = |edit: &dyn Fn(&mut Value)| {
            let mut doc = base.clone();
            edit(&mut doc);
            doc
        };
        let rejected = [
            with(&|d| d["id"] = json!("Deploy_x")),
            with(&|d| d["id"] = json!("a/b")),
            with(&|d| d["run"]["cpus"] = json!(0)),
            with(&|d| d["run"]["mem"] = json!(16)),
            with(&|d| d["run"]["restart"] = json!({"policy": "ALWAYS"})),
            with(&|d| d["run"]["env"] = json!({"A": 5})),
            with(&|d| d["foo"] = json!(1)),
            with(&|d| d["run"]["foo"] = json!(1)),
            with(&|d| {
                d["run"]["docker"] = json!({"image": "a"});
                d["run"]["ucr"] = json!({"image": {"id": "a"}});
            }),
            with(&|d| {
                d["run"].as_object_mut().unwrap().remove("cmd");
            }),
        ];
        for doc in rejected {
            assert!(!check(SchemaKind::MetronomeJob, &doc).is_empty(), "{doc}");
        }
        assert_eq!(check(SchemaKind::MetronomeJob, &base), []);
    }

    #[test]
    fn remote_references_are_refused_not_fetched() {
        let remote = json!({"$ref": "https://example.com/schema.json"});
        assert!(build(&remote).is_err());
        let file = json!({"$ref": "file:///etc/passwd"});
        assert!(build(&file).is_err());
    }

    #[test]
    fn embedded_schemas_compile_and_catch_errors() {
        assert!(check(SchemaKind::MarathonApp, &json!({"id": "/a", "cmd": "x"})).is_empty());
        let v = check(
            SchemaKind::MarathonApp,
            &json!({"id": "/a", "cmd": "x", "cpus": 0}),
        );
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].pointer, "/cpus");
        let v = check(
            SchemaKind::MetronomeJob,
            &json!({"id": "j", "run": {"cmd": "x", "cpus": 1, "mem": 16, "disk": 0}}),
        );
        assert_eq!(v[0].pointer, "/run/mem");
        assert!(
            v[0].to_string()
                .starts_with("at /run/mem: 16 is less than the minimum of 32"),
            "{}",
            v[0]
        );
    }
}
