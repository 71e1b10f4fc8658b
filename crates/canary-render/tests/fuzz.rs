//! A fuzz of the render path (proptest): generated template text, and app
//! definitions (arbitrary JSON, and a valid app with random fields changed),
//! rendered with random `vars`. For every case: no panic, a bounded time,
//! and either a bundle whose every document passes our schemas or a clean
//! error; at the end, the process's peak memory is bounded.
//!
//! The generators include the constructs that ran away before the limits
//! (loops of up to 200,000 iterations, joins of big ranges, repeated
//! strings, captures, recursion), mixed with JSON, template syntax (also
//! unbalanced) and arbitrary text. It runs a few hundred cases in a few
//! seconds; `PROPTEST_CASES` raises the count for a longer run.

use canary_core::{AppName, CanaryRequest};
use canary_render::schema::{SchemaKind, check};
use canary_render::{EMBEDDED_APP_TEMPLATE, Renderer, TemplateSource};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The most one case may take (debug build, a loaded 2-core machine): the
/// fuel limit ends the slowest generated loops well within it.
const CASE_TIME: Duration = Duration::from_secs(10);

/// The most resident memory the whole fuzz may have needed at its peak.
const PEAK_MEMORY: u64 = 1024 * 1024 * 1024;

fn config(cases: u32) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(cases),
        // A failure is reported with its shrunk input; nothing is written
        // into the source tree.
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    }
}

/// A JSON value of bounded depth and size, strings arbitrary.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        Just(Value::from("httpd:2.4")),
        Just(Value::from("ThisIsAUniqueKey")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Keys Marathon and canary look at, and arbitrary ones.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "id",
            "instances",
            "cpus",
            "mem",
            "container",
            "docker",
            "image",
            "type",
            "portMappings",
            "portDefinitions",
            "servicePort",
            "containerPort",
            "labels",
            "HAPROXY_DEPLOYMENT_GROUP",
            "HAPROXY_DEPLOYMENT_ALT_PORT",
            "healthChecks",
            "networks",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

/// A small piece of template text: JSON, template syntax (balanced or
/// not), the constructs that once ran away, or arbitrary text.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"id\": \"/web\"",
            "\"instances\": 2",
            "{{ image | json }}",
            "{{ app | json }}",
            "{{ canary_instances }}",
            "{{ vars.x | json }}",
            "{{ vars.port | int | json }}",
            "{{ vars.x | default(1) }}",
            "{{ nothing_defined }}",
            "{% if image %}",
            "{% else %}",
            "{% endif %}",
            "{% endfor %}",
            "{% set x = image ~ image %}",
            "{{ x | json }}",
            "{% set y %}",
            "{% endset %}",
            "{% raw %}",
            "{% endraw %}",
            "{% macro m(a) %}{{ m(a ~ a) }}{% endmacro %}{{ m(\"x\") }}",
            "{% include \"other\" %}",
            "{# c #}",
            "{#",
            "#}",
            "{%",
            "%}",
            "{{",
            "}}",
            "ThisIsAUniqueKey",
            "\"ThisIsAUniqueKey\"",
            "\u{feff}",
            "\"\\u0000\"",
        ])
        .prop_map(str::to_owned),
        (0u32..200_000).prop_map(|n| format!("{{% for i in range({n}) %}}")),
        (0u32..100_000).prop_map(|n| format!("{{{{ range({n}) | join(\",\") | json }}}}")),
        (0u32..100_000).prop_map(|n| format!("{{{{ (\"ab\" * {n}) | json }}}}")),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
        any::<String>(),
    ]
}

fn template_text() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..40).prop_map(|parts| parts.concat())
}

/// The embedded template with fragments put in at arbitrary places: most
/// of it still renders, so the later checks (plan, schemas) are reached.
fn edited_embedded() -> impl Strategy<Value = String> {
    prop::collection::vec((any::<prop::sample::Index>(), fragment()), 1..4).prop_map(|edits| {
        let mut text = EMBEDDED_APP_TEMPLATE.to_owned();
        for (at, piece) in edits {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            text.insert_str(i, &piece);
        }
        text
    })
}

/// A valid app definition (the original testapp's shape) with random
/// fields set or removed, as a template with no template syntax.
fn edited_app() -> impl Strategy<Value = String> {
    let base = json!({
        "id": "/web", "instances": 4, "cpus": 0.1, "mem": 128,
        "container": {"type": "DOCKER", "docker": {"image": "httpd:2.4", "network": "BRIDGE",
            "portMappings": [{"containerPort": 80, "servicePort": 10000, "protocol": "tcp"}]}},
        "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_ALT_PORT": "10001"}
    });
    let places = vec![
        "",
        "/container",
        "/container/docker",
        "/container/docker/portMappings/0",
        "/labels",
    ];
    prop::collection::vec(
        (
            prop::sample::select(places),
            key(),
            prop::option::of(json_value()),
        ),
        0..5,
    )
    .prop_map(move |edits| {
        let mut app = base.clone();
        for (place, key, value) in edits {
            if let Some(Value::Object(object)) = app.pointer_mut(place) {
                match value {
                    Some(value) => object.insert(key, value),
                    None => object.remove(&key),
                };
            }
        }
        app.to_string()
    })
}

fn vars() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(
        prop::sample::select(vec![
            "x",
            "port",
            "vhost",
            "service_port",
            "alt_port",
            "health_path",
        ])
        .prop_map(str::to_owned),
        prop_oneof![any::<String>(), (0u32..70_000).prop_map(|n| n.to_string())],
        0..4,
    )
}

fn image() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("httpd:2.4".to_owned()),
        1 => any::<String>(),
    ]
}

/// Renders one case and checks what came out.
fn render_checked(app: &str, vars: &BTreeMap<String, String>, image: &str) {
    let started = Instant::now();
    let result = Renderer::new(
        TemplateSource::new("fuzz.template.json", app),
        TemplateSource::embedded_job(),
    )
    .and_then(|renderer| {
        let request = CanaryRequest::new(AppName::new("web").unwrap(), image);
        renderer.render(&request, vars)
    });
    let took = started.elapsed();
    assert!(took < CASE_TIME, "took {took:?}");
    match result {
        Ok(bundle) => {
            assert_eq!(bundle.jobs.len(), 3);
            assert_eq!(check(SchemaKind::MarathonApp, &bundle.app), []);
            for job in &bundle.jobs {
                assert_eq!(check(SchemaKind::MetronomeJob, &job.document), []);
            }
            let printed: Value = serde_json::from_str(&bundle.to_json_pretty()).unwrap();
            assert_eq!(printed, bundle.to_value());
        }
        Err(error) => {
            let message = error.to_string();
            assert!(!message.trim().is_empty(), "{error:?}");
            assert!(
                message.len() < 1024 * 1024,
                "an error of {} bytes",
                message.len()
            );
        }
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn generated_templates_render_or_fail_cleanly(app in template_text(), vars in vars(), image in image()) {
        render_checked(&app, &vars, &image);
    }

    #[test]
    fn edited_embedded_templates_render_or_fail_cleanly(app in edited_embedded(), vars in vars()) {
        render_checked(&app, &vars, "httpd:2.4");
    }

    #[test]
    fn app_definitions_render_or_fail_cleanly(app in prop_oneof![edited_app(), json_value().prop_map(|v| v.to_string())], vars in vars()) {
        render_checked(&app, &vars, "httpd:2.4");
    }
}

/// Runs last in name order but not necessarily last in time: it checks
/// the peak so far, and the other tests' peaks land in it whenever they
/// ran first. (Linux only: where `/proc/self/status` tells it.)
#[test]
fn zz_peak_memory_stays_bounded() {
    for _ in 0..20 {
        render_checked(
            r#"{% for i in range(100000) %}{{ range(100000) | join(",") }}{% endfor %}"#,
            &BTreeMap::new(),
            "httpd:2.4",
        );
    }
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return;
    };
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM");
    assert!(peak_kib * 1024 < PEAK_MEMORY, "peak {peak_kib} KiB");
}
