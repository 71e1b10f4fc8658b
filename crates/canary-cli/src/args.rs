//! The arguments several commands share: how to reach the cluster
//! ([`ClusterArgs`], [`TlsArgs`]), what to render ([`BundleArgs`]), how a
//! native phase runs ([`EngineArgs`]), and the parsers of their values.
//! Each command's own arguments live beside its handler (`commands/`).

use crate::failure::Failure;
use canary_core::plan::Limits;
use canary_core::{DEFAULT_MARATHON_LB_URL, DEFAULT_MARATHON_URL, DEFAULT_MAX_WAIT_SECS};
use clap::Args;
use std::path::PathBuf;

impl TlsArgs {
    /// What gave the CA bundle, as errors name it.
    pub fn ca_cert_origin(&self) -> &'static str {
        if self.ca_cert_from_env {
            "CANARY_CA_CERT"
        } else {
            "--ca-cert"
        }
    }
}

impl ClusterArgs {
    /// What gave the DC/OS URL, as errors name it.
    pub fn dcos_url_origin(&self) -> &'static str {
        if self.dcos_url_from_env {
            "DCOS_URL"
        } else {
            "--dcos-url"
        }
    }
}

/// How a native phase runs.
#[derive(Debug, Args)]
#[command(next_help_heading = "How the phase runs")]
pub struct EngineArgs {
    /// Print the group as it stands and the first step, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// How long the whole phase may take; it stops then, resumable.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,

    /// How long new tasks may take to become healthy.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub health_timeout: std::time::Duration,

    /// How long one drain (sessions lingering on a MAINT server, or in the
    /// old haproxy process of a marathon-lb reload) may take.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration_or_zero)]
    pub drain_timeout: std::time::Duration,

    /// Kill MAINT tasks whose drain outlasted --drain-timeout, open sessions
    /// and all (what zdd.py does after --max-wait). Off by default.
    #[arg(long)]
    pub kill_after_drain_timeout: bool,

    /// How long a drained server must have been seen MAINT before it is
    /// killed: the marathon-lb reload that drained it leaves an old haproxy
    /// worker finishing the requests it had. `auto`: 100ms for the reload's
    /// hand-over plus a tenth again the longest request marathon-lb's
    /// counters show for the backend, or 5s where they cannot tell (only
    /// workers too young to have shown it were read, or no *_max columns).
    /// Give a duration for requests longer than any the counters have seen
    /// (long polls, large downloads).
    #[arg(long, value_name = "auto|DURATION", default_value = "auto", value_parser = parse_reload_linger)]
    pub reload_linger: canary_core::plan::ReloadLinger,

    /// Instances the canary grows by per rollout round (default: about half
    /// again, as zdd.py).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub step: Option<u32>,

    /// A program run before each batch of task kills, as zdd.py runs its
    /// --pre-kill-hook: HOOK OLD_APP_JSON TASK_IDS_JSON NEW_APP_JSON; a
    /// non-zero exit stops the phase before anything is killed.
    #[arg(long, value_name = "PATH")]
    pub pre_kill_hook: Option<PathBuf>,

    /// How long the pre-kill hook may run; past it the hook is killed with
    /// its children, nothing is killed and the phase stops (exit 7).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub pre_kill_hook_timeout: std::time::Duration,

    /// Report progress as JSON lines on stdout (the human display goes to
    /// stderr); see the book, docs/src/guide/events.md.
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub events: Option<crate::events::EventsFormat>,
}

impl EngineArgs {
    /// The limits of every phase the command runs; `keep_failed_canary`
    /// is deploy's own flag.
    pub fn limits(&self, keep_failed_canary: bool) -> Limits {
        Limits {
            health_timeout: self.health_timeout,
            drain_timeout: self.drain_timeout,
            kill_after_drain_timeout: self.kill_after_drain_timeout,
            step: self.step,
            keep_failed_canary,
            reload_linger: self.reload_linger,
        }
    }
}

/// [`parse_duration`], where 0 is allowed (`--drain-timeout 0`).
pub(crate) fn parse_duration_or_zero(s: &str) -> Result<std::time::Duration, String> {
    if s.trim_end_matches(['s', 'm', 'h']) == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    parse_duration(s)
}

/// `--reload-linger`: `auto` or a duration (0 allowed).
fn parse_reload_linger(s: &str) -> Result<canary_core::plan::ReloadLinger, String> {
    match s {
        "auto" => Ok(canary_core::plan::ReloadLinger::Auto),
        s => parse_duration_or_zero(s).map(canary_core::plan::ReloadLinger::Fixed),
    }
}

/// The longest duration any flag takes (a week): past it a value is a
/// mistake, and a wait that long would outlive what it waits for.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// `90`, `90s`, `15m`, `1h`: a duration of at least 1 second and at most
/// [`MAX_DURATION`].
pub(crate) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let malformed = || format!("'{s}' is not a duration such as 90, 90s, 15m or 1h");
    let n: u64 = number.parse().map_err(|_| malformed())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(malformed()),
    };
    let seconds = n.checked_mul(scale);
    if seconds == Some(0) {
        return Err("the duration must be at least 1 second".into());
    }
    match seconds {
        Some(seconds) if seconds <= MAX_DURATION.as_secs() => {
            Ok(std::time::Duration::from_secs(seconds))
        }
        _ => Err(format!(
            "'{s}' is longer than {}h, the longest duration canary takes",
            MAX_DURATION.as_secs() / 3600
        )),
    }
}

/// `--runner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunnerArg {
    /// marathon-lb's zdd.py.
    Zdd,
    /// canary's own engine.
    Native,
}

/// How `canary apply` reaches the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// The DC/OS HTTP APIs (Admin Router).
    Http,
    /// The installed dcos CLI, with its configured cluster and login.
    DcosCli,
}

/// How every command that talks to the cluster reaches it.
#[derive(Debug, Args)]
#[command(next_help_heading = "Cluster")]
pub struct ClusterArgs {
    /// How to reach the cluster.
    #[arg(long, value_enum, default_value_t = Backend::Http)]
    pub backend: Backend,

    /// The DC/OS URL (Admin Router); default: the dcos CLI's attached
    /// cluster (DCOS_DIR or ~/.dcos, DCOS_CLUSTER to pick one).
    #[arg(long, value_name = "URL", env = "DCOS_URL", hide_env_values = true)]
    pub dcos_url: Option<String>,

    /// Whether `dcos_url` came from `DCOS_URL` rather than the flag (set
    /// by `main` from the parser), so that errors name the right one.
    #[arg(skip)]
    pub dcos_url_from_env: bool,

    /// The dcos executable for --backend dcos-cli: a path, or a name looked
    /// up on PATH.
    #[arg(long, value_name = "PATH", default_value = "dcos")]
    pub dcos_bin: PathBuf,

    /// How the cluster's certificate is verified.
    #[command(flatten)]
    pub tls: TlsArgs,

    /// How long a request that fails transiently (the cluster unreachable,
    /// 502/503/504, a Marathon deployment lock) is retried before the
    /// command gives up: seconds, or a number with s, m or h.
    #[arg(
        long,
        value_name = "DURATION",
        env = "CANARY_RETRY_FOR",
        hide_env_values = true,
        default_value = "60s",
        value_parser = parse_duration
    )]
    pub retry_for: std::time::Duration,
}

/// How every command that talks to the cluster verifies its TLS
/// certificate on https:// URLs. Precedence: --insecure, then --ca-cert,
/// then the dcos CLI's core.ssl_verify (for its own cluster only), then the
/// built-in roots.
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// Trust only the CA certificate(s) in FILE (PEM) for the cluster's TLS
    /// certificate, e.g. the cluster's dcos-ca.crt. Default: the dcos CLI's
    /// core.ssl_verify for its attached cluster, else the built-in roots.
    #[arg(
        long,
        value_name = "FILE",
        env = "CANARY_CA_CERT",
        hide_env_values = true
    )]
    pub ca_cert: Option<PathBuf>,

    /// Whether `ca_cert` came from `CANARY_CA_CERT` rather than the flag
    /// (set by `main` from the parser), so that errors name the right one.
    #[arg(skip)]
    pub ca_cert_from_env: bool,

    /// Do not verify the cluster's TLS certificate at all (prints a
    /// warning): anyone on the path can read the traffic, token included.
    #[arg(long)]
    pub insecure: bool,
}

/// What to deploy: the app, its image and template; what `deploy` takes
/// and `render`/`apply` share.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "What to deploy")]
pub struct AppArgs {
    /// The app name: jobs are named deploy-APP-canary, rollout-APP-canary and
    /// rollback-APP-canary, and ./APP.template.json is used when present.
    #[arg(long, value_name = "APP")]
    pub app: String,

    /// The new container image to canary, e.g. registry.example.com/web:1.4.2.
    #[arg(long, value_name = "IMAGE")]
    pub image: String,

    /// The app template (minijinja producing Marathon JSON; the original
    /// tool's "ThisIsAUniqueKey" image placeholder works too). Default:
    /// ./APP.template.json if it exists, else the embedded example web app.
    #[arg(long, value_name = "FILE")]
    pub app_template: Option<PathBuf>,

    /// How many canary instances the deploy job starts (zdd.py
    /// --new-instances; canary deploy --canary-instances).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub canary_instances: u32,

    /// marathon-lb stats URL as reachable from inside the cluster; the port
    /// must be explicit. The zdd.py jobs take one; `canary deploy` reads every
    /// one given (repeatable), each host resolved to all its addresses.
    #[arg(long, value_name = "URL", default_value = DEFAULT_MARATHON_LB_URL)]
    pub marathon_lb: Vec<String>,

    /// A template variable, visible to templates as vars.KEY (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
}

/// How the three Metronome jobs run each phase: what `render` and `apply`
/// take besides the app.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "The jobs (render, apply)")]
pub struct JobArgs {
    /// The Metronome job template. Default: the embedded one.
    #[arg(long, value_name = "FILE")]
    pub job_template: Option<PathBuf>,

    /// DC/OS secret path of a service-account credential for the jobs (zdd.py
    /// or canary), on clusters with authentication. The job references the
    /// secret; its value never appears in the job.
    // Hyphen values are taken, so that a PEM pasted by mistake reaches the
    // check that refuses it without echoing it (clap's "unexpected
    // argument" error would print it).
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    pub service_account_secret: Option<String>,

    /// Marathon URL as reachable from inside the cluster.
    #[arg(long, value_name = "URL", default_value = DEFAULT_MARATHON_URL)]
    pub marathon: String,

    /// What runs each phase in the jobs: zdd (marathon-lb's zdd.py, the
    /// default) or native (canary deploy|rollout|rollback, canary's own
    /// engine). zdd.py fails at its first stats read where marathon-lb's
    /// HAProxy has a CSV column named `-` (HAProxy 2.6 has one): use native
    /// there.
    #[arg(long, value_enum, value_name = "zdd|native")]
    pub runner: Option<RunnerArg>,

    /// zdd: where the runner image holds zdd.py (an absolute path, or a
    /// name on its PATH; default /marathon-lb/zdd.py, marathon-lb's), for
    /// an image other than marathon-lb's, such as one whose zdd.py reads
    /// HAProxy 2.6's stats.
    #[arg(long, value_name = "PATH")]
    pub runner_zdd: Option<String>,

    /// The image the jobs run in. zdd: one with /marathon-lb/zdd.py (default
    /// mesosphere/marathon-lb, pinned); native: one with canary on PATH
    /// (build it from the Dockerfile), or, with --runner-artifact, any image
    /// with sh, base64 and sha256sum (default debian:12.8-slim).
    #[arg(long, value_name = "IMAGE")]
    pub runner_image: Option<String>,

    /// native: a canary binary (Linux x86_64) the jobs fetch into the
    /// sandbox as a Metronome artifact instead of one on the image's PATH;
    /// needs --runner-sha256.
    #[arg(long, value_name = "URL", requires = "runner_sha256")]
    pub runner_artifact: Option<String>,

    /// native: the SHA-256 of --runner-artifact (64 hex digits); the job
    /// checks it before it runs anything.
    #[arg(long, value_name = "HEX", requires = "runner_artifact")]
    pub runner_sha256: Option<String>,

    /// native: the DC/OS URL (Admin Router) as reachable from the jobs.
    /// Default: https://leader.mesos with --service-account-secret (checked
    /// against the sandbox's CA bundle), else http://leader.mesos.
    // The URLs are words of the --help text, not links.
    #[allow(rustdoc::bare_urls)]
    #[arg(long, value_name = "URL")]
    pub runner_dcos_url: Option<String>,

    /// native: how long each job's whole phase may take (canary's --timeout;
    /// default 30m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub runner_timeout: Option<std::time::Duration>,

    /// native: how long new tasks may take to become healthy in the jobs
    /// (canary's --health-timeout; default 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub runner_health_timeout: Option<std::time::Duration>,

    /// native: how long one drain may take in the jobs (canary's
    /// --drain-timeout; default 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_or_zero)]
    pub runner_drain_timeout: Option<std::time::Duration>,

    /// native: the deploy job leaves a canary that never gets healthy in
    /// place (canary's --keep-failed-canary), for the rollback job to remove.
    #[arg(long)]
    pub runner_keep_failed_canary: bool,

    /// Seconds one drain step waits for open connections to close before
    /// zdd.py kills the old tasks anyway (1 to 86400).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_MAX_WAIT_SECS)]
    pub max_wait: u32,
}

/// What every command that renders a bundle takes: the app and its jobs.
#[derive(Debug, Clone, Args)]
pub struct BundleArgs {
    /// The app.
    #[command(flatten)]
    pub app: AppArgs,

    /// The jobs.
    #[command(flatten)]
    pub jobs: JobArgs,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not KEY=VALUE"))?;
    let valid_key = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_key {
        return Err(format!(
            "'{key}' is not a valid variable name (letters, digits and '_', not starting with a digit)"
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// `--group`, when given: a deployment group marathon-lb can name a
/// backend by (checked here rather than by the parser, whose message would
/// echo a control character raw).
pub fn check_group(group: Option<&str>) -> Result<(), Failure> {
    match group {
        None => Ok(()),
        Some(group) => canary_core::validate_deployment_group(group).map_err(|e| {
            Failure::invalid(format!(
                "--group: {}",
                e.to_string()
                    .replace("labels.HAPROXY_DEPLOYMENT_GROUP: ", "")
            ))
        }),
    }
}
