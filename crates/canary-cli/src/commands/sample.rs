//! `canary status --sample N`: N requests through the group's marathon-lb
//! frontend (every instance in turn), and the split marathon-lb's own
//! counters saw meanwhile, next to the instance split; `canary status
//! --observe DURATION`: the same split of the traffic others send, over a
//! window, no request sent. The engine's `status::sample` and
//! `status::observe` take them; this is their syntax and their words.

use crate::args::parse_duration;
use crate::failure::Failure;
use crate::output::columns;
use canary_core::DEFAULT_MARATHON_LB_URL;
use canary_core::plan::sample::ObservedSplit;
use canary_core::status::GroupStatus;
use canary_engine::Session;
use canary_engine::status::{Observed, Sample, SplitError};
use clap::Args;
use lb_stats::HttpTraffic;
use std::time::Duration;

/// Each request's time limit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The whole sample's time limit: it stops early, saying so.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(120);

/// `canary status --sample`'s arguments.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Send N requests (1 to 10000) through the group's marathon-lb
    /// frontend (every instance in turn, at the group's service port) and
    /// show the split marathon-lb's own counters saw next to the instance
    /// split.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub sample: Option<u32>,

    /// A marathon-lb stats URL (http://HOST:PORT) for --sample and
    /// --observe; the host is
    /// resolved to all its addresses, each one marathon-lb instance.
    /// Repeatable.
    #[arg(long = "marathon-lb", value_name = "URL", default_value = DEFAULT_MARATHON_LB_URL)]
    pub marathon_lb: Vec<String>,

    /// Send nothing: read every marathon-lb's counters, wait DURATION (at
    /// most 10m), read them again, and show the split of the traffic they
    /// served meanwhile next to the instance split.
    #[arg(long, value_name = "DURATION", value_parser = parse_observe, conflicts_with = "sample")]
    pub observe: Option<std::time::Duration>,

    /// The path --sample requests.
    #[arg(long, value_name = "PATH", default_value = "/", value_parser = parse_sample_path)]
    pub sample_path: String,
}

/// A path of printable ASCII starting with `/`.
fn parse_sample_path(s: &str) -> Result<String, String> {
    if s.starts_with('/') && s.len() <= 1024 && s.chars().all(|c| c.is_ascii_graphic()) {
        Ok(s.to_owned())
    } else {
        Err("a path starting with / of at most 1024 printable ASCII characters".into())
    }
}

/// `--observe`: a duration of at most ten minutes.
fn parse_observe(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if d > std::time::Duration::from_secs(600) {
        return Err(format!("'{s}' is longer than the 10m --observe may last"));
    }
    Ok(d)
}

/// A split that could not be taken, as `flag`'s failure.
fn split_failure(error: SplitError, flag: &str) -> Failure {
    match error {
        SplitError::NoPort(_) => Failure::refused(format!("{flag}: {error}")),
        SplitError::NoLoadBalancer(why) => Failure::cluster(format!(
            "{flag}: no marathon-lb could be read ({why}); pass --marathon-lb URL"
        )),
        SplitError::Stopped => {
            Failure::stopped(format!("stopped during {flag}; nothing was changed"))
        }
        SplitError::Cluster(e) => {
            Failure::from_exec(&e, &format!("reading the group's apps for {flag}"))
        }
    }
}

/// Sends the sample for `status`'s group and reads marathon-lb around it.
pub fn take(
    session: &mut Session<'_>,
    args: &SampleArgs,
    requests: u32,
    status: &GroupStatus,
) -> Result<Sample, Failure> {
    let mut traffic = HttpTraffic::new(REQUEST_TIMEOUT);
    canary_engine::status::sample(
        session,
        status,
        &args.sample_path,
        requests,
        SAMPLE_TIMEOUT,
        &mut traffic,
    )
    .map_err(|e| split_failure(e, "--sample"))
}

/// Reads marathon-lb at the start and end of `window` (a signal ends the
/// wait early, exit 9) and the split of what it served meanwhile.
pub fn observe(
    session: &mut Session<'_>,
    window: Duration,
    status: &GroupStatus,
) -> Result<Observed, Failure> {
    canary_engine::status::observe(session, status, window)
        .map_err(|e| split_failure(e, "--observe"))
}

/// The human form: what was sent, then per app its instance share and the
/// share marathon-lb's counters saw.
pub fn table(sample: &Sample, status: &GroupStatus) -> String {
    let observed = &sample.observed;
    let mut out = format!(
        "\nsample: {} request(s) to {}: {} answered 2xx, {} another status, {} not answered{}\n",
        sample.sent.sent,
        sample.frontends.join(", "),
        sample.sent.ok,
        sample.sent.other_status,
        sample.sent.failed,
        if sample.sent.cut_short {
            format!(" (stopped after {}s)", SAMPLE_TIMEOUT.as_secs())
        } else {
            String::new()
        }
    );
    out.push_str(&format!(
        "marathon-lb counted {} response(s) in backend {} on {} instance(s) meanwhile (other clients' requests included):\n",
        observed.total(),
        observed.backend,
        observed.lbs_read
    ));
    out.push_str(&split_rows(observed, status));
    out
}

/// The human form of `--observe`: per app its instance share and the share
/// of the traffic marathon-lb's counters saw over the window.
pub fn observed_table(observed: &Observed, status: &GroupStatus) -> String {
    let split = &observed.observed;
    let mut out = format!(
        "\nobserved over {:.1}s: marathon-lb counted {} response(s) in backend {} on {} instance(s):\n",
        observed.window_ms as f64 / 1000.0,
        split.total(),
        split.backend,
        split.lbs_read
    );
    out.push_str(&split_rows(split, status));
    out
}

/// Per app: the instance share and the observed share.
pub fn split_rows(observed: &ObservedSplit, status: &GroupStatus) -> String {
    let total = observed.total();
    let percent = |n: u64| {
        if total == 0 {
            0.0
        } else {
            (n as f64 * 1000.0 / total as f64).round() / 10.0
        }
    };
    let mut rows = vec![vec![
        "APP".to_owned(),
        "INSTANCE SHARE".to_owned(),
        "OBSERVED SHARE".to_owned(),
    ]];
    for served in &observed.by_app {
        let instances = status
            .apps
            .iter()
            .find(|a| a.id == served.app_id)
            .map_or_else(
                || "-".to_owned(),
                |a| {
                    format!(
                        "{} of {} ({}%)",
                        a.share_tasks, status.share_total, a.share_percent
                    )
                },
            );
        rows.push(vec![
            served.app_id.clone(),
            instances,
            format!(
                "{} of {total} ({}%)",
                served.responses,
                percent(served.responses)
            ),
        ]);
    }
    if observed.unmatched > 0 {
        rows.push(vec![
            "(tasks gone meanwhile)".to_owned(),
            "-".to_owned(),
            format!(
                "{} of {total} ({}%)",
                observed.unmatched,
                percent(observed.unmatched)
            ),
        ]);
    }
    columns(&rows)
}
