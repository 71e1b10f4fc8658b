//! The commands: the syntax of the command line ([`Cli`]), each command's
//! arguments beside its handler (one module per command), and the
//! dispatch from one to the other.

mod analyze;
mod apply;
#[cfg(feature = "demo")]
mod demo;
mod deploy;
mod phase;
mod promote;
mod render;
mod report;
mod run;
mod sample;
mod status;

use crate::args::ClusterArgs;
use crate::events::EventsFormat;
use crate::failure::Failure;
use clap::{Parser, Subcommand};

pub use analyze::{ANALYSIS_FLAGS, method_conflict};

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
     way (too many inconclusive windows); the canary is left as it is
 12  deploy, rollout, rollback, promote, analyze: someone else changed the
     deployment group meanwhile (rolled back, rolled out, promoted,
     redeployed); the command stopped before its next change and says what
     it found and what it had done"
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
    bin_name = "canary",
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
            Command::Render(_) | Command::Report(_) => None,
            #[cfg(feature = "demo")]
            Command::Demo(_) => None,
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
    pub fn events(&self) -> Option<EventsFormat> {
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
            #[cfg(feature = "demo")]
            Command::Demo(_) => "demo",
            Command::Render(_) => "render",
            Command::Report(_) => "report",
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

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    #[cfg(feature = "demo")]
    /// Watch the whole story on this machine, no cluster needed: a simulated
    /// DC/OS starts in-process (its jobs really run, with this canary), then
    /// testapp is deployed, its three jobs rendered and applied, the deploy
    /// job run (1 in 4 responses from the canary), the rollout job run, and a
    /// broken canary's deploy job fails and its rollback job restores the
    /// app; then a traffic ladder with automated analysis under load rolls a
    /// failing canary back and a good one out; each step printed as the
    /// command you would type, and checked.
    #[command(after_help = EXIT_CODES)]
    Demo(demo::DemoArgs),
    /// Render the new app definition and the deploy, rollout and rollback
    /// Metronome jobs as JSON, for review. Needs no cluster.
    #[command(after_help = EXIT_CODES)]
    Render(render::RenderArgs),
    /// Render the jobs as `render` does and put them on a cluster: create
    /// missing jobs, leave identical ones, replace changed ones after
    /// stopping their active runs. Running it twice changes nothing.
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Apply(apply::ApplyArgs),
    /// Start a run of one phase's job (deploy, rollout or rollback); with
    /// --wait, follow it until it finishes.
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Run(run::RunArgs),
    /// Show the deployment group as it stands: its apps (colour, image,
    /// instances, running, healthy, started at), each version's share of the
    /// healthy instances, whether a canary is in progress, and the phase jobs
    /// with their last run.
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Status(status::StatusArgs),
    /// Deploy the new image natively, without zdd.py: into an empty group,
    /// the whole app; beside a live app, a canary of --canary-instances of
    /// the other colour while the live app shrinks by as many, each old task
    /// killed only once marathon-lb has drained it on every instance.
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Deploy(Box<deploy::DeployArgs>),
    /// Grow the canary to the full count and remove the previous app,
    /// draining every old task through marathon-lb first.
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Rollout(phase::PhaseArgs),
    /// Move a canary climbing a traffic ladder (deploy --steps) to its next
    /// step, or, past the last step or with --full, roll it out.
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Promote(promote::PromoteArgs),
    /// Restore the previous app to the count it had before the canary and
    /// remove the canary once drained (healthy, unhealthy or half scaled).
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Rollback(phase::PhaseArgs),
    /// Judge the canary in progress from every marathon-lb's own counters,
    /// changing nothing: its error rate and response time against the
    /// previous app's, at every read (sequential, the default) or per
    /// window; exit 0 when it passes, 10 when it fails, 11 when the data do
    /// not tell.
    #[command(after_help = EXIT_CODES, after_long_help = CREDENTIALS_AND_EXIT_CODES)]
    Analyze(analyze::AnalyzeArgs),
    /// Draw a run from its --events json log: a self-contained HTML page
    /// with the share of responses per version over time and the analysis
    /// window by window (or the same data as JSON). Needs no cluster.
    #[command(after_help = EXIT_CODES)]
    Report(report::ReportArgs),
}

/// Runs the command.
pub fn run(command: Command) -> Result<(), Failure> {
    match command {
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(&args),
        Command::Render(args) => render::run(&args),
        Command::Apply(args) => apply::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Deploy(args) => deploy::run(&args),
        Command::Rollout(args) => phase::rollout_or_back(canary_core::Phase::Rollout, &args),
        Command::Rollback(args) => phase::rollout_or_back(canary_core::Phase::Rollback, &args),
        Command::Promote(args) => promote::run(&args),
        Command::Analyze(args) => analyze::run(&args),
        Command::Report(args) => report::run(&args),
    }
}

impl Command {
    /// Whether `deploy` was given without `--analyze` (its analysis
    /// options then do nothing).
    pub fn deploy_without_analysis(&self) -> bool {
        matches!(self, Command::Deploy(args) if !args.analyze)
    }
}
