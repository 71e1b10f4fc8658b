//! `canary deploy`, `canary rollout`, `canary rollback`: the native engine
//! (canary-engine driving canary-core's planner), with a live progress
//! display and the documented exit codes.

use crate::cli::{ClusterArgs, DeployArgs, EngineArgs, PhaseArgs};
use crate::events;
use crate::failure::Failure;
use crate::output;
use canary_core::engine::plan::human;
use canary_core::engine::{DeployInput, GroupApp, KnownCanary, Limits, Observation, PhaseRequest};
use canary_core::{AppDefinition, AppName, CanaryApp, Phase};
use canary_engine::{CommandHook, Event, PhaseError, PhaseRun, PreKillHook, drive, plan_once};
use canary_system::SystemClock;
use indicatif::{ProgressBar, ProgressStyle};
use lb_stats::LbStatsClient;
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// How long one marathon-lb stats request may take.
const LB_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the pre-kill hook may run.
const HOOK_TIMEOUT: Duration = Duration::from_secs(120);

impl EngineArgs {
    pub(crate) fn limits(&self, keep_failed_canary: bool) -> Limits {
        Limits {
            health_timeout: self.health_timeout,
            drain_timeout: self.drain_timeout,
            kill_after_drain_timeout: self.kill_after_drain_timeout,
            step: self.step,
            keep_failed_canary,
        }
    }
}

/// Runs `canary deploy`.
pub fn deploy(args: &DeployArgs) -> Result<(), Failure> {
    // A policy that cannot work is refused before anything changes, not
    // once the canary is up.
    if args.analyze {
        args.analysis.policy()?;
    }
    let bundle = &args.bundle;
    for (flag, given, own) in [
        (
            "--runner-timeout",
            bundle.runner_timeout.is_some(),
            "--timeout",
        ),
        (
            "--runner-health-timeout",
            bundle.runner_health_timeout.is_some(),
            "--health-timeout",
        ),
        (
            "--runner-drain-timeout",
            bundle.runner_drain_timeout.is_some(),
            "--drain-timeout",
        ),
        (
            "--runner-keep-failed-canary",
            bundle.runner_keep_failed_canary,
            "--keep-failed-canary",
        ),
    ] {
        if given {
            return Err(Failure::invalid(format!(
                "{flag} is for the jobs render and apply write; canary deploy itself takes {own}"
            )));
        }
    }
    let app = match &args.app_definition {
        Some(path) => rendered_app(path, &args.bundle)?,
        None => {
            // The same code path as render and apply. The jobs it renders
            // too are not used here: they are rendered as native jobs (the
            // engine takes groups zdd.py refuses), with a stand-in image when
            // none is given.
            let mut render = args.bundle.clone();
            render.runner = crate::cli::RunnerArg::Native;
            if render.runner_image.is_none() && render.runner_artifact.is_none() {
                render.runner_image = Some(canary_core::DEFAULT_ARTIFACT_IMAGE.to_owned());
            }
            let bundle = crate::render_bundle(&render)?;
            let definition = AppDefinition::from_value(bundle.app)
                .map_err(|e| Failure::invalid(format!("the rendered app: {e}")))?;
            CanaryApp::new(definition)
                .map_err(|e| Failure::invalid(format!("the rendered app: {e}")))?
        }
    };
    if let Some(steps) = &args.steps {
        return crate::ladder::climb(args, app, steps, true);
    }
    if args.analyze && !args.engine.dry_run {
        // One step: the canary of --canary-instances, analysed, then the
        // rollout or the rollback.
        let one =
            canary_core::engine::ladder::Ladder::parse(&args.bundle.canary_instances.to_string())
                .map_err(|e| Failure::invalid(format!("--canary-instances: {e}")))?;
        return crate::ladder::climb(args, app, &one, false);
    }
    let resume = format!(
        "canary deploy --app {} --image {} (with the same options)",
        args.bundle.app, args.bundle.image
    );
    let request = PhaseRequest {
        phase: Phase::Deploy,
        group: app.deployment_group().to_owned(),
        deploy: Some(DeployInput {
            app,
            canary_instances: args.bundle.canary_instances,
            steps: None,
        }),
        canary: KnownCanary::default(),
        goal: None,
        limits: args.engine.limits(args.keep_failed_canary),
    };
    run_phase(
        request,
        &args.cluster,
        &args.engine,
        &args.bundle.marathon_lb,
        &resume,
    )
}

/// The app definition of `--app-definition FILE`: strict JSON passing the
/// app schema, a definition canary can canary, running `--image`.
fn rendered_app(
    path: &std::path::Path,
    bundle: &crate::cli::BundleArgs,
) -> Result<CanaryApp, Failure> {
    AppName::new(&bundle.app).map_err(|e| Failure::invalid(format!("--app: {e}")))?;
    canary_core::validate_image(&bundle.image)
        .map_err(|e| Failure::invalid(format!("--image: {e}")))?;
    let name = path.display().to_string();
    let text = bounded_read::read_text(path, crate::TEMPLATE_LIMIT).map_err(|e| {
        if e.is_io() {
            Failure::io(format!("cannot read --app-definition '{name}': {e}"))
        } else {
            Failure::invalid(format!("--app-definition '{name}' is refused: {e}"))
        }
    })?;
    let value = canary_render::parse_app_definition(&name, &text)
        .map_err(|e| Failure::from_render(e, &[]))?;
    let definition = AppDefinition::from_value(value)
        .map_err(|e| Failure::invalid(format!("--app-definition '{name}': {e}")))?;
    let app = CanaryApp::new(definition)
        .map_err(|e| Failure::invalid(format!("--app-definition '{name}': {e}")))?;
    if app.image() != bundle.image {
        return Err(Failure::invalid(format!(
            "--app-definition '{name}' runs image '{}', not --image '{}'",
            app.image(),
            bundle.image
        )));
    }
    Ok(app)
}

/// Runs `canary rollout` or `canary rollback`.
pub fn rollout_or_back(phase: Phase, args: &PhaseArgs) -> Result<(), Failure> {
    let name = AppName::new(&args.app).map_err(|e| Failure::invalid(format!("--app: {e}")))?;
    if let Some(image) = &args.image {
        canary_core::validate_image(image)
            .map_err(|e| Failure::invalid(format!("--image: {e}")))?;
    }
    let mut executor = crate::backend::executor(&args.cluster)?;
    let group = resolve_group(executor.as_mut(), &name, args.group.as_deref())?;
    // The canary's image, when not given: the newest app's, so that the
    // command that resumes names it (a rerun after the end is a no-op).
    let image = match &args.image {
        Some(image) => Some(image.clone()),
        None => {
            let apps = executor.group_apps(&group).map_err(|e| {
                Failure::from_exec(&e, &format!("reading deployment group {group}"))
            })?;
            match apps.as_slice() {
                [a, b] => {
                    let newest = if canary_core::engine::predict::by_started_at(a, b).is_gt() {
                        a
                    } else {
                        b
                    };
                    newest.image.clone()
                }
                _ => None,
            }
        }
    };
    let verb = if phase == Phase::Rollout {
        "rollout"
    } else {
        "rollback"
    };
    let shown = image
        .as_deref()
        .map(|i| format!(" --image {i}"))
        .unwrap_or_default();
    let request = PhaseRequest {
        phase,
        group: group.clone(),
        deploy: None,
        canary: KnownCanary {
            app_id: None,
            image,
        },
        goal: None,
        limits: args.engine.limits(false),
    };
    let resume =
        format!("canary {verb} --app {name} --group {group}{shown} (with the same options)");
    run_phase(
        request,
        &args.cluster,
        &args.engine,
        &args.marathon_lb,
        &resume,
    )
}

/// The deployment group: `--group` when given, else the phase jobs'
/// `canary.deployment-group` label, else the app name.
pub(crate) fn resolve_group(
    executor: &mut dyn canary_core::executor::Executor,
    name: &AppName,
    given: Option<&str>,
) -> Result<String, Failure> {
    match given {
        Some(group) => Ok(group.to_owned()),
        None => canary_core::status::gather(executor, name.as_str())
            .map(|status| status.deployment_group)
            .map_err(|e| Failure::from_exec(&e, &format!("reading {name}'s deployment group"))),
    }
}

pub(crate) fn run_phase(
    mut request: PhaseRequest,
    cluster: &ClusterArgs,
    engine: &EngineArgs,
    marathon_lb: &[String],
    resume: &str,
) -> Result<(), Failure> {
    let mut lbs = LbStatsClient::new(marathon_lb, LB_TIMEOUT)
        .map_err(|e| Failure::invalid(format!("--marathon-lb: {e}")))?;
    let mut executor = crate::backend::executor(cluster)?;
    let clock = SystemClock::new();
    let phase = request.phase;
    if engine.dry_run {
        let (observation, step) = plan_once(&request, executor.as_mut(), &mut lbs, &clock)
            .map_err(|e| phase_failure(e, phase, resume))?;
        return output::print(&format!(
            "{}\nnext step: {step}\n",
            describe(&request.group, &observation)
        ));
    }
    // With the canary's image known, a rerun after the phase is a no-op.
    if request.canary.image.is_none()
        && let Some(input) = &request.deploy
    {
        request.canary.image = Some(input.app.image().to_owned());
    }
    let stop = crate::signals::install();
    let mut hook = engine
        .pre_kill_hook
        .as_ref()
        .map(|path| CommandHook::new(path, HOOK_TIMEOUT));
    let mut progress = Progress::new(phase, &request.group, engine.timeout);
    let group = request.group.clone();
    events::emit(
        "phase_started",
        json!({"phase": phase.to_string(), "group": group, "goal": request.goal,
               "canary_instances": request.deploy.as_ref().map(|d| d.canary_instances)}),
    );
    let outcome = drive(
        PhaseRun {
            request,
            timeout: engine.timeout,
            executor: executor.as_mut(),
            lbs: &mut lbs,
            clock: &clock,
            hook: hook.as_mut().map(|h| h as &mut dyn PreKillHook),
            stop: &stop,
        },
        &mut |event| progress.event(event),
    );
    progress.finish();
    let done = outcome.map_err(|e| {
        let failure = phase_failure(e, phase, resume);
        events::emit(
            "phase_failed",
            json!({"phase": phase.to_string(), "group": group, "exit_code": failure.code(),
                   "error": failure.to_string()}),
        );
        failure
    })?;
    events::emit(
        "phase_done",
        json!({"phase": phase.to_string(), "group": group, "message": done.message,
               "changes": done.actions, "elapsed_ms": done.elapsed.as_millis() as u64}),
    );
    output::print(&format!(
        "{phase} of group {group} done: {} ({} change(s) in {})\n",
        done.message,
        done.actions,
        human(done.elapsed)
    ))
}

/// A phase that did not finish, as the user sees it, with its exit code.
fn phase_failure(error: PhaseError, phase: Phase, resume: &str) -> Failure {
    match error {
        PhaseError::Refused(reason) => {
            Failure::refused(format!("{phase} refused: {reason}; nothing was changed"))
        }
        PhaseError::Failed { reason, .. } => Failure::run(format!(
            "{phase} failed: {reason}; once it is dealt with, resume with: {resume}"
        )),
        PhaseError::RolledBack { reason, now } => Failure::run(format!(
            "{phase} failed: {reason}; the canary was removed and the group is as before: {now}"
        )),
        PhaseError::TimedOut { .. } | PhaseError::Interrupted { .. } => Failure::stopped(format!(
            "{phase} stopped: {error}; nothing is lost, resume with: {resume}"
        )),
        PhaseError::Cluster { source, doing } => Failure::from_exec_message(
            &source,
            format!("{phase} stopped while {doing}: {source}; resume with: {resume}"),
        ),
        PhaseError::Hook(reason) => {
            Failure::run(format!("{phase} stopped: {reason}; resume with: {resume}"))
        }
    }
}

/// `/web-blue 3/3 nginx:1.25, /web-green 1/1 httpd:2.4` (healthy/instances).
fn apps_line(apps: &[GroupApp]) -> String {
    if apps.is_empty() {
        return "no app".to_owned();
    }
    let mut apps: Vec<&GroupApp> = apps.iter().collect();
    apps.sort_by(|a, b| canary_core::engine::predict::by_started_at(a, b));
    apps.iter()
        .map(|a| {
            format!(
                "{} {}/{} {}",
                a.id,
                a.healthy_tasks(),
                a.instances,
                a.image.as_deref().unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `--dry-run` prints about the group.
fn describe(group: &str, observation: &Observation) -> String {
    let lbs: Vec<String> = observation
        .lbs
        .iter()
        .map(|lb| match &lb.state {
            canary_core::engine::LbState::Stats { pids, rows } => {
                format!("{} ({} rows, {pids} haproxy processes)", lb.url, rows.len())
            }
            canary_core::engine::LbState::Unreachable { message } => {
                format!("{} (unreachable: {message})", lb.url)
            }
        })
        .collect();
    output::terminal_safe(&format!(
        "deployment group {group}: {}\nmarathon-lb: {}",
        apps_line(&observation.apps),
        if lbs.is_empty() {
            "none".to_owned()
        } else {
            lbs.join(", ")
        }
    ))
}

/// What a phase shows while it runs, on stderr: on a terminal, a spinner
/// with the apps (healthy/instances), what it waits for and for how long,
/// each step kept as a line above it; elsewhere (logs, a job's stderr) one
/// line per step and per new reason to wait.
struct Progress {
    phase: String,
    group: String,
    prefix: String,
    spinner: Option<ProgressBar>,
    apps: String,
    last_wait: String,
}

impl Progress {
    fn new(phase: Phase, group: &str, timeout: Duration) -> Self {
        let spinner = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed} of {prefix})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_prefix(human(timeout));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            phase: phase.to_string(),
            group: group.to_owned(),
            prefix: format!("{phase} {group}"),
            spinner,
            apps: String::new(),
            last_wait: String::new(),
        }
    }

    fn line(&self, text: &str) {
        let text = output::terminal_safe(text);
        match &self.spinner {
            Some(bar) => bar.println(text),
            None => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
        }
    }

    fn event(&mut self, event: &Event<'_>) {
        match event {
            Event::Observed(observation) => self.apps = apps_line(&observation.apps),
            Event::Acting(step) => {
                events::emit(
                    "step",
                    json!({"phase": self.phase, "group": self.group, "action": step.to_string()}),
                );
                self.last_wait.clear();
                self.line(&format!("{}: {step}", self.prefix));
            }
            Event::Waiting { wait, waited } => {
                let message = format!(
                    "{}: {} | waiting for {} ({})",
                    self.prefix,
                    self.apps,
                    wait.reason,
                    human(*waited)
                );
                if wait.reason != self.last_wait {
                    events::emit(
                        "waiting",
                        json!({"phase": self.phase, "group": self.group, "for": wait.reason,
                               "apps": self.apps}),
                    );
                }
                match &self.spinner {
                    Some(bar) => bar.set_message(output::terminal_safe(&message)),
                    None if wait.reason != self.last_wait => {
                        self.line(&format!(
                            "{}: {} | waiting for {}",
                            self.prefix, self.apps, wait.reason
                        ));
                    }
                    None => {}
                }
                self.last_wait = wait.reason.clone();
            }
            Event::Aborting(reason) => {
                events::emit(
                    "aborting",
                    json!({"phase": self.phase, "group": self.group, "reason": reason}),
                );
                self.line(&format!(
                    "{}: {reason}; rolling the canary back",
                    self.prefix
                ));
            }
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
    }
}
