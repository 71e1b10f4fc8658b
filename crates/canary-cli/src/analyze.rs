//! `canary analyze` and the analysis of `canary deploy --analyze`: the
//! windows taken by canary-engine's [`analyze`] from every marathon-lb,
//! judged by canary-core's pure analysis, shown as one line per window
//! (stderr) and as `--events json`.

use crate::cli::{ClusterArgs, parse_duration};
use crate::events::{self, EventsFormat};
use crate::failure::Failure;
use crate::output;
use canary_core::analysis::{Checks, Decision, PolicyError, SequencePolicy};
use canary_core::engine::LbSource;
use canary_core::engine::plan::human;
use canary_core::executor::Executor;
use canary_engine::{AnalysisError, AnalysisEvent, AnalysisOutcome, AnalysisRun, analyze};
use canary_system::SystemClock;
use clap::Args;
use lb_stats::LbStatsClient;
use serde_json::json;
use std::io::Write;
use std::time::Duration;

/// How long one marathon-lb stats request may take.
const LB_TIMEOUT: Duration = Duration::from_secs(5);

/// A threshold that may be turned off (`off`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold(pub Option<f64>);

/// `5%`, `0.05` or `off`: a share of requests.
fn parse_rate(s: &str) -> Result<Threshold, String> {
    if s == "off" {
        return Ok(Threshold(None));
    }
    let (number, scale) = match s.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (s, 1.0),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a rate such as 5%, 0.05 or off"))?;
    let value = value / scale;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("'{s}' is not between 0% and 100%"));
    }
    Ok(Threshold(Some(value)))
}

/// `1.5` or `off`: a ratio above 0.
fn parse_ratio(s: &str) -> Result<Threshold, String> {
    if s == "off" {
        return Ok(Threshold(None));
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(Threshold(Some(v))),
        _ => Err(format!("'{s}' is not a ratio above 0 such as 1.5, or off")),
    }
}

/// How a canary is analysed: the windows and the checks.
#[derive(Debug, Clone, Args)]
pub struct AnalysisArgs {
    /// How long each analysis window lasts; every marathon-lb's counters
    /// are read at its start and end.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub interval: Duration,

    /// How many windows one analysis takes; the canary passes once they are
    /// over with at least one passing (and too few failing).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub count: u32,

    /// Failing windows (in all, not in a row) that fail the canary: --analyze
    /// rolls it back. Default 2, at most --count.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub failure_limit: Option<u32>,

    /// Inconclusive windows (too few requests, no baseline) that stop the
    /// analysis, leaving the canary as it is (exit 11). Default 3, at most
    /// --count.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub inconclusive_limit: Option<u32>,

    /// The canary's highest error rate per window ((5xx + connection and
    /// response errors) / requests), e.g. 5% or 0.05; off turns it off.
    #[arg(long, value_name = "RATE", default_value = "5%", value_parser = parse_rate)]
    pub max_error_rate: Threshold,

    /// The most the canary's error rate may exceed the baseline's, in
    /// percentage points (2% = 0.02); off turns it off.
    #[arg(long, value_name = "RATE", default_value = "2%", value_parser = parse_rate)]
    pub max_error_rate_increase: Threshold,

    /// The most the canary's mean response time may be, as a multiple of
    /// the baseline's (both counted as at least 5 ms); off turns it off.
    #[arg(long, value_name = "RATIO", default_value = "1.5", value_parser = parse_ratio)]
    pub max_latency_ratio: Threshold,

    /// The fewest requests each side needs in a window for a verdict;
    /// below it the window is inconclusive.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub min_requests: u64,
}

/// The analysis options: clap's argument ids and their flags.
pub const ANALYSIS_FLAGS: [(&str, &str); 8] = [
    ("interval", "--interval"),
    ("count", "--count"),
    ("failure_limit", "--failure-limit"),
    ("inconclusive_limit", "--inconclusive-limit"),
    ("max_error_rate", "--max-error-rate"),
    ("max_error_rate_increase", "--max-error-rate-increase"),
    ("max_latency_ratio", "--max-latency-ratio"),
    ("min_requests", "--min-requests"),
];

/// A policy error as the flag that caused it.
fn policy_failure(error: PolicyError) -> Failure {
    let flag = match error.field() {
        "count" => "--count",
        "failure_limit" => "--failure-limit",
        "inconclusive_limit" => "--inconclusive-limit",
        "max_error_rate" => "--max-error-rate",
        "max_error_rate_increase" => "--max-error-rate-increase",
        "max_latency_ratio" => "--max-latency-ratio",
        other => other,
    };
    Failure::invalid(format!("{flag}: {error}"))
}

impl AnalysisArgs {
    /// The checks and the sequence policy, validated (exit 3 naming the
    /// flag).
    pub fn policy(&self) -> Result<(Checks, SequencePolicy), Failure> {
        let checks = Checks {
            max_error_rate: self.max_error_rate.0,
            max_error_rate_increase: self.max_error_rate_increase.0,
            max_latency_ratio: self.max_latency_ratio.0,
            min_requests: self.min_requests,
            ..Checks::default()
        };
        checks.validate().map_err(policy_failure)?;
        let defaults = SequencePolicy::with_count(self.count).map_err(policy_failure)?;
        let policy = SequencePolicy::new(
            self.count,
            self.failure_limit.unwrap_or(defaults.failure_limit()),
            self.inconclusive_limit
                .unwrap_or(defaults.inconclusive_limit()),
        )
        .map_err(policy_failure)?;
        Ok((checks, policy))
    }
}

/// `canary analyze`'s arguments.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The app name.
    #[arg(long, value_name = "APP")]
    pub app: String,

    /// The deployment group (HAPROXY_DEPLOYMENT_GROUP). Default: the phase
    /// jobs' canary.deployment-group label, else APP.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,

    /// Print the result as JSON: the decision, the tally and every window.
    #[arg(long, conflicts_with = "events")]
    pub json: bool,

    /// A marathon-lb stats URL (http://HOST:PORT); the host is resolved to
    /// all its addresses, each one marathon-lb instance. Repeatable: every
    /// instance's counters are summed.
    #[arg(long = "marathon-lb", value_name = "URL", default_value = canary_core::DEFAULT_MARATHON_LB_URL)]
    pub marathon_lb: Vec<String>,

    /// The windows and the checks.
    #[command(flatten)]
    pub analysis: AnalysisArgs,

    /// How to reach the cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Report progress as JSON lines on stdout (the human display goes to
    /// stderr); see README.md, "Events for machines".
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub events: Option<EventsFormat>,
}

/// Runs the analysis of `group`'s canary, showing each window.
pub fn run_analysis(
    group: &str,
    analysis: &AnalysisArgs,
    executor: &mut dyn Executor,
    marathon_lb: &[String],
    label: &str,
) -> Result<AnalysisOutcome, Failure> {
    let (checks, policy) = analysis.policy()?;
    let mut lbs = LbStatsClient::new(marathon_lb, LB_TIMEOUT)
        .map_err(|e| Failure::invalid(format!("--marathon-lb: {e}")))?;
    // Every window would be inconclusive without a single load balancer:
    // say so now rather than after --count windows.
    if let Some(why) = crate::sample::none_read(&lbs.observe()) {
        return Err(Failure::cluster(format!(
            "analysis of group {group}: no marathon-lb could be read ({why}); pass --marathon-lb URL"
        )));
    }
    let clock = SystemClock::new();
    let stop = crate::signals::install();
    events::emit(
        "analysis_started",
        json!({"group": group, "at": label, "windows": policy.count(),
               "interval_ms": analysis.interval.as_millis() as u64,
               "policy": policy, "checks": checks}),
    );
    let prefix = format!("analysis {group} ({label})");
    let outcome = analyze(
        AnalysisRun {
            group: group.to_owned(),
            checks,
            policy,
            interval: analysis.interval,
            executor,
            lbs: &mut lbs,
            clock: &clock,
            stop: &stop,
        },
        &mut |event| match event {
            AnalysisEvent::WindowStarted {
                window,
                of,
                interval,
            } => {
                line(&format!(
                    "{prefix}: window {window} of {of} ({})",
                    human(*interval)
                ));
                events::emit(
                    "window_started",
                    json!({"group": group, "window": window, "of": of}),
                );
            }
            AnalysisEvent::WindowJudged {
                window,
                analysis,
                decision,
                tally,
            } => {
                line(&format!("{prefix}: window {window}: {analysis}"));
                events::emit(
                    "verdict",
                    json!({"group": group, "window": window, "analysis": analysis,
                           "decision": decision, "tally": tally}),
                );
            }
        },
    )
    .map_err(|e| match e {
        AnalysisError::Unanalysable(reason) => {
            Failure::refused(format!("analysis refused: {reason}"))
        }
        AnalysisError::Interrupted { .. } => Failure::stopped(format!(
            "{e}; the canary is as it was: rerun the command to analyse again"
        )),
        AnalysisError::Cluster { source, doing } => {
            Failure::from_exec_message(&source, format!("analysis stopped while {doing}: {source}"))
        }
    })?;
    line(&format!("{prefix}: {}", outcome.decision));
    events::emit(
        "analysis_done",
        json!({"group": group, "at": label, "decision": outcome.decision, "tally": outcome.tally}),
    );
    Ok(outcome)
}

/// One line of the human display (stderr), safe for a terminal.
fn line(text: &str) {
    let _ = writeln!(std::io::stderr(), "{}", output::terminal_safe(text));
}

/// `canary analyze`: the verdict of the canary in progress, read-only.
pub fn run(args: &AnalyzeArgs) -> Result<(), Failure> {
    let name = canary_core::AppName::new(&args.app)
        .map_err(|e| Failure::invalid(format!("--app: {e}")))?;
    args.analysis.policy()?;
    let mut executor = crate::backend::executor(&args.cluster)?;
    let group = crate::phase::resolve_group(executor.as_mut(), &name, args.group.as_deref())?;
    // A canary beside its previous app, or nothing to judge: a lone app
    // would only give windows without a baseline.
    let apps = executor
        .group_apps(&group)
        .map_err(|e| Failure::from_exec(&e, &format!("reading deployment group {group}")))?;
    if apps.len() != 2 {
        return Err(Failure::refused(format!(
            "no canary in progress in deployment group {group} ({} app(s)): nothing to analyse",
            apps.len()
        )));
    }
    let outcome = run_analysis(
        &group,
        &args.analysis,
        executor.as_mut(),
        &args.marathon_lb,
        "the canary as it stands",
    )?;
    if args.json {
        let document = json!({
            "group": group,
            "decision": outcome.decision,
            "tally": outcome.tally,
            "windows": outcome.windows,
        });
        output::print(&format!("{document:#}\n"))?;
    } else {
        output::print(&format!(
            "analysis of group {group}: {} ({} passed, {} failed, {} inconclusive of {} windows)\n",
            outcome.decision,
            outcome.tally.passed,
            outcome.tally.failed,
            outcome.tally.inconclusive,
            outcome.tally.windows
        ))?;
    }
    match &outcome.decision {
        Decision::Promote | Decision::Continue => Ok(()),
        Decision::Rollback { reason } => Err(Failure::analysis_failed(format!(
            "the canary of group {group} fails its analysis: {reason}; nothing was changed \
             (canary rollback --app {name} removes it)"
        ))),
        Decision::Stop { reason } => Err(Failure::inconclusive(format!(
            "the analysis of group {group} is inconclusive: {reason}; nothing was changed"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_defaults_are_the_documented_checks() {
        let defaults = Checks::default();
        assert_eq!(parse_rate("5%").unwrap().0, defaults.max_error_rate);
        assert_eq!(
            parse_rate("2%").unwrap().0,
            defaults.max_error_rate_increase
        );
        assert_eq!(parse_ratio("1.5").unwrap().0, defaults.max_latency_ratio);
        assert_eq!(
            100,
            canary_core::analysis::verdict::DEFAULT_MIN_REQUESTS,
            "--min-requests' default"
        );
        assert_eq!(
            5,
            canary_core::analysis::sequence::DEFAULT_COUNT,
            "--count's default"
        );
    }

    #[test]
    fn rates_and_ratios_parse_or_say_what_they_take() {
        assert_eq!(parse_rate("0.05").unwrap().0, Some(0.05));
        assert_eq!(parse_rate("off").unwrap().0, None);
        assert!(
            parse_rate("120%")
                .unwrap_err()
                .contains("between 0% and 100%")
        );
        assert!(parse_rate("x").unwrap_err().contains("such as 5%"));
        assert!(parse_ratio("0").unwrap_err().contains("above 0"));
        assert_eq!(parse_ratio("off").unwrap().0, None);
    }
}
