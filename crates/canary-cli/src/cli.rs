//! Command-line syntax.

use canary_core::{DEFAULT_MARATHON_LB_URL, DEFAULT_MARATHON_URL, DEFAULT_MAX_WAIT_SECS};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// The exit code table every help text ends with (a macro, so that
/// `concat!` can put text before it).
macro_rules! exit_codes {
    () => {
        "\
Exit codes:
  0  success
  2  usage error: unknown flag, missing or malformed argument
  3  invalid input: app name, template, app definition, image or settings
  4  I/O error: a file could not be read or written
  5  the cluster could not be reached, or refused a change
  6  not authorized: run `dcos auth login`, or set DCOS_ACS_TOKEN
  7  run --wait: the run failed, or did not finish within --timeout;
     deploy, rollout, rollback, promote: the phase failed (the reason is given)
  8  run, deploy, rollout, rollback, promote: the deployment group is not in
     a state for this phase (see canary status); nothing was changed
  9  deploy, rollout, rollback, promote, analyze: stopped before the end
     (--timeout, a signal); nothing is lost: the message gives the command
     that resumes;
     any command with --backend dcos-cli stopped by a signal: run it again
 10  deploy --analyze: the canary failed its analysis and was rolled back;
     analyze: the canary fails its analysis (the failing numbers are given)
 11  deploy --analyze, analyze: the analysis stopped without evidence either
     way (too many inconclusive windows); the canary is left as it is"
    };
}

const EXIT_CODES: &str = exit_codes!();

/// `apply --help`: where credentials come from, then the exit codes.
const CREDENTIALS_AND_EXIT_CODES: &str = concat!(
    "\
Credentials, in this order (never flags: secrets stay out of argv):
  1. DCOS_ACS_TOKEN: a DC/OS token.
  2. The dcos CLI's token for the attached cluster (DCOS_DIR or ~/.dcos), only
     sent to the cluster it was stored for: `dcos cluster setup` is enough.
  3. DCOS_SERVICE_ACCOUNT_CREDENTIAL: a service account's credential JSON
     {\"scheme\":\"RS256\",\"uid\",\"private_key\",\"login_endpoint\"}, or the path of a
     file holding it: logs in with an RS256 service login token.
  4. --username UID or DCOS_USERNAME, with DCOS_PASSWORD, or DCOS_PASSWORD_FILE
     (its first line), or else, on a terminal, a prompt.
A token from 1 or 2 is used first; a login from 3 or 4 replaces it before it
expires or once when it is refused. A refused login exits 6 and names the uid.

",
    exit_codes!()
);

/// Canary deployments of DC/OS Marathon apps behind marathon-lb.
#[derive(Debug, Parser)]
#[command(
    name = "canary",
    version,
    about = "Canary deployments of DC/OS Marathon apps behind marathon-lb: renders the new app \
             definition and the deploy, rollout and rollback jobs around marathon-lb's zdd.py.",
    after_help = EXIT_CODES,
    max_term_width = 100
)]
pub struct Cli {
    /// Log requests, retries and logins to stderr (-v), with headers (-vv).
    /// Secrets are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = "Global options")]
    pub verbose: u8,

    /// The uid to log in as with a password (DCOS_PASSWORD,
    /// DCOS_PASSWORD_FILE or a prompt); default: DCOS_USERNAME.
    #[arg(
        long,
        global = true,
        value_name = "UID",
        help_heading = "Global options"
    )]
    pub username: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Command {
    /// The cluster options of a command that talks to a cluster.
    pub fn cluster_mut(&mut self) -> Option<&mut ClusterArgs> {
        match self {
            Command::Render(_) | Command::Demo(_) => None,
            Command::Apply(args) => Some(&mut args.cluster),
            Command::Run(args) => Some(&mut args.cluster),
            Command::Status(args) => Some(&mut args.cluster),
            Command::Deploy(args) => Some(&mut args.cluster),
            Command::Rollout(args) | Command::Rollback(args) => Some(&mut args.cluster),
            Command::Promote(args) => Some(&mut args.phase.cluster),
            Command::Analyze(args) => Some(&mut args.cluster),
        }
    }

    /// The `--events` format of a command that takes it.
    pub fn events(&self) -> Option<crate::events::EventsFormat> {
        match self {
            Command::Deploy(args) => args.engine.events,
            Command::Rollout(args) | Command::Rollback(args) => args.engine.events,
            Command::Promote(args) => args.phase.engine.events,
            Command::Analyze(args) => args.events,
            _ => None,
        }
    }

    /// The subcommand's name, as `--events json` reports it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Demo(_) => "demo",
            Command::Render(_) => "render",
            Command::Apply(_) => "apply",
            Command::Run(_) => "run",
            Command::Status(_) => "status",
            Command::Deploy(_) => "deploy",
            Command::Rollout(_) => "rollout",
            Command::Rollback(_) => "rollback",
            Command::Promote(_) => "promote",
            Command::Analyze(_) => "analyze",
        }
    }
}

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

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch the whole story on this machine, no cluster needed: a simulated
    /// DC/OS starts in-process (its jobs really run, with this canary), then
    /// testapp is deployed, its three jobs rendered and applied, the deploy
    /// job run (1 in 4 responses from the canary), the rollout job run, and a
    /// broken canary's deploy job fails and its rollback job restores the
    /// app; then a traffic ladder with automated analysis under load rolls a
    /// failing canary back and a good one out; each step printed as the
    /// command you would type, and checked.
    #[command(after_help = EXIT_CODES)]
    Demo(DemoArgs),
    /// Render the new app definition and the deploy, rollout and rollback
    /// Metronome jobs as JSON, for review. Needs no cluster.
    #[command(after_help = EXIT_CODES)]
    Render(RenderArgs),
    /// Render the jobs as `render` does and put them on a cluster: create
    /// missing jobs, leave identical ones, replace changed ones after
    /// stopping their active runs. Running it twice changes nothing.
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Apply(ApplyArgs),
    /// Start a run of one phase's job (deploy, rollout or rollback); with
    /// --wait, follow it until it finishes.
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Run(RunArgs),
    /// Show the deployment group as it stands: its apps (colour, image,
    /// instances, running, healthy, started at), each version's share of the
    /// healthy instances, whether a canary is in progress, and the phase jobs
    /// with their last run.
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Status(StatusArgs),
    /// Deploy the new image natively, without zdd.py: into an empty group,
    /// the whole app; beside a live app, a canary of --canary-instances of
    /// the other colour while the live app shrinks by as many, each old task
    /// killed only once marathon-lb has drained it on every instance.
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Deploy(Box<DeployArgs>),
    /// Grow the canary to the full count and remove the previous app,
    /// draining every old task through marathon-lb first.
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Rollout(PhaseArgs),
    /// Move a canary climbing a traffic ladder (deploy --steps) to its next
    /// step, or, past the last step or with --full, roll it out.
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Promote(PromoteArgs),
    /// Restore the previous app to the count it had before the canary and
    /// remove the canary once drained (healthy, unhealthy or half scaled).
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Rollback(PhaseArgs),
    /// Judge the canary in progress from every marathon-lb's own counters,
    /// changing nothing: over --count windows of --interval, its error rate
    /// and mean response time against the previous app's; exit 0 when it
    /// passes, 10 when it fails, 11 when the data do not tell.
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Analyze(crate::analyze::AnalyzeArgs),
}

/// `canary demo`'s arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Serve the simulated marathon-lb with the sim's own frontend even
    /// when a haproxy is installed.
    #[arg(long)]
    pub no_haproxy: bool,

    /// Cluster time per real second (1 to 50).
    #[arg(long, value_name = "N", default_value_t = 10.0, value_parser = parse_speed)]
    pub speed: f64,

    /// Also write what every step did and saw (its exit code, the group's
    /// apps, the responses sampled) as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(n) if (1.0..=50.0).contains(&n) => Ok(n),
        _ => Err("a number from 1 to 50".into()),
    }
}

/// `canary deploy`'s arguments.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// What to deploy (the same options as `canary render`; --marathon-lb may
    /// be repeated here).
    #[command(flatten)]
    pub bundle: BundleArgs,

    /// How to reach the cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// How the phase runs.
    #[command(flatten)]
    pub engine: EngineArgs,

    /// Leave a canary that never gets healthy in place for debugging
    /// (default: it is removed, and the deploy fails).
    #[arg(long)]
    pub keep_failed_canary: bool,

    /// Deploy this app definition (JSON, as `canary render` wrote it) instead
    /// of rendering the app template: what the native runner's deploy job
    /// does with the definition it carries. Its image must be --image.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["app_template", "vars"])]
    pub app_definition: Option<PathBuf>,

    /// The traffic ladder: the canary climbs these steps, instance counts or
    /// shares of the target (e.g. 1,25%,50%), draining as always; between
    /// steps it pauses for --pause, or stops until `canary promote`.
    #[arg(long, value_name = "STEPS", value_parser = parse_steps, conflicts_with = "canary_instances")]
    pub steps: Option<canary_core::engine::ladder::Ladder>,

    /// With --steps: how long to stay at each step before the next (and,
    /// after the last, before the rollout). Without it, the deploy stops at
    /// each step until `canary promote`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "steps")]
    pub pause: Option<std::time::Duration>,

    /// Analyse the canary once it is healthy (at each step of --steps):
    /// passing, it goes on (the next step, finally the rollout); failing,
    /// it is rolled back (exit 10); inconclusive, it is left (exit 11).
    #[arg(long)]
    pub analyze: bool,

    /// The analysis (with --analyze).
    #[command(flatten, next_help_heading = "Analysis (with --analyze)")]
    pub analysis: crate::analyze::AnalysisArgs,
}

fn parse_steps(s: &str) -> Result<canary_core::engine::ladder::Ladder, String> {
    canary_core::engine::ladder::Ladder::parse(s).map_err(|e| e.to_string())
}

/// `canary promote`'s arguments.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The group and its canary, as for rollout.
    #[command(flatten)]
    pub phase: PhaseArgs,

    /// Go straight to the full rollout instead of the next step.
    #[arg(long)]
    pub full: bool,
}

/// `canary rollout`'s and `canary rollback`'s arguments.
#[derive(Debug, Args)]
pub struct PhaseArgs {
    /// The app name.
    #[arg(long, value_name = "APP")]
    pub app: String,

    /// The deployment group (HAPROXY_DEPLOYMENT_GROUP). Default: the phase
    /// jobs' canary.deployment-group label, else APP.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,

    /// The canary's image: refuses a canary of another image (rollout), and
    /// makes a rerun after the phase finished a no-op.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,

    /// A marathon-lb stats URL (http://HOST:PORT); the host is resolved to
    /// all its addresses, each one marathon-lb instance. Repeatable.
    #[arg(long = "marathon-lb", value_name = "URL", default_value = DEFAULT_MARATHON_LB_URL)]
    pub marathon_lb: Vec<String>,

    /// How to reach the cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// How the phase runs.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// How a native phase runs.
#[derive(Debug, Args)]
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

    /// Instances the canary grows by per rollout round (default: about half
    /// again, as zdd.py).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub step: Option<u32>,

    /// A program run before each batch of task kills, as zdd.py runs its
    /// --pre-kill-hook: HOOK OLD_APP_JSON TASK_IDS_JSON NEW_APP_JSON; a
    /// non-zero exit stops the phase before anything is killed.
    #[arg(long, value_name = "PATH")]
    pub pre_kill_hook: Option<PathBuf>,

    /// Report progress as JSON lines on stdout (the human display goes to
    /// stderr); see README.md, "Events for machines".
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub events: Option<crate::events::EventsFormat>,
}

/// `canary status`'s arguments.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The app name (its jobs are deploy|rollout|rollback-APP-canary; the
    /// deployment group is their canary.deployment-group label, else APP).
    #[arg(long, value_name = "APP")]
    pub app: String,

    /// How to reach the cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Print the status as one JSON document (stable; see the README) instead
    /// of a table.
    #[arg(long)]
    pub json: bool,

    /// Sampling the traffic split.
    #[command(flatten)]
    pub sample: SampleArgs,
}

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

/// `canary run`'s arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Which phase's job to run.
    #[arg(value_enum)]
    pub phase: PhaseArg,

    /// The app name (the job is PHASE-APP-canary).
    #[arg(long, value_name = "APP")]
    pub app: String,

    /// How to reach the cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Follow the run until it finishes; exit 7 if it fails or times out.
    #[arg(long)]
    pub wait: bool,

    /// Start the run even when the deployment group is not in a state for
    /// this phase (a canary already in progress for deploy, none for rollout
    /// or rollback, an active phase run, a Marathon deployment in progress).
    #[arg(long)]
    pub force: bool,

    /// How long --wait follows the run: seconds, or a number with s, m or h.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
}

/// A phase, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PhaseArg {
    /// deploy-APP-canary: start the canary.
    Deploy,
    /// rollout-APP-canary: make the canary the whole app.
    Rollout,
    /// rollback-APP-canary: remove the canary.
    Rollback,
}

/// [`parse_duration`], where 0 is allowed (`--drain-timeout 0`).
fn parse_duration_or_zero(s: &str) -> Result<std::time::Duration, String> {
    if s.trim_end_matches(['s', 'm', 'h']) == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    parse_duration(s)
}

/// `--observe`: a duration of at most ten minutes.
fn parse_observe(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if d > std::time::Duration::from_secs(600) {
        return Err(format!("'{s}' is longer than the 10m --observe may last"));
    }
    Ok(d)
}

pub(crate) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration such as 90, 90s, 15m or 1h"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => {
            return Err(format!(
                "'{s}' is not a duration such as 90, 90s, 15m or 1h"
            ));
        }
    };
    if seconds == 0 {
        return Err("the duration must be at least 1 second".into());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

/// `canary render`'s arguments.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// What to render.
    #[command(flatten)]
    pub bundle: BundleArgs,

    /// Write new-app-definition.json and the three job files into DIR
    /// (created if missing) instead of printing one JSON document.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
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

/// `canary apply`'s arguments.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// What to render and apply (the same options as `canary render`).
    #[command(flatten)]
    pub bundle: BundleArgs,

    /// How to reach the cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Print what would change, with a diff against the live jobs, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// How every command that talks to the cluster reaches it.
#[derive(Debug, Args)]
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

/// What every command that renders a bundle takes.
#[derive(Debug, Clone, Args)]
pub struct BundleArgs {
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

    /// The Metronome job template. Default: the embedded one.
    #[arg(long, value_name = "FILE")]
    pub job_template: Option<PathBuf>,

    /// How many canary instances the deploy job starts (zdd.py
    /// --new-instances; canary deploy --canary-instances).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub canary_instances: u32,

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

    /// marathon-lb stats URL as reachable from inside the cluster; the port
    /// must be explicit. The zdd.py jobs take one; `canary deploy` reads every
    /// one given (repeatable), each host resolved to all its addresses.
    #[arg(long, value_name = "URL", default_value = DEFAULT_MARATHON_LB_URL)]
    pub marathon_lb: Vec<String>,

    /// What runs each phase in the jobs: zdd (marathon-lb's zdd.py) or
    /// native (canary deploy|rollout|rollback, canary's own engine).
    #[arg(long, value_enum, default_value_t = RunnerArg::Zdd)]
    pub runner: RunnerArg,

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

    /// A template variable, visible to templates as vars.KEY (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
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
