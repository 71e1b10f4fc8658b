//! The native runner's jobs as canary-render renders them with this
//! binary's command line (`canary_cli::NATIVE_ARGV`: canary-core names no
//! flag of the binary): their snapshots, and that the runner changes how a
//! phase runs, never what it deploys.

use canary_core::{AppName, CanaryRequest};
use canary_render::Renderer;
use canary_render::schema::{SchemaKind, check};
use serde_json::Value;
use std::collections::BTreeMap;

/// A request for a native runner with this binary's words.
fn native(image: &str) -> CanaryRequest {
    let mut request = CanaryRequest::new(AppName::new("testapp").unwrap(), "httpd:2.4");
    request.runner.kind = canary_core::RunnerKind::Native;
    request.runner.image = image.into();
    request.runner.native_argv = Some(canary_cli::NATIVE_ARGV);
    request
}

/// A native job (canary's engine in the job, its binary on the image's
/// PATH, with a service account) and one with the binary fetched as an
/// artifact and checked; both validate against our schema and upstream's.
#[test]
fn native_runner_jobs_match_their_snapshots() {
    let renderer = Renderer::embedded();
    let mut request = native("registry.example.com/canary:0.1.0");
    request.runner.service_account_secret = Some("canary/service-account".into());
    request.runner.marathon_lb_urls = vec![
        "http://marathon-lb.marathon.mesos:9090".into(),
        "http://marathon-lb-internal.marathon.mesos:9090".into(),
    ];
    let image = renderer.render(&request, &BTreeMap::new()).unwrap();
    let documents: Vec<&Value> = image.jobs.iter().map(|j| &j.document).collect();
    insta::assert_json_snapshot!("native_runner_image", documents);

    let mut request = native(canary_core::DEFAULT_ARTIFACT_IMAGE);
    request.runner.artifact = Some(canary_core::RunnerArtifact {
        url: "https://downloads.example.com/canary/0.1.0/canary-x86_64-linux".into(),
        sha256: "ab".repeat(32),
    });
    let artifact = renderer.render(&request, &BTreeMap::new()).unwrap();
    let documents: Vec<&Value> = artifact.jobs.iter().map(|j| &j.document).collect();
    insta::assert_json_snapshot!("native_runner_artifact", documents);
    for job in &artifact.jobs {
        assert!(check(SchemaKind::MetronomeJob, &job.document).is_empty());
        let cmd = job.document["run"]["cmd"].as_str().unwrap();
        // Nothing runs before the checksum matched.
        let check_at = cmd.find("sha256sum -c").unwrap();
        assert!(cmd.find("exec ").unwrap() > check_at, "{cmd}");
        assert_eq!(
            job.document["run"]["artifacts"],
            serde_json::json!([{"uri": "https://downloads.example.com/canary/0.1.0/canary-x86_64-linux",
                                "executable": true, "extract": false, "cache": false}])
        );
    }
}

/// The runner changes how a phase runs, never what it deploys: the app
/// definition, the job ids, labels and environment are the same for zdd.py
/// and native jobs; only the command, the image and the artifacts differ.
#[test]
fn native_and_zdd_jobs_deploy_the_same_app_with_the_same_labels() {
    let renderer = Renderer::embedded();
    let zdd_request = CanaryRequest::new(AppName::new("testapp").unwrap(), "httpd:2.4");
    let native_request = native("registry.example.com/canary:0.1.0");
    let zdd = renderer.render(&zdd_request, &BTreeMap::new()).unwrap();
    let native = renderer.render(&native_request, &BTreeMap::new()).unwrap();
    assert_eq!(zdd.app, native.app);
    for (z, n) in zdd.jobs.iter().zip(&native.jobs) {
        assert_eq!(z.document["id"], n.document["id"]);
        assert_eq!(z.document["labels"], n.document["labels"]);
        assert_eq!(z.document["run"]["env"], n.document["run"]["env"]);
        assert_ne!(z.document["run"]["cmd"], n.document["run"]["cmd"]);
    }
}
