//! `canary status --app APP [--json] [--sample N | --observe DURATION]`:
//! the group as the engine gathers it, as a table or one JSON document,
//! with the traffic split marathon-lb's counters saw (`sample.rs`).

use super::sample::{self, SampleArgs};
use crate::args::ClusterArgs;
use crate::display::Display;
use crate::failure::Failure;
use crate::output::{self, columns, terminal_safe};
use crate::session::{Lbs, OnSignal, with_session};
use canary_core::AppName;
use canary_core::status::{GroupStatus, JobStatus, ShareBasis};
use canary_engine::status::gather;
use clap::Args;
use std::fmt::Write;

/// `canary status`'s arguments.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The app name (its jobs are deploy|rollout|rollback-APP-canary; the
    /// deployment group is their canary.deployment-group label, else APP).
    #[arg(long, value_name = "APP")]
    pub app: String,

    /// Print the status as one JSON document (stable; see docs/src/guide/status.md) instead
    /// of a table.
    #[arg(long)]
    pub json: bool,

    /// Sampling the traffic split.
    #[command(flatten)]
    pub sample: SampleArgs,

    /// A live view, refreshed every --every until interrupted (Ctrl-C,
    /// exit 0): the apps, their health, the ladder step, the instance split
    /// and the split marathon-lb counted since the last refresh, and a
    /// read-only sequential analysis of the canary since the watch began.
    #[arg(long, conflicts_with_all = ["json", "sample", "observe"])]
    pub watch: bool,

    /// With --watch: the time between two refreshes.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = crate::args::parse_duration, requires = "watch")]
    pub every: std::time::Duration,

    /// With --watch: stop after N refreshes (default: until interrupted).
    #[arg(long, value_name = "N", requires = "watch", value_parser = clap::value_parser!(u64).range(1..))]
    pub frames: Option<u64>,

    /// How to reach the cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs `canary status`.
pub fn run(args: &StatusArgs) -> Result<(), Failure> {
    let name = AppName::new(&args.app).map_err(|e| Failure::invalid(format!("--app: {e}")))?;
    if args.watch {
        return watch(args, &name);
    }
    let reads_lbs = args.sample.sample.is_some() || args.sample.observe.is_some();
    let (lbs, on_signal) = if reads_lbs {
        (Some(Lbs::new(&args.sample.marathon_lb)), OnSignal::Stop)
    } else {
        (None, OnSignal::End)
    };
    let (status, sample, observed) = with_session(
        &args.cluster,
        lbs,
        on_signal,
        &mut Display::new(),
        |session| {
            let status = gather(session, name.as_str())
                .map_err(|e| Failure::from_exec(&e, &format!("reading the status of {name}")))?;
            let sample = match args.sample.sample {
                Some(n) => Some(sample::take(session, &args.sample, n, &status)?),
                None => None,
            };
            let observed = match args.sample.observe {
                Some(window) => Some(sample::observe(session, window, &status)?),
                None => None,
            };
            Ok((status, sample, observed))
        },
    )?;
    if args.json {
        let json_error =
            |e: serde_json::Error| Failure::io(format!("cannot write the status as JSON: {e}"));
        let mut document = serde_json::to_value(&status).map_err(json_error)?;
        if let Some(sample) = &sample {
            document["sample"] = serde_json::to_value(sample).map_err(json_error)?;
        }
        if let Some(observed) = &observed {
            document["observed"] = serde_json::to_value(observed).map_err(json_error)?;
        }
        let mut text = serde_json::to_string_pretty(&document).map_err(json_error)?;
        text.push('\n');
        output::print(&text)
    } else {
        let mut text = table(&status);
        if let Some(sample) = &sample {
            text.push_str(&sample::table(sample, &status));
        }
        if let Some(observed) = &observed {
            text.push_str(&sample::observed_table(observed, &status));
        }
        output::print(&text)
    }
}

/// `status --watch`: a frame per refresh; on a terminal each replaces the
/// last (the screen is cleared), elsewhere they follow each other.
fn watch(args: &StatusArgs, name: &AppName) -> Result<(), Failure> {
    use std::io::IsTerminal;
    let terminal = std::io::stdout().is_terminal();
    let limit = args.frames;
    let every = args.every;
    let mut failure = None;
    with_session(
        &args.cluster,
        Some(Lbs::new(&args.sample.marathon_lb)),
        OnSignal::Stop,
        &mut Display::new(),
        |session| {
            canary_engine::watch::watch(session, name.as_str(), every, &mut |frame| {
                let mut text = String::new();
                if terminal {
                    // Home and clear: the frame replaces the last one.
                    text.push_str("\x1b[H\x1b[2J");
                }
                let _ = writeln!(
                    text,
                    "canary status --watch: refresh {} (every {}s{}; Ctrl-C to stop)\n",
                    frame.number,
                    every.as_secs(),
                    limit.map(|n| format!(", {n} in all")).unwrap_or_default()
                );
                text.push_str(&table(&frame.status));
                match (&frame.observed, &frame.no_split) {
                    (Some(split), _) => {
                        let _ = write!(
                            text,
                            "\nsince the last refresh marathon-lb counted {} response(s) in backend {} on {} instance(s):\n",
                            split.total(),
                            split.backend,
                            split.lbs_read
                        );
                        text.push_str(&sample::split_rows(split, &frame.status));
                    }
                    (None, Some(why)) => {
                        let _ = writeln!(text, "\ntraffic split: {why}");
                    }
                    (None, None) => {}
                }
                match &frame.analysis {
                    Some(report) => {
                        let _ = writeln!(
                            text,
                            "\nanalysis since the watch began (read-only, sequential): {report}"
                        );
                    }
                    // With a canary, the first refresh (or the first after
                    // the group changed) has nothing to compare yet.
                    None if frame.status.canary_in_progress => {
                        text.push_str("\nanalysis: from the next refresh on\n")
                    }
                    None => text.push_str("\nanalysis: no canary beside a baseline\n"),
                }
                if !terminal {
                    text.push('\n');
                }
                if let Err(e) = output::print(&text) {
                    failure = Some(e);
                    return false;
                }
                limit.is_none_or(|n| frame.number < n)
            })
            .map_err(|e| Failure::cluster(format!("watching {name}: {e}")))
        },
    )?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

fn last_run(job: &JobStatus) -> String {
    if !job.exists {
        return "-".to_owned();
    }
    match &job.last_run {
        None => "never finished".to_owned(),
        Some(run) => format!(
            "{} {} ({})",
            run.status,
            run.finished_at.as_deref().unwrap_or("-"),
            run.run_id
        ),
    }
}

/// The human form: a headline, the apps, the jobs.
pub fn table(status: &GroupStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "deployment group {} (app {}): {}",
        terminal_safe(&status.deployment_group),
        terminal_safe(&status.app),
        state(status)
    );
    if !status.apps.is_empty() {
        out.push('\n');
        out.push_str(&columns(&app_rows(status)));
    }
    out.push('\n');
    out.push_str(&columns(&job_rows(status)));
    out.push_str(&job_notes(status));
    out
}

/// Where the group stands, in a few words.
fn state(status: &GroupStatus) -> String {
    match (status.apps.len(), status.canary_in_progress) {
        (0, _) => "no app of the group runs".to_owned(),
        (_, true) => match &status.ladder {
            Some(l) => format!(
                "canary in progress, step {} of {} of the ladder {} ({} of {} instances)",
                l.reached,
                l.counts.len(),
                l.steps,
                l.counts
                    .get(l.reached.saturating_sub(1))
                    .copied()
                    .unwrap_or(0),
                l.target
            ),
            None => "canary in progress".to_owned(),
        },
        (_, false) => "no canary in progress".to_owned(),
    }
}

/// The apps' table: a header row, then a row per app.
fn app_rows(status: &GroupStatus) -> Vec<Vec<String>> {
    let basis = match status.share_basis {
        ShareBasis::Healthy => "of healthy",
        ShareBasis::Running => "of running",
    };
    let mut rows = vec![vec![
        "APP".to_owned(),
        "ROLE".to_owned(),
        "COLOUR".to_owned(),
        "IMAGE".to_owned(),
        "INSTANCES".to_owned(),
        "RUNNING".to_owned(),
        "HEALTHY".to_owned(),
        format!("SHARE ({basis})"),
        "STARTED AT".to_owned(),
    ]];
    for app in &status.apps {
        let deploying = if app.deployments.is_empty() {
            ""
        } else {
            " (deploying)"
        };
        rows.push(vec![
            format!("{}{deploying}", app.id),
            serde_json::to_value(app.role)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            or_dash(app.colour.as_deref()),
            or_dash(app.image.as_deref()),
            app.instances.to_string(),
            app.running.to_string(),
            app.healthy.to_string(),
            format!(
                "{} of {} ({}%)",
                app.share_tasks, status.share_total, app.share_percent
            ),
            or_dash(app.started_at.as_deref()),
        ]);
    }
    rows
}

/// The jobs' table: a header row, then a row per phase job.
fn job_rows(status: &GroupStatus) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        "JOB".to_owned(),
        "EXISTS".to_owned(),
        "IMAGE".to_owned(),
        "ACTIVE RUNS".to_owned(),
        "LAST RUN".to_owned(),
    ]];
    for job in &status.jobs {
        rows.push(vec![
            job.id.clone(),
            if job.exists { "yes" } else { "no" }.to_owned(),
            or_dash(job.image.as_deref()),
            if job.active_runs.is_empty() {
                "-".to_owned()
            } else {
                job.active_runs.join(",")
            },
            last_run(job),
        ]);
    }
    rows
}

/// What the jobs' table does not say by itself: jobs left from an earlier
/// canary, jobs that disagree.
fn job_notes(status: &GroupStatus) -> String {
    let mut out = String::new();
    // Jobs that already ran, for an image no app of the group runs, are an
    // earlier canary's (jobs applied and not yet run are the next one's):
    // said, so the table does not read as the group's.
    let used = status.jobs.iter().any(|j| j.exists && j.last_run.is_some());
    let running: Vec<&str> = status
        .apps
        .iter()
        .filter_map(|a| a.image.as_deref())
        .collect();
    let stale: Vec<&str> = status
        .jobs
        .iter()
        .filter(|j| j.exists)
        .filter_map(|j| j.image.as_deref())
        .filter(|image| !running.contains(image))
        .collect();
    if let Some(image) = stale.first()
        && used
        && status.job_images_agree
        && !status.apps.is_empty()
    {
        let _ = writeln!(
            out,
            "\nnote: the jobs are for {}, which no app of the group runs: they are left from an earlier canary \
             (their last runs are that canary's); `canary apply --app {} --image NEW` puts the next one's in their place",
            terminal_safe(image),
            terminal_safe(&status.app)
        );
    }
    if !status.job_images_agree {
        out.push_str(
            "\nwarning: the phase jobs deploy different images; no phase starts until `canary apply` makes them agree\n",
        );
    }
    out
}
