//! The zdd runner end to end: the three jobs `canary render` produces by
//! default (`--runner zdd`) run the REAL zdd.py (marathon-lb's, unmodified,
//! from `../shared/reference/marathon-lb/upstream`) in dcos-sim's executing
//! runs: deploy, rollout and rollback against a marathon-lb whose stats CSV
//! zdd.py can read (the sim's emulated marathon-lb, whose columns stop
//! before HAProxy 2.6's `-`). And where it cannot (a real HAProxy 2.6,
//! whose CSV has a column named `-`), the deploy job fails at zdd.py's
//! first stats read, as marathon-lb-haproxy.md §9 says and as
//! `--runner zdd` warns.
//!
//! The job image is stood for by a directory first on the runs' PATH with
//! `zdd.py` in it (a two-line wrapper that runs the upstream zdd.py with
//! the marathon-lb venv's python), named with `--runner-zdd zdd.py`.
//!
//! Compiled ignored, with the reason, where the real marathon-lb program or
//! its venv is missing (never under CI=true).

mod common;

use dcos_sim::{JobExecution, SimConfig, SimHandle};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A directory standing for the zdd runner image's PATH: `zdd.py` runs the
/// upstream zdd.py with the venv's python.
fn zdd_image() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let program = Path::new(env!("CANARY_MARATHON_LB_PROGRAM")).join("zdd.py");
    let wrapper = dir.path().join("zdd.py");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec '{}' '{}' \"$@\"\n",
            env!("CANARY_MARATHON_LB_PYTHON"),
            program.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A sim at 10x whose runs execute with `image` first on PATH, one
/// marathon-lb (a real HAProxy 2.6 when `haproxy`).
fn cluster(image: &Path, haproxy: bool) -> SimHandle {
    SimHandle::start(SimConfig {
        time_scale: 10.0,
        lb_binds: vec![std::net::SocketAddr::from((common::unique_loopback(), 0))],
        haproxy: haproxy.then(common::haproxy::haproxy_binary),
        jobs: JobExecution::Execute {
            runner_path: Some(image.to_owned()),
            default_time_limit: Duration::from_secs(600),
        },
        ..SimConfig::default()
    })
    .expect("the sim starts")
}

struct User {
    dcos_dir: tempfile::TempDir,
}

impl User {
    fn canary(&self, sim: &SimHandle, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--dcos-url", sim.dcos_url()]);
        common::canary_in(&all, self.dcos_dir.path(), &[])
    }

    fn ok(&self, sim: &SimHandle, args: &[&str]) -> String {
        let out = self.canary(sim, args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Applies the zdd.py jobs for `image`: the real zdd.py in the image,
    /// against the sim's Marathon and its marathon-lb, a 10 s drain budget.
    fn apply_zdd_jobs(&self, sim: &SimHandle, image: &str) {
        let marathon = sim.dcos_url().to_owned();
        let lb = sim.lb_urls()[0].clone();
        self.ok(
            sim,
            &[
                "apply",
                "--app",
                "testapp",
                "--image",
                image,
                "--runner",
                "zdd",
                "--runner-zdd",
                "zdd.py",
                "--marathon",
                &marathon,
                "--marathon-lb",
                &lb,
                "--max-wait",
                "10",
            ],
        );
    }

    /// Runs `phase`'s job and waits for it.
    fn run(&self, sim: &SimHandle, phase: &str) -> Output {
        self.canary(
            sim,
            &[
                "run",
                phase,
                "--app",
                "testapp",
                "--wait",
                "--timeout",
                "5m",
            ],
        )
    }
}

/// `(id, instances, image)` of group testapp's apps, by id.
fn apps(sim: &SimHandle) -> Vec<(String, u64, String)> {
    common::app_triples(sim.dcos_url(), Some("testapp"))
}

/// The first deploy of nginx:1.25 at the template's 4 instances (natively).
fn first_deploy(user: &User, sim: &SimHandle) {
    let lb = sim.lb_urls()[0].clone();
    user.ok(
        sim,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "nginx:1.25",
            "--marathon-lb",
            &lb,
        ],
    );
}

#[test]
#[cfg_attr(
    not(canary_marathon_lb),
    ignore = "needs the real zdd.py and its venv (../shared/reference/marathon-lb/upstream, scripts/install-marathon-lb.sh)"
)]
fn the_default_zdd_jobs_run_the_real_zdd_py_deploy_rollout_and_rollback() {
    let image = zdd_image();
    let sim = cluster(image.path(), false);
    let user = User {
        dcos_dir: tempfile::tempdir().unwrap(),
    };
    first_deploy(&user, &sim);

    // Deploy then rollout of httpd:2.4 by the jobs.
    user.apply_zdd_jobs(&sim, "httpd:2.4");
    let out = user.run(&sim, "deploy");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        apps(&sim),
        [
            ("/testapp-blue".to_owned(), 3, "nginx:1.25".to_owned()),
            ("/testapp-green".to_owned(), 1, "httpd:2.4".to_owned()),
        ],
        "zdd.py's canary: one new instance, the live app one fewer"
    );
    let out = user.run(&sim, "rollout");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        apps(&sim),
        [("/testapp-green".to_owned(), 4, "httpd:2.4".to_owned())]
    );

    // Deploy then rollback of httpd:2.5: the live app is back at 4.
    user.apply_zdd_jobs(&sim, "httpd:2.5");
    let out = user.run(&sim, "deploy");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(apps(&sim).len(), 2, "{:?}", apps(&sim));
    let out = user.run(&sim, "rollback");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        apps(&sim),
        [("/testapp-green".to_owned(), 4, "httpd:2.4".to_owned())]
    );
    // zdd.py drained before it killed: nothing was killed with sessions or
    // while marathon-lb still routed to it.
    for kill in sim.kill_log().records {
        assert!(!kill.had_traffic() && !kill.was_serving(), "{kill:#?}");
    }
}

/// The job's stderr, read through the sim's files API (the newest failed run).
fn failed_run_log(sim: &SimHandle, job: &str) -> String {
    let history: Value = ureq::get(&format!(
        "{}/service/metronome/v1/jobs/{job}?embed=history",
        sim.dcos_url()
    ))
    .call()
    .unwrap()
    .body_mut()
    .read_json()
    .unwrap();
    let task = history["history"]["failedFinishedRuns"][0]["tasks"][0]
        .as_str()
        .unwrap_or_else(|| panic!("a failed run with a task: {history}"))
        .to_owned();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .get(&format!(
            "{}/system/v1/logs/v2/task/{task}/file/stderr",
            sim.dcos_url()
        ))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

#[test]
#[cfg_attr(
    not(all(canary_marathon_lb, canary_haproxy)),
    ignore = "needs the real zdd.py, its venv and haproxy (scripts/test sets them up)"
)]
fn zdd_py_cannot_read_haproxy_2_6s_stats_and_the_deploy_job_fails_saying_why() {
    let image = zdd_image();
    let sim = cluster(image.path(), true);
    let user = User {
        dcos_dir: tempfile::tempdir().unwrap(),
    };
    first_deploy(&user, &sim);
    let header = ureq::get(&format!("{}/haproxy?stats;csv", sim.lb_urls()[0]))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        header.lines().next().unwrap().split(',').any(|c| c == "-"),
        "HAProxy 2.6's CSV has a `-` column: {}",
        header.lines().next().unwrap()
    );
    user.apply_zdd_jobs(&sim, "httpd:2.4");
    let out = user.run(&sim, "deploy");
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let log = failed_run_log(&sim, "deploy-testapp-canary");
    assert!(
        log.contains("field names must be valid identifiers") && log.contains("'-'"),
        "{log}"
    );
    // zdd.py failed at its first stats read: after it created the canary,
    // before it drained or killed anything.
    assert!(sim.kill_log().records.is_empty());
}
