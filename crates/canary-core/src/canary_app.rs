//! Validation of an app definition that zdd.py can canary.

use crate::app::{AppDefinition, ServicePort, json_type};
use crate::ids::{AppIdError, validate_app_id};
use crate::image::{ImageError, validate_image};
use serde_json::Value;

/// The label naming the blue/green deployment group (zdd.md §3).
pub const LABEL_DEPLOYMENT_GROUP: &str = "HAPROXY_DEPLOYMENT_GROUP";
/// The label holding the alternate service port (zdd.md §3).
pub const LABEL_DEPLOYMENT_ALT_PORT: &str = "HAPROXY_DEPLOYMENT_ALT_PORT";

/// Why an app definition cannot be canaried. Each variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// A required field is absent.
    #[error("{field}: missing; {why}")]
    Missing {
        /// The dotted field name.
        field: &'static str,
        /// What the field is needed for.
        why: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("{field}: must be {expected}, found {found}")]
    WrongType {
        /// The dotted field name.
        field: String,
        /// The expected type.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// `id` is not a valid Marathon app id.
    #[error("id: '{id}' is not a valid Marathon app id: {reason}")]
    InvalidAppId {
        /// The id as written.
        id: String,
        /// Which rule it breaks.
        reason: AppIdError,
    },
    /// `instances` is below 1.
    #[error("instances: is {0}; a canary needs an app with at least 1 instance")]
    NoInstances(u64),
    /// `labels.HAPROXY_DEPLOYMENT_GROUP` is unusable.
    #[error("labels.HAPROXY_DEPLOYMENT_GROUP: '{group}' {reason}")]
    BadDeploymentGroup {
        /// The label value.
        group: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// `labels.HAPROXY_DEPLOYMENT_ALT_PORT` is not a port number.
    #[error(
        "labels.HAPROXY_DEPLOYMENT_ALT_PORT: '{0}' is not a port number (an integer from 1 to 65535, written as a string)"
    )]
    BadAltPort(String),
    /// No service port in any of the four places.
    #[error(
        "no service port found: zdd.py needs exactly one, in container.docker.portMappings[0].servicePort, \
         container.portMappings[0].servicePort, portDefinitions[0].port or ports[0]"
    )]
    NoServicePort,
    /// More than one distinct service port.
    #[error("two or more service ports found ({}); zdd.py and marathon-lb's blue/green support handle exactly one", list(.0))]
    ManyServicePorts(Vec<ServicePort>),
    /// The service port entry has no fixed port number.
    #[error(
        "{field}: the service port must be a fixed port from 1 to 65535 (marathon-lb binds it and zdd.py swaps it with the ALT port); 0 or unset lets Marathon pick a random one"
    )]
    UnsetServicePort {
        /// The dotted field name of the entry.
        field: String,
    },
    /// The ALT port equals the service port.
    #[error(
        "labels.HAPROXY_DEPLOYMENT_ALT_PORT: {0} is the service port itself; the two colours need two different ports"
    )]
    AltPortIsServicePort(u16),
    /// `container.type` is neither DOCKER nor MESOS.
    #[error(
        "container.type: '{0}' is not supported; use DOCKER or MESOS (both take the image from container.docker.image)"
    )]
    UnsupportedContainerType(String),
    /// The image is malformed.
    #[error("container.docker.image: '{image}' {reason}")]
    InvalidImage {
        /// The image as written (shown with escapes).
        image: String,
        /// What is wrong with it.
        reason: ImageError,
    },
}

fn list(ports: &[ServicePort]) -> String {
    ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// An app definition that passed every check zdd.py (and canary) needs.
///
/// Built with [`CanaryApp::new`]; holds the verbatim definition plus the
/// values canary reads from it.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryApp {
    definition: AppDefinition,
    id: String,
    instances: u64,
    deployment_group: String,
    alt_port: u16,
    service_port: u16,
    image: String,
}

fn string_field<'a>(value: Option<&'a Value>, field: &str) -> Result<Option<&'a str>, AppError> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(AppError::WrongType {
            field: field.to_owned(),
            expected: "a string",
            found: json_type(other),
        }),
    }
}

impl CanaryApp {
    /// Validates `definition` as a canary-able app.
    ///
    /// ```
    /// use canary_core::{AppDefinition, CanaryApp};
    /// let app = AppDefinition::from_value(serde_json::json!({
    ///     "id": "/web", "instances": 3,
    ///     "container": {"type": "DOCKER", "docker": {"image": "nginx:1.19"},
    ///                   "portMappings": [{"containerPort": 80, "servicePort": 10000}]},
    ///     "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_ALT_PORT": "10001"}
    /// })).unwrap();
    /// let app = CanaryApp::new(app).unwrap();
    /// assert_eq!((app.service_port(), app.alt_port()), (10000, 10001));
    /// ```
    pub fn new(definition: AppDefinition) -> Result<Self, AppError> {
        let id = string_field(definition.get("id"), "id")?.ok_or(AppError::Missing {
            field: "id",
            why: "Marathon needs an app id and zdd.py derives the blue/green ids from it",
        })?;
        validate_app_id(id).map_err(|reason| AppError::InvalidAppId {
            id: id.to_owned(),
            reason,
        })?;

        let instances = match definition.instances() {
            Ok(n) => n.unwrap_or(1),
            Err(raw) => {
                return Err(AppError::WrongType {
                    field: "instances".into(),
                    expected: "a non-negative integer",
                    found: json_type(raw),
                });
            }
        };
        if instances < 1 {
            return Err(AppError::NoInstances(instances));
        }

        let labels = match definition.get("labels") {
            None => {
                return Err(AppError::Missing {
                    field: "labels",
                    why: "zdd.py needs HAPROXY_DEPLOYMENT_GROUP and HAPROXY_DEPLOYMENT_ALT_PORT",
                });
            }
            Some(Value::Object(labels)) => labels,
            Some(other) => {
                return Err(AppError::WrongType {
                    field: "labels".into(),
                    expected: "an object of string values",
                    found: json_type(other),
                });
            }
        };
        for (key, value) in labels {
            string_field(Some(value), &format!("labels.{key}"))?;
        }
        let group = labels
            .get(LABEL_DEPLOYMENT_GROUP)
            .and_then(Value::as_str)
            .ok_or(AppError::Missing {
                field: "labels.HAPROXY_DEPLOYMENT_GROUP",
                why: "it names the blue/green group whose apps marathon-lb merges into one backend",
            })?;
        check_group(group)?;
        let alt = labels
            .get(LABEL_DEPLOYMENT_ALT_PORT)
            .and_then(Value::as_str)
            .ok_or(AppError::Missing {
                field: "labels.HAPROXY_DEPLOYMENT_ALT_PORT",
                why: "zdd.py gives the second colour this service port",
            })?;
        let alt_port = parse_port(alt).ok_or_else(|| AppError::BadAltPort(alt.to_owned()))?;

        let service_port = single_service_port(&definition)?;
        if alt_port == service_port {
            return Err(AppError::AltPortIsServicePort(alt_port));
        }

        let container_type = definition.container_type();
        if let Some(kind) = container_type
            && kind != "DOCKER"
            && kind != "MESOS"
        {
            return Err(AppError::UnsupportedContainerType(kind.to_owned()));
        }
        let image_value = definition.get_path(&["container", "docker", "image"]);
        let image =
            string_field(image_value, "container.docker.image")?.ok_or(AppError::Missing {
                field: "container.docker.image",
                why: "the canary is a new image of the app",
            })?;
        validate_image(image).map_err(|reason| AppError::InvalidImage {
            image: image.escape_debug().to_string(),
            reason,
        })?;

        Ok(CanaryApp {
            id: id.to_owned(),
            instances,
            deployment_group: group.to_owned(),
            alt_port,
            service_port,
            image: image.to_owned(),
            definition,
        })
    }

    /// The verbatim definition.
    pub fn definition(&self) -> &AppDefinition {
        &self.definition
    }

    /// Gives back the verbatim definition.
    pub fn into_definition(self) -> AppDefinition {
        self.definition
    }

    /// The Marathon app id as written (zdd.py appends `-blue`/`-green`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The full instance count (Marathon's default 1 when absent).
    pub fn instances(&self) -> u64 {
        self.instances
    }

    /// `labels.HAPROXY_DEPLOYMENT_GROUP`.
    pub fn deployment_group(&self) -> &str {
        &self.deployment_group
    }

    /// `labels.HAPROXY_DEPLOYMENT_ALT_PORT` as a number.
    pub fn alt_port(&self) -> u16 {
        self.alt_port
    }

    /// The one service port.
    pub fn service_port(&self) -> u16 {
        self.service_port
    }

    /// `container.docker.image`.
    pub fn image(&self) -> &str {
        &self.image
    }
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|&p| p >= 1)
}

/// Refuses a group zdd.py cannot drain: one with `/` (zdd.py looks for the
/// HAProxy backend `<group>_<port>` verbatim, but marathon-lb strips a
/// leading '/' and turns '/' into '_' when naming it, so zdd.py would never
/// see the drain, zdd.md §12.8). canary's own engine names it as
/// marathon-lb does.
pub(crate) fn check_group_for_zdd(group: &str) -> Result<(), AppError> {
    if group.contains('/') {
        return Err(AppError::BadDeploymentGroup {
            group: group.escape_debug().to_string(),
            reason: "contains '/': zdd.py matches the HAProxy backend name verbatim, marathon-lb rewrites '/', \
             so zdd.py would never see the drain and would fall back to killing tasks at --max-wait",
        });
    }
    Ok(())
}

/// Whether `group` can be a deployment group (`HAPROXY_DEPLOYMENT_GROUP`):
/// not empty, at most 255 bytes, no whitespace, control character or ','
/// (it names an HAProxy backend). `--group` is checked the same way.
pub fn validate_deployment_group(group: &str) -> Result<(), AppError> {
    check_group(group)
}

fn check_group(group: &str) -> Result<(), AppError> {
    let bad = |reason| {
        Err(AppError::BadDeploymentGroup {
            group: group.escape_debug().to_string(),
            reason,
        })
    };
    if group.is_empty() {
        return bad("is empty");
    }
    if group.len() > 255 {
        return bad("is longer than 255 bytes");
    }
    if group
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == ',')
    {
        return bad(
            "contains whitespace, a control character or ',', which cannot appear in an HAProxy backend name",
        );
    }
    Ok(())
}

fn single_service_port(definition: &AppDefinition) -> Result<u16, AppError> {
    let ports = definition.service_ports();
    let Some(first) = ports.first() else {
        return Err(AppError::NoServicePort);
    };
    let mut distinct: Vec<&ServicePort> = Vec::new();
    for port in &ports {
        // The same port in two places (the original testapp template had it in
        // both docker portMappings and portDefinitions) is one service port.
        if !distinct
            .iter()
            .any(|d| d.port.is_some() && d.port == port.port)
        {
            distinct.push(port);
        }
    }
    if distinct.len() > 1 {
        return Err(AppError::ManyServicePorts(
            distinct.into_iter().cloned().collect(),
        ));
    }
    match first.port {
        Some(port) if port >= 1 => Ok(port),
        _ => Err(AppError::UnsetServicePort {
            field: first.field(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "id": "/web", "instances": 4,
            "container": {"type": "DOCKER", "docker": {"image": "httpd", "network": "BRIDGE",
                "portMappings": [{"containerPort": 80, "servicePort": 10102}]}},
            "portDefinitions": [{"port": 10102}],
            "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_ALT_PORT": "10129"}
        })
    }

    fn check(edit: impl FnOnce(&mut Value)) -> Result<CanaryApp, AppError> {
        let mut v = base();
        edit(&mut v);
        CanaryApp::new(AppDefinition::from_value(v).unwrap())
    }

    #[test]
    fn the_original_testapp_shape_is_accepted() {
        let app = check(|_| {}).unwrap();
        assert_eq!(app.id(), "/web");
        assert_eq!(app.instances(), 4);
        assert_eq!(app.deployment_group(), "web");
        assert_eq!((app.service_port(), app.alt_port()), (10102, 10129));
        assert_eq!(app.image(), "httpd");
    }

    #[test]
    fn instances_default_to_one() {
        let app = check(|v| {
            v.as_object_mut().unwrap().remove("instances");
        })
        .unwrap();
        assert_eq!(app.instances(), 1);
    }

    #[test]
    fn each_failure_names_its_field() {
        type Edit = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("id");
                }),
                "id: missing",
            ),
            (Box::new(|v| v["id"] = json!(5)), "id: must be a string"),
            (
                Box::new(|v| v["id"] = json!("/Web")),
                "id: '/Web' is not a valid Marathon app id",
            ),
            (Box::new(|v| v["instances"] = json!(0)), "instances: is 0"),
            (
                Box::new(|v| v["instances"] = json!(-1)),
                "instances: must be a non-negative integer",
            ),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("labels");
                }),
                "labels: missing",
            ),
            (
                Box::new(|v| v["labels"] = json!([])),
                "labels: must be an object",
            ),
            (
                Box::new(|v| v["labels"]["X"] = json!(1)),
                "labels.X: must be a string, found a number",
            ),
            (
                Box::new(|v| {
                    v["labels"]
                        .as_object_mut()
                        .unwrap()
                        .remove("HAPROXY_DEPLOYMENT_GROUP");
                }),
                "labels.HAPROXY_DEPLOYMENT_GROUP: missing",
            ),
            (
                Box::new(|v| v["labels"]["HAPROXY_DEPLOYMENT_GROUP"] = json!("")),
                "labels.HAPROXY_DEPLOYMENT_GROUP: '' is empty",
            ),
            (
                Box::new(|v| {
                    v["labels"]
                        .as_object_mut()
                        .unwrap()
                        .remove("HAPROXY_DEPLOYMENT_ALT_PORT");
                }),
                "labels.HAPROXY_DEPLOYMENT_ALT_PORT: missing",
            ),
            (
                Box::new(|v| v["labels"]["HAPROXY_DEPLOYMENT_ALT_PORT"] = json!("ten")),
                "labels.HAPROXY_DEPLOYMENT_ALT_PORT: 'ten' is not a port number",
            ),
            (
                Box::new(|v| v["labels"]["HAPROXY_DEPLOYMENT_ALT_PORT"] = json!("70000")),
                "labels.HAPROXY_DEPLOYMENT_ALT_PORT: '70000' is not a port number",
            ),
            (
                Box::new(|v| v["labels"]["HAPROXY_DEPLOYMENT_ALT_PORT"] = json!("10102")),
                "labels.HAPROXY_DEPLOYMENT_ALT_PORT: 10102 is the service port itself",
            ),
            (
                Box::new(|v| {
                    v["container"]["docker"]
                        .as_object_mut()
                        .unwrap()
                        .remove("portMappings");
                    v.as_object_mut().unwrap().remove("portDefinitions");
                }),
                "no service port found",
            ),
            (
                Box::new(|v| v["portDefinitions"] = json!([{"port": 10102}, {"port": 10103}])),
                "two or more service ports found (container.docker.portMappings[0].servicePort=10102, portDefinitions[1].port=10103)",
            ),
            (
                Box::new(|v| {
                    v["container"]["docker"]["portMappings"][0]["servicePort"] = json!(0);
                    v.as_object_mut().unwrap().remove("portDefinitions");
                }),
                "container.docker.portMappings[0].servicePort: the service port must be a fixed port",
            ),
            (
                Box::new(|v| v["container"]["type"] = json!("RKT")),
                "container.type: 'RKT' is not supported",
            ),
            (
                Box::new(|v| {
                    v["container"]["docker"]
                        .as_object_mut()
                        .unwrap()
                        .remove("image");
                }),
                "container.docker.image: missing",
            ),
            (
                Box::new(|v| v["container"]["docker"]["image"] = json!("")),
                "container.docker.image: '' is empty",
            ),
            (
                Box::new(|v| v["container"]["docker"]["image"] = json!("a b\"")),
                "container.docker.image: 'a b\\\"' contains a space at byte 1",
            ),
        ];
        for (edit, expected) in cases {
            let err = check(edit).unwrap_err().to_string();
            assert!(
                err.starts_with(expected),
                "expected {expected:?}, got {err:?}"
            );
        }
    }

    #[test]
    fn ucr_apps_take_the_image_from_container_docker() {
        let app = check(|v| v["container"]["type"] = json!("MESOS")).unwrap();
        assert_eq!(app.image(), "httpd");
    }
}
