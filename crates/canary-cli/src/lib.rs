//! `canary`: canary deployments of DC/OS Marathon apps behind marathon-lb.
//!
//! The binary is an adapter: argv in, one session out, the outcome in
//! words and a documented exit code. Each command parses its arguments
//! (`commands/`, the arguments beside the handler), builds the one
//! [`canary_engine::Session`] of the process (`session.rs`: the executor
//! built once, every marathon-lb, the system clock, the stop flag, the
//! display as the event sink), calls one use case of canary-engine (or
//! canary-render, for `render`), and turns the typed outcome or error into
//! words and an exit code (`failure.rs`). Nothing here decides what to do
//! to a cluster.
//!
//! `main.rs` only calls [`main`]; the crate is a library so that a test
//! package can build the same binary (`tests/`, see its README).
//!
//! Files depend on each other in one direction: `commands` on the shared
//! modules (`args`, `bundle`, `session`, `display`, `backend`), those on
//! the ground floor (`failure`, `output`, `events`, `signals`, `guard`,
//! `credentials`, `prompt`, `logging`); `scripts/measure-structure` checks
//! there is no circle.

mod args;
mod backend;
mod bundle;
mod commands;
mod credentials;
mod display;
mod events;
mod failure;
mod guard;
mod logging;
mod native_argv;
mod output;
mod prompt;
mod session;
mod signals;

pub use native_argv::NATIVE_ARGV;

use clap::{CommandFactory, FromArgMatches};
use commands::Cli;
use std::process::ExitCode;

/// The `canary` program: parses the process's arguments, runs the command,
/// and returns its documented exit code (the failure said on stderr).
pub fn main() -> ExitCode {
    let matches = Cli::command()
        .try_get_matches()
        .unwrap_or_else(|e| usage_error(e));
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| usage_error(e));
    // Errors name the variable when a value came from one, not the flag.
    let from_env = |id: &str| {
        matches.subcommand().is_some_and(|(_, sub)| {
            sub.try_get_raw(id).is_ok()
                && sub.value_source(id) == Some(clap::parser::ValueSource::EnvVariable)
        })
    };
    // The analysis options of `deploy` do nothing without --analyze: a
    // user who gave one believes the canary is judged; say it is not.
    if let Some(("deploy", sub)) = matches.subcommand()
        && cli.command.deploy_without_analysis()
    {
        let given = commands::ANALYSIS_FLAGS
            .iter()
            .find(|(id, _)| sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine));
        if let Some((_, flag)) = given {
            usage_error(Cli::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                format!("{flag} is an analysis option: it needs --analyze"),
            ));
        }
    }
    // An option of the other analysis method does nothing: say so.
    if let Some(("deploy" | "analyze", sub)) = matches.subcommand()
        && let Some(conflict) = commands::method_conflict(sub)
    {
        usage_error(Cli::command().error(clap::error::ErrorKind::ArgumentConflict, conflict));
    }
    if let Some(cluster) = cli.command.cluster_mut() {
        cluster.dcos_url_from_env = from_env("dcos_url");
        cluster.tls.ca_cert_from_env = from_env("ca_cert");
    }
    logging::init(cli.verbose);
    credentials::set_username(cli.username);
    events::enable(cli.command.events());
    let command = cli.command.name();
    let result = commands::run(cli.command);
    match result {
        Ok(()) => {
            events::emit(
                "done",
                serde_json::json!({"command": command, "exit_code": 0}),
            );
            ExitCode::SUCCESS
        }
        Err(failure) => {
            events::emit(
                "failed",
                serde_json::json!({"command": command, "exit_code": failure.code(), "error": failure.to_string()}),
            );
            // Messages may quote the cluster: shown, never obeyed.
            let message = output::terminal_safe_keeping(&failure.to_string(), &['\n', '\t']);
            eprintln!("error: {message}");
            failure.exit_code()
        }
    }
}

/// Ends the process on a usage error (exit 2, clap's words), or on
/// `--help`/`--version` (exit 0). With `--events json` on the command line
/// a usage error is also a last `failed` line, as every other end is.
fn usage_error(error: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if !matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) && wants_json_events(std::env::args().skip(1))
    {
        events::enable(Some(events::EventsFormat::Json));
        let command = std::env::args()
            .skip(1)
            .find(|a| !a.starts_with('-'))
            .unwrap_or_default();
        events::emit(
            "failed",
            serde_json::json!({"command": command, "exit_code": 2,
                               "error": error.render().to_string().trim_end()}),
        );
    }
    error.exit()
}

/// Whether the arguments ask for `--events json` (as `--events json` or
/// `--events=json`), read before they parse.
fn wants_json_events(mut args: impl Iterator<Item = String>) -> bool {
    while let Some(arg) = args.next() {
        if arg == "--events=json" || (arg == "--events" && args.next().as_deref() == Some("json")) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::wants_json_events;

    #[test]
    fn json_events_are_found_before_parsing() {
        let args = |a: &[&str]| {
            a.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert!(wants_json_events(args(&[
            "deploy", "--events", "json", "--x"
        ])));
        assert!(wants_json_events(args(&["deploy", "--events=json"])));
        assert!(!wants_json_events(args(&["deploy", "--events"])));
        assert!(!wants_json_events(args(&["deploy", "--image", "json"])));
    }
}
