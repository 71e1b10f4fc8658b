//! Full-bundle snapshots for representative apps, and validation of every
//! rendered document against our schemas and the upstream ones.

use base64::Engine as _;
use canary_core::{APP_DEFINITION_ENV, AppName, CanaryRequest, EnvValue};
use canary_render::schema::{SchemaKind, check};
use canary_render::{RenderedBundle, Renderer, TemplateSource};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn template(name: &str) -> TemplateSource {
    let path = repo_root().join("tests/data/templates").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    TemplateSource::new(format!("tests/data/templates/{name}"), text)
}

/// The cases the issue names: the embedded example, the original tool's
/// testapp (legacy placeholder), and marathon-lb's two nginx fixtures.
fn cases() -> Vec<(&'static str, TemplateSource, &'static str, &'static str)> {
    vec![
        (
            "embedded",
            TemplateSource::embedded_app(),
            "testapp",
            "httpd",
        ),
        (
            "testapp_legacy",
            template("testapp.template.json"),
            "testapp",
            "httpd:2.4",
        ),
        (
            "nginx",
            template("nginx.template.json"),
            "nginx",
            "brndnmtthws/nginx-echo-sleep:1.0",
        ),
        (
            "nginx_marathon15",
            template("nginx-marathon15.template.json"),
            "nginx",
            "registry.example.com:5000/web/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ),
    ]
}

fn render(app: TemplateSource, name: &str, image: &str) -> RenderedBundle {
    let renderer = Renderer::new(app, TemplateSource::embedded_job()).unwrap();
    let request = CanaryRequest::new(AppName::new(name).unwrap(), image);
    renderer.render(&request, &BTreeMap::new()).unwrap()
}

#[test]
fn bundles_match_their_snapshots() {
    for (case, app, name, image) in cases() {
        let bundle = render(app, name, image);
        insta::assert_json_snapshot!(case, bundle.to_value());
    }
}

#[test]
fn every_job_carries_the_app_it_was_rendered_from() {
    for (case, app, name, image) in cases() {
        let bundle = render(app, name, image);
        assert_eq!(bundle.app["container"]["docker"]["image"], image, "{case}");
        for job in &bundle.jobs {
            let encoded = job.document["run"]["env"][APP_DEFINITION_ENV]
                .as_str()
                .unwrap();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap();
            let carried: Value = serde_json::from_slice(&decoded).unwrap();
            assert_eq!(carried, bundle.app, "{case}: {}", job.id);
        }
    }
}

/// `render_app` is `render`'s path to the app: the same definition for
/// every case, and it needs no runner (a native runner without an image
/// fails a whole render, not the app alone); the app's own checks still
/// hold (a canary count past the app's instances).
#[test]
fn render_app_gives_the_bundles_app_and_needs_no_runner() {
    for (case, app, name, image) in cases() {
        let renderer = Renderer::new(app, TemplateSource::embedded_job()).unwrap();
        let mut request = CanaryRequest::new(AppName::new(name).unwrap(), image);
        let bundle = renderer.render(&request, &BTreeMap::new()).unwrap();
        request.runner.kind = canary_core::RunnerKind::Native;
        request.runner.image = String::new();
        assert!(
            renderer.render(&request, &BTreeMap::new()).is_err(),
            "{case}: a native runner needs an image"
        );
        let alone = renderer.render_app(&request, &BTreeMap::new()).unwrap();
        assert_eq!(
            alone.definition().clone().into_value(),
            bundle.app,
            "{case}"
        );
        request.canary_instances = 1000;
        let error = renderer
            .render_app(&request, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(error.contains("canary instances: 1000"), "{case}: {error}");
    }
}

#[test]
fn legacy_template_nulls_are_stripped_and_placeholder_filled() {
    let bundle = render(template("testapp.template.json"), "testapp", "httpd:2.4");
    assert!(bundle.app.get("cmd").is_none() && bundle.app.get("user").is_none());
    assert!(
        bundle.app["container"]["docker"]["portMappings"][0]
            .get("name")
            .is_none()
    );
    assert!(!bundle.to_json_pretty().contains("ThisIsAUniqueKey"));
}

#[test]
fn every_document_is_valid_against_our_schemas() {
    for (case, app, name, image) in cases() {
        let bundle = render(app, name, image);
        assert_eq!(check(SchemaKind::MarathonApp, &bundle.app), [], "{case}");
        for job in &bundle.jobs {
            assert_eq!(
                check(SchemaKind::MetronomeJob, &job.document),
                [],
                "{case}: {}",
                job.id
            );
        }
    }
}

/// `../shared/reference` (or `$CANARY_SHARED_DIR/reference`), as the build
/// script found it. The tests that read it are ignored, with the reason,
/// when it was absent at build time (never under `CI=true`).
fn upstream_reference() -> PathBuf {
    let dir = PathBuf::from(env!("CANARY_SHARED_REFERENCE"));
    assert!(
        dir.is_dir(),
        "the upstream reference data is not at {} (set CANARY_SHARED_DIR or place shared/ beside the repo)",
        dir.display()
    );
    dir
}

fn upstream_validator(path: &Path) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // Both upstream files declare the generic "http://json-schema.org/schema#".
    // They are draft 4 in style, but jobspec.schema.json has an empty
    // `required`, which only draft 6 and later allow; draft 7 reads both.
    jsonschema::draft7::new(&schema).unwrap()
}

#[test]
#[cfg_attr(
    not(canary_shared),
    ignore = "needs ../shared/reference (set CANARY_SHARED_DIR or place shared/ beside the repo)"
)]
fn every_document_is_valid_against_the_upstream_schemas() {
    let reference = upstream_reference();
    let app_schema = upstream_validator(&reference.join("marathon/schema/AppDefinition.json"));
    let job_schema = upstream_validator(&reference.join("metronome/v1/schema/jobspec.schema.json"));
    for (case, app, name, image) in cases() {
        let bundle = render(app, name, image);
        let errors: Vec<String> = app_schema
            .iter_errors(&bundle.app)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{case}: app breaks AppDefinition.json: {errors:?}"
        );
        for job in &bundle.jobs {
            let errors: Vec<String> = job_schema
                .iter_errors(&job.document)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{case}: {} breaks jobspec.schema.json: {errors:?}",
                job.id
            );
        }
    }
}

#[test]
#[cfg_attr(
    not(canary_shared),
    ignore = "needs ../shared/reference (set CANARY_SHARED_DIR or place shared/ beside the repo)"
)]
fn upstream_schemas_do_reject_what_they_should() {
    // Guards the test above against a validator that accepts everything.
    let reference = upstream_reference();
    let app_schema = upstream_validator(&reference.join("marathon/schema/AppDefinition.json"));
    let job_schema = upstream_validator(&reference.join("metronome/v1/schema/jobspec.schema.json"));
    assert!(!app_schema.is_valid(&serde_json::json!({"id": "/a", "instances": "four"})));
    assert!(!job_schema.is_valid(
        &serde_json::json!({"id": "Bad_Id", "run": {"cpus": 1, "mem": 64, "disk": 0, "cmd": "x"}})
    ));
}

#[test]
fn a_service_account_secret_is_referenced_never_inlined() {
    let renderer = Renderer::embedded();
    let mut request = CanaryRequest::new(AppName::new("web").unwrap(), "nginx:1.25");
    request.runner.service_account_secret = Some("canary/service-account".into());
    let bundle = renderer.render(&request, &BTreeMap::new()).unwrap();
    for job in &bundle.jobs {
        let run = &job.document["run"];
        assert_eq!(
            run["env"]["DCOS_SERVICE_ACCOUNT_CREDENTIAL"],
            serde_json::json!({"secret": "canary-service-account"})
        );
        assert_eq!(
            run["secrets"]["canary-service-account"]["source"],
            "canary/service-account"
        );
    }
    insta::assert_json_snapshot!("embedded_with_service_account", bundle.jobs[0].document);
    let core = canary_core::plan_bundle(
        canary_core::AppDefinition::from_value(bundle.app.clone()).unwrap(),
        &request,
    )
    .unwrap();
    assert!(matches!(
        core.jobs[0].run.env["DCOS_SERVICE_ACCOUNT_CREDENTIAL"],
        EnvValue::Secret { .. }
    ));
}
