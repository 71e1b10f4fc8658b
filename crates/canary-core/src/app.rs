//! The user's Marathon app definition, kept verbatim, with typed access to
//! the few fields canary reads.

use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

/// A Marathon app definition as the user wrote it.
///
/// Every field of the input JSON is kept exactly as given, including fields
/// canary does not know about (Marathon ignores unknown keys, and users of the
/// original tool have templates full of them).
///
/// **Nulls policy:** object members whose value is `null` are removed,
/// recursively (also inside objects nested in arrays). This is what zdd.py does
/// to its `--json` input before anything else (`cleanup_json`, zdd.md §2) and
/// what Marathon does with an absent field, so the definition canary reviews is
/// the one zdd.py will act on. `null` *elements* of arrays are kept; Marathon
/// rejects them and so does the schema check downstream.
///
/// Serialisation is deterministic: keys come out sorted (the map is ordered by
/// key), whatever order the input had.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct AppDefinition(Map<String, Value>);

/// Where Marathon (and zdd.py) look for an app's service ports, in the order
/// zdd.py looks (zdd.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortLocation {
    /// `container.docker.portMappings[].servicePort` (pre-1.5 Docker form).
    DockerPortMappings,
    /// `container.portMappings[].servicePort` (Marathon 1.5+ form).
    ContainerPortMappings,
    /// `portDefinitions[].port` (host networking).
    PortDefinitions,
    /// The legacy top-level `ports` integer array.
    Ports,
}

impl PortLocation {
    /// All locations, in zdd.py's lookup order.
    pub const ALL: [PortLocation; 4] = [
        PortLocation::DockerPortMappings,
        PortLocation::ContainerPortMappings,
        PortLocation::PortDefinitions,
        PortLocation::Ports,
    ];

    /// The dotted path of the array, e.g. `container.portMappings`.
    pub fn array_field(self) -> &'static str {
        match self {
            PortLocation::DockerPortMappings => "container.docker.portMappings",
            PortLocation::ContainerPortMappings => "container.portMappings",
            PortLocation::PortDefinitions => "portDefinitions",
            PortLocation::Ports => "ports",
        }
    }

    /// The member of each array element that holds the service port, if the
    /// elements are objects (`None` for the legacy `ports` integers).
    pub fn port_key(self) -> Option<&'static str> {
        match self {
            PortLocation::DockerPortMappings | PortLocation::ContainerPortMappings => {
                Some("servicePort")
            }
            PortLocation::PortDefinitions => Some("port"),
            PortLocation::Ports => None,
        }
    }

    fn path(self) -> &'static [&'static str] {
        match self {
            PortLocation::DockerPortMappings => &["container", "docker", "portMappings"],
            PortLocation::ContainerPortMappings => &["container", "portMappings"],
            PortLocation::PortDefinitions => &["portDefinitions"],
            PortLocation::Ports => &["ports"],
        }
    }
}

/// One service port entry found in an app definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// Which array it was found in.
    pub location: PortLocation,
    /// Its index in that array.
    pub index: usize,
    /// The port number, or `None` when the entry has no usable number
    /// (missing, not an integer, or out of range).
    pub port: Option<u16>,
}

impl ServicePort {
    /// The dotted field name of this entry, e.g. `portDefinitions[0].port`.
    pub fn field(&self) -> String {
        match self.location.port_key() {
            Some(key) => format!("{}[{}].{}", self.location.array_field(), self.index, key),
            None => format!("{}[{}]", self.location.array_field(), self.index),
        }
    }
}

impl fmt::Display for ServicePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}={}", self.field(), port),
            None => write!(f, "{} (unset)", self.field()),
        }
    }
}

/// The error for JSON that is not an object at the top level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an app definition must be a JSON object, found {found}")]
pub struct NotAnObject {
    /// The JSON type that was found instead (`array`, `string`, ...).
    pub found: &'static str,
}

/// The JSON type name of a value, for error messages.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

impl AppDefinition {
    /// Takes a parsed JSON document as an app definition, removing `null`
    /// members (see the type's nulls policy).
    ///
    /// ```
    /// use canary_core::AppDefinition;
    /// let app = AppDefinition::from_value(serde_json::json!({
    ///     "id": "/web", "cmd": null, "x-unknown": {"kept": true}
    /// })).unwrap();
    /// assert_eq!(app.id(), Some("/web"));
    /// assert!(app.get("cmd").is_none());
    /// assert_eq!(app.get("x-unknown"), Some(&serde_json::json!({"kept": true})));
    /// ```
    pub fn from_value(mut value: Value) -> Result<Self, NotAnObject> {
        strip_nulls(&mut value);
        match value {
            Value::Object(map) => Ok(AppDefinition(map)),
            other => Err(NotAnObject {
                found: json_type(&other),
            }),
        }
    }

    /// The whole definition as a JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// Turns the definition back into a JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }

    /// A top-level member.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// A member reached by a path of object keys, e.g. `["container", "docker", "image"]`.
    pub fn get_path(&self, path: &[&str]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        rest.iter()
            .try_fold(self.0.get(*first)?, |value, key| value.get(key))
    }

    /// `id`, when it is a string.
    pub fn id(&self) -> Option<&str> {
        self.0.get("id").and_then(Value::as_str)
    }

    /// `instances` as Marathon would read it: `Ok(None)` when absent (Marathon
    /// then uses 1), `Err` holding the raw value when it is not a
    /// non-negative integer.
    pub fn instances(&self) -> Result<Option<u64>, &Value> {
        match self.0.get("instances") {
            None => Ok(None),
            Some(value) => value.as_u64().map(Some).ok_or(value),
        }
    }

    /// The `labels` object, if present and an object.
    pub fn labels(&self) -> Option<&Map<String, Value>> {
        self.0.get("labels").and_then(Value::as_object)
    }

    /// One label, when present and a string.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels()?.get(key)?.as_str()
    }

    /// `container.type`, defaulting to `DOCKER` as Marathon does.
    pub fn container_type(&self) -> Option<&str> {
        match self.get_path(&["container"]) {
            None => None,
            Some(container) => Some(
                container
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("DOCKER"),
            ),
        }
    }

    /// The container image: `container.docker.image`, which Marathon uses for
    /// both the Docker containerizer (`type: DOCKER`) and UCR (`type: MESOS`).
    pub fn image(&self) -> Option<&str> {
        self.get_path(&["container", "docker", "image"])
            .and_then(Value::as_str)
    }

    /// Every service port entry, from all four places zdd.py looks, in its
    /// lookup order.
    pub fn service_ports(&self) -> Vec<ServicePort> {
        let mut found = Vec::new();
        for location in PortLocation::ALL {
            let Some(items) = self.get_path(location.path()).and_then(Value::as_array) else {
                continue;
            };
            for (index, item) in items.iter().enumerate() {
                let raw = match location.port_key() {
                    Some(key) => item.get(key),
                    None => Some(item),
                };
                let port = raw
                    .and_then(Value::as_u64)
                    .and_then(|p| u16::try_from(p).ok());
                found.push(ServicePort {
                    location,
                    index,
                    port,
                });
            }
        }
        found
    }

    /// Replaces every string value that equals `placeholder` exactly with
    /// `replacement`, anywhere in the document, and returns how many were
    /// replaced. This is a structural replacement on parsed JSON, so the
    /// replacement can never break the document (the original tool used `sed`).
    pub fn replace_placeholder(&mut self, placeholder: &str, replacement: &str) -> usize {
        fn walk(value: &mut Value, from: &str, to: &str) -> usize {
            match value {
                Value::String(s) if s == from => {
                    *s = to.to_owned();
                    1
                }
                Value::Array(items) => items.iter_mut().map(|v| walk(v, from, to)).sum(),
                Value::Object(map) => map.values_mut().map(|v| walk(v, from, to)).sum(),
                _ => 0,
            }
        }
        self.0
            .values_mut()
            .map(|v| walk(v, placeholder, replacement))
            .sum()
    }

    /// The JSON pointers of string values that contain `needle` without being
    /// equal to it (a placeholder pasted into a larger string).
    pub fn pointers_containing(&self, needle: &str) -> Vec<String> {
        fn escape(key: &str) -> String {
            key.replace('~', "~0").replace('/', "~1")
        }
        fn hit(value: &Value, needle: &str) -> bool {
            match value {
                Value::String(s) => s != needle && s.contains(needle),
                Value::Array(items) => items.iter().any(|v| hit(v, needle)),
                Value::Object(map) => map.values().any(|v| hit(v, needle)),
                _ => false,
            }
        }
        // Pointers are built only along paths that lead to a hit, so the
        // common case (no hit) allocates nothing.
        fn walk(value: &Value, needle: &str, at: &str, out: &mut Vec<String>) {
            match value {
                Value::String(_) => out.push(at.to_owned()),
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate().filter(|(_, v)| hit(v, needle)) {
                        walk(v, needle, &format!("{at}/{i}"), out);
                    }
                }
                Value::Object(map) => {
                    for (k, v) in map.iter().filter(|(_, v)| hit(v, needle)) {
                        walk(v, needle, &format!("{at}/{}", escape(k)), out);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        for (k, v) in self.0.iter().filter(|(_, v)| hit(v, needle)) {
            walk(v, needle, &format!("/{}", escape(k)), &mut out);
        }
        out
    }

    /// The definition as compact JSON with sorted keys: the exact bytes the
    /// canary jobs hand to zdd.py.
    pub fn to_compact_json(&self) -> String {
        serde_json::to_string(&self.0).expect("a JSON map always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nulls_are_removed_recursively_but_array_nulls_kept() {
        let app = AppDefinition::from_value(json!({
            "id": "/a", "cmd": null,
            "container": {"docker": {"image": "x", "network": null}},
            "portDefinitions": [{"port": 1, "name": null}],
            "args": [null]
        }))
        .unwrap();
        assert_eq!(
            app.into_value(),
            json!({"id": "/a", "container": {"docker": {"image": "x"}},
                   "portDefinitions": [{"port": 1}], "args": [null]})
        );
    }

    #[test]
    fn non_object_is_rejected_with_its_type() {
        let err = AppDefinition::from_value(json!([1])).unwrap_err();
        assert_eq!(err.found, "an array");
    }

    #[test]
    fn keys_serialise_sorted_whatever_the_input_order() {
        let a: Value = serde_json::from_str(r#"{"z":1,"a":{"y":2,"b":3}}"#).unwrap();
        let app = AppDefinition::from_value(a).unwrap();
        assert_eq!(app.to_compact_json(), r#"{"a":{"b":3,"y":2},"z":1}"#);
    }

    #[test]
    fn service_ports_are_found_in_all_four_places_in_zdd_order() {
        let app = AppDefinition::from_value(json!({
            "ports": [3],
            "portDefinitions": [{"port": 2}],
            "container": {"portMappings": [{"servicePort": 1}],
                          "docker": {"portMappings": [{"servicePort": 0}, {"containerPort": 80}]}}
        }))
        .unwrap();
        let fields: Vec<String> = app.service_ports().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            fields,
            [
                "container.docker.portMappings[0].servicePort=0",
                "container.docker.portMappings[1].servicePort (unset)",
                "container.portMappings[0].servicePort=1",
                "portDefinitions[0].port=2",
                "ports[0]=3",
            ]
        );
    }

    #[test]
    fn image_and_container_type() {
        let ucr = AppDefinition::from_value(json!({
            "container": {"type": "MESOS", "docker": {"image": "nginx:1"}}
        }))
        .unwrap();
        assert_eq!(ucr.container_type(), Some("MESOS"));
        assert_eq!(ucr.image(), Some("nginx:1"));
        let docker = AppDefinition::from_value(json!({"container": {}})).unwrap();
        assert_eq!(docker.container_type(), Some("DOCKER"));
        assert_eq!(docker.image(), None);
    }

    #[test]
    fn placeholder_replacement_is_structural() {
        let mut app = AppDefinition::from_value(json!({
            "container": {"docker": {"image": "ThisIsAUniqueKey"}},
            "labels": {"note": "uses ThisIsAUniqueKey inside"},
            "args": ["ThisIsAUniqueKey"]
        }))
        .unwrap();
        assert_eq!(app.replace_placeholder("ThisIsAUniqueKey", "a\"b"), 2);
        assert_eq!(app.image(), Some("a\"b"));
        assert_eq!(
            app.pointers_containing("ThisIsAUniqueKey"),
            ["/labels/note"]
        );
    }

    #[test]
    fn instances_reports_bad_values() {
        let app = AppDefinition::from_value(json!({"instances": "4"})).unwrap();
        assert_eq!(app.instances(), Err(&json!("4")));
        let app = AppDefinition::from_value(json!({})).unwrap();
        assert_eq!(app.instances(), Ok(None));
    }
}
