//! Helpers for the tests of job runs that execute: a client for
//! Metronome, the Mesos state and the files API as a user would call them
//! (with a token when the sim has auth), and a check that a process is
//! gone.

use super::{Reply, send, wait_until};
use dcos_sim::{JobExecution, SimConfig, SimHandle};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// The longest any one wait in these tests may take.
pub const LIMIT: Duration = Duration::from_secs(30);

/// A sim whose runs execute (manual clock; `runner_path` first on PATH).
pub fn exec_sim(runner_path: Option<PathBuf>) -> SimHandle {
    exec_sim_with(runner_path, SimConfig::default())
}

/// Like [`exec_sim`], from `config`.
pub fn exec_sim_with(runner_path: Option<PathBuf>, config: SimConfig) -> SimHandle {
    SimHandle::start(SimConfig {
        time_scale: 0.0,
        jobs: JobExecution::Execute {
            runner_path,
            default_time_limit: Duration::from_secs(120),
        },
        ..config
    })
    .expect("the sim starts")
}

/// How a run ended, from the job's history.
#[derive(Debug)]
pub struct Ended {
    /// In `successfulFinishedRuns`.
    pub success: bool,
    /// Its history entry.
    pub entry: Value,
}

impl Ended {
    /// The run's task id (the first listed).
    pub fn task(&self) -> String {
        self.entry["tasks"][0]
            .as_str()
            .unwrap_or_else(|| panic!("no task: {}", self.entry))
            .to_owned()
    }

    /// The history entry's `message`.
    pub fn message(&self) -> String {
        self.entry["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// A client of one sim's DC/OS URL, authenticated when `token` is set.
pub struct Api {
    pub base: String,
    pub token: Option<String>,
}

impl Api {
    /// A client without a token.
    pub fn new(sim: &SimHandle) -> Api {
        Api::at(sim.dcos_url())
    }

    /// A client of the DC/OS URL `base`, without a token.
    pub fn at(base: &str) -> Api {
        Api {
            base: base.to_owned(),
            token: None,
        }
    }

    /// A client with a token the sim issued.
    pub fn authenticated(sim: &SimHandle) -> Api {
        Api {
            base: sim.dcos_url().to_owned(),
            token: Some(sim.issue_token("bootstrapuser")),
        }
    }

    /// Sends `method path` (relative to the DC/OS URL).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let header = self.token.as_ref().map(|t| format!("token={t}"));
        let headers: Vec<(&str, &str)> = header
            .as_deref()
            .map(|h| vec![("authorization", h)])
            .unwrap_or_default();
        send(method, &format!("{}{path}", self.base), &headers, body)
    }

    /// Creates job `id` whose `run` has `run` on top of minimal resources.
    pub fn add_job(&self, id: &str, run: Value) {
        let mut full = json!({"cpus": 0.1, "mem": 32, "disk": 0});
        if let (Some(full), Some(run)) = (full.as_object_mut(), run.as_object()) {
            full.extend(run.clone());
        }
        let reply = self.call(
            "POST",
            "/service/metronome/v1/jobs",
            Some(&json!({"id": id, "run": full})),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
    }

    /// Starts a run of `job`; its id.
    pub fn run(&self, job: &str) -> String {
        let reply = self.call(
            "POST",
            &format!("/service/metronome/v1/jobs/{job}/runs"),
            None,
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.json()["id"].as_str().unwrap().to_owned()
    }

    /// The run's JSON while it is active, `None` once it has finished.
    pub fn active_run(&self, job: &str, run: &str) -> Option<Value> {
        let reply = self.call(
            "GET",
            &format!("/service/metronome/v1/jobs/{job}/runs/{run}"),
            None,
        );
        match reply.status {
            200 => Some(reply.json()),
            404 => None,
            other => panic!("GET run: {other} {}", reply.body),
        }
    }

    /// Waits until the run is active with `status`; its JSON.
    pub fn wait_status(&self, job: &str, run: &str, status: &str) -> Value {
        let mut seen = Value::Null;
        wait_until(LIMIT, &format!("run {run} to be {status}"), || {
            seen = self.active_run(job, run).unwrap_or(Value::Null);
            assert!(!seen.is_null(), "run {run} ended before it was {status}");
            seen["status"] == status
        });
        seen
    }

    /// Waits until the run has finished; how, from the job's history.
    pub fn wait_end(&self, job: &str, run: &str) -> Ended {
        wait_until(LIMIT, &format!("run {run} to end"), || {
            self.active_run(job, run).is_none()
        });
        let reply = self.call(
            "GET",
            &format!("/service/metronome/v1/jobs/{job}?embed=history"),
            None,
        );
        let history = reply.json()["history"].clone();
        for (list, success) in [
            ("successfulFinishedRuns", true),
            ("failedFinishedRuns", false),
        ] {
            if let Some(entry) = history[list]
                .as_array()
                .and_then(|runs| runs.iter().find(|r| r["id"] == run))
            {
                return Ended {
                    success,
                    entry: entry.clone(),
                };
            }
        }
        panic!("run {run} is in neither history list: {history}");
    }

    /// The agent id and sandbox directory of `task`, as the Mesos master's
    /// and the agent's state give them.
    pub fn sandbox(&self, task: &str) -> (String, String) {
        let master = self.call("GET", "/mesos/master/state.json", None);
        assert_eq!(master.status, 200, "{}", master.body);
        let master = master.json();
        let found = master["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|f| {
                ["tasks", "completed_tasks"]
                    .into_iter()
                    .flat_map(move |k| f[k].as_array().cloned().unwrap_or_default())
            })
            .find(|t| t["id"] == task)
            .unwrap_or_else(|| panic!("task {task} is not in the master's state: {master}"));
        let agent = found["slave_id"].as_str().unwrap().to_owned();
        let state = self.call("GET", &format!("/agent/{agent}/state.json"), None);
        assert_eq!(state.status, 200, "{}", state.body);
        let state = state.json();
        let directory = state["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|f| {
                ["executors", "completed_executors"]
                    .into_iter()
                    .flat_map(move |k| f[k].as_array().cloned().unwrap_or_default())
            })
            .find(|e| e["id"] == task)
            .and_then(|e| e["directory"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("no executor for {task} on {agent}: {state}"));
        (agent, directory)
    }

    /// A sandbox file of `task`, read whole through the files API (in the
    /// chunks the API returns), or `None` when it does not exist.
    pub fn try_read(&self, task: &str, name: &str) -> Option<String> {
        let (agent, directory) = self.sandbox(task);
        let mut text = String::new();
        loop {
            let path = format!("{directory}/{name}");
            let reply = self.call(
                "GET",
                &format!(
                    "/agent/{agent}/files/read?path={}&offset={}&length=-1",
                    encode(&path),
                    text.len()
                ),
                None,
            );
            if reply.status == 404 {
                return None;
            }
            assert_eq!(reply.status, 200, "{}", reply.body);
            let body = reply.json();
            assert_eq!(body["offset"], text.len() as u64, "{body}");
            let data = body["data"].as_str().unwrap();
            if data.is_empty() {
                return Some(text);
            }
            text.push_str(data);
        }
    }

    /// [`Api::try_read`] of a file that must exist.
    pub fn read(&self, task: &str, name: &str) -> String {
        self.try_read(task, name)
            .unwrap_or_else(|| panic!("{name} is not in the sandbox of {task}"))
    }

    /// Waits until sandbox file `name` of `task` holds a full line; it.
    pub fn wait_line(&self, task: &str, name: &str) -> String {
        let mut text = String::new();
        wait_until(LIMIT, &format!("{name} in the sandbox of {task}"), || {
            text = self.try_read(task, name).unwrap_or_default();
            text.ends_with('\n')
        });
        text.trim().to_owned()
    }

    /// The task id of an active run (once its task has started).
    pub fn active_task(&self, job: &str, run: &str) -> String {
        let run = self.wait_status(job, run, "ACTIVE");
        run["tasks"][0]["id"].as_str().unwrap().to_owned()
    }
}

/// Percent-encodes a query value.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Whether process `pid` is gone (no such process, or only a zombie).
pub fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// Waits until every pid in `pids` is gone.
pub fn wait_gone(pids: &[u32]) {
    wait_until(LIMIT, &format!("processes {pids:?} to be gone"), || {
        pids.iter().all(|p| gone(*p))
    });
}
