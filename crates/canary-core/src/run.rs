//! Whether a deployment group is in a state for a phase's job run
//! ([`preflight`]), as plain data: canary-engine's `run` checks it before
//! it starts the run.

use crate::job::Phase;
use crate::status::GroupStatus;

/// Why a phase should not start now, given its group's status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The three phase jobs deploy different images (applies that raced,
    /// or one that stopped part way): a rollout could finish another canary
    /// than the one deployed.
    #[error("the phase jobs disagree on the image they deploy ({jobs}): apply the jobs again")]
    MixedImages {
        /// Each existing job and its `canary.image`.
        jobs: String,
    },
    /// A phase job of the app is running: two zdd.py runs at once on one
    /// group would fight over it.
    #[error("job {job_id} has an active run ({run_id}): wait for it to finish or stop it first")]
    ActiveRun {
        /// The job.
        job_id: String,
        /// Its active run.
        run_id: String,
    },
    /// Marathon is still deploying an app of the group.
    #[error(
        "Marathon is still deploying app {app_id} (deployment {deployment}): wait until it finishes"
    )]
    Deploying {
        /// The app.
        app_id: String,
        /// The deployment.
        deployment: String,
    },
    /// A deploy while a canary is in progress.
    #[error(
        "a canary is already in progress in deployment group {group} (newest app {canary}): roll it out or back first"
    )]
    CanaryInProgress {
        /// The group.
        group: String,
        /// The newest app.
        canary: String,
    },
    /// A rollout or rollback without a canary (zdd.py would exit 3:
    /// `--complete-cur`/`--complete-prev` need two apps in the group).
    #[error(
        "no canary in progress in deployment group {group} ({apps} app(s) found): {phase} needs one"
    )]
    NoCanary {
        /// The group.
        group: String,
        /// How many apps the group has.
        apps: usize,
        /// The phase asked for.
        phase: Phase,
    },
}

/// Whether `phase` may start now. A deploy needs no canary in progress (an
/// empty group is a first deploy, which zdd.py allows); a rollout or
/// rollback needs one. No phase starts while a phase job of the app runs or
/// Marathon is deploying an app of the group (for a rollback, an app other
/// than the canary: a canary that never gets healthy keeps its deployment
/// going, and removing it is the rollback's work), nor while the phase jobs
/// disagree on the image they deploy.
pub fn preflight(phase: Phase, status: &GroupStatus) -> Result<(), Refusal> {
    if !status.job_images_agree {
        return Err(Refusal::MixedImages {
            jobs: status
                .jobs
                .iter()
                .filter(|j| j.exists)
                .map(|j| {
                    format!(
                        "{} {}",
                        j.id,
                        j.image.as_deref().unwrap_or("(no canary.image)")
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if let Some((job, run)) = status
        .jobs
        .iter()
        .find_map(|j| j.active_runs.first().map(|r| (j, r)))
    {
        return Err(Refusal::ActiveRun {
            job_id: job.id.clone(),
            run_id: run.clone(),
        });
    }
    // A canary whose Marathon deployment never ends (it never gets
    // healthy) is what a rollback is for: only the other apps' deployments
    // hold a rollback back.
    let canary = status
        .canary_in_progress
        .then(|| status.apps.last().map(|a| a.id.as_str()))
        .flatten();
    if let Some((app, deployment)) = status
        .apps
        .iter()
        .filter(|a| !(phase == Phase::Rollback && Some(a.id.as_str()) == canary))
        .find_map(|a| a.deployments.first().map(|d| (a, d)))
    {
        return Err(Refusal::Deploying {
            app_id: app.id.clone(),
            deployment: deployment.clone(),
        });
    }
    match (phase, status.canary_in_progress) {
        (Phase::Deploy, true) => Err(Refusal::CanaryInProgress {
            group: status.deployment_group.clone(),
            canary: status.apps.last().map(|a| a.id.clone()).unwrap_or_default(),
        }),
        (Phase::Rollout | Phase::Rollback, false) => Err(Refusal::NoCanary {
            group: status.deployment_group.clone(),
            apps: status.apps.len(),
            phase,
        }),
        _ => Ok(()),
    }
}
