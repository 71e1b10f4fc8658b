//! Helpers shared by the black-box tests of the binary.

#![allow(dead_code)]

pub mod haproxy;
pub mod sim_cli;

use std::path::Path;
use std::process::Output;
#[allow(unused_imports)] // not every test binary uses it
pub use test_support::unique_loopback;

/// Writes what `dcos cluster setup` leaves in `dcos_dir` (dcoscli 0.6.1's
/// layout): one attached cluster at `url` holding `token`.
pub fn attached_cluster(dcos_dir: &Path, url: &str, token: &str) {
    let cluster = dcos_dir
        .join("clusters")
        .join("0b6f1e7e-5d43-4b0e-8c43-2f6e5a3c0d11");
    std::fs::create_dir_all(&cluster).unwrap();
    std::fs::write(
        cluster.join("dcos.toml"),
        format!(
            "[core]\ndcos_url = \"{url}\"\nssl_verify = \"false\"\ndcos_acs_token = \"{token}\"\n\n[cluster]\nname = \"dcos-sim\"\n"
        ),
    )
    .unwrap();
    std::fs::write(cluster.join("attached"), "").unwrap();
}

/// Every variable the binary reads for the cluster's URL or credentials.
pub const CLUSTER_ENV: [&str; 10] = [
    "DCOS_URL",
    "CANARY_RETRY_FOR",
    "CANARY_CA_CERT",
    "DCOS_CLUSTER",
    "DCOS_ACS_TOKEN",
    "DCOS_SERVICE_ACCOUNT_CREDENTIAL",
    "DCOS_USERNAME",
    "DCOS_PASSWORD",
    "DCOS_PASSWORD_FILE",
    "DCOS_DIR",
];

/// The binary with `args`, run from the repository root with none of the
/// machine's [`CLUSTER_ENV`] (so its ~/.dcos or tokens never leak into a
/// test), `dcos_dir` as `DCOS_DIR`, no stdin, then `env`.
pub fn canary_command(
    args: &[&str],
    dcos_dir: &Path,
    env: &[(&str, &str)],
) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_canary-under-test"));
    command
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .stdin(std::process::Stdio::null());
    for name in CLUSTER_ENV {
        command.env_remove(name);
    }
    command.env("DCOS_DIR", dcos_dir);
    command.envs(env.iter().copied());
    command
}

/// Runs [`canary_command`] to the end.
pub fn canary_in(args: &[&str], dcos_dir: &Path, env: &[(&str, &str)]) -> Output {
    canary_command(args, dcos_dir, env)
        .output()
        .expect("canary runs")
}

/// Runs the binary with `args` as [`canary_command`] does, but under a
/// virtual-memory limit of `limit_kib` (the shell's `ulimit -v`), and
/// returns its output and how long it took: a test of a bounded read or a
/// bounded template sees an abort (not its exit code) if canary tried to
/// take more.
pub fn canary_limited(
    args: &[&str],
    dcos_dir: &Path,
    env: &[(&str, &str)],
    limit_kib: u64,
) -> (Output, std::time::Duration) {
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -v {limit_kib} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_canary-under-test"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .stdin(std::process::Stdio::null());
    for name in CLUSTER_ENV {
        command.env_remove(name);
    }
    command.env("DCOS_DIR", dcos_dir);
    command.envs(env.iter().copied());
    let started = std::time::Instant::now();
    let out = command.output().expect("sh runs canary");
    (out, started.elapsed())
}

/// `canary apply --app web --image IMAGE --dcos-url URL`'s arguments.
pub fn apply_web<'a>(url: &'a str, image: &'a str) -> Vec<&'a str> {
    vec!["apply", "--app", "web", "--image", image, "--dcos-url", url]
}

/// `(id, instances, image)` of the apps on the Marathon at `dcos_url`
/// (of deployment group `group` when given), by id.
pub fn app_triples(dcos_url: &str, group: Option<&str>) -> Vec<(String, u64, String)> {
    let url = format!("{dcos_url}/service/marathon/v2/apps");
    let answer: serde_json::Value = ureq::get(&url)
        .call()
        .unwrap()
        .into_body()
        .read_json()
        .unwrap();
    let mut apps: Vec<_> = answer["apps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| group.is_none_or(|g| a["labels"]["HAPROXY_DEPLOYMENT_GROUP"] == g))
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["instances"].as_u64().unwrap(),
                a["container"]["docker"]["image"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    apps.sort();
    apps
}

/// A `canary` running in the background whose stdout and stderr lines are
/// read as they come, so a test acts at a moment the command itself
/// announces (a pause, an analysis window) rather than after a sleep.
pub struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    /// Starts `command` with both outputs piped.
    pub fn start(mut command: std::process::Command) -> Running {
        use std::io::BufRead;
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("canary starts");
        let (send, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for reader in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let send = send.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(reader)
                    .lines()
                    .map_while(Result::ok)
                {
                    if send.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (at most `limit`) for a line containing `marker`.
    pub fn wait_for(&mut self, marker: &str, limit: std::time::Duration) {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(marker);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!(
                    "no line with {marker:?} within {limit:?}; seen:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The running command's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most `limit`) for the command to end: its exit code and
    /// every line it printed.
    pub fn finish(self, limit: std::time::Duration) -> (Option<i32>, String) {
        let (status, said) = self.finish_status(limit);
        (status.code(), said)
    }

    /// [`Running::finish`], with the whole exit status (a signal too).
    pub fn finish_status(
        mut self,
        limit: std::time::Duration,
    ) -> (std::process::ExitStatus, String) {
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waits") {
                break status;
            }
            if std::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "canary did not end within {limit:?}; seen:\n{}",
                    self.seen.join("\n")
                );
            }
            // Bounded polling of a child's exit (no event to wait on here).
            let _ = self
                .lines
                .recv_timeout(std::time::Duration::from_millis(50))
                .map(|line| self.seen.push(line));
        };
        // The readers end with the pipes.
        while let Ok(line) = self.lines.recv_timeout(std::time::Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status, self.seen.join("\n"))
    }
}
