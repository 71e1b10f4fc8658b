//! `--events json`: the progress of deploy, rollout, rollback, promote and
//! analyze as one JSON object per line on standard output, for CI systems
//! and chat bots; the human display (progress and the closing summary)
//! goes to standard error instead.
//!
//! Every line is an object with `event` (its kind), `time_ms` (Unix time in
//! milliseconds) and the kind's fields; the book (docs/src/guide/events.md)
//! lists the kinds and fields as a stable format: fields may be added,
//! none is renamed or removed. The mode is one per process, chosen by the
//! flag before the command starts, so it is held here rather than threaded
//! through every function that reports.

use serde_json::{Map, Value, json};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The `--events` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EventsFormat {
    /// One JSON object per line on stdout.
    Json,
}

static JSON: AtomicBool = AtomicBool::new(false);

/// Turns JSON events on for the rest of the process.
pub fn enable(format: Option<EventsFormat>) {
    if format == Some(EventsFormat::Json) {
        JSON.store(true, Ordering::SeqCst);
    }
}

/// Whether JSON events are on (then the human display is on stderr).
pub fn json() -> bool {
    JSON.load(Ordering::SeqCst)
}

/// Writes one event line when JSON events are on: `{"event": kind,
/// "time_ms": …, …fields}`. A standard output that is gone is not an
/// error here (the command's own result still decides the exit code).
pub fn emit(kind: &str, fields: Value) {
    if !json() {
        return;
    }
    let mut object = Map::new();
    object.insert("event".into(), json!(kind));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    object.insert("time_ms".into(), json!(now));
    if let Value::Object(fields) = fields {
        object.extend(fields);
    }
    let line = Value::Object(object).to_string();
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}
