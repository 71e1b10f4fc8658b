//! `canary`: canary deployments of DC/OS Marathon apps behind marathon-lb.
//!
//! This binary is thin: it parses arguments, reads files, calls
//! `canary-render` (which calls `canary-core`), writes the result, and maps
//! every failure to a documented exit code (see `canary --help`).

mod apply;
mod backend;
mod cli;
mod credentials;
mod failure;
mod logging;
mod output;
mod prompt;
mod run;
mod status;

use canary_core::{AppName, CanaryRequest, RunnerConfig};
use canary_render::{Renderer, TemplateSource};
use clap::Parser;
use cli::{BundleArgs, Cli, Command, RenderArgs};
use failure::Failure;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose);
    credentials::set_username(cli.username);
    let result = match cli.command {
        Command::Render(args) => render(&args),
        Command::Apply(args) => apply::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Status(args) => status::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.exit_code()
        }
    }
}

fn read_template(path: &Path, what: &str) -> Result<TemplateSource, Failure> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::io(format!("cannot read {what} '{name}': {e}")))?;
    Ok(TemplateSource::new(name, text))
}

/// The app template: `--app-template`, else `./APP.template.json` (the
/// original tool's convention), else the embedded example.
fn app_template(args: &BundleArgs, name: &AppName) -> Result<TemplateSource, Failure> {
    if let Some(path) = &args.app_template {
        return read_template(path, "app template");
    }
    let conventional = format!("{name}.template.json");
    if Path::new(&conventional).exists() {
        return read_template(Path::new(&conventional), "app template");
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
        Some(path) => read_template(path, "job template")?,
        None => TemplateSource::embedded_job(),
    };
    let renderer = Renderer::new(app, job).map_err(Failure::from_render)?;
    let request = CanaryRequest {
        app_name: name,
        image: args.image.clone(),
        canary_instances: args.canary_instances,
        runner: RunnerConfig {
            image: args.runner_image.clone(),
            marathon_url: args.marathon.clone(),
            marathon_lb_url: args.marathon_lb.clone(),
            max_wait_secs: args.max_wait,
            service_account_secret: args.service_account_secret.clone(),
            ..RunnerConfig::default()
        },
    };
    let vars: BTreeMap<String, String> = args.vars.iter().cloned().collect();
    renderer
        .render(&request, &vars)
        .map_err(Failure::from_render)
}

fn render(args: &RenderArgs) -> Result<(), Failure> {
    let bundle = render_bundle(&args.bundle)?;
    match &args.out {
        Some(dir) => output::write_files_atomically(dir, &bundle.files()),
        None => output::print(&bundle.to_json_pretty()),
    }
}
