//! The app a deploy creates, from the rendered definition: the first app of
//! an empty group, or the canary beside the live app, as zdd.py builds them
//! (zdd.md §4), with its deliberate fixes: every place that holds the
//! service port gets the new port (so `portDefinitions` apps work), the port
//! toggles from the live app's actual service port, and `STARTED_AT` is UTC.

use super::labels;
use crate::app::{AppDefinition, PortLocation};
use crate::canary_app::CanaryApp;
use crate::clock::Timestamp;
use crate::marathon::MarathonApp;
use serde_json::{Map, Value};

/// `blue` or `green`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// `blue` (a first deploy, and the colour after any but `blue`).
    Blue,
    /// `green` (the colour after `blue`).
    Green,
}

impl Colour {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Blue => "blue",
            Colour::Green => "green",
        }
    }

    /// The colour after an app labelled `previous`: `green` after exactly
    /// `blue`, else `blue` (zdd.py's rule, so a missing label gives `blue`).
    pub fn after(previous: Option<&str>) -> Colour {
        if previous == Some("blue") {
            Colour::Green
        } else {
            Colour::Blue
        }
    }
}

/// The id of `definition`'s app in `colour`: `<id>-<colour>` with a leading
/// `/` (`testapp` becomes `/testapp-green`).
pub fn coloured_id(id: &str, colour: Colour) -> String {
    format!("/{}-{}", id.trim_start_matches('/'), colour.as_str())
}

/// Sets every service port entry equal to `from` to `to`, wherever the
/// definition holds one (docker or container port mappings, port
/// definitions, legacy `ports`).
fn move_service_port(definition: &mut Map<String, Value>, from: u16, to: u16) {
    for location in PortLocation::ALL {
        let path: Vec<&str> = location.array_field().split('.').collect();
        let mut at: Option<&mut Value> = None;
        for (i, key) in path.iter().enumerate() {
            at = if i == 0 {
                definition.get_mut(*key)
            } else {
                at.and_then(|v| v.get_mut(*key))
            };
        }
        let Some(Value::Array(items)) = at else {
            continue;
        };
        for item in items {
            let slot = match location.port_key() {
                Some(key) => item.get_mut(key),
                None => Some(item),
            };
            if let Some(port) = slot
                && port.as_u64() == Some(u64::from(from))
            {
                *port = Value::from(to);
            }
        }
    }
}

fn with_labels(
    app: &CanaryApp,
    id: String,
    instances: u32,
    port: u16,
    set: &[(&str, String)],
) -> Value {
    let mut map = app.definition().clone().into_value();
    let Some(object) = map.as_object_mut() else {
        unreachable!("an AppDefinition is an object");
    };
    object.insert("id".into(), Value::from(id));
    object.insert("instances".into(), Value::from(instances));
    move_service_port(object, app.service_port(), port);
    let labels = object
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(labels) = labels.as_object_mut() {
        for (key, value) in set {
            labels.insert((*key).to_owned(), Value::from(value.clone()));
        }
    }
    map
}

/// The first app of an empty group: `<id>-blue` at the full count on the
/// public port, `NEW_INSTANCES` `"0"`, `TARGET_INSTANCES` the full count.
pub fn first_deploy(app: &CanaryApp, now: Timestamp) -> Value {
    let instances = u32::try_from(app.instances()).unwrap_or(u32::MAX);
    with_labels(
        app,
        coloured_id(app.id(), Colour::Blue),
        instances,
        app.service_port(),
        &[
            (labels::APP_ID, app.id().to_owned()),
            (labels::PORT_0, app.service_port().to_string()),
            (labels::COLOUR, Colour::Blue.as_str().to_owned()),
            (labels::TARGET_INSTANCES, instances.to_string()),
            (labels::NEW_INSTANCES, "0".to_owned()),
            (labels::STARTED_AT, labels::started_at(now)),
        ],
    )
}

/// The canary beside `live`: the other colour, `canary_instances`
/// instances (at most `live`'s count), the service port toggled from the one
/// `live` actually has (public to ALT, anything else to public),
/// `TARGET_INSTANCES` the live app's count now (what a rollback restores)
/// and `NEW_INSTANCES` the canary's count.
pub fn canary(
    app: &CanaryApp,
    live: &MarathonApp,
    canary_instances: u32,
    steps: Option<&super::ladder::Ladder>,
    now: Timestamp,
) -> Value {
    let colour = Colour::after(live.label(labels::COLOUR));
    let public = app.service_port();
    let port = if live.service_port == Some(public) {
        app.alt_port()
    } else {
        public
    };
    let n = canary_instances.min(live.instances).max(1);
    let mut set = vec![
        (labels::APP_ID, app.id().to_owned()),
        (labels::PORT_0, public.to_string()),
        (labels::COLOUR, colour.as_str().to_owned()),
        (labels::TARGET_INSTANCES, live.instances.to_string()),
        (labels::NEW_INSTANCES, n.to_string()),
        (labels::STARTED_AT, labels::started_at(now)),
    ];
    if let Some(steps) = steps {
        set.push((labels::STEPS, steps.to_string()));
    }
    with_labels(app, coloured_id(app.id(), colour), n, port, &set)
}

/// The rendered definition as the engine's input: a [`CanaryApp`] checked
/// for a canary (group, ALT port, one service port).
pub fn checked(definition: AppDefinition) -> Result<CanaryApp, crate::canary_app::AppError> {
    CanaryApp::new(definition)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::predict::tests::app as group_app;
    use serde_json::json;

    fn rendered() -> CanaryApp {
        CanaryApp::new(
            AppDefinition::from_value(json!({
                "id": "/testapp", "instances": 4,
                "container": {"type": "DOCKER", "docker": {"image": "httpd:2.4", "network": "BRIDGE",
                    "portMappings": [{"containerPort": 80, "servicePort": 10102}]}},
                "portDefinitions": [{"port": 10102}],
                "labels": {"HAPROXY_DEPLOYMENT_GROUP": "testapp", "HAPROXY_DEPLOYMENT_ALT_PORT": "10129",
                           "HAPROXY_DEPLOYMENT_NEW_INSTANCES": "7"}
            }))
            .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_first_deploy_is_blue_at_full_count_on_the_public_port() {
        let app = first_deploy(&rendered(), Timestamp::from_unix_secs(1_764_580_000));
        assert_eq!(app["id"], "/testapp-blue");
        assert_eq!(app["instances"], 4);
        assert_eq!(
            app["container"]["docker"]["portMappings"][0]["servicePort"],
            10102
        );
        let labels = &app["labels"];
        assert_eq!(labels["HAPROXY_0_PORT"], "10102");
        assert_eq!(labels["HAPROXY_APP_ID"], "/testapp");
        assert_eq!(labels["HAPROXY_DEPLOYMENT_COLOUR"], "blue");
        assert_eq!(labels["HAPROXY_DEPLOYMENT_TARGET_INSTANCES"], "4");
        assert_eq!(
            labels["HAPROXY_DEPLOYMENT_NEW_INSTANCES"], "0",
            "overwritten"
        );
        assert_eq!(
            labels["HAPROXY_DEPLOYMENT_STARTED_AT"],
            "2025-12-01T09:06:40.000000"
        );
    }

    #[test]
    fn a_canary_takes_the_other_colour_and_port_everywhere_the_port_is() {
        let live = group_app(
            "/testapp-blue",
            4,
            json!({"HAPROXY_DEPLOYMENT_COLOUR": "blue"}),
            "",
            4,
        );
        let mut live_on_public = live.clone();
        live_on_public.service_port = Some(10102);
        let app = canary(
            &rendered(),
            &live_on_public,
            1,
            None,
            Timestamp::from_unix_secs(1),
        );
        assert_eq!(app["id"], "/testapp-green");
        assert_eq!(app["instances"], 1);
        assert_eq!(
            app["container"]["docker"]["portMappings"][0]["servicePort"],
            10129
        );
        assert_eq!(
            app["portDefinitions"][0]["port"], 10129,
            "every place the port is"
        );
        assert_eq!(app["labels"]["HAPROXY_0_PORT"], "10102");
        assert_eq!(app["labels"]["HAPROXY_DEPLOYMENT_TARGET_INSTANCES"], "4");
        assert_eq!(app["labels"]["HAPROXY_DEPLOYMENT_NEW_INSTANCES"], "1");
        // A live app on the ALT port: the canary goes back to the public one.
        let mut live_on_alt = live;
        live_on_alt.service_port = Some(10129);
        live_on_alt
            .labels
            .insert("HAPROXY_DEPLOYMENT_COLOUR".into(), "green".into());
        let app = canary(
            &rendered(),
            &live_on_alt,
            9,
            None,
            Timestamp::from_unix_secs(1),
        );
        assert_eq!(app["id"], "/testapp-blue");
        assert_eq!(
            app["container"]["docker"]["portMappings"][0]["servicePort"],
            10102
        );
        assert_eq!(app["instances"], 4, "at most the live app's count");
        assert_eq!(Colour::after(None), Colour::Blue);
    }
}
