//! What `render`, `apply` and `deploy` render, from the same arguments
//! ([`BundleArgs`]) on one code path: the templates read (bounded), the
//! request they describe, canary-render run under the watchdog; the whole
//! bundle ([`render_bundle`]), or the app alone ([`render_app`]).

use crate::args::{AppArgs, BundleArgs, JobArgs, RunnerArg};
use crate::failure::Failure;
use canary_core::{AppName, CanaryApp, CanaryRequest, RunnerConfig};
use canary_render::{Renderer, TemplateSource};
use std::collections::BTreeMap;
use std::path::Path;

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
fn app_template(args: &AppArgs, name: &AppName) -> Result<TemplateSource, Failure> {
    if let Some(path) = &args.app_template {
        return read_template(path, "app template", Some("--app-template"));
    }
    let conventional = format!("{name}.template.json");
    if Path::new(&conventional).exists() {
        return read_template(Path::new(&conventional), "app template", None);
    }
    Ok(TemplateSource::embedded_app())
}

/// The templates and the request the arguments describe.
fn prepare(
    args: &AppArgs,
    job_template: Option<&Path>,
    runner: RunnerConfig,
) -> Result<(TemplateSource, TemplateSource, CanaryRequest), Failure> {
    // The name is checked first: it becomes a file name and three job ids.
    let name = AppName::new(&args.app).map_err(|e| Failure::invalid(format!("--app: {e}")))?;
    let app = app_template(args, &name)?;
    let job = match job_template {
        Some(path) => read_template(path, "job template", Some("--job-template"))?,
        None => TemplateSource::embedded_job(),
    };
    let request = CanaryRequest {
        app_name: name,
        image: args.image.clone(),
        canary_instances: args.canary_instances,
        runner,
    };
    Ok((app, job, request))
}

/// Runs `render` on a renderer of the templates under the watchdog: fuel
/// and the output limit bound each template; the watchdog bounds what a
/// single step of one can allocate or spend.
fn watched<T>(
    args: &AppArgs,
    app: TemplateSource,
    job: TemplateSource,
    render: impl FnOnce(&Renderer, &BTreeMap<String, String>) -> Result<T, canary_render::RenderError>
    + Send,
) -> Result<T, Failure>
where
    T: Send,
{
    let what = format!("the templates ({}, {})", app.name(), job.name());
    let vars: BTreeMap<String, String> = args.vars.iter().cloned().collect();
    crate::guard::watched(&what, || {
        Renderer::new(app, job)
            .and_then(|renderer| render(&renderer, &vars))
            .map_err(|e| Failure::from_render(e, &args.vars))
    })
}

/// Renders the bundle the arguments describe (the app and its three
/// jobs): what `render` prints and `apply` puts on the cluster.
pub fn render_bundle(args: &BundleArgs) -> Result<canary_render::RenderedBundle, Failure> {
    let (app, job, request) = prepare(
        &args.app,
        args.jobs.job_template.as_deref(),
        runner_config(&args.jobs, &args.app.marathon_lb)?,
    )?;
    watched(&args.app, app, job, |renderer, vars| {
        renderer.render(&request, vars)
    })
}

/// Renders the app alone, checked as in [`render_bundle`]: what `canary
/// deploy` deploys. No runner is involved (the jobs are not rendered), so
/// the runner flags are not needed.
pub fn render_app(args: &AppArgs) -> Result<CanaryApp, Failure> {
    let (app, job, request) = prepare(args, None, RunnerConfig::default())?;
    watched(args, app, job, |renderer, vars| {
        renderer.render_app(&request, vars)
    })
}

/// What a user of the zdd runner must know (marathon-lb-haproxy.md §9):
/// printed on stderr by `render` and `apply` with `--runner zdd`.
pub const ZDD_NOTE: &str = "note: --runner zdd: the jobs run marathon-lb's zdd.py, which reads HAProxy's stats \
     CSV by column name and fails at its first read where a column is named `-` (HAProxy 2.6's CSV has one; \
     the older one in marathon-lb's own tests has none): where your marathon-lb's HAProxy has it, use \
     --runner native (canary's own engine in the jobs)";

/// Prints [`ZDD_NOTE`] when `--runner zdd` was asked for by name (the
/// default says it in `--help`; a note on every render would bury it).
pub fn zdd_note(args: &JobArgs) {
    if args.runner == Some(RunnerArg::Zdd) {
        eprintln!("{ZDD_NOTE}");
    }
}

/// The runner the flags describe; the image defaults by runner (zdd:
/// marathon-lb's; native with a fetched binary: a pinned Debian; native
/// alone has none: it must be given).
fn runner_config(args: &JobArgs, marathon_lb: &[String]) -> Result<RunnerConfig, Failure> {
    let kind = match args.runner.unwrap_or(RunnerArg::Zdd) {
        RunnerArg::Zdd => canary_core::RunnerKind::Zdd,
        RunnerArg::Native => canary_core::RunnerKind::Native,
    };
    let native = kind == canary_core::RunnerKind::Native;
    if native && args.runner_zdd.is_some() {
        return Err(Failure::invalid(
            "--runner-zdd is for --runner zdd (the native jobs run canary, not zdd.py)",
        ));
    }
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
        zdd_path: args
            .runner_zdd
            .clone()
            .unwrap_or_else(|| canary_core::DEFAULT_ZDD_PATH.to_owned()),
        marathon_url: args.marathon.clone(),
        marathon_lb_urls: marathon_lb.to_vec(),
        dcos_url: args.runner_dcos_url.clone(),
        artifact,
        native: canary_core::NativeOptions {
            timeout: args.runner_timeout,
            health_timeout: args.runner_health_timeout,
            drain_timeout: args.runner_drain_timeout,
            keep_failed_canary: args.runner_keep_failed_canary,
        },
        native_argv: native.then_some(crate::native_argv::NATIVE_ARGV),
        max_wait_secs: args.max_wait,
        service_account_secret: args.service_account_secret.clone(),
        ..RunnerConfig::default()
    })
}
