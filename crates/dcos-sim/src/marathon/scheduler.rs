//! The scheduler: task transitions in time order, launches, excess kills and
//! rolling replacement, and the end of deployments.

use super::Marathon;
use super::app::App;
use super::kills::{KillCause, Killed};
use super::task::{SLAVE_ID, Task, TaskState, launch};
use crate::agent::Agent;
use crate::clock::marathon_timestamp;
use crate::rng::SimRng;
use serde_json::{Value, json};

impl Marathon {
    /// When the next task transition (`TASK_RUNNING`, a first health
    /// result) is due, if any: the cluster steps to it before anything that
    /// happens later, so marathon-lb sees each change at its time.
    pub fn next_transition_ms(&self) -> Option<u64> {
        let (start, health) = (self.task_start_ms, self.health_ms);
        self.apps
            .values()
            .flat_map(|a| {
                a.tasks
                    .iter()
                    .filter_map(move |t| pending_transition(t, a.has_health_checks, start, health))
                    .chain(a.launch_backoff_until_ms)
            })
            .min()
    }

    /// Runs the scheduler up to `now_ms`.
    pub fn advance(&mut self, now_ms: u64, rng: &mut SimRng) {
        let (start, health) = (self.task_start_ms, self.health_ms);
        let mut changed = false;
        // Replay every task transition due by `now_ms` in time order, so a
        // large clock jump still lets a rolling restart progress step by step
        // with launches stamped at the time they happened.
        for _ in 0..100_000 {
            match self.next_transition_ms() {
                Some(at) if at <= now_ms => {
                    for app in self.apps.values_mut() {
                        let (killed, agent) = (&mut self.killed, &mut self.agent);
                        changed |= converge(app, at, rng, start, health, killed, agent);
                    }
                }
                _ => break,
            }
        }
        // Settled apps (no deployment, the wanted tasks of the current
        // configuration, nothing pending) have nothing to converge: skipping
        // them keeps a request's cost independent of how many apps are idle.
        for app in self
            .apps
            .values_mut()
            .filter(|a| !settled(a, start, health))
        {
            let (killed, agent) = (&mut self.killed, &mut self.agent);
            changed |= converge(app, now_ms, rng, start, health, killed, agent);
        }
        if changed {
            self.generation += 1;
        }
        let apps = &mut self.apps;
        self.deployments.retain(|d| {
            let done = d.actions.iter().all(|(_, id)| match apps.get(id) {
                None => true,
                Some(app) => app.deployment.as_deref() != Some(&d.id) || converged(app),
            });
            if done {
                for (_, id) in &d.actions {
                    if let Some(app) = apps.get_mut(id)
                        && app.deployment.as_deref() == Some(&d.id)
                    {
                        app.deployment = None;
                    }
                }
            }
            !done
        });
    }
}

/// Whether an app has exactly its wanted tasks, all of the current
/// configuration and ready.
fn converged(app: &App) -> bool {
    app.tasks.len() as u64 == app.instances
        && app
            .tasks
            .iter()
            .all(|t| t.config_ms == app.config_epoch_ms && t.is_up(app.has_health_checks))
}

/// Whether an app is at rest: no deployment, exactly its wanted tasks, all
/// of the current configuration and with no state change still to come.
fn settled(app: &App, start_ms: u64, health_ms: u64) -> bool {
    app.deployment.is_none()
        && app.tasks.len() as u64 == app.instances
        && app.tasks.iter().all(|t| {
            t.config_ms == app.config_epoch_ms
                && pending_transition(t, app.has_health_checks, start_ms, health_ms).is_none()
        })
}

/// When a simulated task changes next (`TASK_RUNNING`, first health
/// result), if it still will.
fn pending_transition(task: &Task, has_checks: bool, start_ms: u64, health_ms: u64) -> Option<u64> {
    if task.raw.is_some() {
        return None;
    }
    match task.state {
        TaskState::Staging => Some(task.staged_at_ms + start_ms),
        TaskState::Running if has_checks && task.healthy.is_none() => {
            Some(task.started_at_ms.unwrap_or(task.staged_at_ms) + health_ms)
        }
        _ => None,
    }
}

/// Notes a launch the agent could not do as Marathon does: the app's
/// `lastTaskFailure` (`TASK_FAILED` with the agent's reason), and no launch
/// before its backoff (`backoffSeconds`, times `backoffFactor` per failure
/// in a row, at most `maxLaunchDelaySeconds`).
fn launch_failed(app: &mut App, now_ms: u64, reason: String) {
    let number = |key: &str, default: f64| {
        app.definition
            .get(key)
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite() && *v >= 0.0)
            .unwrap_or(default)
    };
    let (base, factor, max) = (
        number("backoffSeconds", 1.0),
        number("backoffFactor", 1.15).max(1.0),
        number("maxLaunchDelaySeconds", 300.0),
    );
    let seconds = (base * factor.powi(app.launch_failures.min(100) as i32)).min(max);
    app.launch_failures = app.launch_failures.saturating_add(1);
    app.launch_backoff_until_ms = Some(now_ms + (seconds * 1000.0) as u64);
    app.last_task_failure = Some(json!({
        "appId": app.id,
        "host": "127.0.0.1",
        "message": reason,
        "state": "TASK_FAILED",
        "taskId": "",
        "timestamp": marathon_timestamp(now_ms),
        "version": marathon_timestamp(app.version_ms),
        "slaveId": SLAVE_ID,
    }));
}

/// Removes task `index` from `app`, noting why in `kills`.
fn kill(app: &mut App, index: usize, at_ms: u64, cause: KillCause, kills: &mut Vec<Killed>) {
    let task = app.tasks.remove(index);
    kills.push(Killed::new(app, &task, at_ms, cause));
}

/// Brings one app's tasks up to `now_ms`: state changes by time, launches,
/// excess kills and the rolling replacement of old-configuration tasks.
/// Returns whether anything changed.
fn converge(
    app: &mut App,
    now_ms: u64,
    rng: &mut SimRng,
    start_ms: u64,
    health_ms: u64,
    kills: &mut Vec<Killed>,
    agent: &mut Agent,
) -> bool {
    let has_checks = app.has_health_checks;
    let mut changed = false;
    for task in app.tasks.iter_mut().filter(|t| t.raw.is_none()) {
        if task.state == TaskState::Staging && now_ms >= task.staged_at_ms + start_ms {
            task.state = TaskState::Running;
            task.started_at_ms = Some(task.staged_at_ms + start_ms);
            changed = true;
        }
        if let (true, None, Some(started)) = (has_checks, task.healthy, task.started_at_ms)
            && now_ms >= started + health_ms
        {
            // The task's own image decides, as its server answers checks.
            let healthy = task.behaviour.healthy();
            task.healthy = Some(healthy);
            if healthy {
                task.first_success_ms = Some(started + health_ms);
            }
            changed = true;
        }
    }
    let current = app.config_epoch_ms;
    let oldest_first =
        app.definition.get("killSelection").and_then(Value::as_str) == Some("OLDEST_FIRST");
    let wanted = app.instances as usize;
    let mut fresh: Vec<usize> = (0..app.tasks.len())
        .filter(|&i| app.tasks[i].config_ms == current)
        .collect();
    if fresh.len() > wanted {
        // Kill the excess: youngest (latest staged) first unless OLDEST_FIRST.
        fresh.sort_by_key(|&i| (app.tasks[i].staged_at_ms, i));
        if !oldest_first {
            fresh.reverse();
        }
        let mut doomed: Vec<usize> = fresh[..fresh.len() - wanted].to_vec();
        // Highest index first, so the lower ones stay where they are.
        doomed.sort_unstable_by(|a, b| b.cmp(a));
        for i in doomed {
            kill(app, i, now_ms, KillCause::ScaledDown, kills);
        }
        changed = true;
    }
    let strategy = |key: &str, default: f64| {
        app.definition
            .get("upgradeStrategy")
            .and_then(|s| s.get(key))
            .and_then(Value::as_f64)
            .unwrap_or(default)
    };
    // Marathon's rolling restart: keep `ceil(instances * minimumHealthCapacity)`
    // tasks up, run at most `floor(instances * (1 + maximumOverCapacity))`.
    let min_up = (wanted as f64 * strategy("minimumHealthCapacity", 1.0) - 1e-9).ceil() as usize;
    let max_total = ((wanted as f64 * (1.0 + strategy("maximumOverCapacity", 1.0)) + 1e-9).floor()
        as usize)
        .max(wanted);
    loop {
        let mut progressed = false;
        // Kill old tasks while enough stay up: not-up ones first.
        loop {
            let up = app.tasks.iter().filter(|t| t.is_up(has_checks)).count();
            let victim = app
                .tasks
                .iter()
                .enumerate()
                .filter(|(_, t)| t.config_ms != current)
                .min_by_key(|(i, t)| {
                    let age = if oldest_first {
                        t.staged_at_ms as i128
                    } else {
                        -(t.staged_at_ms as i128)
                    };
                    (t.is_up(has_checks), age, *i)
                })
                .map(|(i, t)| (i, t.is_up(has_checks)));
            match victim {
                Some((i, is_up)) if wanted == 0 || up - usize::from(is_up) >= min_up => {
                    kill(app, i, now_ms, KillCause::Replaced, kills);
                    progressed = true;
                }
                _ => break,
            }
        }
        // Launch new tasks within the capacity, unless a failed launch's
        // backoff is still running.
        if app
            .launch_backoff_until_ms
            .is_some_and(|until| now_ms < until)
        {
            break;
        }
        app.launch_backoff_until_ms = None;
        let fresh_count = app.tasks.iter().filter(|t| t.config_ms == current).count();
        for _ in fresh_count..wanted {
            if app.tasks.len() >= max_total {
                break;
            }
            match launch(app, now_ms, rng, agent) {
                Ok(task) => {
                    app.launch_failures = 0;
                    app.tasks.push(task);
                    progressed = true;
                }
                Err(reason) => {
                    launch_failed(app, now_ms, reason);
                    changed = true;
                    break;
                }
            }
        }
        if app.launch_backoff_until_ms.is_some() {
            break;
        }
        if progressed {
            changed = true;
            continue;
        }
        // Stuck (e.g. minimumHealthCapacity 1 with maximumOverCapacity 0):
        // when every new task is up, give up one old task to make room.
        let fresh_up = app
            .tasks
            .iter()
            .filter(|t| t.config_ms == current)
            .all(|t| t.is_up(has_checks));
        let fresh_count = app.tasks.iter().filter(|t| t.config_ms == current).count();
        match app.tasks.iter().position(|t| t.config_ms != current) {
            Some(i) if fresh_up && fresh_count < wanted => {
                kill(app, i, now_ms, KillCause::Replaced, kills);
                changed = true;
            }
            _ => break,
        }
    }
    changed
}
