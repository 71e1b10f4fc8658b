//! The phase rules: a group of one app or of two, and the rounds that
//! move instances from the loser to the winner (see the parent module).

use super::lbs::{View, capacity_then, done_when_settled, drain_and_kill, group_port, lbs_ready};
use super::{Moment, PhaseRequest, Step, human, image, wait};
use crate::job::Phase;
use crate::marathon::MarathonApp;
use crate::plan::labels;
use crate::plan::observe::Observation;
use crate::plan::predict::{backend_name, drains};
use crate::plan::prepare;
/// A group of one app.
pub(super) fn single(
    request: &PhaseRequest,
    observation: &Observation,
    app: &MarathonApp,
    moment: &Moment<'_>,
) -> Step {
    let group = &request.group;
    let healthy = app.healthy_tasks();
    let state = format!(
        "{} ({}, {healthy} of {} healthy)",
        app.id,
        image(app),
        app.instances
    );
    match request.phase {
        Phase::Deploy => {
            let Some(input) = &request.deploy else {
                return Step::Refused("a deploy needs the app definition to deploy".into());
            };
            if app.image.as_deref() == Some(input.app.image()) {
                if healthy < app.instances as usize {
                    let key = format!("health:{}:{}", app.id, app.instances);
                    if moment.waited(&key) > request.limits.health_timeout {
                        return Step::Failed(format!(
                            "{state} did not become healthy within {}",
                            human(request.limits.health_timeout)
                        ));
                    }
                    return wait(
                        key,
                        format!("{} tasks healthy: {healthy} of {}", app.id, app.instances),
                        500,
                    );
                }
                return done_when_settled(
                    request,
                    observation,
                    &[app],
                    &format!("{state} is the only app of group {group}"),
                    moment,
                );
            }
            if !app.labels.contains_key(labels::NEW_INSTANCES) {
                return Step::Refused(format!(
                    "{} has no {} label (it was not deployed by canary or zdd.py): once its drained task is killed, \
                     marathon-lb would take the canary out of rotation (zdd.md §9); deploy it once with canary \
                     (a full deploy into an empty group) or add the label",
                    app.id,
                    labels::NEW_INSTANCES
                ));
            }
            if healthy < app.instances as usize {
                return wait(
                    format!("live-health:{}", app.id),
                    format!(
                        "the live app {} has {healthy} of {} tasks healthy",
                        app.id, app.instances
                    ),
                    1_000,
                );
            }
            Step::Create {
                app: prepare::canary(
                    &input.app,
                    app,
                    input.canary_instances,
                    input.steps.as_ref(),
                    moment.now,
                ),
            }
        }
        Phase::Rollout => {
            // Without id or image, an unnamed canary cannot be the only app rolled out.
            if request.canary.is(app, false) {
                done_when_settled(
                    request,
                    observation,
                    &[app],
                    &format!("{state} is the only app of group {group}: rolled out"),
                    moment,
                )
            } else {
                Step::Refused(format!(
                    "no canary in progress in deployment group {group}: only {state}"
                ))
            }
        }
        Phase::Rollback => {
            // Without id or image, an unnamed lone app is taken for the canary: nothing to roll back to.
            if request.canary.is(app, true) {
                Step::Refused(format!(
                    "no canary in progress in deployment group {group}: only {state}"
                ))
            } else {
                done_when_settled(
                    request,
                    observation,
                    &[app],
                    &format!("{state} is the only app of group {group}: rolled back"),
                    moment,
                )
            }
        }
    }
}

/// A group of two apps: `previous` (older) and `canary` (newer).
pub(super) fn pair(
    request: &PhaseRequest,
    observation: &Observation,
    previous: &MarathonApp,
    canary: &MarathonApp,
    moment: &Moment<'_>,
) -> Step {
    let group = &request.group;
    let target = canary.target();
    let new = canary
        .count_label(labels::NEW_INSTANCES)
        .unwrap_or(1)
        .max(1);
    let floor = target.saturating_sub(new);
    let roles = match request.phase {
        Phase::Deploy => {
            let Some(input) = &request.deploy else {
                return Step::Refused("a deploy needs the app definition to deploy".into());
            };
            let wanted = input.canary_instances.min(target).max(1);
            if canary.image.as_deref() != Some(input.app.image()) || wanted < canary.instances {
                return Step::Refused(format!(
                    "a canary is already in progress in deployment group {group}: {} ({}, {} of {target}) beside {}; \
                     promote it, roll it out or back first",
                    canary.id,
                    image(canary),
                    canary.instances,
                    previous.id
                ));
            }
            // Beside a canary of the same image, a deploy grows it to
            // `wanted` (a ladder step) the way a rollout grows it, the
            // previous app kept at the rest.
            Roles {
                winner: canary,
                winner_goal: wanted,
                loser: previous,
                loser_goal: target.saturating_sub(wanted),
                delete_loser: false,
                floor,
            }
        }
        Phase::Rollout => {
            if let Some(wanted) = &request.canary.image
                && canary.image.as_deref() != Some(wanted)
            {
                return Step::Refused(format!(
                    "the canary in progress in deployment group {group} is {} with {}, not {wanted}",
                    canary.id,
                    image(canary)
                ));
            }
            match request.goal.filter(|goal| *goal < target) {
                Some(goal) if goal < canary.instances => {
                    return Step::Refused(format!(
                        "the canary {} is at {} of {target}, beyond {goal}: promote it further, roll it out or back",
                        canary.id, canary.instances
                    ));
                }
                Some(goal) => Roles {
                    winner: canary,
                    winner_goal: goal,
                    loser: previous,
                    loser_goal: target - goal,
                    delete_loser: false,
                    floor,
                },
                None => Roles {
                    winner: canary,
                    winner_goal: target,
                    loser: previous,
                    loser_goal: 0,
                    delete_loser: true,
                    floor,
                },
            }
        }
        Phase::Rollback => Roles {
            winner: previous,
            winner_goal: target,
            loser: canary,
            loser_goal: 0,
            delete_loser: true,
            floor,
        },
    };
    let pair = [previous.clone(), canary.clone()];
    round(request, observation, &pair, &roles, moment)
}

/// Who grows and who shrinks in a phase, and to what.
struct Roles<'a> {
    winner: &'a MarathonApp,
    winner_goal: u32,
    loser: &'a MarathonApp,
    loser_goal: u32,
    /// Whether the loser is deleted once it is down to its goal (0); a
    /// deploy keeps the live app, even at 0 (a canary of every instance),
    /// so that a rollback can restore it.
    delete_loser: bool,
    /// The fewest healthy `UP` servers a kill may leave on a load balancer.
    floor: u32,
}

fn round(
    request: &PhaseRequest,
    observation: &Observation,
    pair: &[MarathonApp; 2],
    roles: &Roles<'_>,
    moment: &Moment<'_>,
) -> Step {
    let Roles {
        winner,
        winner_goal,
        loser,
        loser_goal,
        delete_loser,
        floor,
    } = *roles;
    let limits = &request.limits;
    let prediction = drains(pair).expect("two apps");
    let drain_of = |app: &MarathonApp| -> Vec<String> {
        if prediction.old_app == app.id {
            prediction.tasks.clone()
        } else {
            Vec::new()
        }
    };
    let (winner_drained, loser_drained) = (drain_of(winner), drain_of(loser));
    let healthy = winner.healthy_tasks() as u32;

    // Grow the winner: a rollback restores the previous app in one step; a
    // deploy or rollout grows the canary a step at a time, once its last
    // growth is healthy and marathon-lb is not draining the loser for it.
    let rollback = request.phase == Phase::Rollback;
    let grow = || {
        let step = if rollback {
            winner_goal
        } else {
            limits
                .step
                .unwrap_or_else(|| winner.instances.div_ceil(2))
                .max(1)
        };
        Step::Scale {
            app_id: winner.id.clone(),
            from: winner.instances,
            to: (winner.instances + step).min(winner_goal),
        }
    };
    let may_grow = winner.instances < winner_goal && healthy >= winner.instances;
    if winner.instances < winner_goal && (rollback || (may_grow && loser_drained.is_empty())) {
        return grow();
    }
    if healthy < winner.instances {
        let key = format!("health:{}:{}", winner.id, winner.instances);
        if moment.waited(&key) > limits.health_timeout {
            return health_failure(request, winner, healthy);
        }
        return wait(
            key,
            format!(
                "{} tasks healthy: {healthy} of {}",
                winner.id, winner.instances
            ),
            500,
        );
    }
    if let Some(step) = lbs_ready(&observation.lbs, limits, moment) {
        return step;
    }
    let port = group_port(pair, &prediction.old_app);
    let backend = port.map(|port| backend_name(&request.group, port));
    let view = View {
        lbs: &observation.lbs,
        backend: backend.as_deref(),
        evidence: &observation.evidence,
    };

    // marathon-lb drains the winner (its loser was scaled last): kill what
    // it drained and grow it back, which makes it the last scaled.
    if !winner_drained.is_empty() {
        if !delete_loser {
            return Step::Failed(format!(
                "marathon-lb is draining {} instead of {}: it takes {} for the new app (the most recently scaled, zdd.md §9); \
                 this split cannot be kept",
                winner.id, loser.id, loser.id
            ));
        }
        return drain_and_kill(
            request,
            &view,
            winner,
            &winner_drained,
            winner_drained.len() as u32,
            floor,
            false,
            moment,
        );
    }
    let excess = loser.instances.saturating_sub(loser_goal);
    let whole = delete_loser && winner.instances >= winner_goal;
    if !loser_drained.is_empty() && excess > 0 {
        let step = drain_and_kill(
            request,
            &view,
            loser,
            &loser_drained,
            excess,
            floor,
            whole,
            moment,
        );
        // marathon-lb drains as long as the new app has healthy tasks (its
        // target is 1 without NEW_INSTANCES): when killing what it drained
        // would leave too few serving, grow the winner first.
        if may_grow && matches!(&step, Step::Wait(w) if w.key.starts_with("capacity:")) {
            return grow();
        }
        return step;
    }
    // Loser tasks that serve nothing need no drain.
    let idle: Vec<String> = loser
        .tasks
        .iter()
        .filter(|t| !t.in_rotation(loser.has_health_checks) && view.absent_everywhere(loser, t))
        .map(|t| t.id.clone())
        .collect();
    if excess > 0 && !idle.is_empty() {
        if whole && idle.len() == loser.tasks.len() {
            return capacity_then(
                &view,
                floor,
                Step::Delete {
                    app_id: loser.id.clone(),
                    open_sessions: 0,
                },
            );
        }
        if !whole {
            let batch: Vec<String> = idle.into_iter().take(excess as usize).collect();
            return capacity_then(
                &view,
                floor,
                Step::Kill {
                    app_id: loser.id.clone(),
                    task_ids: batch,
                    open_sessions: 0,
                },
            );
        }
    }
    if excess > 0 {
        if winner.instances < winner_goal {
            // The winner's growth is healthy, nothing drains: grow it.
            return wait(
                format!("lb-drain:{}", loser.id),
                format!("marathon-lb to drain {} for {}", loser.id, winner.id),
                250,
            );
        }
        return Step::Failed(format!(
            "marathon-lb drains none of {}'s {} task(s) (it treats {} as new, target {}): nothing can be removed safely; \
             see canary status --app and the marathon-lb stats",
            loser.id,
            loser.instances,
            prediction.new_app,
            target_of(pair, &prediction.new_app)
        ));
    }
    // A loser to remove that is down to no instance (its last tasks killed
    // while the winner grew): delete it once the winner is at its goal.
    if whole && loser.tasks.is_empty() {
        return capacity_then(
            &view,
            floor,
            Step::Delete {
                app_id: loser.id.clone(),
                open_sessions: 0,
            },
        );
    }
    // Both at their goals (the loser kept, as a deploy keeps it).
    done_when_settled(
        request,
        observation,
        &[winner, loser],
        &format!(
            "{} at {} ({}), {} at {} ({})",
            winner.id,
            winner.instances,
            image(winner),
            loser.id,
            loser.instances,
            image(loser)
        ),
        moment,
    )
}

fn target_of(pair: &[MarathonApp; 2], id: &str) -> String {
    pair.iter()
        .find(|a| a.id == id)
        .and_then(|a| a.label(labels::TARGET_INSTANCES))
        .unwrap_or("1")
        .to_owned()
}

fn health_failure(request: &PhaseRequest, app: &MarathonApp, healthy: u32) -> Step {
    let limit = human(request.limits.health_timeout);
    let what = format!(
        "{} ({}) has {healthy} of {} tasks healthy after {limit}",
        app.id,
        image(app),
        app.instances
    );
    match request.phase {
        Phase::Deploy if request.limits.keep_failed_canary => Step::Failed(format!(
            "the canary {what}; it is left in place for debugging (--keep-failed-canary): roll it back with canary rollback"
        )),
        Phase::Deploy => Step::Abort(format!("the canary {what}")),
        Phase::Rollout => Step::Failed(format!(
            "the canary {what}: not rolling it out further; roll it back with canary rollback"
        )),
        Phase::Rollback => Step::Failed(format!(
            "the previous app {what}: the canary stays until it is healthy"
        )),
    }
}
