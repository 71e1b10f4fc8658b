//! Templates cannot run away: evaluation steps and rendered size are
//! bounded, duplicate keys and byte-order marks are handled, and errors
//! name the variables a failing line uses.

use canary_core::{AppName, CanaryRequest};
use canary_render::{
    EMBEDDED_APP_TEMPLATE, RENDERED_LIMIT, RenderError, Renderer, TEMPLATE_FUEL, TemplateLimit,
    TemplateSource,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn render_app(text: &str) -> Result<canary_render::RenderedBundle, RenderError> {
    let renderer = Renderer::new(
        TemplateSource::new("my.template.json", text),
        TemplateSource::embedded_job(),
    )?;
    let request = CanaryRequest::new(AppName::new("web").unwrap(), "httpd:2.4");
    renderer.render(&request, &BTreeMap::new())
}

/// The issue's two templates: nested loops that would run for hours, and a
/// loop that renders gigabytes. Both stop quickly at a limit.
#[test]
fn runaway_templates_stop_at_a_limit_quickly() {
    let cases = [
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            TemplateLimit::Fuel(TEMPLATE_FUEL),
        ),
        (
            r#"{% for i in range(100000) %}{{ range(100000)|join(",") }}{% endfor %}"#,
            TemplateLimit::Output(RENDERED_LIMIT),
        ),
    ];
    for (text, limit) in cases {
        let started = Instant::now();
        let err = render_app(text).unwrap_err();
        assert_eq!(
            err,
            RenderError::Limit {
                file: "my.template.json".into(),
                limit
            }
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{text}: {:?}",
            started.elapsed()
        );
        assert!(
            err.to_string()
                .starts_with("my.template.json: the template ")
        );
    }
}

#[test]
fn the_embedded_template_is_far_below_the_limits() {
    // Ten copies of the embedded template's work still fit the fuel: the
    // limit leaves room for real templates with loops.
    let padded = format!(
        "{{% for i in range(10) %}}{{% set x %}}{EMBEDDED_APP_TEMPLATE}{{% endset %}}{{% endfor %}}{EMBEDDED_APP_TEMPLATE}"
    );
    let bundle = render_app(&padded).unwrap();
    assert_eq!(bundle.app["id"], "/web");
}

#[test]
fn a_key_given_twice_is_refused_naming_it() {
    let text = EMBEDDED_APP_TEMPLATE.replace(
        r#""forcePullImage": false"#,
        r#""forcePullImage": false, "image": "evil:1""#,
    );
    let err = render_app(&text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "my.template.json: the rendered JSON names the key \"image\" twice in the object at /container/docker"
    );
    let err = render_app(r#"{"id": "/a", "id": "/b"}"#).unwrap_err();
    assert!(
        err.to_string().ends_with("twice in the object at /"),
        "{err}"
    );
}

#[test]
fn a_byte_order_mark_is_dropped() {
    let text = format!("\u{feff}{EMBEDDED_APP_TEMPLATE}");
    assert_eq!(render_app(&text).unwrap().app["id"], "/web");
}

#[test]
fn a_failing_line_names_its_variables() {
    let renderer = Renderer::embedded();
    let request = CanaryRequest::new(AppName::new("web").unwrap(), "httpd:2.4");
    let vars = BTreeMap::from([("service_port".to_owned(), "abc".to_owned())]);
    let err = renderer.render(&request, &vars).unwrap_err();
    match &err {
        RenderError::Template {
            variables, line, ..
        } => {
            assert_eq!(variables, &["service_port"]);
            assert!(line.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .ends_with("(the line uses vars.service_port)"),
        "{err}"
    );
    assert!(!err.to_string().contains("--var"), "{err}");
}
