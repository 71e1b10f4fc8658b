//! `canary deploy --steps` and `canary promote`: a canary climbing a traffic
//! ladder, step by step, each step a deploy phase of the engine (grow the
//! canary to the step's count, drain and kill as many of the previous app's
//! tasks). The step the group stands at is read from the cluster every time
//! (the canary's `CANARY_STEPS` label and its healthy instances), so every
//! command resumes after an interruption.

use crate::cli::{DeployArgs, PromoteArgs};
use crate::events;
use crate::failure::Failure;
use crate::output;
use canary_core::analysis::Decision;
use canary_core::engine::ladder::Ladder;
use canary_core::engine::predict::by_started_at;
use canary_core::engine::{DeployInput, GroupApp, KnownCanary, PhaseRequest, labels};
use canary_core::{AppName, CanaryApp, Phase};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The group's apps, oldest first.
fn group_apps(
    executor: &mut dyn canary_core::executor::Executor,
    group: &str,
) -> Result<Vec<GroupApp>, Failure> {
    let mut apps = executor
        .group_apps(group)
        .map_err(|e| Failure::from_exec(&e, &format!("reading deployment group {group}")))?;
    apps.sort_by(by_started_at);
    Ok(apps)
}

/// Waits `pause`, or until SIGINT/SIGTERM (then exit 9 saying how to go on).
fn pause(pause: Duration, at: &str, resume: &str) -> Result<(), Failure> {
    let stop = crate::signals::install();
    let started = Instant::now();
    while started.elapsed() < pause {
        if stop.load(Ordering::SeqCst) {
            return Err(Failure::stopped(format!(
                "stopped during the pause at {at}; nothing is lost, resume with: {resume}"
            )));
        }
        std::thread::sleep((pause - started.elapsed()).min(Duration::from_millis(100)));
    }
    Ok(())
}

/// `step 2 of 3 (25%: 2 of 8)`.
fn describe_step(ladder: &Ladder, counts: &[u32], index: usize, target: u32) -> String {
    let shown = ladder
        .steps(target)
        .get(index)
        .map_or_else(|| "?".to_owned(), |(rung, _)| rung.to_string());
    format!(
        "step {} of {} ({shown}: {} of {target})",
        index + 1,
        counts.len(),
        counts[index]
    )
}

/// `canary deploy --steps` (and `--analyze`): climbs from where the group
/// stands. `label`: whether the ladder is the user's (written on the
/// canary as `CANARY_STEPS`) or the one step of a plain `deploy --analyze`.
pub fn climb(
    args: &DeployArgs,
    app: CanaryApp,
    ladder: &Ladder,
    label: bool,
) -> Result<(), Failure> {
    let group = app.deployment_group().to_owned();
    let name = &args.bundle.app;
    let image = app.image().to_owned();
    let paused = args
        .pause
        .map(|p| format!(" --pause {}s", p.as_secs()))
        .unwrap_or_default();
    let how = if label {
        format!(" --steps {ladder}{paused}")
    } else {
        String::new()
    };
    let analyzed = if args.analyze { " --analyze" } else { "" };
    let resume = format!(
        "canary deploy --app {name} --image {image}{how}{analyzed} (with the same options)"
    );
    let apps = group_apps(crate::backend::executor(&args.cluster)?.as_mut(), &group)?;
    let (target, at) = match apps.as_slice() {
        [] => {
            return Err(Failure::refused(format!(
                "deployment group {group} is empty: a first deploy creates the whole app, there is no traffic to split; \
                 run it without --steps or --analyze, then canary the next image"
            )));
        }
        [live] => (live.instances, 0),
        [_, canary] => (canary.target(), canary.instances),
        _ => {
            return Err(Failure::refused(format!(
                "deployment group {group} has {} apps; a canary needs one or two",
                apps.len()
            )));
        }
    };
    let counts = ladder.counts(target);
    // The first step not below where the canary stands (the last when it
    // is beyond them all).
    let first = counts
        .iter()
        .position(|count| *count >= at)
        .unwrap_or(counts.len() - 1);
    for (index, count) in counts.iter().enumerate().skip(first) {
        let last = index + 1 == counts.len();
        if *count > at {
            let request = PhaseRequest {
                phase: Phase::Deploy,
                group: group.clone(),
                deploy: Some(DeployInput {
                    app: app.clone(),
                    canary_instances: *count,
                    steps: label.then(|| ladder.clone()),
                }),
                canary: KnownCanary::default(),
                goal: None,
                limits: args.engine.limits(args.keep_failed_canary),
            };
            crate::phase::run_phase(
                request,
                &args.cluster,
                &args.engine,
                &args.bundle.marathon_lb,
                &resume,
            )?;
            if args.engine.dry_run {
                // The first step's plan is printed; nothing moved.
                return Ok(());
            }
        } else if !args.analyze && !last {
            // Already at this step (a rerun): on to the next.
            continue;
        }
        let step = describe_step(ladder, &counts, index, target);
        events::emit(
            "ladder_step",
            json!({"group": group, "step": index + 1, "of": counts.len(), "canary_instances": count,
                   "target": target, "ladder": ladder.to_string()}),
        );
        if let Some(p) = args.pause {
            let secs = p.as_secs();
            let then = if last {
                format!("reached, the last; pausing {secs}s before the rollout")
            } else {
                format!("reached; pausing {secs}s before the next")
            };
            output::print(&format!("{step} {then}\n"))?;
            pause(p, &step, &resume)?;
        }
        if args.analyze {
            analyze_step(args, &group, &image, &step)?;
        } else if args.pause.is_none() {
            let then = if last {
                format!(", the last: `canary promote --app {name}` rolls it out")
            } else {
                format!(
                    ": `canary promote --app {name}` goes on to the next step (--full: the rollout)"
                )
            };
            return output::print(&format!(
                "{step} reached{then}; `canary rollback --app {name}` undoes it\n"
            ));
        }
    }
    finish(
        Phase::Rollout,
        &args.cluster,
        &args.engine,
        &args.bundle.marathon_lb,
        &group,
        &image,
        name,
    )
}

/// The analysis of the canary at `step`: passing, `Ok` (go on); failing,
/// the canary rolled back and exit 10 with the numbers; inconclusive, the
/// canary left and exit 11.
fn analyze_step(args: &DeployArgs, group: &str, image: &str, step: &str) -> Result<(), Failure> {
    let name = &args.bundle.app;
    let outcome = crate::analyze::run_analysis(
        group,
        &args.analysis,
        crate::backend::executor(&args.cluster)?.as_mut(),
        &args.bundle.marathon_lb,
        step,
    )?;
    match outcome.decision {
        Decision::Promote | Decision::Continue => {
            output::print(&format!("{step}: the canary passed its analysis\n"))
        }
        Decision::Rollback { reason } => {
            finish(
                Phase::Rollback,
                &args.cluster,
                &args.engine,
                &args.bundle.marathon_lb,
                group,
                image,
                name,
            )
            .map_err(|e| {
                e.after(&format!(
                    "the canary {image} failed its analysis at {step} ({reason}), and its rollback did not finish: "
                ))
            })?;
            Err(Failure::analysis_failed(format!(
                "the canary {image} failed its analysis at {step}: {reason}; it was rolled back"
            )))
        }
        Decision::Stop { reason } => Err(Failure::inconclusive(format!(
            "the analysis of the canary {image} at {step} is inconclusive: {reason}; the canary is left as it is: \
             `canary analyze --app {name}` again, `canary promote --app {name}` or `canary rollback --app {name}`"
        ))),
    }
}

/// The whole rollout (or rollback) of the canary of `image`.
fn finish(
    phase: Phase,
    cluster: &crate::cli::ClusterArgs,
    engine: &crate::cli::EngineArgs,
    marathon_lb: &[String],
    group: &str,
    image: &str,
    name: &str,
) -> Result<(), Failure> {
    let request = PhaseRequest {
        phase,
        group: group.to_owned(),
        deploy: None,
        canary: KnownCanary {
            app_id: None,
            image: Some(image.to_owned()),
        },
        goal: None,
        limits: engine.limits(false),
    };
    let resume = format!(
        "canary {phase} --app {name} --group {group} --image {image} (with the same options)"
    );
    crate::phase::run_phase(request, cluster, engine, marathon_lb, &resume)
}

/// `canary promote`: the next step of the canary's ladder, or the rollout.
pub fn promote(args: &PromoteArgs) -> Result<(), Failure> {
    let phase = &args.phase;
    let name = AppName::new(&phase.app).map_err(|e| Failure::invalid(format!("--app: {e}")))?;
    let mut executor = crate::backend::executor(&phase.cluster)?;
    let group = crate::phase::resolve_group(executor.as_mut(), &name, phase.group.as_deref())?;
    let apps = group_apps(executor.as_mut(), &group)?;
    let [_, canary] = apps.as_slice() else {
        return Err(Failure::refused(format!(
            "no canary in progress in deployment group {group} ({} app(s) found): nothing to promote",
            apps.len()
        )));
    };
    let image = canary.image.clone().unwrap_or_default();
    if let Some(wanted) = &phase.image
        && *wanted != image
    {
        return Err(Failure::refused(format!(
            "the canary in progress in deployment group {group} is {} with {image}, not {wanted}",
            canary.id
        )));
    }
    let ladder = match canary.label(labels::STEPS) {
        Some(text) => Some(Ladder::parse(text).map_err(|e| {
            Failure::invalid(format!("{}'s {} label: {e}", canary.id, labels::STEPS))
        })?),
        None => None,
    };
    let target = canary.target();
    let next = ladder
        .as_ref()
        .and_then(|l| l.next(target, canary.healthy_tasks() as u32));
    match (next, args.full) {
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
                limits: phase.engine.limits(false),
            };
            let resume = format!("canary promote --app {name} (with the same options)");
            crate::phase::run_phase(
                request,
                &phase.cluster,
                &phase.engine,
                &phase.marathon_lb,
                &resume,
            )?;
            let step = describe_step(&ladder, &counts, index, target);
            let then = if index + 1 < counts.len() {
                "goes on to the next step"
            } else {
                "rolls it out"
            };
            output::print(&format!(
                "{step} reached: `canary promote --app {name}` {then} (--full: the rollout)\n"
            ))
        }
        _ => finish(
            Phase::Rollout,
            &phase.cluster,
            &phase.engine,
            &phase.marathon_lb,
            &group,
            &image,
            name.as_str(),
        ),
    }
}
