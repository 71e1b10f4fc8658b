//! A canary climbing a traffic ladder (`canary deploy --steps`, and `deploy
//! --analyze` as a ladder of one step), and `canary promote`: each step a
//! deploy phase (the canary grown to the step's count, as many of the
//! previous app's tasks drained and killed), then a pause, an analysis, or
//! a stop for the operator; past the last step, the rollout. The step the
//! group stands at is read from the cluster every time (the canary's
//! `CANARY_STEPS` label and its healthy instances), so every command
//! resumes after an interruption.

use crate::analyze::Method;
use crate::analyze::{AnalysisError, AnalysisOutcome, AnalysisRun, analyze, probe};
use crate::events::{EngineEvent, LadderPosition};
use crate::group;
use crate::hook::PreKillHook;
use crate::phase::{Outcome, PhaseError, PhaseRun, plan_once, run_phase};
use crate::session::Session;
use canary_core::analysis::Decision;
use canary_core::executor::ExecError;
use canary_core::plan::intent::{AppIdentity, Moved, Standing};
use canary_core::plan::ladder::Ladder;
use canary_core::plan::{
    DeployInput, KnownCanary, Limits, Observation, PhaseRequest, Step, labels,
};
use canary_core::{CanaryApp, Phase};
use std::time::Duration;

/// The analysis a step waits for before the canary goes on.
#[derive(Debug, Clone)]
pub struct AnalysisPlan {
    /// How it judges (validated).
    pub method: Method,
    /// Each window's length, or the time between two reads.
    pub interval: Duration,
}

/// How the phases of a ladder run.
pub struct PhaseOptions<'h> {
    /// The limits of every phase.
    pub limits: Limits,
    /// How long each phase may take.
    pub timeout: Duration,
    /// Runs before each batch of kills.
    pub hook: Option<&'h mut dyn PreKillHook>,
}

impl PhaseOptions<'_> {
    fn run(&mut self, request: PhaseRequest) -> PhaseRun<'_> {
        PhaseRun {
            request,
            timeout: self.timeout,
            // Reborrowed for this phase (a trait object's lifetime may
            // shorten through a coercion, not through `as_deref_mut`).
            hook: self.hook.as_mut().map(|h| &mut **h as &mut dyn PreKillHook),
        }
    }
}

/// A climb to drive.
pub struct Climb<'h> {
    /// The canary's app (rendered).
    pub app: CanaryApp,
    /// The steps.
    pub ladder: Ladder,
    /// Whether the ladder is the user's (written on the canary as
    /// `CANARY_STEPS`, so `promote` and `status` read it) or the one step
    /// of a plain `deploy --analyze`.
    pub labelled: bool,
    /// A pause at every step before the next.
    pub pause: Option<Duration>,
    /// An analysis at every step before the next (a failure rolls back).
    pub analysis: Option<AnalysisPlan>,
    /// Only plan the first step (`--dry-run`).
    pub dry_run: bool,
    /// How its phases run.
    pub phases: PhaseOptions<'h>,
}

/// How a climb ended.
#[derive(Debug)]
pub enum ClimbOutcome {
    /// `--dry-run`: the first step's plan, nothing changed.
    Planned {
        /// The group as it stands.
        observation: Observation,
        /// What the first step would do first.
        step: Step,
    },
    /// At a step, for the operator: `promote` goes on, `rollback` undoes.
    Reached {
        /// Where.
        at: LadderPosition,
    },
    /// Every step passed (paused or analysed): the canary was rolled out.
    RolledOut {
        /// The rollout.
        outcome: Outcome,
    },
    /// The analysis failed at a step: the canary was rolled back.
    RolledBack {
        /// Where it failed.
        at: LadderPosition,
        /// Why (the analysis's decision).
        reason: String,
        /// The analysis.
        analysis: AnalysisOutcome,
        /// The rollback.
        outcome: Outcome,
    },
    /// The analysis could not decide at a step: the canary is left there.
    Inconclusive {
        /// Where.
        at: LadderPosition,
        /// Why.
        reason: String,
        /// The analysis.
        analysis: AnalysisOutcome,
    },
}

/// Why a climb or a promote did not end as planned.
#[derive(Debug, thiserror::Error)]
pub enum LadderError {
    /// The group is not in a state for it; nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// A phase did not finish (its own error says what is left).
    #[error("{error}")]
    Phase {
        /// Which phase.
        phase: Phase,
        /// At which step, if a step's.
        at: Option<LadderPosition>,
        /// The canary's image (the command that resumes names it).
        image: String,
        /// What happened (boxed: the error of every ladder result).
        error: Box<PhaseError>,
    },
    /// The analysis at a step did not reach a decision.
    #[error("{error}")]
    Analysis {
        /// Where.
        at: LadderPosition,
        /// Why (boxed: the error of every ladder result).
        error: Box<AnalysisError>,
    },
    /// The analysis failed at a step and the rollback it asked for did not
    /// finish.
    #[error(
        "the canary failed its analysis at {at} ({reason}), and its rollback did not finish: {error}"
    )]
    RollbackFailed {
        /// Where the analysis failed.
        at: LadderPosition,
        /// Why it failed.
        reason: String,
        /// The rollback's error.
        error: Box<PhaseError>,
    },
    /// Someone else moved the group between this climb's steps (rolled the
    /// canary back or out, promoted it, redeployed it): nothing more was
    /// changed.
    #[error("{moved}")]
    Moved {
        /// The step the climb was at or going to.
        at: LadderPosition,
        /// What was found (boxed: the error of every ladder result).
        moved: Box<Moved>,
    },
    /// Stopped (a signal) during the pause at a step.
    #[error("stopped during the pause at {at}")]
    Paused {
        /// Where.
        at: LadderPosition,
    },
    /// The cluster failed a read past the executor's retries.
    #[error("{doing}: {source}")]
    Cluster {
        /// What was being read.
        doing: String,
        /// The executor's error.
        source: ExecError,
    },
}

fn position(ladder: &Ladder, counts: &[u32], index: usize, target: u32) -> LadderPosition {
    LadderPosition {
        step: index + 1,
        of: counts.len(),
        rung: ladder
            .steps(target)
            .get(index)
            .map_or_else(|| "?".to_owned(), |(rung, _)| rung.to_string()),
        count: counts[index],
        target,
        ladder: ladder.to_string(),
    }
}

fn cluster(group: &str) -> impl FnOnce(ExecError) -> LadderError + '_ {
    move |source| LadderError::Cluster {
        doing: format!("reading deployment group {group}"),
        source,
    }
}

/// The whole rollout (or rollback) of the canary of `image`.
fn finish_request(
    phases: &PhaseOptions<'_>,
    phase: Phase,
    group: &str,
    image: &str,
) -> PhaseRequest {
    PhaseRequest {
        phase,
        group: group.to_owned(),
        deploy: None,
        canary: KnownCanary {
            app_id: None,
            image: Some(image.to_owned()),
        },
        goal: None,
        limits: phases.limits.clone(),
    }
}

/// Drives [`finish_request`].
fn finish(
    session: &mut Session<'_>,
    phases: &mut PhaseOptions<'_>,
    phase: Phase,
    group: &str,
    image: &str,
) -> Result<Outcome, PhaseError> {
    let request = finish_request(phases, phase, group, image);
    run_phase(session, phases.run(request))
}

/// The canary's target count and its instances now, from the group's
/// apps (a lone live app: its count, none yet), or the refusal: an empty
/// group, more than two apps, a canary of another image, or (`ladder`, the
/// user's) a canary climbing another ladder.
fn where_it_stands(
    session: &mut Session<'_>,
    group: &str,
    image: &str,
    ladder: Option<&Ladder>,
) -> Result<(u32, u32), LadderError> {
    let apps = group::apps(session, group).map_err(cluster(group))?;
    match apps.as_slice() {
        [] => Err(LadderError::Refused(format!(
            "deployment group {group} is empty: a first deploy creates the whole app, there is no traffic to split; \
             run it without --steps or --analyze, then canary the next image"
        ))),
        [live] => Ok((live.instances, 0)),
        [_, canary] if canary.image.as_deref() != Some(image) => {
            Err(LadderError::Refused(format!(
                "a canary of another image is in progress in deployment group {group}: {} runs {}, not {image}; \
             promote, roll out or roll back that one first",
                canary.id,
                canary.image.as_deref().unwrap_or("no image")
            )))
        }
        [_, canary] => {
            if let Some(ladder) = ladder {
                let climbing = canary.label(labels::STEPS);
                if climbing != Some(ladder.to_string().as_str()) {
                    let theirs = climbing.map_or_else(
                        || "no ladder (a plain canary: `canary promote` rolls it out)".to_owned(),
                        |l| {
                            format!(
                                "the ladder {l} (resume it with --steps {l}, or `canary promote`)"
                            )
                        },
                    );
                    return Err(LadderError::Refused(format!(
                        "the canary in progress in deployment group {group}, {}, climbs {theirs}, not {ladder}",
                        canary.id
                    )));
                }
            }
            Ok((canary.target(), canary.instances))
        }
        _ => Err(LadderError::Refused(format!(
            "deployment group {group} has {} apps; a canary needs one or two",
            apps.len()
        ))),
    }
}

/// Whether the group still stands where this climb left it (`standing`),
/// read now: else someone else moved it.
fn still(
    session: &mut Session<'_>,
    group: &str,
    standing: Option<&Standing>,
    at: &LadderPosition,
) -> Result<(), LadderError> {
    let Some(standing) = standing else {
        return Ok(());
    };
    let apps = group::apps(session, group).map_err(cluster(group))?;
    standing.check(&apps).map_err(|moved| LadderError::Moved {
        at: at.clone(),
        moved: Box::new(moved),
    })
}

/// Where the group stands after a step, to check it against later.
fn stand(session: &mut Session<'_>, group: &str) -> Result<Option<Standing>, LadderError> {
    let apps = group::apps(session, group).map_err(cluster(group))?;
    Ok(Standing::of(&apps))
}

/// The analysis at a step: `None` when the canary passed (the climb goes
/// on), else how the climb ends (rolled back, or left inconclusive).
fn judge(
    session: &mut Session<'_>,
    phases: &mut PhaseOptions<'_>,
    plan: &AnalysisPlan,
    group: &str,
    image: &str,
    canary: Option<AppIdentity>,
    at: LadderPosition,
) -> Result<Option<ClimbOutcome>, LadderError> {
    let outcome = analyze(
        session,
        AnalysisRun {
            group: group.to_owned(),
            canary,
            at: at.to_string(),
            method: plan.method.clone(),
            interval: plan.interval,
        },
    )
    .map_err(|error| LadderError::Analysis {
        at: at.clone(),
        error: Box::new(error),
    })?;
    match outcome.decision.clone() {
        Decision::Promote | Decision::Continue => Ok(None),
        Decision::Rollback { reason } => {
            let rollback =
                finish(session, phases, Phase::Rollback, group, image).map_err(|error| {
                    LadderError::RollbackFailed {
                        at: at.clone(),
                        reason: reason.clone(),
                        error: Box::new(error),
                    }
                })?;
            Ok(Some(ClimbOutcome::RolledBack {
                at,
                reason,
                analysis: outcome,
                outcome: rollback,
            }))
        }
        Decision::Stop { reason } => Ok(Some(ClimbOutcome::Inconclusive {
            at,
            reason,
            analysis: outcome,
        })),
    }
}

/// Climbs the ladder from where the group stands.
pub fn climb(session: &mut Session<'_>, climb: Climb<'_>) -> Result<ClimbOutcome, LadderError> {
    let Climb {
        app,
        ladder,
        labelled,
        pause,
        analysis,
        dry_run,
        mut phases,
    } = climb;
    let group = app.deployment_group().to_owned();
    let image = app.image().to_owned();
    let (target, at) = where_it_stands(session, &group, &image, labelled.then_some(&ladder))?;
    // An analysis that cannot read a single marathon-lb would only be
    // inconclusive: found before anything changes.
    if analysis.is_some() && !dry_run {
        probe(session, &group).map_err(|error| LadderError::Analysis {
            at: position(&ladder, &ladder.counts(target), 0, target),
            error: Box::new(error),
        })?;
    }
    let counts = ladder.counts(target);
    // The first step not below where the canary stands (the last when it
    // is beyond them all).
    let first = counts
        .iter()
        .position(|count| *count >= at)
        .unwrap_or(counts.len() - 1);
    // Where this climb left the group after its last step: checked before
    // every later change, so a group someone else moved meanwhile (rolled
    // back, promoted, redeployed) is never changed again by this climb.
    let mut standing: Option<Standing> = None;
    for (index, count) in counts.iter().enumerate().skip(first) {
        let at_step = position(&ladder, &counts, index, target);
        let last = index + 1 == counts.len();
        still(session, &group, standing.as_ref(), &at_step)?;
        if *count > at {
            let request = PhaseRequest {
                phase: Phase::Deploy,
                group: group.clone(),
                deploy: Some(DeployInput {
                    app: app.clone(),
                    canary_instances: *count,
                    steps: labelled.then(|| ladder.clone()),
                }),
                canary: KnownCanary {
                    app_id: None,
                    image: Some(image.clone()),
                },
                goal: None,
                limits: phases.limits.clone(),
            };
            if dry_run {
                let (observation, step) =
                    plan_once(session, &request).map_err(|error| LadderError::Phase {
                        phase: Phase::Deploy,
                        at: Some(at_step.clone()),
                        image: image.clone(),
                        error: Box::new(error),
                    })?;
                return Ok(ClimbOutcome::Planned { observation, step });
            }
            run_phase(session, phases.run(request)).map_err(|error| LadderError::Phase {
                phase: Phase::Deploy,
                at: Some(at_step.clone()),
                image: image.clone(),
                error: Box::new(error),
            })?;
        } else if analysis.is_none() && !last {
            // Already at this step (a rerun): on to the next.
            standing = stand(session, &group)?;
            continue;
        }
        standing = stand(session, &group)?;
        session.emit(&EngineEvent::LadderStep {
            group: &group,
            at: &at_step,
        });
        if let Some(pause) = pause {
            session.emit(&EngineEvent::Pausing {
                group: &group,
                at: &at_step,
                pause,
            });
            if session.sleep(pause).is_err() {
                return Err(LadderError::Paused { at: at_step });
            }
            still(session, &group, standing.as_ref(), &at_step)?;
        }
        if let Some(plan) = &analysis {
            let canary = standing.as_ref().map(|s| s.canary.clone());
            if let Some(end) = judge(session, &mut phases, plan, &group, &image, canary, at_step)? {
                return Ok(end);
            }
        } else if pause.is_none() {
            return Ok(ClimbOutcome::Reached { at: at_step });
        }
    }
    let top = position(&ladder, &counts, counts.len() - 1, target);
    still(session, &group, standing.as_ref(), &top)?;
    let outcome =
        finish(session, &mut phases, Phase::Rollout, &group, &image).map_err(|error| {
            LadderError::Phase {
                phase: Phase::Rollout,
                at: None,
                image: image.clone(),
                error: Box::new(error),
            }
        })?;
    Ok(ClimbOutcome::RolledOut { outcome })
}

/// A promote to drive.
pub struct Promote<'h> {
    /// The deployment group.
    pub group: String,
    /// The canary's image, if the operator named it (checked).
    pub image: Option<String>,
    /// Past every step: the whole rollout.
    pub full: bool,
    /// Only plan the phase (`--dry-run`).
    pub dry_run: bool,
    /// How its phase runs.
    pub phases: PhaseOptions<'h>,
}

/// How a promote ended.
#[derive(Debug)]
pub enum PromoteOutcome {
    /// `--dry-run`: the phase's first step, nothing changed.
    Planned {
        /// The group as it stands.
        observation: Observation,
        /// What the phase would do first.
        step: Step,
    },
    /// The canary grew to the next step of its ladder.
    Stepped {
        /// Where it stands now.
        at: LadderPosition,
        /// The phase (a partial rollout).
        outcome: Outcome,
    },
    /// The canary was rolled out.
    RolledOut {
        /// The rollout.
        outcome: Outcome,
    },
}

/// The next step of the canary's ladder, or (`full`, or past the last
/// step, or no ladder) the rollout.
pub fn promote(
    session: &mut Session<'_>,
    promote: Promote<'_>,
) -> Result<PromoteOutcome, LadderError> {
    let Promote {
        group,
        image: wanted,
        full,
        dry_run,
        mut phases,
    } = promote;
    let apps = group::apps(session, &group).map_err(cluster(&group))?;
    let [_, canary] = apps.as_slice() else {
        return Err(LadderError::Refused(format!(
            "no canary in progress in deployment group {group} ({} app(s) found): nothing to promote",
            apps.len()
        )));
    };
    let image = canary.image.clone().unwrap_or_default();
    if let Some(wanted) = &wanted
        && *wanted != image
    {
        return Err(LadderError::Refused(format!(
            "the canary in progress in deployment group {group} is {} with {image}, not {wanted}",
            canary.id
        )));
    }
    let ladder = match canary.label(labels::STEPS) {
        Some(text) => Some(Ladder::parse(text).map_err(|e| {
            LadderError::Refused(format!("{}'s {} label: {e}", canary.id, labels::STEPS))
        })?),
        None => None,
    };
    let target = canary.target();
    let next = ladder
        .as_ref()
        .and_then(|l| l.next(target, canary.healthy_tasks() as u32));
    let (request, at) = match (next, full) {
        (Some(count), false) => {
            let ladder = ladder.unwrap_or_else(|| Ladder::parse("1").expect("a ladder"));
            let counts = ladder.counts(target);
            let index = counts.iter().position(|n| *n == count).unwrap_or(0);
            // A partial rollout: the canary grows to the step, the previous
            // app is kept at the rest.
            let request = PhaseRequest {
                phase: Phase::Rollout,
                group: group.clone(),
                deploy: None,
                canary: KnownCanary {
                    app_id: Some(canary.id.clone()),
                    image: Some(image.clone()),
                },
                goal: Some(count),
                limits: phases.limits.clone(),
            };
            (request, Some(position(&ladder, &counts, index, target)))
        }
        _ => (
            finish_request(&phases, Phase::Rollout, &group, &image),
            None,
        ),
    };
    let phase_error = |error| LadderError::Phase {
        phase: Phase::Rollout,
        at: at.clone(),
        image: image.clone(),
        error: Box::new(error),
    };
    if dry_run {
        let (observation, step) = plan_once(session, &request).map_err(phase_error)?;
        return Ok(PromoteOutcome::Planned { observation, step });
    }
    let outcome = run_phase(session, phases.run(request)).map_err(phase_error)?;
    Ok(match at {
        Some(at) => PromoteOutcome::Stepped { at, outcome },
        None => PromoteOutcome::RolledOut { outcome },
    })
}
