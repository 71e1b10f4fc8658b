//! Criterion benchmarks of the library: bundles rendered and validated per
//! second (target: at least 10,000 per second on one core).
//!
//! One iteration of `render_bundle/*` is one full [`Renderer::render`]: the
//! app template, canary-core's checks and plan, the three job templates, and
//! the JSON Schema validation of all four documents. Throughput is one element
//! per iteration, so criterion's `thrpt` line reads in bundles per second.
//! `renderer_new/embedded` is the one-off cost of compiling the templates,
//! paid once per process, for reference.
//!
//! Run with `cargo bench -p canary-render --bench render`, or `scripts/bench`.

use canary_core::{AppName, CanaryRequest};
use canary_render::{Renderer, TemplateSource};
use criterion::{Criterion, Throughput, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;

/// An app template like the original tool's `testapp.template.json`: plain
/// JSON in the pre-1.5 Docker form, the `"ThisIsAUniqueKey"` image
/// placeholder, the same service port in `portMappings` and
/// `portDefinitions`, and a few `null` fields.
const LEGACY_TESTAPP_TEMPLATE: &str = r#"{
  "id": "/testapp",
  "cmd": null,
  "cpus": 0.1,
  "mem": 128,
  "disk": 0,
  "instances": 4,
  "constraints": null,
  "container": {
    "type": "DOCKER",
    "volumes": [],
    "docker": {
      "image": "ThisIsAUniqueKey",
      "network": "BRIDGE",
      "portMappings": [
        { "containerPort": 80, "hostPort": 0, "servicePort": 10102, "protocol": "tcp" }
      ],
      "privileged": false,
      "parameters": null,
      "forcePullImage": true
    }
  },
  "portDefinitions": [
    { "port": 10102, "protocol": "tcp", "name": null, "labels": {} }
  ],
  "healthChecks": [
    {
      "path": "/",
      "protocol": "HTTP",
      "portIndex": 0,
      "gracePeriodSeconds": 15,
      "intervalSeconds": 3,
      "timeoutSeconds": 2,
      "maxConsecutiveFailures": 2,
      "ignoreHttp1xx": false
    }
  ],
  "labels": {
    "HAPROXY_DEPLOYMENT_GROUP": "testapp",
    "HAPROXY_DEPLOYMENT_ALT_PORT": "10129",
    "HAPROXY_0_GROUP": "external",
    "HAPROXY_0_VHOST": "some host"
  },
  "upgradeStrategy": { "minimumHealthCapacity": 1, "maximumOverCapacity": 1 },
  "uris": null
}"#;

/// Renders bundles with one prebuilt renderer, as a long-running caller would.
fn render_bundle(c: &mut Criterion) {
    let vars = BTreeMap::new();
    let mut group = c.benchmark_group("render_bundle");
    group.throughput(Throughput::Elements(1));

    let embedded = Renderer::embedded();
    let request = CanaryRequest::new(AppName::new("web").expect("valid name"), "nginx:1.25");
    embedded
        .render(&request, &vars)
        .expect("the embedded template renders");
    group.bench_function("embedded", |b| {
        b.iter(|| embedded.render(black_box(&request), black_box(&vars)))
    });

    let legacy = Renderer::new(
        TemplateSource::new("testapp.template.json", LEGACY_TESTAPP_TEMPLATE),
        TemplateSource::embedded_job(),
    )
    .expect("the legacy template compiles");
    let request = CanaryRequest::new(AppName::new("testapp").expect("valid name"), "httpd:2.4");
    let bundle = legacy
        .render(&request, &vars)
        .expect("the legacy template renders");
    assert_eq!(bundle.app["container"]["docker"]["image"], "httpd:2.4");
    group.bench_function("legacy_testapp", |b| {
        b.iter(|| legacy.render(black_box(&request), black_box(&vars)))
    });

    group.finish();
}

/// Builds a renderer from the embedded templates (template compilation).
fn renderer_new(c: &mut Criterion) {
    let mut group = c.benchmark_group("renderer_new");
    group.throughput(Throughput::Elements(1));
    group.bench_function("embedded", |b| b.iter(Renderer::embedded));
    group.finish();
}

/// The harness. `criterion_group!` defines an undocumented `pub fn`; inside a
/// private module it is not public API, so `missing_docs` stays quiet.
mod harness {
    use super::{render_bundle, renderer_new};
    use criterion::criterion_group;

    criterion_group!(benches, render_bundle, renderer_new);
}

criterion_main!(harness::benches);
