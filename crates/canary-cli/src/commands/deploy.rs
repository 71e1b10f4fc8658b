//! `canary deploy`: the new image beside the live app, natively (without
//! zdd.py): one deploy phase, or (`--steps`, `--analyze`) a canary
//! climbing a traffic ladder with pauses and analyses, rolled out at the
//! top or rolled back on a failed analysis.

use super::analyze::{AnalysisArgs, analysis_failure};
use super::phase::{failed, hook, print_plan, run_one};
use crate::args::{AppArgs, ClusterArgs, EngineArgs, parse_duration};
use crate::display::Display;
use crate::failure::Failure;
use crate::output;
use crate::session::{Lbs, OnSignal, with_session};
use canary_core::plan::ladder::Ladder;
use canary_core::plan::{DeployInput, KnownCanary, PhaseRequest};
use canary_core::{AppDefinition, AppName, CanaryApp, Phase};
use canary_engine::ladder::{AnalysisPlan, Climb, ClimbOutcome, LadderError, PhaseOptions, climb};
use canary_engine::{PreKillHook, Session};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// `canary deploy`'s arguments.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// What to deploy (the app options of `canary render`; --marathon-lb
    /// may be repeated here).
    #[command(flatten)]
    pub bundle: AppArgs,

    /// How to reach the cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// How the phase runs.
    #[command(flatten)]
    pub engine: EngineArgs,

    /// Leave a canary that never gets healthy in place for debugging
    /// (default: it is removed, and the deploy fails).
    #[arg(long, help_heading = "Canary and ladder")]
    pub keep_failed_canary: bool,

    /// Deploy this app definition (JSON, as `canary render` wrote it) instead
    /// of rendering the app template: what the native runner's deploy job
    /// does with the definition it carries. Its image must be --image.
    #[arg(long, help_heading = "Canary and ladder", value_name = "FILE", conflicts_with_all = ["app_template", "vars"])]
    pub app_definition: Option<PathBuf>,

    /// The traffic ladder: the canary climbs these steps, instance counts or
    /// shares of the target (e.g. 1,25%,50%), draining as always; between
    /// steps it pauses for --pause, or stops until `canary promote`.
    #[arg(long, help_heading = "Canary and ladder", value_name = "STEPS", value_parser = parse_steps, conflicts_with = "canary_instances")]
    pub steps: Option<Ladder>,

    /// With --steps: how long to stay at each step before the next (and,
    /// after the last, before the rollout). Without it, the deploy stops at
    /// each step until `canary promote`.
    #[arg(long, help_heading = "Canary and ladder", value_name = "DURATION", value_parser = parse_duration, requires = "steps")]
    pub pause: Option<Duration>,

    /// Analyse the canary once it is healthy (at each step of --steps):
    /// passing, it goes on (the next step, finally the rollout); failing,
    /// it is rolled back (exit 10); inconclusive, it is left (exit 11).
    #[arg(long, help_heading = "Canary and ladder")]
    pub analyze: bool,

    /// The analysis (with --analyze).
    #[command(flatten, next_help_heading = "Analysis (with --analyze)")]
    pub analysis: AnalysisArgs,
}

fn parse_steps(s: &str) -> Result<Ladder, String> {
    Ladder::parse(s).map_err(|e| e.to_string())
}

/// Runs `canary deploy`.
pub fn run(args: &DeployArgs) -> Result<(), Failure> {
    // A policy that cannot work is refused before anything changes, not
    // once the canary is up.
    if args.analyze {
        args.analysis.plan()?;
    }
    super::phase::check_hook(&args.engine)?;
    let app = match &args.app_definition {
        Some(path) => rendered_app(path, &args.bundle)?,
        None => crate::bundle::render_app(&args.bundle)?,
    };
    // A canary judged at each step, or climbing the user's ladder: the
    // ladder's use case (a plain --analyze is a ladder of one step).
    let ladder = match &args.steps {
        Some(steps) => Some((steps.clone(), true)),
        None if args.analyze && !args.engine.dry_run => Some((
            Ladder::parse(&args.bundle.canary_instances.to_string())
                .map_err(|e| Failure::invalid(format!("--canary-instances: {e}")))?,
            false,
        )),
        None => None,
    };
    let mut display = if ladder.is_some() {
        Display::for_ladder()
    } else {
        Display::new()
    };
    with_session(
        &args.cluster,
        Some(Lbs::for_drains(
            &args.bundle.marathon_lb,
            args.engine.drain_timeout,
        )),
        OnSignal::Stop,
        &mut display,
        |session| match ladder {
            Some((ladder, labelled)) => climb_ladder(session, args, app, ladder, labelled),
            None => deploy_once(session, args, app),
        },
    )
}

/// One deploy phase: the first deploy of an empty group, or a canary of
/// `--canary-instances`.
fn deploy_once(
    session: &mut Session<'_>,
    args: &DeployArgs,
    app: CanaryApp,
) -> Result<(), Failure> {
    let resume = format!(
        "canary deploy --app {} --image {} (with the same options)",
        args.bundle.app, args.bundle.image
    );
    // With the canary's image known, a rerun after the phase is a no-op.
    let image = (!args.engine.dry_run).then(|| app.image().to_owned());
    let request = PhaseRequest {
        phase: Phase::Deploy,
        group: app.deployment_group().to_owned(),
        deploy: Some(DeployInput {
            app,
            canary_instances: args.bundle.canary_instances,
            steps: None,
        }),
        canary: KnownCanary {
            app_id: None,
            image,
        },
        goal: None,
        limits: args.engine.limits(args.keep_failed_canary),
    };
    run_one(session, request, &args.engine, &resume)
}

/// The command that resumes a climb.
fn climb_resume(args: &DeployArgs, image: &str, ladder: &Ladder, labelled: bool) -> String {
    let paused = args
        .pause
        .map(|p| format!(" --pause {}s", p.as_secs()))
        .unwrap_or_default();
    let how = if labelled {
        format!(" --steps {ladder}{paused}")
    } else {
        String::new()
    };
    let analyzed = if args.analyze { " --analyze" } else { "" };
    format!(
        "canary deploy --app {} --image {image}{how}{analyzed} (with the same options)",
        args.bundle.app
    )
}

/// The command that resumes the rollout (or rollback) a climb ends with.
pub fn finish_resume(phase: Phase, name: &str, group: &str, image: &str) -> String {
    format!("canary {phase} --app {name} --group {group} --image {image} (with the same options)")
}

/// `--steps` (and `--analyze`): the climb from where the group stands, in
/// words.
fn climb_ladder(
    session: &mut Session<'_>,
    args: &DeployArgs,
    app: CanaryApp,
    ladder: Ladder,
    labelled: bool,
) -> Result<(), Failure> {
    let name = args.bundle.app.clone();
    let group = app.deployment_group().to_owned();
    let image = app.image().to_owned();
    let resume = climb_resume(args, &image, &ladder, labelled);
    let analysis = if args.analyze {
        let (method, interval) = args.analysis.plan()?;
        Some(AnalysisPlan { method, interval })
    } else {
        None
    };
    let mut hook = hook(&args.engine);
    let outcome = climb(
        session,
        Climb {
            app,
            ladder,
            labelled,
            pause: args.pause,
            analysis,
            dry_run: args.engine.dry_run,
            phases: PhaseOptions {
                limits: args.engine.limits(args.keep_failed_canary),
                timeout: args.engine.timeout,
                hook: hook.as_mut().map(|h| h as &mut dyn PreKillHook),
            },
        },
    );
    match outcome {
        Ok(ClimbOutcome::Planned { observation, step }) => {
            print_plan(Phase::Deploy, &group, &observation, &step)
        }
        Ok(ClimbOutcome::Reached { at }) => {
            let then = if at.last() {
                format!(", the last: `canary promote --app {name}` rolls it out")
            } else {
                format!(
                    ": `canary promote --app {name}` goes on to the next step (--full: the rollout)"
                )
            };
            output::print(&format!(
                "{at} reached{then}; `canary rollback --app {name}` undoes it\n"
            ))
        }
        Ok(ClimbOutcome::RolledOut { .. }) => Ok(()),
        Ok(ClimbOutcome::RolledBack { at, reason, .. }) => Err(Failure::analysis_failed(format!(
            "the canary {image} failed its analysis at {at}: {reason}; it was rolled back"
        ))),
        Ok(ClimbOutcome::Inconclusive { at, reason, .. }) => Err(Failure::inconclusive(format!(
            "the analysis of the canary {image} at {at} is inconclusive: {reason}; the canary is left as it is: \
             `canary analyze --app {name}` again, `canary promote --app {name}` or `canary rollback --app {name}`"
        ))),
        Err(LadderError::RollbackFailed { at, reason, error }) => Err(failed(
            *error,
            Phase::Rollback,
            &group,
            &finish_resume(Phase::Rollback, &name, &group, &image),
        )
        .after(&format!(
            "the canary {image} failed its analysis at {at} ({reason}), and its rollback did not finish: "
        ))),
        Err(error) => Err(ladder_failure(error, &name, &group, &resume)),
    }
}

/// A climb or a promote that did not end as planned, in words; `resume`
/// is the command that resumes a step.
pub fn ladder_failure(error: LadderError, name: &str, group: &str, resume: &str) -> Failure {
    match error {
        LadderError::Refused(reason) => Failure::refused(reason),
        LadderError::Phase {
            phase,
            at: Some(_),
            error,
            ..
        } => failed(*error, phase, group, resume),
        LadderError::Phase {
            phase,
            at: None,
            image,
            error,
        } => failed(
            *error,
            phase,
            group,
            &finish_resume(phase, name, group, &image),
        ),
        LadderError::Analysis { error, .. } => analysis_failure(*error, group),
        // Only a climb analyses (and words it there, with its image).
        LadderError::RollbackFailed { error, .. } => failed(*error, Phase::Rollback, group, resume),
        LadderError::Moved { at, moved } => Failure::moved(format!(
            "deployment group {group} was changed by someone else at {at}: {moved}; \
             this command changed nothing more (see `canary status --app {name}`)"
        )),
        LadderError::Paused { at } => Failure::stopped(format!(
            "stopped during the pause at {at}; nothing is lost, resume with: {resume}"
        )),
        LadderError::Cluster { doing, source } => Failure::from_exec(&source, &doing),
    }
}

/// The app definition of `--app-definition FILE`: strict JSON passing the
/// app schema, a definition canary can canary, running `--image`.
fn rendered_app(path: &std::path::Path, bundle: &AppArgs) -> Result<CanaryApp, Failure> {
    AppName::new(&bundle.app).map_err(|e| Failure::invalid(format!("--app: {e}")))?;
    canary_core::validate_image(&bundle.image)
        .map_err(|e| Failure::invalid(format!("--image: {e}")))?;
    let name = path.display().to_string();
    let text = bounded_read::read_text(path, crate::bundle::TEMPLATE_LIMIT).map_err(|e| {
        if e.is_io() {
            Failure::io(format!("cannot read --app-definition '{name}': {e}"))
        } else {
            Failure::invalid(format!("--app-definition '{name}' is refused: {e}"))
        }
    })?;
    let value = canary_render::parse_app_definition(&name, &text)
        .map_err(|e| Failure::from_render(e, &[]))?;
    let definition = AppDefinition::from_value(value)
        .map_err(|e| Failure::invalid(format!("--app-definition '{name}': {e}")))?;
    let app = CanaryApp::new(definition)
        .map_err(|e| Failure::invalid(format!("--app-definition '{name}': {e}")))?;
    if app.image() != bundle.image {
        return Err(Failure::invalid(format!(
            "--app-definition '{name}' runs image '{}', not --image '{}'",
            app.image(),
            bundle.image
        )));
    }
    Ok(app)
}
