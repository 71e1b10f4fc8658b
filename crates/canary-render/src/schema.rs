//! The project's JSON Schemas, turned into validators at build time.

use serde_json::Value;

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

// The validators are generated at build time from the schema files (the
// jsonschema crate's `validator` macro): nothing is compiled, parsed or
// resolved at run time, and the crate is built without its network features.
#[jsonschema::validator(path = "../../schemas/marathon-app.schema.json", draft = Draft7)]
struct AppSchema;

#[jsonschema::validator(path = "../../schemas/metronome-job.schema.json", draft = Draft7)]
struct JobSchema;

/// Checks `document` against a schema and lists every violation (empty when
/// valid), ordered by pointer so messages are stable.
pub fn check(kind: SchemaKind, document: &Value) -> Vec<Violation> {
    let valid = match kind {
        SchemaKind::MarathonApp => AppSchema::is_valid(document),
        SchemaKind::MetronomeJob => JobSchema::is_valid(document),
    };
    if valid {
        return Vec::new();
    }
    let errors = match kind {
        SchemaKind::MarathonApp => AppSchema::iter_errors(document),
        SchemaKind::MetronomeJob => JobSchema::iter_errors(document),
    };
    let mut violations: Vec<Violation> = errors
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
