//! The Marathon app cases: what the engine needs of an executor (the
//! group's apps with their tasks, create, scale, kill with scale, delete),
//! each success and its errors by kind.

use crate::{Harness, Verdict, assert_kind};
use serde_json::{Value, json};

const GROUP: &str = "conformance-group";
const APP: &str = "/conformance-web";
const MISSING_APP: &str = "/conformance-missing";

/// An app of [`GROUP`] with `instances`, as canary creates them.
fn app(instances: u32) -> Value {
    json!({
        "id": APP, "instances": instances, "cpus": 0.1, "mem": 32,
        "container": {"type": "DOCKER", "docker": {"image": "httpd:2.4"},
                      "portMappings": [{"containerPort": 80, "hostPort": 0, "servicePort": 10000}]},
        "networks": [{"mode": "container/bridge"}],
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0}],
        "labels": {"HAPROXY_DEPLOYMENT_GROUP": GROUP, "HAPROXY_DEPLOYMENT_ALT_PORT": "10001"}
    })
}

/// The group's one app, which must exist.
#[track_caller]
fn the_app(h: &mut dyn Harness) -> canary_core::executor::MarathonApp {
    let mut apps = h.executor().group_apps(GROUP).expect("group_apps");
    assert_eq!(apps.len(), 1, "{apps:?}");
    apps.remove(0)
}

/// A group with no app has none; other groups' apps are not in it.
pub fn group_apps_of_an_empty_group_is_empty(h: &mut dyn Harness) -> Verdict {
    h.add_app(
        &json!({"id": "/conformance-other", "instances": 1, "cpus": 0.1, "mem": 32,
        "container": {"type": "DOCKER", "docker": {"image": "httpd:2.4"}},
        "labels": {"HAPROXY_DEPLOYMENT_GROUP": "conformance-other"}}),
    );
    assert_eq!(h.executor().group_apps(GROUP).expect("group_apps"), vec![]);
    Verdict::Passed
}

/// The group's apps are exactly those whose group label equals it, among
/// lookalikes (a longer name, a name that only differs where Marathon's
/// label selector needs escapes, none at all) whatever the backend reads
/// (Marathon's selector for `http`, the whole list for `dcos-cli`).
pub fn group_apps_picks_the_group_exactly_among_lookalikes(h: &mut dyn Harness) -> Verdict {
    let odd = "conformance group/x,y=(z)";
    for (id, group) in [
        ("/conformance-odd", Some(odd)),
        ("/conformance-odd2", Some("conformance group/x,y=(z)2")),
        ("/conformance-plain", Some("conformance-group")),
        ("/conformance-longer", Some("conformance-groupx")),
        ("/conformance-none", None),
    ] {
        let mut app = json!({"id": id, "instances": 0, "cpus": 0.1, "mem": 32,
            "container": {"type": "DOCKER", "docker": {"image": "httpd:2.4"}}});
        if let Some(group) = group {
            app["labels"] = json!({"HAPROXY_DEPLOYMENT_GROUP": group});
        }
        h.add_app(&app);
    }
    let ids = |h: &mut dyn Harness, group: &str| -> Vec<String> {
        let mut ids: Vec<String> = h
            .executor()
            .group_apps(group)
            .expect("group_apps")
            .into_iter()
            .map(|a| a.id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(h, odd), ["/conformance-odd"]);
    assert_eq!(ids(h, GROUP), ["/conformance-plain"]);
    assert_eq!(ids(h, "conformance"), Vec::<String>::new());
    Verdict::Passed
}

/// A created app comes back in its group with its count, image and labels
/// (and, once the cluster settled, its tasks, healthy).
pub fn create_app_then_group_apps_reads_it(h: &mut dyn Harness) -> Verdict {
    h.executor().create_app(&app(2)).expect("create_app");
    h.settle();
    let live = the_app(h);
    assert_eq!((live.id.as_str(), live.instances), (APP, 2));
    assert_eq!(live.image.as_deref(), Some("httpd:2.4"));
    assert_eq!(live.label("HAPROXY_DEPLOYMENT_ALT_PORT"), Some("10001"));
    assert!(live.has_health_checks);
    if h.runs_tasks().is_ok() {
        assert_eq!(live.tasks.len(), 2, "{live:?}");
        assert_eq!(live.healthy_tasks(), 2, "{live:?}");
    }
    Verdict::Passed
}

/// Creating an app that exists is a `Conflict`.
pub fn create_app_twice_conflicts(h: &mut dyn Harness) -> Verdict {
    h.executor().create_app(&app(1)).expect("create_app");
    assert_kind(h.executor().create_app(&app(1)), "Conflict");
    Verdict::Passed
}

/// An app Marathon refuses (`cmd` and `args` together) is `Invalid`.
pub fn create_app_refused_as_invalid(h: &mut dyn Harness) -> Verdict {
    if let Err(na) = h.validates_specs() {
        return na.into();
    }
    let mut bad = app(1);
    bad["cmd"] = json!("sleep 1");
    bad["args"] = json!(["sleep", "1"]);
    assert_kind(h.executor().create_app(&bad), "Invalid");
    assert_eq!(h.executor().group_apps(GROUP).expect("group_apps"), vec![]);
    Verdict::Passed
}

/// Scaling sets the count (and, once settled, the tasks follow).
pub fn scale_app_changes_instances(h: &mut dyn Harness) -> Verdict {
    h.executor().create_app(&app(1)).expect("create_app");
    h.settle();
    h.executor().scale_app(APP, 3).expect("scale_app");
    h.settle();
    let live = the_app(h);
    assert_eq!(live.instances, 3);
    if h.runs_tasks().is_ok() {
        assert_eq!(live.tasks.len(), 3, "{live:?}");
    }
    Verdict::Passed
}

/// Scaling an app that does not exist is `NotFound`.
pub fn scale_app_of_a_missing_app_is_not_found(h: &mut dyn Harness) -> Verdict {
    assert_kind(h.executor().scale_app(MISSING_APP, 2), "NotFound");
    Verdict::Passed
}

/// Killing tasks with scale removes them and lowers the count by as many:
/// Marathon does not replace them.
pub fn kill_tasks_scales_down(h: &mut dyn Harness) -> Verdict {
    if let Err(na) = h.runs_tasks() {
        return na.into();
    }
    h.executor().create_app(&app(3)).expect("create_app");
    h.settle();
    let before = the_app(h);
    let victims: Vec<String> = before.tasks.iter().take(2).map(|t| t.id.clone()).collect();
    h.executor().kill_tasks(APP, &victims).expect("kill_tasks");
    h.settle();
    let after = the_app(h);
    assert_eq!(after.instances, 1);
    assert_eq!(after.tasks.len(), 1, "{after:?}");
    assert!(
        !victims.contains(&after.tasks[0].id),
        "a killed task came back"
    );
    Verdict::Passed
}

/// Deleting removes the app from its group.
pub fn delete_app_removes_it(h: &mut dyn Harness) -> Verdict {
    h.executor().create_app(&app(1)).expect("create_app");
    h.settle();
    h.executor().delete_app(APP).expect("delete_app");
    h.settle();
    assert_eq!(h.executor().group_apps(GROUP).expect("group_apps"), vec![]);
    Verdict::Passed
}

/// Deleting an app that does not exist is `NotFound`.
pub fn delete_app_of_a_missing_app_is_not_found(h: &mut dyn Harness) -> Verdict {
    assert_kind(h.executor().delete_app(MISSING_APP), "NotFound");
    Verdict::Passed
}

/// Marathon's 409 "locked by one or more deployments" on a scale is
/// waited out (retried) and the scale lands.
pub fn a_scale_meeting_a_deployment_lock_is_retried(h: &mut dyn Harness) -> Verdict {
    h.executor().create_app(&app(1)).expect("create_app");
    h.settle();
    let lock = json!({"status": {"code": 409, "body": {
        "message": "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
        "deployments": [{"id": "5ed4c0c5-9ff8-4a6f-a0fb-8c6c2dfc5c5b"}]}}});
    if let Err(na) = h.inject_fault(&json!({
        "path_prefix": "/service/marathon/v2/apps", "method": "PUT", "action": lock, "times": 2
    })) {
        return na.into();
    }
    h.executor()
        .scale_app(APP, 2)
        .expect("scale_app after the lock");
    assert_eq!(
        h.retry_waits().len(),
        2,
        "two locked attempts, each waited out"
    );
    h.settle();
    assert_eq!(the_app(h).instances, 2);
    Verdict::Passed
}
