//! `canary analyze`, and the analysis options `canary deploy --analyze`
//! shares: the windows canary-engine's `analyze` takes from every
//! marathon-lb, judged by canary-core's pure analysis; the display shows
//! one line per window (stderr) and `--events json`.

use super::phase::resolve_group;
use crate::args::{ClusterArgs, parse_duration};
use crate::display::Display;
use crate::events::EventsFormat;
use crate::failure::Failure;
use crate::output;
use crate::session::{Lbs, OnSignal, with_session};
use canary_core::analysis::{Checks, Decision, PolicyError, SequencePolicy, SequentialPolicy};
use canary_engine::analyze::{AnalysisError, AnalysisRun, Method, analyze, probe};
use canary_engine::group;
use clap::Args;
use serde_json::json;
use std::time::Duration;

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

/// `--analysis`: how the canary is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AnalysisKind {
    /// At every read (every --interval, default 5s), by an anytime-valid
    /// test of the error rates and a Mann-Whitney test of latency: decides
    /// as soon as the evidence allows, false verdicts at most --alpha.
    Sequential,
    /// Fixed windows (--interval, default 60s) judged by thresholds.
    Windows,
}

/// How a canary is analysed: the method, its reads and the checks.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Analysis (deploy: with --analyze)")]
pub struct AnalysisArgs {
    /// How the canary is judged: sequential (the default: it decides as
    /// soon as the evidence allows, with a false-verdict probability of at
    /// most --alpha however often it looks) or windows (fixed windows and
    /// thresholds).
    #[arg(long, value_name = "METHOD", value_enum, default_value_t = AnalysisKind::Sequential)]
    pub analysis: AnalysisKind,

    /// Sequential: the time between two reads of every marathon-lb's
    /// counters (default 5s). Windows: how long each window lasts (default
    /// 60s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,

    /// Sequential: the probability of a false verdict (a good canary
    /// failed, or a bad one passed), however often the test looks.
    #[arg(long, value_name = "P", default_value = "0.05", value_parser = parse_alpha)]
    pub alpha: f64,

    /// Sequential: how much higher than the baseline's the canary's error
    /// rate may be (percentage points: 1% = 0.01). Above it with
    /// confidence fails the canary; below it with confidence passes it.
    #[arg(long, value_name = "RATE", default_value = "1%", value_parser = parse_margin)]
    pub margin: f64,

    /// Sequential: the shortest analysis before a pass (a failure may come
    /// at any read).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub min_duration: Duration,

    /// The longest one analysis may take (each step's, in a ladder).
    /// Sequential: with no decision by then it stops, inconclusive.
    /// Windows: an analysis planned longer (--interval × --count) is
    /// refused before anything is changed.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub max_duration: Duration,

    /// Windows: how many windows one analysis takes; the canary passes
    /// once they are over with at least one passing (and too few failing).
    /// Default 5.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub count: Option<u32>,

    /// Windows: failing windows (in all, not in a row) that fail the
    /// canary: --analyze rolls it back. Default 2, at most --count.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub failure_limit: Option<u32>,

    /// Windows: inconclusive windows (too few requests, no baseline) that
    /// stop the analysis, leaving the canary as it is (exit 11). Default 3,
    /// at most --count.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub inconclusive_limit: Option<u32>,

    /// The canary's highest error rate ((5xx + connection and response
    /// errors) / requests), e.g. 5% or 0.05; off turns it off. Windows: per
    /// window. Sequential: a guard rail on its running total.
    #[arg(long, value_name = "RATE", default_value = "5%", value_parser = parse_rate)]
    pub max_error_rate: Threshold,

    /// Windows: the most the canary's error rate may exceed the baseline's,
    /// in percentage points (2% = 0.02); off turns it off. Default 2%.
    /// (Sequential: --margin.)
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub max_error_rate_increase: Option<Threshold>,

    /// The most the canary's mean response time may be, as a multiple of
    /// the baseline's (both counted as at least 5 ms); off turns it off.
    /// Sequential: a guard rail on the running means.
    #[arg(long, value_name = "RATIO", default_value = "1.5", value_parser = parse_ratio)]
    pub max_latency_ratio: Threshold,

    /// The fewest requests each side needs for a verdict (windows: in a
    /// window, below it the window is inconclusive; sequential: in all,
    /// before any decision).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub min_requests: u64,
}

/// The analysis options: clap's argument ids and their flags.
pub const ANALYSIS_FLAGS: [(&str, &str); 13] = [
    ("analysis", "--analysis"),
    ("interval", "--interval"),
    ("alpha", "--alpha"),
    ("margin", "--margin"),
    ("min_duration", "--min-duration"),
    ("max_duration", "--max-duration"),
    ("count", "--count"),
    ("failure_limit", "--failure-limit"),
    ("inconclusive_limit", "--inconclusive-limit"),
    ("max_error_rate", "--max-error-rate"),
    ("max_error_rate_increase", "--max-error-rate-increase"),
    ("max_latency_ratio", "--max-latency-ratio"),
    ("min_requests", "--min-requests"),
];

/// The options of one method only: (clap id, flag, the method).
const METHOD_FLAGS: [(&str, &str, AnalysisKind); 7] = [
    ("alpha", "--alpha", AnalysisKind::Sequential),
    ("margin", "--margin", AnalysisKind::Sequential),
    ("min_duration", "--min-duration", AnalysisKind::Sequential),
    ("count", "--count", AnalysisKind::Windows),
    ("failure_limit", "--failure-limit", AnalysisKind::Windows),
    (
        "inconclusive_limit",
        "--inconclusive-limit",
        AnalysisKind::Windows,
    ),
    (
        "max_error_rate_increase",
        "--max-error-rate-increase",
        AnalysisKind::Windows,
    ),
];

/// A flag given on the command line that the chosen `--analysis` does not
/// use, in words (a usage error: the user believes it applies).
pub fn method_conflict(sub: &clap::ArgMatches) -> Option<String> {
    let kind = sub.try_get_one::<AnalysisKind>("analysis").ok().flatten()?;
    let given = |id: &str| sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    METHOD_FLAGS
        .iter()
        .find(|(id, _, method)| method != kind && given(id))
        .map(|(_, flag, method)| {
            let method = match method {
                AnalysisKind::Sequential => "sequential",
                AnalysisKind::Windows => "windows",
            };
            format!("{flag} applies to --analysis {method}")
        })
}

/// `--alpha`: above 0 and at most 0.5.
fn parse_alpha(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 0.5 => Ok(v),
        _ => Err(format!(
            "'{s}' is not a probability above 0 and at most 0.5, such as 0.05"
        )),
    }
}

/// `--margin`: a rate below 100%.
fn parse_margin(s: &str) -> Result<f64, String> {
    match parse_rate(s)?.0 {
        Some(v) if v < 1.0 => Ok(v),
        _ => Err(format!("'{s}' is not a margin such as 1% or 0.01")),
    }
}

/// A policy error as the flag that caused it.
fn policy_failure(error: PolicyError) -> Failure {
    let flag = match error.field() {
        "count" => "--count",
        "failure_limit" => "--failure-limit",
        "inconclusive_limit" => "--inconclusive-limit",
        "max_error_rate" => "--max-error-rate",
        "max_error_rate_increase" => "--max-error-rate-increase",
        "max_latency_ratio" => "--max-latency-ratio",
        "alpha" => "--alpha",
        "margin" => "--margin",
        "min_duration" => "--min-duration",
        other => other,
    };
    Failure::invalid(format!("{flag}: {error}"))
}

impl AnalysisArgs {
    /// The method with its checks and policy, validated (exit 3 naming the
    /// flag), and the interval.
    pub fn plan(&self) -> Result<(Method, Duration), Failure> {
        let checks = Checks {
            max_error_rate: self.max_error_rate.0,
            max_error_rate_increase: self.max_error_rate_increase.map_or(
                Some(canary_core::analysis::verdict::DEFAULT_MAX_ERROR_RATE_INCREASE),
                |t| t.0,
            ),
            max_latency_ratio: self.max_latency_ratio.0,
            min_requests: self.min_requests,
            ..Checks::default()
        };
        checks.validate().map_err(policy_failure)?;
        match self.analysis {
            AnalysisKind::Sequential => {
                let policy = SequentialPolicy {
                    alpha: self.alpha,
                    margin: self.margin,
                    min_duration: self.min_duration,
                    max_duration: self.max_duration,
                    guard_rails: Checks {
                        max_error_rate_increase: None,
                        ..checks
                    },
                    ..SequentialPolicy::default()
                };
                policy.validate().map_err(policy_failure)?;
                let interval = self.interval.unwrap_or(Duration::from_secs(5));
                if interval > self.max_duration {
                    return Err(Failure::invalid(format!(
                        "--interval {} is longer than --max-duration {}: the analysis would end before its first read",
                        humane(interval),
                        humane(self.max_duration)
                    )));
                }
                Ok((Method::Sequential(policy), interval))
            }
            AnalysisKind::Windows => {
                let count = self.count.unwrap_or(5);
                let defaults = SequencePolicy::with_count(count).map_err(policy_failure)?;
                let policy = SequencePolicy::new(
                    count,
                    self.failure_limit.unwrap_or(defaults.failure_limit()),
                    self.inconclusive_limit
                        .unwrap_or(defaults.inconclusive_limit()),
                )
                .map_err(policy_failure)?;
                let interval = self.interval.unwrap_or(Duration::from_secs(60));
                // The analysis's length is known before it starts: a long
                // interval is refused now, not found out hours into a
                // deploy.
                let planned = interval.saturating_mul(count);
                if planned > self.max_duration {
                    return Err(Failure::invalid(format!(
                        "--interval {}s × --count {count} is {}, longer than --max-duration {}: shorten the windows or raise --max-duration",
                        interval.as_secs(),
                        humane(planned),
                        humane(self.max_duration)
                    )));
                }
                Ok((Method::Windows { checks, policy }, interval))
            }
        }
    }
}

/// `5400s` as `1h30m`: a duration in the words of the flags.
fn humane(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

/// `canary analyze`'s arguments.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Report progress as JSON lines on stdout (the human display goes to
    /// stderr); see the book, docs/src/guide/events.md.
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub events: Option<EventsFormat>,

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
}

/// An analysis that did not reach a decision, in words.
pub fn analysis_failure(error: AnalysisError, group: &str) -> Failure {
    match error {
        AnalysisError::Unanalysable(reason) => {
            Failure::refused(format!("analysis refused: {reason}"))
        }
        AnalysisError::NoLoadBalancer(why) => Failure::cluster(format!(
            "analysis of group {group}: no marathon-lb could be read ({why}); pass --marathon-lb URL"
        )),
        e @ AnalysisError::Moved { .. } => Failure::moved(format!(
            "deployment group {group} was changed by someone else: {e}"
        )),
        e @ AnalysisError::Interrupted { .. } => Failure::stopped(format!(
            "{e}; the canary is as it was: rerun the command to analyse again"
        )),
        AnalysisError::Cluster { source, doing } => {
            Failure::from_exec_message(&source, format!("analysis stopped while {doing}: {source}"))
        }
    }
}

/// `canary analyze`: the verdict of the canary in progress, read-only.
pub fn run(args: &AnalyzeArgs) -> Result<(), Failure> {
    let name = canary_core::AppName::new(&args.app)
        .map_err(|e| Failure::invalid(format!("--app: {e}")))?;
    crate::args::check_group(args.group.as_deref())?;
    let (method, interval) = args.analysis.plan()?;
    let mut display = Display::new();
    let (group, outcome) = with_session(
        &args.cluster,
        Some(Lbs::new(&args.marathon_lb)),
        OnSignal::Stop,
        &mut display,
        |session| {
            let group = resolve_group(session, &name, args.group.as_deref())?;
            // A canary beside its previous app, or nothing to judge: a lone
            // app would only give windows without a baseline.
            let apps = group::apps(session, &group).map_err(|e| {
                Failure::from_exec(&e, &format!("reading deployment group {group}"))
            })?;
            if apps.len() != 2 {
                return Err(Failure::refused(format!(
                    "no canary in progress in deployment group {group} ({} app(s)): nothing to analyse",
                    apps.len()
                )));
            }
            // Every window would be inconclusive without a single load
            // balancer: said now rather than after --count windows.
            probe(session, &group).map_err(|e| analysis_failure(e, &group))?;
            let outcome = analyze(
                session,
                AnalysisRun {
                    group: group.clone(),
                    canary: None,
                    at: "the canary as it stands".to_owned(),
                    method,
                    interval,
                },
            )
            .map_err(|e| analysis_failure(e, &group))?;
            Ok((group, outcome))
        },
    )?;
    if args.json {
        let mut document = json!({
            "group": group,
            "method": if outcome.sequential.is_some() { "sequential" } else { "windows" },
            "decision": outcome.decision,
            "tally": outcome.tally,
            "windows": outcome.windows,
        });
        if let Some(report) = &outcome.sequential {
            document["report"] = json!(report);
        }
        output::print(&format!("{document:#}\n"))?;
    } else if let Some(report) = &outcome.sequential {
        output::print(&format!(
            "analysis of group {group}: {} ({report})\n",
            outcome.decision
        ))?;
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
