//! `canary promote`: a canary climbing its ladder (`deploy --steps`) goes
//! to its next step, or, past the last step or with `--full`, is rolled
//! out. The step it stands at is read from the cluster, so every promote
//! resumes after an interruption.

use super::deploy::ladder_failure;
use super::phase::{PhaseArgs, Preamble, hook, print_plan};
use crate::display::Display;
use crate::failure::Failure;
use crate::output;
use crate::session::{Lbs, OnSignal, with_session};
use canary_core::AppName;
use canary_engine::PreKillHook;
use canary_engine::ladder::{PhaseOptions, Promote, PromoteOutcome, promote};
use clap::Args;

/// `canary promote`'s arguments.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// Go straight to the full rollout instead of the next step.
    #[arg(long)]
    pub full: bool,

    /// The group and its canary, as for rollout.
    #[command(flatten)]
    pub phase: PhaseArgs,
}

/// Runs `canary promote`.
pub fn run(args: &PromoteArgs) -> Result<(), Failure> {
    let phase = &args.phase;
    let name = AppName::new(&phase.app).map_err(|e| Failure::invalid(format!("--app: {e}")))?;
    crate::args::check_group(phase.group.as_deref())?;
    super::phase::check_hook(&phase.engine)?;
    let mut display = Display::new();
    with_session(
        &phase.cluster,
        Some(Lbs::for_drains(
            &phase.marathon_lb,
            phase.engine.drain_timeout,
        )),
        OnSignal::Stop,
        &mut display,
        |session| {
            let preamble = Preamble::start(session, phase.engine.timeout);
            let group = preamble.resolve_group(session, &name, phase.group.as_deref())?;
            let mut hook = hook(&phase.engine);
            let outcome = promote(
                session,
                Promote {
                    group: group.clone(),
                    image: phase.image.clone(),
                    full: args.full,
                    dry_run: phase.engine.dry_run,
                    phases: PhaseOptions {
                        limits: phase.engine.limits(false),
                        timeout: phase.engine.timeout,
                        hook: hook.as_mut().map(|h| h as &mut dyn PreKillHook),
                    },
                },
            );
            let resume = format!("canary promote --app {name} (with the same options)");
            match outcome {
                Ok(PromoteOutcome::Planned { observation, step }) => {
                    print_plan(canary_core::Phase::Rollout, &group, &observation, &step)
                }
                Ok(PromoteOutcome::Stepped { at, .. }) => {
                    let then = if at.last() {
                        "rolls it out"
                    } else {
                        "goes on to the next step"
                    };
                    output::print(&format!(
                        "{at} reached: `canary promote --app {name}` {then} (--full: the rollout)\n"
                    ))
                }
                Ok(PromoteOutcome::RolledOut { .. }) => Ok(()),
                Err(error) => Err(ladder_failure(error, name.as_str(), &group, &resume)),
            }
        },
    )
}
