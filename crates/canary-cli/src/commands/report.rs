//! `canary report`: the pictures of a run from its `--events json` log, as
//! a self-contained HTML page (or the same data as JSON): what an operator
//! attaches to a change ticket. Needs no cluster.

use crate::failure::Failure;
use crate::output;
use clap::Args;
use std::path::PathBuf;

/// `canary report`'s arguments.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The log: what `canary deploy|rollout|rollback|promote|analyze
    /// --events json` printed (one JSON object per line).
    #[arg(value_name = "EVENTS.jsonl")]
    pub events: PathBuf,

    /// Where to write the report: FILE.html, a self-contained page (no
    /// script, no network) with the share of responses per version over
    /// time and the canary's and baseline's error rate and response time
    /// at each analysis window or read; FILE.json, the same data.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs `canary report`.
pub fn run(args: &ReportArgs) -> Result<(), Failure> {
    let shown = output::terminal_safe(&args.events.display().to_string());
    let limit = bounded_read::Limit::mib(canary_report::MAX_EVENTS_BYTES as u64 / (1024 * 1024));
    let log = bounded_read::read_text(&args.events, limit).map_err(|e| {
        if e.is_io() {
            Failure::io(format!("cannot read '{shown}': {e}"))
        } else {
            Failure::invalid(format!("'{shown}' is refused: {e}"))
        }
    })?;
    let report = canary_report::from_events(&log)
        .map_err(|e| Failure::invalid(format!("'{shown}': {e}")))?;
    let json = args
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let text = if json {
        serde_json::to_string_pretty(&report).expect("a report serialises") + "\n"
    } else {
        canary_report::html(&report)
    };
    let out = output::terminal_safe(&args.out.display().to_string());
    std::fs::write(&args.out, text).map_err(|e| Failure::io(format!("--out '{out}': {e}")))?;
    output::print(&format!(
        "wrote {out}: {} events over {:.1} s, {} analysis points, {} traffic intervals\n",
        report.markers.len(),
        report.duration_ms as f64 / 1000.0,
        report.analysis.len(),
        report.traffic.len()
    ))
}
