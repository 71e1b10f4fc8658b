//! The pre-kill hook, with zdd.py's calling convention (zdd.md §2): before
//! each batch of task kills (never before deleting an app), the hook runs
//! as `hook <old app JSON> <task id list JSON> <new app JSON>`, the apps as
//! Marathon returned them with nulls stripped, serialised as Python's
//! `json.dumps` does by default (`", "` and `": "`). A hook that fails
//! stops the phase before anything is killed.
//!
//! The hook runs in a process group of its own: at its time limit, or when
//! a stop is asked for (a signal to canary), the whole group is killed, its
//! children with it, and nothing is left running.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why the hook did not agree to the kills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookError {
    /// It failed, did not finish in time, or could not run: the reason.
    Refused(String),
    /// A stop was asked for while it ran; it was killed.
    Stopped,
}

/// What runs before each batch of kills.
pub trait PreKillHook {
    /// Runs before `task_ids` of `old_app` are killed (`new_app` is the
    /// group's other app); an error stops the phase. `stop` says whether a
    /// stop was asked for meanwhile (a hook that takes long ends then).
    fn before_kill(
        &mut self,
        old_app: &Value,
        task_ids: &[String],
        new_app: &Value,
        stop: &dyn Fn() -> bool,
    ) -> Result<(), HookError>;
}

/// Kills the process group `group` (the hook and its children).
fn kill_group(group: u32) {
    if let Some(pid) = i32::try_from(group)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// A hook program run as zdd.py runs it, with a time limit.
#[derive(Debug, Clone)]
pub struct CommandHook {
    program: PathBuf,
    timeout: Duration,
}

impl CommandHook {
    /// The program at `program`, killed after `timeout`.
    pub fn new(program: impl Into<PathBuf>, timeout: Duration) -> Self {
        CommandHook {
            program: program.into(),
            timeout,
        }
    }
}

fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

/// `value` as Python's `json.dumps(value)` writes it: `", "` between items,
/// `": "` after keys, non-ASCII escaped as `\uXXXX`.
pub fn python_json(value: &Value) -> String {
    fn string(out: &mut String, text: &str) {
        out.push('"');
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                    let mut buf = [0u16; 2];
                    for unit in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    fn write(out: &mut String, value: &Value) {
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::String(s) => string(out, s),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write(out, item);
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    string(out, k);
                    out.push_str(": ");
                    write(out, v);
                }
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    write(&mut out, value);
    out
}

impl PreKillHook for CommandHook {
    fn before_kill(
        &mut self,
        old_app: &Value,
        task_ids: &[String],
        new_app: &Value,
        stop: &dyn Fn() -> bool,
    ) -> Result<(), HookError> {
        use std::os::unix::process::CommandExt;
        let ids = Value::Array(task_ids.iter().map(|t| Value::from(t.as_str())).collect());
        let shown = self.program.display().to_string();
        let refused = |reason: String| HookError::Refused(reason);
        let mut child = Command::new(&self.program)
            .arg(python_json(&strip_nulls(old_app)))
            .arg(python_json(&ids))
            .arg(python_json(&strip_nulls(new_app)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // A group of its own: killed whole, never sent the terminal's
            // Ctrl-C directly (canary's stop decides).
            .process_group(0)
            .spawn()
            .map_err(|e| {
                refused(format!(
                    "the pre-kill hook {shown} could not be started: {e}"
                ))
            })?;
        let group = child.id();
        let deadline = Instant::now() + self.timeout;
        let mut pause = Duration::from_millis(2);
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(refused(format!(
                        "the pre-kill hook {shown} failed ({status}): nothing was killed"
                    )));
                }
                Ok(None) if stop() => {
                    kill_group(group);
                    let _ = child.wait();
                    return Err(HookError::Stopped);
                }
                Ok(None) if Instant::now() >= deadline => {
                    kill_group(group);
                    let _ = child.wait();
                    return Err(refused(format!(
                        "the pre-kill hook {shown} did not finish within {} s and was killed with its children: nothing was killed",
                        self.timeout.as_secs()
                    )));
                }
                Ok(None) => {
                    // Polling a child's exit: there is no event to wait on.
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                Err(e) => {
                    return Err(refused(format!(
                        "waiting for the pre-kill hook {shown} failed: {e}"
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn apps_are_serialised_as_python_does_with_nulls_stripped() {
        let app = json!({"id": "oldApp", "labels": {"a": "é"}, "x": null, "n": [1, {"y": null}]});
        assert_eq!(
            python_json(&strip_nulls(&app)),
            r#"{"id": "oldApp", "labels": {"a": "\u00e9"}, "n": [1, {}]}"#
        );
        assert_eq!(
            python_json(&json!(["task1", "task2"])),
            r#"["task1", "task2"]"#
        );
    }

    #[test]
    fn the_hook_gets_zdds_three_arguments_and_its_failure_stops() {
        let dir = std::env::temp_dir().join(format!("canary-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("args");
        let script = dir.join("hook.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\n[ \"$2\" != '[\"bad\"]' ]\n",
                out.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut hook = CommandHook::new(&script, Duration::from_secs(10));
        hook.before_kill(
            &json!({"id": "oldApp"}),
            &["task1".into(), "task2".into()],
            &json!({"id": "newApp"}),
            &|| false,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"id\": \"oldApp\"}\n[\"task1\", \"task2\"]\n{\"id\": \"newApp\"}\n"
        );
        let err = hook
            .before_kill(&json!({}), &["bad".into()], &json!({}), &|| false)
            .unwrap_err();
        assert!(
            matches!(&err, HookError::Refused(r) if r.contains("failed") && r.contains("nothing was killed")),
            "{err:?}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A hook that starts a child and hangs; the pid of the child is in
    /// `dir/child` once it runs.
    fn hanging_hook(dir: &std::path::Path) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("hang.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh
sleep 300 &
echo $! > {}/child.tmp && mv {}/child.tmp {}/child
wait
",
                dir.display(),
                dir.display(),
                dir.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    #[test]
    fn a_hook_past_its_time_limit_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let mut hook = CommandHook::new(hanging_hook(dir.path()), Duration::from_secs(1));
        let err = hook
            .before_kill(&json!({}), &[], &json!({}), &|| false)
            .unwrap_err();
        assert!(
            matches!(&err, HookError::Refused(r) if r.contains("did not finish within 1 s and was killed with its children")),
            "{err:?}"
        );
        let child = std::fs::read_to_string(dir.path().join("child")).unwrap();
        assert!(
            test_support::process_gone(child.trim()),
            "the hook's child {child} survived it"
        );
    }

    #[test]
    fn a_stop_during_the_hook_kills_it_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let mut hook = CommandHook::new(hanging_hook(dir.path()), Duration::from_secs(300));
        let pid_file = dir.path().join("child");
        let started = Instant::now();
        let err = hook
            .before_kill(&json!({}), &[], &json!({}), &|| pid_file.exists())
            .unwrap_err();
        assert_eq!(err, HookError::Stopped);
        assert!(started.elapsed() < Duration::from_secs(30));
        let child = std::fs::read_to_string(&pid_file).unwrap();
        assert!(
            test_support::process_gone(child.trim()),
            "the hook's child {child} survived the stop"
        );
    }
}
