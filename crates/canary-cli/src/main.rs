//! `canary`: canary deployments of DC/OS Marathon apps behind marathon-lb.
//!
//! This binary is thin: it parses arguments, reads files, calls
//! `canary-render` (which calls `canary-core`), writes the result, and maps
//! every failure to a documented exit code (see `canary --help`).

mod analyze;
mod apply;
mod backend;
mod cli;
mod credentials;
mod events;
mod failure;
mod guard;
mod ladder;
mod logging;
mod output;
mod phase;
mod prompt;
mod run;
mod sample;
mod signals;
mod status;

use canary_core::{AppName, CanaryRequest, RunnerConfig};
use canary_render::{Renderer, TemplateSource};
use clap::{CommandFactory, FromArgMatches};
use cli::{BundleArgs, Cli, Command, RenderArgs};
use failure::Failure;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // Errors name the variable when a value came from one, not the flag.
    let from_env = |id: &str| {
        matches.subcommand().is_some_and(|(_, sub)| {
            sub.try_get_raw(id).is_ok()
                && sub.value_source(id) == Some(clap::parser::ValueSource::EnvVariable)
        })
    };
    // The analysis options of `deploy` do nothing without --analyze: a
    // user who gave one believes the canary is judged; say it is not.
    if let (Command::Deploy(args), Some(("deploy", sub))) = (&cli.command, matches.subcommand())
        && !args.analyze
    {
        let given = analyze::ANALYSIS_FLAGS
            .iter()
            .find(|(id, _)| sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine));
        if let Some((_, flag)) = given {
            Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!("{flag} is an analysis option: it needs --analyze"),
                )
                .exit();
        }
    }
    if let Some(cluster) = cli.command.cluster_mut() {
        cluster.dcos_url_from_env = from_env("dcos_url");
        cluster.tls.ca_cert_from_env = from_env("ca_cert");
    }
    logging::init(cli.verbose);
    credentials::set_username(cli.username);
    events::enable(cli.command.events());
    let command = cli.command.name();
    let result = match cli.command {
        Command::Demo(args) => demo(&args),
        Command::Render(args) => render(&args),
        Command::Apply(args) => apply::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Deploy(args) => phase::deploy(&args),
        Command::Rollout(args) => phase::rollout_or_back(canary_core::Phase::Rollout, &args),
        Command::Rollback(args) => phase::rollout_or_back(canary_core::Phase::Rollback, &args),
        Command::Promote(args) => ladder::promote(&args),
        Command::Analyze(args) => analyze::run(&args),
    };
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

/// The largest template read (the embedded ones are about 2 KiB).
pub const TEMPLATE_LIMIT: bounded_read::Limit = bounded_read::Limit::mib(1);

/// Reads a template file; `what` and `flag` (the flag that named it, if
/// any) name it in errors: exit 4 when it cannot be read, 3 when it is too
/// large or not UTF-8.
fn read_template(path: &Path, what: &str, flag: Option<&str>) -> Result<TemplateSource, Failure> {
    let name = path.display().to_string();
    let text = bounded_read::read_text(path, TEMPLATE_LIMIT).map_err(|e| {
        let flag = flag.map(|f| format!(" ({f})")).unwrap_or_default();
        if e.is_io() {
            Failure::io(format!("cannot read {what} '{name}'{flag}: {e}"))
        } else {
            Failure::invalid(format!("{what} '{name}'{flag} is refused: {e}"))
        }
    })?;
    Ok(TemplateSource::new(name, text))
}

/// The app template: `--app-template`, else `./APP.template.json` (the
/// original tool's convention), else the embedded example.
fn app_template(args: &BundleArgs, name: &AppName) -> Result<TemplateSource, Failure> {
    if let Some(path) = &args.app_template {
        return read_template(path, "app template", Some("--app-template"));
    }
    let conventional = format!("{name}.template.json");
    if Path::new(&conventional).exists() {
        return read_template(Path::new(&conventional), "app template", None);
    }
    Ok(TemplateSource::embedded_app())
}

/// Renders the bundle the arguments describe: the one code path of `render`
/// and `apply`.
fn render_bundle(args: &BundleArgs) -> Result<canary_render::RenderedBundle, Failure> {
    // The name is checked first: it becomes a file name and three job ids.
    let name = AppName::new(&args.app).map_err(|e| Failure::invalid(format!("--app: {e}")))?;
    let app = app_template(args, &name)?;
    let job = match &args.job_template {
        Some(path) => read_template(path, "job template", Some("--job-template"))?,
        None => TemplateSource::embedded_job(),
    };
    let what = format!("the templates ({}, {})", app.name(), job.name());
    let request = CanaryRequest {
        app_name: name,
        image: args.image.clone(),
        canary_instances: args.canary_instances,
        runner: runner_config(args)?,
    };
    let vars: BTreeMap<String, String> = args.vars.iter().cloned().collect();
    // Fuel and the output limit bound each template; the watchdog bounds
    // what a single step of one can allocate or spend.
    guard::watched(&what, || {
        Renderer::new(app, job)
            .and_then(|renderer| renderer.render(&request, &vars))
            .map_err(|e| Failure::from_render(e, &args.vars))
    })
}

/// The runner the flags describe; the image defaults by runner (zdd:
/// marathon-lb's; native with a fetched binary: a pinned Debian; native
/// alone has none: it must be given).
fn runner_config(args: &BundleArgs) -> Result<RunnerConfig, Failure> {
    let kind = match args.runner {
        cli::RunnerArg::Zdd => canary_core::RunnerKind::Zdd,
        cli::RunnerArg::Native => canary_core::RunnerKind::Native,
    };
    let native = kind == canary_core::RunnerKind::Native;
    if !native {
        for (flag, given) in [
            ("--runner-artifact", args.runner_artifact.is_some()),
            ("--runner-dcos-url", args.runner_dcos_url.is_some()),
            ("--runner-timeout", args.runner_timeout.is_some()),
            (
                "--runner-health-timeout",
                args.runner_health_timeout.is_some(),
            ),
            (
                "--runner-drain-timeout",
                args.runner_drain_timeout.is_some(),
            ),
            (
                "--runner-keep-failed-canary",
                args.runner_keep_failed_canary,
            ),
        ] {
            if given {
                return Err(Failure::invalid(format!(
                    "{flag} is for --runner native (the zdd.py jobs run marathon-lb's image)"
                )));
            }
        }
    }
    let artifact = match (&args.runner_artifact, &args.runner_sha256) {
        (Some(url), Some(sha256)) => Some(canary_core::RunnerArtifact {
            url: url.clone(),
            sha256: sha256.clone(),
        }),
        _ => None,
    };
    let image = match (&args.runner_image, native, artifact.is_some()) {
        (Some(image), _, _) => image.clone(),
        (None, false, _) => canary_core::DEFAULT_RUNNER_IMAGE.to_owned(),
        (None, true, true) => canary_core::DEFAULT_ARTIFACT_IMAGE.to_owned(),
        (None, true, false) => {
            return Err(Failure::invalid(
                "--runner native needs --runner-image IMAGE (an image with canary on PATH; see the Dockerfile) \
                 or --runner-artifact URL --runner-sha256 HEX (a canary binary the jobs fetch and check)",
            ));
        }
    };
    Ok(RunnerConfig {
        kind,
        image,
        marathon_url: args.marathon.clone(),
        marathon_lb_urls: args.marathon_lb.clone(),
        dcos_url: args.runner_dcos_url.clone(),
        artifact,
        native: canary_core::NativeOptions {
            timeout: args.runner_timeout,
            health_timeout: args.runner_health_timeout,
            drain_timeout: args.runner_drain_timeout,
            keep_failed_canary: args.runner_keep_failed_canary,
        },
        max_wait_secs: args.max_wait,
        service_account_secret: args.service_account_secret.clone(),
        ..RunnerConfig::default()
    })
}

/// `canary demo`: the story on an in-process dcos-sim, this binary as the
/// jobs' runner.
fn demo(args: &cli::DemoArgs) -> Result<(), Failure> {
    let canary = std::env::current_exe()
        .map_err(|e| Failure::io(format!("cannot find this canary binary: {e}")))?;
    let config = canary_demo::DemoConfig {
        canary,
        haproxy: if args.no_haproxy {
            None
        } else {
            canary_demo::find_haproxy()
        },
        speed: args.speed,
    };
    let mut stdout = std::io::stdout();
    let outcome = canary_demo::run(&config, &mut stdout);
    let report = match &outcome {
        Ok(report) => report.clone(),
        Err(canary_demo::DemoError::Step { report, .. }) => (**report).clone(),
        Err(canary_demo::DemoError::Setup(_)) => canary_demo::Report::default(),
    };
    if let Some(path) = &args.report {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::io(format!("cannot write the report: {e}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| Failure::io(format!("--report '{}': {e}", path.display())))?;
    }
    outcome.map(drop).map_err(|e| match e {
        canary_demo::DemoError::Setup(_) => Failure::cluster(e.to_string()),
        canary_demo::DemoError::Step { .. } => Failure::run(e.to_string()),
    })
}

fn render(args: &RenderArgs) -> Result<(), Failure> {
    let bundle = render_bundle(&args.bundle)?;
    match &args.out {
        Some(dir) => output::write_files_atomically(dir, &bundle.files()),
        None => output::print(&bundle.to_json_pretty()),
    }
}
