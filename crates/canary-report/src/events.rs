//! A [`RunReport`] from a `--events json` log.

use crate::{AnalysisPoint, Marker, RunReport, SidePoint, TrafficBucket};
use serde_json::Value;
use std::collections::BTreeMap;

/// Why a log could not be read as events.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReportError {
    /// A line is not a JSON object with `event` and `time_ms`.
    #[error("line {line}: not an event of --events json ({why})")]
    NotAnEvent {
        /// The line, from 1.
        line: usize,
        /// What was wrong.
        why: String,
    },
    /// No line held an event.
    #[error("no event in the log: it should be what --events json printed")]
    Empty,
    /// Past [`crate::MAX_EVENTS_BYTES`].
    #[error("the log is larger than {} MiB", crate::MAX_EVENTS_BYTES / (1024 * 1024))]
    TooLarge,
}

/// One side's numbers in a window's or read's JSON.
fn side(value: &Value) -> Option<SidePoint> {
    if !value.is_object() {
        return None;
    }
    Some(SidePoint {
        requests: value["requests"].as_u64().unwrap_or(0),
        error_rate: value["error_rate"].as_f64(),
        mean_response_ms: value["mean_response_ms"].as_f64(),
    })
}

/// The events of `log`, each with its kind and time, in order.
fn parse(log: &str) -> Result<Vec<(String, u64, Value)>, ReportError> {
    let mut events = Vec::new();
    for (i, line) in log.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| ReportError::NotAnEvent {
            line: i + 1,
            why: e.to_string(),
        })?;
        let (Some(kind), Some(time)) = (value["event"].as_str(), value["time_ms"].as_u64()) else {
            return Err(ReportError::NotAnEvent {
                line: i + 1,
                why: "no event or time_ms field".into(),
            });
        };
        events.push((kind.to_owned(), time, value));
    }
    Ok(events)
}

/// A window's verdict (the windows method): the window's responses per
/// side as a traffic bucket since the previous point, and its numbers.
fn window_point(report: &mut RunReport, e: &Value, at_ms: u64, last_at: &mut u64) {
    let a = &e["analysis"];
    let Some(canary) = side(&a["canary"]) else {
        return;
    };
    let baseline = side(&a["baseline"]);
    let mut by_version = BTreeMap::new();
    for key in ["canary", "baseline"] {
        if let Some(app) = a[key]["app_id"].as_str() {
            by_version.insert(
                format!("{key} {app}"),
                a[key]["responses"].as_u64().unwrap_or(0),
            );
        }
    }
    report.traffic.push(TrafficBucket {
        at_ms: *last_at,
        width_ms: at_ms.saturating_sub(*last_at).max(1),
        by_version,
    });
    *last_at = at_ms;
    report.analysis.push(AnalysisPoint {
        at_ms,
        label: format!("window {}", e["window"]),
        canary,
        baseline,
        verdict: a["verdict"].as_str().unwrap_or("").to_owned(),
    });
}

/// A sequential read: the responses since the previous read (its totals
/// run on) as a traffic bucket, and its numbers.
fn read_point(
    report: &mut RunReport,
    e: &Value,
    at_ms: u64,
    last_at: &mut u64,
    last_totals: &mut Option<(u64, u64)>,
) {
    let r = &e["report"];
    let Some(canary) = side(&r["canary"]) else {
        return;
    };
    let baseline = side(&r["baseline"]);
    let totals = (
        r["canary"]["responses"].as_u64().unwrap_or(0),
        r["baseline"]["responses"].as_u64().unwrap_or(0),
    );
    let (c0, b0) = last_totals.unwrap_or((0, 0));
    report.traffic.push(TrafficBucket {
        at_ms: *last_at,
        width_ms: at_ms.saturating_sub(*last_at).max(1),
        by_version: BTreeMap::from([
            ("canary".to_owned(), totals.0.saturating_sub(c0)),
            ("baseline".to_owned(), totals.1.saturating_sub(b0)),
        ]),
    });
    *last_totals = Some(totals);
    *last_at = at_ms;
    report.analysis.push(AnalysisPoint {
        at_ms,
        label: format!("read {}", r["read"]),
        canary,
        baseline,
        verdict: r["decision"]["decision"].as_str().unwrap_or("").to_owned(),
    });
}

/// Whether an analysis's decision went well (promote), badly (rollback),
/// or neither.
fn decided(decision: &str) -> Option<bool> {
    match decision {
        "promote" => Some(true),
        "rollback" => Some(false),
        _ => None,
    }
}

/// The analysis's claim first: how many points, and the last one's
/// numbers and verdict.
fn summarize_analysis(report: &mut RunReport) {
    if let Some(last) = report.analysis.last() {
        let side = |s: &SidePoint| match s.error_rate {
            Some(r) => format!("{} requests, {:.2}% errors", s.requests, r * 100.0),
            None => "no requests".into(),
        };
        report.claims.insert(
            0,
            format!(
                "analysis: {} points; at the last ({}), canary {}, baseline {}: {}",
                report.analysis.len(),
                last.label,
                side(&last.canary),
                last.baseline.as_ref().map_or("none".into(), side),
                last.verdict
            ),
        );
    }
}

/// The report of `log`, the lines `--events json` printed (other lines,
/// such as a shell's, are refused: a report from a wrong file would
/// mislead).
pub fn from_events(log: &str) -> Result<RunReport, ReportError> {
    if log.len() > crate::MAX_EVENTS_BYTES {
        return Err(ReportError::TooLarge);
    }
    let events = parse(log)?;
    let start = events.first().ok_or(ReportError::Empty)?.1;
    let mut report = RunReport {
        title: "canary run".into(),
        ..RunReport::default()
    };
    // The previous read's totals (a sequential analysis's are running
    // totals) and the previous point's time, per analysis.
    let mut last_totals: Option<(u64, u64)> = None;
    let mut last_at = 0u64;
    for (kind, time, e) in &events {
        let at_ms = time.saturating_sub(start);
        report.duration_ms = report.duration_ms.max(at_ms);
        let mut mark = |label: String, ok: Option<bool>| {
            report.markers.push(Marker { at_ms, label, ok });
        };
        match kind.as_str() {
            "phase_started" => {
                let group = e["group"].as_str().unwrap_or("");
                if report.title == "canary run" {
                    report.title = format!("canary: deployment group {group}");
                }
                mark(
                    format!("{} started", e["phase"].as_str().unwrap_or("phase")),
                    None,
                );
            }
            "ladder_step" => mark(
                format!(
                    "step {} of {}: {} of {}",
                    e["step"], e["of"], e["canary_instances"], e["target"]
                ),
                Some(true),
            ),
            "aborting" => mark("rolling the canary back".into(), Some(false)),
            "phase_done" => mark(
                format!("{} done", e["phase"].as_str().unwrap_or("phase")),
                Some(true),
            ),
            "phase_failed" => mark(
                format!("{} failed", e["phase"].as_str().unwrap_or("phase")),
                Some(false),
            ),
            "analysis_started" => {
                last_totals = None;
                last_at = at_ms;
                mark(
                    format!("analysis ({})", e["method"].as_str().unwrap_or("windows")),
                    None,
                );
            }
            "window_started" => last_at = at_ms,
            "analysis_done" => {
                let decision = e["decision"]["decision"].as_str().unwrap_or("");
                mark(format!("analysis: {decision}"), decided(decision));
            }
            "verdict" => window_point(&mut report, e, at_ms, &mut last_at),
            "analysis_read" => read_point(&mut report, e, at_ms, &mut last_at, &mut last_totals),
            "done" => mark("done: exit 0".into(), Some(true)),
            "failed" => {
                let code = e["exit_code"].as_u64().unwrap_or(1);
                mark(format!("ended: exit {code}"), Some(false));
                report.claims.push(format!(
                    "ended with exit {code}: {}",
                    e["error"].as_str().unwrap_or("")
                ));
            }
            _ => {}
        }
    }
    summarize_analysis(&mut report);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = r#"{"event":"phase_started","time_ms":1000,"phase":"deploy","group":"web"}
{"event":"ladder_step","time_ms":3000,"group":"web","step":1,"of":2,"canary_instances":1,"target":4}
{"event":"analysis_started","time_ms":3000,"group":"web","method":"sequential"}
{"event":"analysis_read","time_ms":4000,"report":{"read":1,"canary":{"requests":100,"responses":100,"error_rate":0.2,"mean_response_ms":3.0},"baseline":{"requests":300,"responses":300,"error_rate":0.0,"mean_response_ms":2.0},"decision":{"decision":"continue"}}}
{"event":"analysis_read","time_ms":5000,"report":{"read":2,"canary":{"requests":250,"responses":250,"error_rate":0.2,"mean_response_ms":3.0},"baseline":{"requests":700,"responses":700,"error_rate":0.0,"mean_response_ms":2.0},"decision":{"decision":"rollback","reason":"x"}}}
{"event":"analysis_done","time_ms":5000,"decision":{"decision":"rollback"}}
{"event":"failed","time_ms":9000,"exit_code":10,"error":"the canary failed its analysis"}
"#;

    #[test]
    fn a_log_becomes_a_timeline_with_traffic_per_read() {
        let r = from_events(LOG).unwrap();
        assert_eq!(r.title, "canary: deployment group web");
        assert_eq!(r.duration_ms, 8000);
        assert_eq!(r.analysis.len(), 2);
        assert_eq!(r.analysis[1].verdict, "rollback");
        // Running totals become each read's own counts.
        assert_eq!(r.traffic[1].by_version["canary"], 150);
        assert_eq!(r.traffic[1].by_version["baseline"], 400);
        assert_eq!((r.traffic[1].at_ms, r.traffic[1].width_ms), (3000, 1000));
        let labels: Vec<&str> = r.markers.iter().map(|m| m.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "deploy started",
                "step 1 of 2: 1 of 4",
                "analysis (sequential)",
                "analysis: rollback",
                "ended: exit 10"
            ]
        );
        assert!(
            r.claims[0].contains("canary 250 requests, 20.00% errors"),
            "{:?}",
            r.claims
        );
    }

    #[test]
    fn what_is_not_an_event_log_is_refused_naming_the_line() {
        assert_eq!(from_events(""), Err(ReportError::Empty));
        let e = from_events("{\"event\":\"done\",\"time_ms\":1}\nnot json\n").unwrap_err();
        assert!(matches!(e, ReportError::NotAnEvent { line: 2, .. }), "{e}");
        let e = from_events("{\"hello\":1}\n").unwrap_err();
        assert!(matches!(e, ReportError::NotAnEvent { line: 1, .. }), "{e}");
    }
}
