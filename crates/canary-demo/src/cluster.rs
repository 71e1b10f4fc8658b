//! The demo's cluster: a dcos-sim with auth, a service account whose
//! credential is in the simulated secret store, jobs that execute with the
//! demo's `canary` first on `PATH`, and two marathon-lb instances.

use crate::DemoConfig;
use crate::report::AppState;
use dcos_sim::{JobExecution, ServiceAccount, SimConfig, SimHandle};
use load_client::{LoadClient, LoadConfig, Outcome};
use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The service account the demo and its jobs log in as.
pub(crate) const ACCOUNT: &str = "canary-demo";
/// Where its credential is in the secret store.
pub(crate) const SECRET_PATH: &str = "canary/service-account";
/// The group's service port (the embedded template's).
const SERVICE_PORT: u16 = 10000;
/// The longest a job run may take before the sim kills it.
const JOB_TIME_LIMIT: Duration = Duration::from_secs(600);

/// How long a child `canary` asked to stop (SIGTERM) gets before SIGKILL.
const CHILD_GRACE: Duration = Duration::from_secs(10);

/// Why a child `canary` gave no output to check.
#[derive(Debug)]
pub(crate) enum ChildError {
    /// It could not be run.
    Failed(String),
    /// The demo was asked to stop: the child was stopped.
    Stopped,
}

/// Reads a child's pipe to its end on a thread of its own.
fn drain<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// The running cluster and what the steps need to reach it.
pub(crate) struct DemoCluster {
    pub(crate) sim: SimHandle,
    /// The marathon-lb frontends, `http://ADDRESS:10000`.
    pub(crate) frontends: Vec<String>,
    /// What serves the frontends, for the story's first line.
    pub(crate) load_balancer: String,
    /// Cluster time per real second.
    pub(crate) speed: f64,
    canary: PathBuf,
    /// Set when the demo is asked to stop (a signal).
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Holds the runner directory, the credential file, the empty dcos CLI
    /// configuration and the rendered jobs; removed with the demo.
    dir: tempfile::TempDir,
}

/// Two loopback addresses of this process alone, so the service port
/// 10000 of the frontends meets no other program's.
fn addresses() -> Vec<Ipv4Addr> {
    let p = std::process::id();
    let (b, c) = (64 + (p % 180) as u8, ((p / 180) % 250) as u8 + 1);
    vec![Ipv4Addr::new(127, b, c, 1), Ipv4Addr::new(127, b, c, 2)]
}

fn setup<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl DemoCluster {
    pub(crate) fn start(config: &DemoConfig) -> Result<DemoCluster, String> {
        let dir = tempfile::Builder::new()
            .prefix("canary-demo-")
            .tempdir()
            .map_err(setup("a temporary directory"))?;
        let runner = dir.path().join("runner");
        std::fs::create_dir(&runner).map_err(setup("the runner directory"))?;
        let canary = config
            .canary
            .canonicalize()
            .map_err(setup("the canary binary"))?;
        std::os::unix::fs::symlink(&canary, runner.join("canary"))
            .map_err(setup("the runner's canary"))?;
        std::fs::create_dir(dir.path().join("dcos")).map_err(setup("an empty DCOS_DIR"))?;

        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .map_err(setup("the service account's key"))?;
        let public = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(setup("the public key"))?;
        let private = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(setup("the private key"))?;
        let credential =
            json!({"scheme": "RS256", "uid": ACCOUNT, "private_key": private.as_str()}).to_string();
        write_private(&dir.path().join("credential.json"), &credential)?;

        let binds: Vec<SocketAddr> = addresses()
            .into_iter()
            .map(|ip| SocketAddr::from((ip, 0)))
            .collect();
        let sim = SimHandle::start(SimConfig {
            time_scale: config.speed,
            auth: true,
            service_accounts: vec![ServiceAccount {
                uid: ACCOUNT.into(),
                public_key_pem: public,
            }],
            lb_binds: binds.clone(),
            haproxy: config.haproxy.clone(),
            jobs: JobExecution::Execute {
                runner_path: Some(runner),
                default_time_limit: JOB_TIME_LIMIT,
            },
            ..SimConfig::default()
        })
        .map_err(setup("the simulated cluster"))?;
        let load_balancer = match &config.haproxy {
            Some(path) => format!(
                "a real HAProxy ({}) per marathon-lb instance",
                path.display()
            ),
            None => "dcos-sim's own frontend (no haproxy used)".to_owned(),
        };
        let cluster = DemoCluster {
            frontends: binds
                .iter()
                .map(|b| format!("http://{}:{SERVICE_PORT}", b.ip()))
                .collect(),
            sim,
            load_balancer,
            speed: config.speed,
            canary,
            stop: config.stop.clone(),
            dir,
        };
        cluster.put_secret(SECRET_PATH, &credential)?;
        Ok(cluster)
    }

    /// Stores `value` at `path` in the secret store, as an operator would
    /// with `dcos security secrets create`.
    fn put_secret(&self, path: &str, value: &str) -> Result<(), String> {
        let token = self.sim.issue_token(ACCOUNT);
        let url = format!("{}/secrets/v1/secret/default/{path}", self.sim.dcos_url());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let answer = agent
            .put(&url)
            .header("Authorization", &format!("token={token}"))
            .send_json(json!({ "value": value }))
            .map_err(setup("storing the credential in the secret store"))?;
        match answer.status().as_u16() {
            200 | 201 => Ok(()),
            code => Err(format!(
                "storing the credential in the secret store: answered {code}"
            )),
        }
    }

    /// Where the demo's files go (the rendered jobs).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the demo was asked to stop.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs `canary ARGS` as a user would, logged in as the service account
    /// (its credential file in `DCOS_SERVICE_ACCOUNT_CREDENTIAL`), with no
    /// dcos CLI configuration and none of this process's cluster settings.
    /// The child runs in a process group of its own: asked to stop, the demo
    /// sends it SIGTERM (it stops as canary does, saying how to resume),
    /// then SIGKILL after [`CHILD_GRACE`], so none outlives the demo.
    pub(crate) fn canary(&self, args: &[String]) -> Result<Output, ChildError> {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(&self.canary);
        // One pipe for both streams: the output reads in the order the
        // child wrote it (a result line after the steps that made it).
        let (reader, writer) = std::io::pipe()
            .map_err(|e| ChildError::Failed(format!("a pipe for canary's output: {e}")))?;
        let second = writer
            .try_clone()
            .map_err(|e| ChildError::Failed(format!("a pipe for canary's output: {e}")))?;
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(second)
            .process_group(0);
        for name in [
            "DCOS_URL",
            "DCOS_CLUSTER",
            "DCOS_ACS_TOKEN",
            "DCOS_USERNAME",
            "DCOS_PASSWORD",
            "DCOS_PASSWORD_FILE",
            "CANARY_CA_CERT",
            "CANARY_RETRY_FOR",
        ] {
            command.env_remove(name);
        }
        let mut child = command
            .env("DCOS_DIR", self.dir.path().join("dcos"))
            .env(
                "DCOS_SERVICE_ACCOUNT_CREDENTIAL",
                self.dir.path().join("credential.json"),
            )
            .spawn()
            .map_err(|e| {
                ChildError::Failed(format!("cannot run {}: {e}", self.canary.display()))
            })?;
        // The command holds the pipe's writing ends: dropped, the reader
        // ends when the child (and any child of its own) closes them.
        drop(command);
        let stdout = drain(Some(reader));
        let group = child.id();
        let mut stopped_at: Option<std::time::Instant> = None;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => return Err(ChildError::Failed(format!("waiting for canary: {e}"))),
            }
            if self.stopping() {
                let signal = match stopped_at {
                    None => {
                        stopped_at = Some(std::time::Instant::now());
                        Some(rustix::process::Signal::TERM)
                    }
                    Some(at) if at.elapsed() > CHILD_GRACE => Some(rustix::process::Signal::KILL),
                    Some(_) => None,
                };
                if let Some(signal) = signal
                    && let Some(pid) = i32::try_from(group)
                        .ok()
                        .and_then(rustix::process::Pid::from_raw)
                {
                    let _ = rustix::process::kill_process_group(pid, signal);
                }
            }
            // Polling the child's exit beside the stop flag.
            std::thread::sleep(Duration::from_millis(20));
        };
        let output = Output {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: Vec::new(),
        };
        if stopped_at.is_some() {
            return Err(ChildError::Stopped);
        }
        Ok(output)
    }

    /// The apps of deployment group `group`, by id, as Marathon shows them.
    pub(crate) fn group(&self, group: &str) -> Result<Vec<AppState>, String> {
        let token = self.sim.issue_token(ACCOUNT);
        let url = format!("{}/service/marathon/v2/apps", self.sim.dcos_url());
        let mut answer = ureq::get(&url)
            .header("Authorization", &format!("token={token}"))
            .call()
            .map_err(setup("reading Marathon's apps"))?;
        let apps: Value = answer
            .body_mut()
            .read_json()
            .map_err(setup("reading Marathon's apps"))?;
        let mut states: Vec<AppState> = apps["apps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["HAPROXY_DEPLOYMENT_GROUP"] == group)
            .map(|a| AppState {
                id: a["id"].as_str().unwrap_or_default().to_owned(),
                instances: a["instances"].as_u64().unwrap_or(0),
                healthy: a["tasksHealthy"].as_u64().unwrap_or(0),
                image: a["container"]["docker"]["image"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            })
            .collect();
        states.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(states)
    }

    /// Sends `n` requests through the frontends in turn and counts the
    /// answers by the image that served them (`X-Canary-Version`'s second
    /// word); failures count as `(failed)`.
    pub(crate) fn responses(&self, n: usize) -> Vec<(String, u64)> {
        let agent = agent();
        let mut counts = Vec::new();
        for i in 0..n {
            count(
                &mut counts,
                served(&agent, &self.frontends[i % self.frontends.len()]),
            );
        }
        counts.sort();
        counts
    }

    /// Requests through every frontend (two keep-alive connections each,
    /// by the load client, which counts every request and resends one only
    /// when its reused connection closed before any byte of the answer),
    /// from now until [`Traffic::finish`] (at most [`TRAFFIC_LIMIT`]),
    /// placed on the timeline whose zero is `epoch`.
    pub(crate) fn traffic(&self, epoch: std::time::Instant) -> Result<Traffic, String> {
        let started = epoch.elapsed();
        let loads = self
            .frontends
            .iter()
            .map(|url| {
                let mut config = LoadConfig::new(url.clone(), 2);
                config.max_duration = TRAFFIC_LIMIT;
                config.max_requests = 1_000_000;
                // At most about 1,000 requests a second per connection:
                // plenty for the analysis, far from the client's cap of
                // requests over the demo's minute on a fast machine.
                config.pause = Duration::from_millis(1);
                LoadClient::start(config).map_err(setup("starting traffic through the frontends"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Traffic { loads, started })
    }

    /// The stderr of the last finished run of `job_id`, as `dcos job
    /// history` and `dcos task log --completed` find it: the run's task in
    /// Metronome's history, then the task's `stderr` through dcos-log.
    pub(crate) fn last_run_log(&self, job_id: &str) -> Option<String> {
        let token = self.sim.issue_token(ACCOUNT);
        let auth = format!("token={token}");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let base = self.sim.dcos_url();
        let job: Value = agent
            .get(&format!(
                "{base}/service/metronome/v1/jobs/{job_id}?embed=history"
            ))
            .header("Authorization", &auth)
            .call()
            .ok()?
            .body_mut()
            .read_json()
            .ok()?;
        let history = &job["history"];
        let last = ["successfulFinishedRuns", "failedFinishedRuns"]
            .iter()
            .flat_map(|k| history[*k].as_array().cloned().unwrap_or_default())
            .max_by_key(|run| run["finishedAt"].as_str().unwrap_or_default().to_owned())?;
        let task = last["tasks"].as_array()?.first()?.as_str()?.to_owned();
        // dcos-log answers with a redirect to the agent's endpoint.
        let mut url = format!("{base}/system/v1/logs/v2/task/{task}/file/stderr");
        for _ in 0..3 {
            let mut answer = agent.get(&url).header("Authorization", &auth).call().ok()?;
            match answer.status().as_u16() {
                200 => return answer.body_mut().read_to_string().ok(),
                301 | 302 | 303 | 307 | 308 => {
                    let location = answer.headers().get("location")?.to_str().ok()?;
                    url = if location.starts_with('/') {
                        format!("{base}{location}")
                    } else {
                        location.to_owned()
                    };
                }
                _ => return None,
            }
        }
        None
    }
}

/// Writes `text` to a new file only its owner can read.
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(setup("the credential file"))?;
    file.write_all(text.as_bytes())
        .map_err(setup("the credential file"))
}

/// The longest [`DemoCluster::traffic`] runs.
const TRAFFIC_LIMIT: Duration = Duration::from_secs(300);

/// Requests running in the background through every frontend, each
/// request placed on the demo's timeline.
pub(crate) struct Traffic {
    loads: Vec<LoadClient>,
    /// When the loads started, on the demo's timeline.
    started: Duration,
}

/// One request of the background traffic: when it started on the demo's
/// timeline, how long it took, the image that answered (`None`: no answer
/// from any version of the app: lost), and its status.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) at: Duration,
    pub(crate) took: Duration,
    pub(crate) image: Option<String>,
    pub(crate) status: Option<u16>,
}

impl Traffic {
    /// Every request finished so far, in no particular order.
    pub(crate) fn requests(&self) -> Vec<Request> {
        self.loads
            .iter()
            .flat_map(|load| load.records())
            .map(|record| request(self.started, record))
            .collect()
    }

    /// Stops the requests; every request.
    pub(crate) fn finish(self) -> Vec<Request> {
        let started = self.started;
        self.loads
            .into_iter()
            .flat_map(|load| load.stop().records)
            .map(|record| request(started, record))
            .collect()
    }
}

fn request(started: Duration, record: load_client::Record) -> Request {
    // An answer of the app carries its version; HAProxy's own 503 (no
    // server) or a reset does not: that request was lost.
    let image = record
        .version
        .as_deref()
        .and_then(|v| v.split_whitespace().nth(1))
        .map(str::to_owned);
    Request {
        at: started + record.start,
        took: record.duration,
        image: if record.outcome == Outcome::Success || record.status.is_some() {
            image
        } else {
            None
        },
        status: record.status,
    }
}

/// The client of the frontends: 5 s per request, any status an answer.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

/// One request to `url`, named by the image that answered
/// (`X-Canary-Version`'s second word), `"It works!"` added for httpd's
/// page, the status for an answer that is not a success; `(failed)` when
/// none came.
fn served(agent: &ureq::Agent, url: &str) -> String {
    let Ok(mut answer) = agent.get(url).call() else {
        return "(failed)".to_owned();
    };
    let image = answer
        .headers()
        .get("x-canary-version")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_whitespace().nth(1))
        .unwrap_or("(unknown)")
        .to_owned();
    let status = answer.status();
    let body = answer.body_mut().read_to_string().unwrap_or_default();
    if !status.is_success() {
        format!("{image}, {}", status.as_u16())
    } else if body.contains("It works!") {
        format!("{image}, \"It works!\"")
    } else {
        image
    }
}

/// Adds one answer named `served` to `counts`.
fn count(counts: &mut Vec<(String, u64)>, served: String) {
    match counts.iter_mut().find(|(k, _)| *k == served) {
        Some((_, n)) => *n += 1,
        None => counts.push((served, 1)),
    }
}
