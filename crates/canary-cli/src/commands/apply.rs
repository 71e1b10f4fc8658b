//! `canary apply`: render, plan against the live jobs, and carry the plan
//! out (or, with `--dry-run`, print it with a diff).

use crate::args::{BundleArgs, ClusterArgs};
use crate::bundle;
use crate::display::Display;
use crate::failure::Failure;
use crate::output::{self, terminal_safe_keeping};
use crate::session::{OnSignal, with_session};
use canary_core::apply::{JobAction, JobPlan, diff, strip_metronome_defaults};
use canary_engine::apply as use_case;
use clap::Args;
use std::fmt::Write as _;

/// `canary apply`'s arguments.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Print what would change, with a diff against the live jobs, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// What to render and apply (the same options as `canary render`).
    #[command(flatten)]
    pub bundle: BundleArgs,

    /// How to reach the cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// What a dry run prints: each job's planned action and, for a replace, the
/// diff against the live job (Metronome's defaults set aside). The live
/// side comes from the cluster, so the text is made terminal-safe.
pub fn describe_plan(plan: &[JobPlan]) -> String {
    let mut text = String::new();
    for job in plan {
        let _ = writeln!(text, "{}: would {}", job.id, job.action);
        if let (JobAction::Replace { .. }, Some(live)) = (&job.action, &job.live) {
            for change in diff(live, &strip_metronome_defaults(&job.desired)) {
                let _ = writeln!(text, "    {change}");
            }
        }
    }
    terminal_safe_keeping(&text, &['\n'])
}

/// What an apply prints: what was done to each job (the stopped runs' ids
/// come from the cluster: made terminal-safe).
pub fn describe_outcome(done: &[(String, JobAction)]) -> String {
    let mut text = String::new();
    for (id, action) in done {
        let what = match action {
            JobAction::Create => "created".to_owned(),
            JobAction::Keep => "unchanged".to_owned(),
            JobAction::Replace { stop_runs } if stop_runs.is_empty() => "replaced".to_owned(),
            JobAction::Replace { stop_runs } => {
                format!("replaced (stopped runs: {})", stop_runs.join(", "))
            }
        };
        let _ = writeln!(text, "{id}: {what}");
    }
    terminal_safe_keeping(&text, &['\n'])
}

/// Runs `canary apply`.
pub fn run(args: &ApplyArgs) -> Result<(), Failure> {
    let rendered = bundle::render_bundle(&args.bundle)?;
    bundle::zdd_note(&args.bundle.jobs);
    let jobs: Vec<_> = rendered
        .jobs
        .iter()
        .map(|job| job.document.clone())
        .collect();
    with_session(
        &args.cluster,
        None,
        OnSignal::End,
        &mut Display::new(),
        |session| {
            let plan = use_case::plan_apply(session, &jobs)
                .map_err(|e| Failure::from_exec(&e, "reading the live jobs"))?;
            if args.dry_run {
                return output::print(&describe_plan(&plan));
            }
            // ApplyError already says what was done and how to resume.
            let done = use_case::apply(session, &plan)
                .map_err(|e| Failure::from_exec_message(&e.source, e.to_string()))?;
            output::print(&describe_outcome(&done))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_from_the_cluster_cannot_drive_the_terminal() {
        let done = [(
            "deploy-web-canary".to_owned(),
            JobAction::Replace {
                stop_runs: vec!["r1\u{1b}]0;pwned\u{7}".to_owned()],
            },
        )];
        assert_eq!(
            describe_outcome(&done),
            "deploy-web-canary: replaced (stopped runs: r1\\u{1b}]0;pwned\\u{7})\n"
        );
    }
}
