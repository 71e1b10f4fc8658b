//! `canary status --app APP [--json] [--sample N | --observe DURATION]`.

use crate::cli::StatusArgs;
use crate::failure::Failure;
use crate::output::{self, terminal_safe};
use canary_core::AppName;
use canary_core::status::{GroupStatus, JobStatus, ShareBasis, gather};
use std::fmt::Write;

/// Runs `canary status`.
pub fn run(args: &StatusArgs) -> Result<(), Failure> {
    let name = AppName::new(&args.app).map_err(|e| Failure::invalid(format!("--app: {e}")))?;
    let mut executor = crate::backend::executor(&args.cluster)?;
    let status = gather(executor.as_mut(), name.as_str())
        .map_err(|e| Failure::from_exec(&e, &format!("reading the status of {name}")))?;
    let sample = match args.sample.sample {
        Some(n) => Some(crate::sample::take(
            &args.sample,
            n,
            &status,
            executor.as_mut(),
        )?),
        None => None,
    };
    let observed = match args.sample.observe {
        Some(window) => Some(crate::sample::observe(
            &args.sample,
            window,
            &status,
            executor.as_mut(),
        )?),
        None => None,
    };
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
            text.push_str(&crate::sample::table(sample, &status));
        }
        if let Some(observed) = &observed {
            text.push_str(&crate::sample::observed_table(observed, &status));
        }
        output::print(&text)
    }
}

/// Left-aligned columns, two spaces apart. Every cell is made
/// terminal-safe first: most hold what the cluster says (ids, images,
/// labels, run ids), which must not be able to drive the terminal.
pub(crate) fn columns(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| terminal_safe(cell)).collect())
        .collect();
    let mut widths = Vec::new();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            let width = cell.chars().count();
            match widths.get_mut(i) {
                Some(w) if *w < width => *w = width,
                Some(_) => {}
                None => widths.push(width),
            }
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
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
    let state = match (status.apps.len(), status.canary_in_progress) {
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
    };
    let _ = writeln!(
        out,
        "deployment group {} (app {}): {state}",
        terminal_safe(&status.deployment_group),
        terminal_safe(&status.app)
    );
    if !status.apps.is_empty() {
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
        out.push('\n');
        out.push_str(&columns(&rows));
    }
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
    out.push('\n');
    out.push_str(&columns(&rows));
    if !status.job_images_agree {
        out.push_str(
            "\nwarning: the phase jobs deploy different images; no phase starts until `canary apply` makes them agree\n",
        );
    }
    out
}
