//! marathon-lb's side of the contract (zdd.md §9), as a prediction: which
//! HAProxy backend and server names it writes for a group, and which old
//! tasks it marks `disabled` (HAProxy shows them `MAINT`). The planner
//! acts on what it observes in the stats; the prediction tells it what to
//! wait for, and when waiting would be in vain.

use super::labels;
use crate::marathon::{MarathonApp, Task};
use std::cmp::Ordering;

/// The backend (and frontend) name marathon-lb gives a deployment group on
/// `port`: the group without its leading `/`, every other `/` as `_`, then
/// `_<port>` (`prod/web` on 10000 is `prod_web_10000`).
pub fn backend_name(group: &str, port: u16) -> String {
    format!("{}{port}", backend_prefix(group))
}

/// What every backend name of `group` starts with (`web_` for `web`,
/// `prod_web_` for `/prod/web`): its name without the port.
pub fn backend_prefix(group: &str) -> String {
    format!("{}_", group.trim_start_matches('/').replace('/', "_"))
}

fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// marathon-lb's server name for each port of `task`: `<ip>_<port>`, or
/// `<host>_<ip>_<port>` when the host is not that IP, every character
/// outside `[A-Za-z0-9-]` as `_`. The IP is the task's own address with IP
/// per task, else its host (an IP literal, or the address the driver
/// resolved it to, `host_ip`).
pub fn server_names(app: &MarathonApp, task: &Task, host_ip: Option<&str>) -> Vec<String> {
    let ip = match (&task.ip, app.ip_per_task) {
        (Some(ip), true) => ip.clone(),
        _ => host_ip.unwrap_or(&task.host).to_owned(),
    };
    task.ports
        .iter()
        .map(|port| {
            if ip == task.host {
                sanitize(&format!("{ip}_{port}"))
            } else {
                sanitize(&format!("{}_{ip}_{port}", task.host))
            }
        })
        .collect()
}

/// The order marathon-lb gives two apps of a group by `STARTED_AT`, read
/// as dates (a missing or unreadable label is the earliest).
pub fn by_started_at(a: &MarathonApp, b: &MarathonApp) -> Ordering {
    let key = |app: &MarathonApp| {
        let text = app.label(labels::STARTED_AT).unwrap_or("");
        (labels::parse_time(text), text.to_owned())
    };
    key(a).cmp(&key(b))
}

fn scaled_later(a: &MarathonApp, b: &MarathonApp) -> bool {
    let read = |app: &MarathonApp| {
        let text = app.last_scaling_at.clone().unwrap_or_default();
        (labels::parse_time(&text), text)
    };
    read(a) > read(b)
}

/// What marathon-lb makes of a group of two apps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drains {
    /// The app it treats as new (the other's tasks are the ones drained).
    pub new_app: String,
    /// The app it treats as old.
    pub old_app: String,
    /// The old app's tasks it marks `disabled`, in task id order.
    pub tasks: Vec<String>,
}

/// marathon-lb's merge of a group's two apps (zdd.md §9): old and new by
/// `STARTED_AT`, swapped when the new one has `NEW_INSTANCES` and the old
/// one was scaled later; `target` is the new app's `TARGET_INSTANCES` when
/// it has `NEW_INSTANCES`, else 1; the first `min(old tasks, healthy new,
/// healthy new + old instances - target)` old tasks by id are drained.
/// `None` unless the group has exactly two apps.
pub fn drains(apps: &[MarathonApp]) -> Option<Drains> {
    let [a, b] = apps else {
        return None;
    };
    let (mut old, mut new) = if by_started_at(a, b) == Ordering::Greater {
        (b, a)
    } else {
        (a, b)
    };
    let has_new_label = |app: &MarathonApp| app.labels.contains_key(labels::NEW_INSTANCES);
    if has_new_label(new) && scaled_later(old, new) {
        std::mem::swap(&mut old, &mut new);
    }
    let target = if has_new_label(new) {
        new.count_label(labels::TARGET_INSTANCES).unwrap_or(1)
    } else {
        1
    };
    let healthy_new = if new.has_health_checks {
        new.tasks.iter().filter(|t| t.alive == Some(true)).count() as u64
    } else {
        u64::from(new.instances)
    };
    let drainable = (healthy_new + u64::from(old.instances)).saturating_sub(u64::from(target));
    let mut ids: Vec<String> = old.tasks.iter().map(|t| t.id.clone()).collect();
    ids.sort();
    let count = (ids.len() as u64).min(healthy_new).min(drainable) as usize;
    ids.truncate(count);
    Some(Drains {
        new_app: new.id.clone(),
        old_app: old.id.clone(),
        tasks: ids,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// An app of group `web` with `instances`, labels and healthy tasks
    /// named `<tag><n>` on ports 31000+n.
    pub(crate) fn app(
        id: &str,
        instances: u32,
        labels: Value,
        scaled: &str,
        healthy: u32,
    ) -> MarathonApp {
        let tasks: Vec<Value> = (0..instances)
            .map(|n| {
                json!({"id": format!("{}.t{n}", id.trim_start_matches('/')), "host": "10.0.0.1",
                       "ports": [31000 + n], "state": "TASK_RUNNING",
                       "healthCheckResults": [{"alive": n < healthy}]})
            })
            .collect();
        let mut labels = labels;
        labels["HAPROXY_DEPLOYMENT_GROUP"] = json!("web");
        MarathonApp::from_marathon(&json!({
            "id": id, "instances": instances, "labels": labels,
            "healthChecks": [{"protocol": "HTTP"}],
            "versionInfo": {"lastScalingAt": scaled},
            "tasks": tasks
        }))
        .unwrap()
    }

    #[test]
    fn names_follow_marathon_lb() {
        assert_eq!(backend_name("web", 10000), "web_10000");
        assert_eq!(backend_name("/prod/web", 10000), "prod_web_10000");
        let web = app("/web", 1, json!({}), "", 1);
        assert_eq!(server_names(&web, &web.tasks[0], None), ["10_0_0_1_31000"]);
        let mut named = web.tasks[0].clone();
        named.host = "agent-1.example".into();
        assert_eq!(
            server_names(&web, &named, Some("10.0.0.9")),
            ["agent-1_example_10_0_0_9_31000"]
        );
    }

    /// The canary deploy of zdd.md §8 C: once the canary (NEW=1, TARGET=4)
    /// is healthy, one old task drains; once it is killed (the old app is
    /// then the most recently scaled), nothing does.
    #[test]
    fn a_canary_drains_one_old_task_until_the_old_app_is_scaled() {
        let old = app(
            "/web-blue",
            4,
            json!({"HAPROXY_DEPLOYMENT_STARTED_AT": "2026-01-01T00:00:00", "HAPROXY_DEPLOYMENT_NEW_INSTANCES": "0", "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "4"}),
            "2026-01-01T00:00:00.000Z",
            4,
        );
        let canary = |healthy| {
            app(
                "/web-green",
                1,
                json!({"HAPROXY_DEPLOYMENT_STARTED_AT": "2026-12-01T00:00:00", "HAPROXY_DEPLOYMENT_NEW_INSTANCES": "1", "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "4"}),
                "2026-12-01T00:00:00.000Z",
                healthy,
            )
        };
        let starting = drains(&[old.clone(), canary(0)]).unwrap();
        assert!(
            starting.tasks.is_empty(),
            "nothing until the canary is healthy"
        );
        let healthy = drains(&[canary(1), old.clone()]).unwrap();
        assert_eq!(
            (healthy.new_app.as_str(), healthy.tasks.as_slice()),
            ("/web-green", &["web-blue.t0".to_owned()][..])
        );
        let mut killed = app(
            "/web-blue",
            3,
            json!({"HAPROXY_DEPLOYMENT_STARTED_AT": "2026-01-01T00:00:00", "HAPROXY_DEPLOYMENT_NEW_INSTANCES": "0", "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "4"}),
            "2026-12-01T00:01:00.000Z",
            3,
        );
        killed.tasks.remove(0);
        let after = drains(&[killed, canary(1)]).unwrap();
        assert_eq!(
            after.new_app, "/web-blue",
            "the most recently scaled app counts as new"
        );
        assert!(after.tasks.is_empty());
    }

    /// `test_zdd_app` of marathon-lb: neither app has NEW_INSTANCES, so the
    /// newer one is new with a target of 1: one of green's tasks drains, the
    /// lowest id.
    #[test]
    fn without_new_instances_the_target_is_one() {
        let green = app(
            "/nginx-green",
            3,
            json!({"HAPROXY_DEPLOYMENT_STARTED_AT": "2016-02-01T14:13:42.499089", "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "20"}),
            "",
            3,
        );
        let blue = app(
            "/nginx-blue",
            1,
            json!({"HAPROXY_DEPLOYMENT_STARTED_AT": "2016-02-01T14:57:54.371005", "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "3"}),
            "",
            1,
        );
        let d = drains(&[green, blue]).unwrap();
        assert_eq!(d.new_app, "/nginx-blue");
        assert_eq!(d.tasks, ["nginx-green.t0"]);
        assert_eq!(drains(&[]), None);
    }
}
