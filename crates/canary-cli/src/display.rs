//! What a command shows while the engine works: the session's event sink.
//!
//! Each [`EngineEvent`] becomes the human display (on stderr: on a
//! terminal, a spinner with the group's apps, what a phase waits for and
//! for how long, each step kept as a line above it; elsewhere, one line per
//! step and per new reason to wait) and, with `--events json`, one JSON
//! line on stdout ([`crate::events`]). The few lines that are the
//! command's result (a phase done, a ladder step reached) go to stdout
//! through [`crate::output`]; a stdout that cannot take them fails the
//! command once the engine is done ([`Display::close`]).

use crate::events;
use crate::failure::Failure;
use crate::output;
use canary_core::MarathonApp;
use canary_core::analysis::Decision;
use canary_core::executor::RunInfo;
use canary_core::plan::phase::human;
use canary_core::plan::predict::by_started_at;
use canary_engine::EngineEvent;
use canary_engine::analyze::Method;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// `/web-blue 3/3 nginx:1.25, /web-green 1/1 httpd:2.4` (healthy/instances).
pub fn apps_line(apps: &[MarathonApp]) -> String {
    if apps.is_empty() {
        return "no app".to_owned();
    }
    let mut apps: Vec<&MarathonApp> = apps.iter().collect();
    apps.sort_by(|a, b| by_started_at(a, b));
    apps.iter()
        .map(|a| {
            format!(
                "{} {}/{} {}",
                a.id,
                a.healthy_tasks(),
                a.instances,
                a.image.as_deref().unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A spinner on a terminal's stderr (`None` elsewhere), its message
/// followed by the time spent of `limit`.
fn spinner(limit: Duration) -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed} of {prefix})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_prefix(human(limit));
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    })
}

/// The running phase's display.
struct PhaseView {
    prefix: String,
    apps: String,
    last_wait: String,
}

/// The command's display: takes the session's events.
#[derive(Default)]
pub struct Display {
    /// Whether the analysis is a step of a ladder (`deploy --analyze`):
    /// then a pass is a line of the result.
    ladder: bool,
    spinner: Option<ProgressBar>,
    phase: Option<PhaseView>,
    /// `analysis GROUP (AT)`, while an analysis runs.
    analysis: Option<String>,
    /// The job whose run is followed, and for how long at most.
    run: Option<(String, Duration)>,
    /// The first result line stdout did not take.
    failed_print: Option<Failure>,
}

impl Display {
    /// A display for a command that runs phases, or analyses a canary on
    /// its own (`canary analyze`).
    pub fn new() -> Self {
        Display::default()
    }

    /// A display for a canary climbing a ladder: a passing analysis is said
    /// on stdout.
    pub fn for_ladder() -> Self {
        Display {
            ladder: true,
            ..Display::default()
        }
    }

    /// A display for `canary run --wait`: the run of `job_id`, followed
    /// for at most `timeout`.
    pub fn following(job_id: &str, timeout: Duration) -> Self {
        Display {
            run: Some((job_id.to_owned(), timeout)),
            ..Display::default()
        }
    }

    /// Clears what is on screen and says whether every result line reached
    /// stdout.
    pub fn close(&mut self) -> Result<(), Failure> {
        self.clear();
        self.failed_print.take().map_or(Ok(()), Err)
    }

    fn clear(&mut self) {
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
    }

    /// A result line (stdout).
    fn result(&mut self, text: &str) {
        if let Err(e) = output::print(text)
            && self.failed_print.is_none()
        {
            self.failed_print = Some(e);
        }
    }

    /// A progress line (stderr), above the spinner if there is one.
    fn line(&self, text: &str) {
        let text = output::terminal_safe(text);
        match &self.spinner {
            Some(bar) => bar.println(text),
            None => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
        }
    }

    /// Takes one event of the session.
    pub fn event(&mut self, event: &EngineEvent<'_>) {
        match event {
            EngineEvent::PhaseStarted { .. }
            | EngineEvent::Observed { .. }
            | EngineEvent::Acting { .. }
            | EngineEvent::Waiting { .. }
            | EngineEvent::Aborting { .. }
            | EngineEvent::PhaseDone { .. }
            | EngineEvent::PhaseFailed { .. } => self.phase_event(event),
            EngineEvent::LadderStep { .. } | EngineEvent::Pausing { .. } => {
                self.ladder_event(event)
            }
            EngineEvent::AnalysisStarted { .. }
            | EngineEvent::WindowStarted { .. }
            | EngineEvent::WindowJudged { .. }
            | EngineEvent::ReadJudged { .. }
            | EngineEvent::AnalysisDone { .. } => self.analysis_event(event),
            EngineEvent::RunChanged { run } => self.run_changed(run),
        }
    }

    /// A phase's events: the spinner, its lines, and the phase done.
    fn phase_event(&mut self, event: &EngineEvent<'_>) {
        match event {
            EngineEvent::PhaseStarted {
                phase,
                group,
                goal,
                canary_instances,
                timeout,
            } => {
                events::emit(
                    "phase_started",
                    json!({"phase": phase.to_string(), "group": group, "goal": goal,
                       "canary_instances": canary_instances}),
                );
                self.clear();
                self.spinner = spinner(*timeout);
                self.phase = Some(PhaseView {
                    prefix: format!("{phase} {group}"),
                    apps: String::new(),
                    last_wait: String::new(),
                });
            }
            EngineEvent::Observed { observation, .. } => {
                if let Some(view) = &mut self.phase {
                    view.apps = apps_line(&observation.apps);
                }
            }
            EngineEvent::Acting { phase, group, step } => {
                events::emit(
                    "step",
                    json!({"phase": phase.to_string(), "group": group, "action": step.to_string()}),
                );
                if let Some(view) = &mut self.phase {
                    view.last_wait.clear();
                    let text = format!("{}: {step}", view.prefix);
                    self.line(&text);
                }
            }
            EngineEvent::Waiting {
                phase,
                group,
                wait,
                waited,
            } => self.waiting(&phase.to_string(), group, &wait.reason, *waited),
            EngineEvent::Aborting {
                phase,
                group,
                reason,
            } => {
                events::emit(
                    "aborting",
                    json!({"phase": phase.to_string(), "group": group, "reason": reason}),
                );
                let prefix = format!("{phase} {group}");
                self.line(&format!("{prefix}: {reason}; rolling the canary back"));
            }
            EngineEvent::PhaseDone {
                phase,
                group,
                outcome,
            } => {
                self.clear();
                self.phase = None;
                events::emit(
                    "phase_done",
                    json!({"phase": phase.to_string(), "group": group, "message": outcome.message,
                       "changes": outcome.actions,
                       "elapsed_ms": outcome.elapsed.as_millis() as u64}),
                );
                self.result(&format!(
                    "{phase} of group {group} done: {} ({} change(s) in {})\n",
                    outcome.message,
                    outcome.actions,
                    human(outcome.elapsed)
                ));
            }
            // The command says why, with the command that resumes, and
            // emits `phase_failed` with its exit code.
            EngineEvent::PhaseFailed { .. } => {
                self.clear();
                self.phase = None;
            }
            _ => {}
        }
    }

    /// A ladder's steps and pauses.
    fn ladder_event(&mut self, event: &EngineEvent<'_>) {
        match event {
            EngineEvent::LadderStep { group, at } => events::emit(
                "ladder_step",
                json!({"group": group, "step": at.step, "of": at.of,
                   "canary_instances": at.count, "target": at.target,
                   "ladder": at.ladder}),
            ),
            EngineEvent::Pausing { at, pause, .. } => {
                let secs = pause.as_secs();
                let then = if at.last() {
                    format!("reached, the last; pausing {secs}s before the rollout")
                } else {
                    format!("reached; pausing {secs}s before the next")
                };
                self.result(&format!("{at} {then}\n"));
            }
            _ => {}
        }
    }

    /// An analysis: a line per window, its decision.
    fn analysis_event(&mut self, event: &EngineEvent<'_>) {
        match event {
            EngineEvent::AnalysisStarted {
                group,
                at,
                method,
                interval,
            } => {
                let interval_ms = interval.as_millis() as u64;
                match method {
                    Method::Windows { checks, policy } => events::emit(
                        "analysis_started",
                        json!({"group": group, "at": at, "method": method.name(),
                           "windows": policy.count(), "interval_ms": interval_ms,
                           "policy": policy, "checks": checks}),
                    ),
                    Method::Sequential(policy) => {
                        self.line(&format!(
                            "analysis {group} ({at}): sequential, a read every {}, false verdicts at most {}, margin {:.2} points, {} to {}",
                            human(*interval),
                            policy.alpha,
                            policy.margin * 100.0,
                            human(policy.min_duration),
                            human(policy.max_duration)
                        ));
                        events::emit(
                            "analysis_started",
                            json!({"group": group, "at": at, "method": method.name(),
                               "interval_ms": interval_ms, "policy": policy}),
                        )
                    }
                }
                self.analysis = Some(format!("analysis {group} ({at})"));
            }
            EngineEvent::ReadJudged { group, report } => {
                let prefix = self.analysis.clone().unwrap_or_default();
                self.line(&format!("{prefix}: {report}"));
                events::emit("analysis_read", json!({"group": group, "report": report}));
            }
            EngineEvent::WindowStarted {
                group,
                window,
                of,
                interval,
            } => {
                let prefix = self.analysis.clone().unwrap_or_default();
                self.line(&format!(
                    "{prefix}: window {window} of {of} ({})",
                    human(*interval)
                ));
                events::emit(
                    "window_started",
                    json!({"group": group, "window": window, "of": of}),
                );
            }
            EngineEvent::WindowJudged {
                group,
                window,
                analysis,
                decision,
                tally,
            } => {
                let prefix = self.analysis.clone().unwrap_or_default();
                self.line(&format!("{prefix}: window {window}: {analysis}"));
                events::emit(
                    "verdict",
                    json!({"group": group, "window": window, "analysis": analysis,
                       "decision": decision, "tally": tally}),
                );
            }
            EngineEvent::AnalysisDone { group, at, outcome } => {
                let prefix = self.analysis.take().unwrap_or_default();
                self.line(&format!("{prefix}: {}", outcome.decision));
                let mut done = json!({"group": group, "at": at, "decision": outcome.decision,
                   "tally": outcome.tally});
                if let Some(report) = &outcome.sequential {
                    done["report"] = json!(report);
                }
                events::emit("analysis_done", done);
                if self.ladder && matches!(outcome.decision, Decision::Promote | Decision::Continue)
                {
                    self.result(&format!("{at}: the canary passed its analysis\n"));
                }
            }
            _ => {}
        }
    }

    /// A followed run changed status.
    fn run_changed(&mut self, run: &RunInfo) {
        let (job, timeout) = self
            .run
            .clone()
            .unwrap_or_else(|| (run.job_id.clone(), Duration::ZERO));
        if self.spinner.is_none() {
            self.spinner = spinner(timeout);
        }
        let line = format!(
            "{job} run {}: {}",
            output::terminal_safe(&run.run_id),
            run.status
        );
        match &self.spinner {
            Some(bar) => {
                bar.println(&line);
                bar.set_message(line);
            }
            None => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }

    /// A phase waits (again): the spinner's message, and a line (and a
    /// JSON event) when the reason is new.
    fn waiting(&mut self, phase: &str, group: &str, reason: &str, waited: Duration) {
        let Some(view) = &self.phase else {
            return;
        };
        let (prefix, apps) = (view.prefix.clone(), view.apps.clone());
        let new = reason != view.last_wait;
        if new {
            events::emit(
                "waiting",
                json!({"phase": phase, "group": group, "for": reason, "apps": apps}),
            );
        }
        match &self.spinner {
            Some(bar) => bar.set_message(output::terminal_safe(&format!(
                "{prefix}: {apps} | waiting for {reason} ({})",
                human(waited)
            ))),
            None if new => self.line(&format!("{prefix}: {apps} | waiting for {reason}")),
            None => {}
        }
        if let Some(view) = &mut self.phase {
            view.last_wait = reason.to_owned();
        }
    }
}
