//! [`HttpExecutor`]: canary-core's [`Executor`] over Metronome's v1 API.

use crate::client::{Client, Replay, Reply, Request, Service};
use crate::config::{ConfigError, HttpConfig};
use canary_core::executor::{
    ExecError, Executor, JobHistory, LiveJob, MarathonApp, RunInfo, app_what, job_what, run_what,
    spec_job_id,
};
use serde_json::Value;
use std::fmt;

/// `text` as one URL path segment: everything but unreserved characters
/// percent-encoded (job and run ids never need it; odd input stays harmless).
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An app id as a URL path under `/v2/apps`: `/prod/web-green` is
/// `/prod/web-green`, each segment percent-encoded.
fn app_path(id: &str) -> String {
    id.trim_start_matches('/')
        .split('/')
        .map(|s| format!("/{}", segment(s)))
        .collect()
}

/// canary-core's [`Executor`] over Metronome's HTTP API, blocking.
///
/// Every request has the configured time limits and is one attempt at a
/// time through canary-core's retry driver ([`canary_core::retry`]): connection
/// failures, 502/503/504 and Marathon's deployment lock are retried per the
/// [`canary_core::retry::RetryPolicy`]; any other failure is mapped to an
/// [`ExecError`] at once, with the server's message.
pub struct HttpExecutor {
    client: Client,
}

impl fmt::Debug for HttpExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpExecutor")
            .field("config", self.client.config())
            .finish()
    }
}

impl HttpExecutor {
    /// An executor with this configuration.
    pub fn new(config: HttpConfig) -> Result<Self, ConfigError> {
        Ok(HttpExecutor {
            client: Client::new(config)?,
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &HttpConfig {
        self.client.config()
    }

    /// Sends `request` and returns the 2xx answer; anything else as the
    /// mapped error.
    fn expect_success(&mut self, request: &Request<'_>) -> Result<Reply, ExecError> {
        let reply = self.client.send(request)?;
        if reply.is_success() {
            Ok(reply)
        } else {
            Err(self.client.error_for(request, &reply))
        }
    }

    /// GET a job with `embed`; `None` when Metronome says it does not exist.
    fn fetch_job(&mut self, id: &str, embed: &str) -> Result<Option<Value>, ExecError> {
        let what = job_what(id);
        let request = Request {
            service: Service::Metronome,
            method: "GET",
            path: format!("/v1/jobs/{}?embed={embed}", segment(id)),
            body: None,
            what: what.clone(),
            replay: Replay::Safe,
        };
        let reply = self.client.send(&request)?;
        if reply.status == 404 && crate::client::is_metronome_not_found(&reply.body) {
            return Ok(None);
        }
        if !reply.is_success() {
            return Err(self.client.error_for(&request, &reply));
        }
        let job = reply.json(&what)?;
        if !job.is_object() {
            return Err(ExecError::unexpected(
                &what,
                &format!("not a job object: {job}"),
            ));
        }
        Ok(Some(job))
    }
}

impl Executor for HttpExecutor {
    /// `GET /v1/jobs/{id}?embed=activeRuns&embed=history`; 404 is
    /// `Ok(None)`.
    fn get_job(&mut self, id: &str) -> Result<Option<LiveJob>, ExecError> {
        let Some(job) = self.fetch_job(id, "activeRuns&embed=history")? else {
            return Ok(None);
        };
        LiveJob::from_metronome(job, id, &job_what(id)).map(Some)
    }

    /// `POST /v1/jobs`. Repeated after an attempt that may have reached
    /// Metronome, it may meet its own job (409 `Conflict`): the use case
    /// ([`canary_core::apply`]) reconciles that.
    fn create_job(&mut self, spec: &Value) -> Result<(), ExecError> {
        let id = spec_job_id(spec)?.to_owned();
        self.expect_success(&Request {
            service: Service::Metronome,
            method: "POST",
            path: "/v1/jobs".to_owned(),
            body: Some(spec),
            what: job_what(&id),
            replay: Replay::Safe,
        })
        .map(drop)
    }

    /// `PUT /v1/jobs/{id}`.
    fn replace_job(&mut self, spec: &Value) -> Result<(), ExecError> {
        let id = spec_job_id(spec)?.to_owned();
        self.expect_success(&Request {
            service: Service::Metronome,
            method: "PUT",
            path: format!("/v1/jobs/{}", segment(&id)),
            body: Some(spec),
            what: job_what(&id),
            replay: Replay::Safe,
        })
        .map(drop)
    }

    /// `POST /v1/jobs/{id}/runs/{run}/actions/stop`. Repeated after an
    /// attempt that may have stopped it, it may find the run gone
    /// (`NotFound`), which the use cases take as stopped.
    fn stop_run(&mut self, job_id: &str, run_id: &str) -> Result<(), ExecError> {
        self.expect_success(&Request {
            service: Service::Metronome,
            method: "POST",
            path: format!(
                "/v1/jobs/{}/runs/{}/actions/stop",
                segment(job_id),
                segment(run_id)
            ),
            body: None,
            what: run_what(job_id, run_id),
            replay: Replay::Safe,
        })
        .map(drop)
    }

    /// `POST /v1/jobs/{id}/runs` (201). Not repeated once it may have
    /// reached Metronome: that could start a second run.
    fn start_run(&mut self, job_id: &str) -> Result<RunInfo, ExecError> {
        let what = job_what(job_id);
        let reply = self.expect_success(&Request {
            service: Service::Metronome,
            method: "POST",
            path: format!("/v1/jobs/{}/runs", segment(job_id)),
            body: None,
            what: what.clone(),
            replay: Replay::OnlyIfNotSent,
        })?;
        RunInfo::from_metronome(&reply.json(&what)?, job_id, &what)
    }

    /// `GET /v1/jobs/{id}/runs/{run}`; once that is 404 (the run finished),
    /// the run is looked up in `GET /v1/jobs/{id}?embed=history`.
    fn run_status(&mut self, job_id: &str, run_id: &str) -> Result<RunInfo, ExecError> {
        let what = run_what(job_id, run_id);
        let request = Request {
            service: Service::Metronome,
            method: "GET",
            path: format!("/v1/jobs/{}/runs/{}", segment(job_id), segment(run_id)),
            body: None,
            what: what.clone(),
            replay: Replay::Safe,
        };
        let reply = self.client.send(&request)?;
        if reply.is_success() {
            return RunInfo::from_metronome(&reply.json(&what)?, job_id, &what);
        }
        if !(reply.status == 404 && crate::client::is_metronome_not_found(&reply.body)) {
            return Err(self.client.error_for(&request, &reply));
        }
        let job = self
            .fetch_job(job_id, "history")?
            .ok_or_else(|| ExecError::NotFound {
                what: job_what(job_id),
            })?;
        job.get("history")
            .and_then(|history| JobHistory::find_run(history, job_id, run_id))
            .ok_or(ExecError::NotFound { what })
    }

    /// `GET /v2/apps?label=HAPROXY_DEPLOYMENT_GROUP==G&embed=apps.tasks`:
    /// Marathon selects the group's apps, so the answer is the group's size
    /// whatever the cluster's; the apps are then checked against the group
    /// exactly, as zdd.py does.
    fn group_apps(&mut self, group: &str) -> Result<Vec<MarathonApp>, ExecError> {
        let selector = segment(&canary_core::plan::labels::group_selector(group));
        let reply = self.expect_success(&Request {
            service: Service::Marathon,
            method: "GET",
            path: format!("/v2/apps?label={selector}&embed=apps.tasks"),
            body: None,
            what: "Marathon apps".to_owned(),
            replay: Replay::Safe,
        })?;
        MarathonApp::group_from_marathon(&reply.json("Marathon apps")?, group)
    }

    /// `POST /v2/apps`. Repeated after an attempt that may have created it,
    /// it meets `Conflict`: the engine observes again and finds its app.
    fn create_app(&mut self, app: &Value) -> Result<(), ExecError> {
        let id = app.get("id").and_then(Value::as_str).unwrap_or_default();
        self.expect_success(&Request {
            service: Service::Marathon,
            method: "POST",
            path: "/v2/apps".to_owned(),
            body: Some(app),
            what: app_what(id),
            replay: Replay::Safe,
        })
        .map(drop)
    }

    /// `GET /v2/apps/{id}` (a missing app is `NotFound`: a `PUT` would try
    /// to create it), then `PUT /v2/apps/{id}` `{"instances": n}` (a partial
    /// update: a scale, as zdd.py sends it).
    fn scale_app(&mut self, app_id: &str, instances: u32) -> Result<(), ExecError> {
        self.expect_success(&Request {
            service: Service::Marathon,
            method: "GET",
            path: format!("/v2/apps{}", app_path(app_id)),
            body: None,
            what: app_what(app_id),
            replay: Replay::Safe,
        })?;
        let body = serde_json::json!({ "instances": instances });
        self.expect_success(&Request {
            service: Service::Marathon,
            method: "PUT",
            path: format!("/v2/apps{}", app_path(app_id)),
            body: Some(&body),
            what: app_what(app_id),
            replay: Replay::Safe,
        })
        .map(drop)
    }

    /// `POST /v2/tasks/delete?scale=true` `{"ids": [...]}`. Not repeated
    /// once it may have reached Marathon: the engine observes again.
    fn kill_tasks(&mut self, app_id: &str, task_ids: &[String]) -> Result<(), ExecError> {
        let body = serde_json::json!({ "ids": task_ids });
        self.expect_success(&Request {
            service: Service::Marathon,
            method: "POST",
            path: "/v2/tasks/delete?scale=true".to_owned(),
            body: Some(&body),
            what: format!("tasks {} of {}", task_ids.join(", "), app_what(app_id)),
            replay: Replay::OnlyIfNotSent,
        })
        .map(drop)
    }

    /// `DELETE /v2/apps/{id}`.
    fn delete_app(&mut self, app_id: &str) -> Result<(), ExecError> {
        self.expect_success(&Request {
            service: Service::Marathon,
            method: "DELETE",
            path: format!("/v2/apps{}", app_path(app_id)),
            body: None,
            what: app_what(app_id),
            replay: Replay::Safe,
        })
        .map(drop)
    }

    /// Caps every later request's time limit, and the retry driver's waits,
    /// to end by then (a login included).
    fn set_deadline_in(&mut self, within: Option<std::time::Duration>) {
        self.client.set_deadline_in(within);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(segment("deploy-web.canary_1~"), "deploy-web.canary_1~");
        assert_eq!(segment("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(app_path("/prod/web-green"), "/prod/web-green");
        assert_eq!(app_path("web"), "/web");
        assert_eq!(app_path("/a b"), "/a%20b");
    }

    #[test]
    fn specs_without_an_id_are_invalid() {
        assert!(matches!(
            spec_job_id(&serde_json::json!({"run": {}})),
            Err(ExecError::Invalid { .. })
        ));
    }
}
