//! The Mesos master's and the agent's state as the dcos CLI reads them
//! (`/mesos/master/state.json`, `/agent/{id}/state.json`), for the job
//! tasks of runs that execute. Marathon's served tasks have no sandbox and
//! are not listed; Marathon's framework is, without tasks.

use super::{AGENT_ID, JobAgent, TaskRecord};
use serde_json::{Value, json};

/// The agent's libprocess pid, the address the CLI would use without
/// Admin Router.
const AGENT_PID: &str = "slave(1)@127.0.0.1:5051";

/// The Mesos version reported.
const VERSION: &str = "1.11.0";

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// One task as the master and the agent list it.
fn task_json(task: &TaskRecord, framework_id: &str) -> Value {
    let statuses: Vec<Value> = task
        .statuses
        .iter()
        .map(|status| {
            let mut entry = json!({
                "state": status.state,
                "timestamp": seconds(status.at_ms),
                "container_status": {"container_id": {"value": task.container_id}},
            });
            if let Some(message) = &status.message {
                entry["message"] = json!(message);
            }
            entry
        })
        .collect();
    json!({
        "id": task.id,
        "name": task.job_id,
        "framework_id": framework_id,
        "executor_id": "",
        "slave_id": AGENT_ID,
        "state": task.state(),
        "resources": task.resources,
        "statuses": statuses,
    })
}

/// The agent as the master lists it.
fn agent_summary() -> Value {
    json!({
        "id": AGENT_ID,
        "pid": AGENT_PID,
        "hostname": "127.0.0.1",
        "active": true,
        "attributes": {},
        "version": VERSION,
    })
}

/// `/mesos/master/state.json`: Metronome's framework with the job tasks
/// (running ones in `tasks`, finished ones in `completed_tasks`), and
/// Marathon's.
pub(crate) fn master_state(
    agent: &JobAgent,
    cluster_id: &str,
    cluster_name: &str,
    now_ms: u64,
) -> Value {
    let framework = agent.framework_id();
    let (done, running): (Vec<&TaskRecord>, Vec<&TaskRecord>) =
        agent.tasks().partition(|t| t.completed());
    let list = |tasks: &[&TaskRecord]| -> Vec<Value> {
        tasks.iter().map(|t| task_json(t, framework)).collect()
    };
    json!({
        "version": VERSION,
        "id": cluster_id,
        "pid": "master@127.0.0.1:5050",
        "hostname": "127.0.0.1",
        "cluster": cluster_name,
        "leader": "master@127.0.0.1:5050",
        "activated_slaves": 1,
        "start_time": seconds(now_ms),
        "slaves": [agent_summary()],
        "frameworks": [
            {"id": framework, "name": "metronome", "active": true, "user": "root",
             "hostname": "127.0.0.1", "tasks": list(&running), "completed_tasks": list(&done),
             "unreachable_tasks": []},
            {"id": format!("{cluster_id}-0000"), "name": "marathon", "active": true,
             "user": "root", "hostname": "127.0.0.1", "tasks": [], "completed_tasks": [],
             "unreachable_tasks": []},
        ],
        "completed_frameworks": [],
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    })
}

/// `/agent/{id}/state.json`: one command executor per job task (its id
/// the task's), with the sandbox directory.
pub(crate) fn agent_state(agent: &JobAgent) -> Value {
    let framework = agent.framework_id();
    let executor = |task: &TaskRecord| {
        let listed = vec![task_json(task, framework)];
        let (tasks, completed) = if task.completed() {
            (Vec::new(), listed)
        } else {
            (listed, Vec::new())
        };
        json!({
            "id": task.id,
            "name": format!("Command Executor (Task: {})", task.id),
            "source": task.id,
            "container": task.container_id,
            "directory": task.sandbox.display().to_string(),
            "resources": task.resources,
            "tasks": tasks,
            "queued_tasks": [],
            "completed_tasks": completed,
        })
    };
    let (done, running): (Vec<&TaskRecord>, Vec<&TaskRecord>) =
        agent.tasks().partition(|t| t.completed());
    json!({
        "id": AGENT_ID,
        "pid": AGENT_PID,
        "hostname": "127.0.0.1",
        "version": VERSION,
        "frameworks": [{
            "id": framework,
            "name": "metronome",
            "user": "root",
            "executors": running.iter().map(|t| executor(t)).collect::<Vec<_>>(),
            "completed_executors": done.iter().map(|t| executor(t)).collect::<Vec<_>>(),
        }],
        "completed_frameworks": [],
    })
}
