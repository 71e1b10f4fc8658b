//! What `canary render` writes is what a cluster accepts: every rendered app
//! is created by the simulated Marathon and every job by the simulated
//! Metronome (which validates like the real one), through their HTTP APIs.

use dcos_sim::{SimConfig, SimHandle};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn render(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_canary-under-test"))
        .arg("render")
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn post(url: &str, body: &Value) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.post(url).send_json(body).unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_json().unwrap_or(Value::Null),
    )
}

#[test]
fn rendered_apps_and_jobs_are_accepted_by_marathon_and_metronome() {
    let sim = SimHandle::start(SimConfig {
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .unwrap();
    let base = sim.dcos_url();
    let cases: [&[&str]; 4] = [
        &["--app", "web", "--image", "nginx:1.25"],
        &[
            "--app",
            "testapp",
            "--image",
            "httpd:2.4",
            "--app-template",
            "tests/data/templates/testapp.template.json",
        ],
        &[
            "--app",
            "nginx",
            "--image",
            "nginx:1.25",
            "--app-template",
            "tests/data/templates/nginx.template.json",
        ],
        &[
            "--app",
            "nginx15",
            "--image",
            "nginx:1.25",
            "--app-template",
            "tests/data/templates/nginx-marathon15.template.json",
            "--service-account-secret",
            "canary/sa",
            "--canary-instances",
            "2",
        ],
    ];
    for (i, args) in cases.into_iter().enumerate() {
        let bundle = render(args);
        // The app as zdd.py would see it, under a fresh id per case.
        let mut app = bundle["app"].clone();
        app["id"] = Value::from(format!("/case-{i}"));
        let (status, body) = post(&format!("{base}/service/marathon/v2/apps"), &app);
        assert_eq!(status, 201, "{args:?}: Marathon refused the app: {body}");
        for job in bundle["jobs"].as_array().unwrap() {
            let (status, body) = post(&format!("{base}/service/metronome/v1/jobs"), job);
            assert_eq!(
                status, 201,
                "{args:?}: Metronome refused {}: {body}",
                job["id"]
            );
            // Metronome echoes what canary set, with its defaults added.
            assert_eq!(body["run"]["cmd"], job["run"]["cmd"]);
            assert_eq!(body["labels"], job["labels"]);
            assert_eq!(body["run"]["restart"]["policy"], "NEVER");
            // ... and apply's comparison sees no difference once the defaults
            // are set aside, so a second apply would leave the job alone.
            assert_eq!(
                canary_core::apply::strip_metronome_defaults(&body),
                canary_core::apply::strip_metronome_defaults(job),
                "{args:?}: {}",
                job["id"]
            );
        }
    }
}
