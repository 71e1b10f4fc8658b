//! `canary rollout` and `canary rollback` (and what `deploy` and `promote`
//! share with them): one phase of the engine, its progress on the display,
//! its failure in words with the command that resumes.

use crate::args::{ClusterArgs, EngineArgs};
use crate::display::{Display, apps_line};
use crate::events;
use crate::failure::Failure;
use crate::output;
use crate::session::{Lbs, OnSignal, with_session};
use canary_core::plan::{KnownCanary, Observation, PhaseRequest, Step};
use canary_core::{AppName, DEFAULT_MARATHON_LB_URL, Phase};
use canary_engine::{CommandHook, PhaseError, PhaseRun, PreKillHook, Session, group};
use clap::Args;
use serde_json::json;

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

/// Runs `canary rollout` or `canary rollback`.
pub fn rollout_or_back(phase: Phase, args: &PhaseArgs) -> Result<(), Failure> {
    let name = AppName::new(&args.app).map_err(|e| Failure::invalid(format!("--app: {e}")))?;
    crate::args::check_group(args.group.as_deref())?;
    check_hook(&args.engine)?;
    if let Some(image) = &args.image {
        canary_core::validate_image(image)
            .map_err(|e| Failure::invalid(format!("--image: {e}")))?;
    }
    let mut display = Display::new();
    with_session(
        &args.cluster,
        Some(Lbs::for_drains(
            &args.marathon_lb,
            args.engine.drain_timeout,
        )),
        OnSignal::Stop,
        &mut display,
        |session| {
            let preamble = Preamble::start(session, args.engine.timeout);
            let group = preamble.resolve_group(session, &name, args.group.as_deref())?;
            let apps = group::apps(session, &group)
                .map_err(|e| preamble.failure(&e, &format!("reading deployment group {group}")))?;
            let canary = group::canary(&apps);
            if let (Some(wanted), Some(canary)) = (&args.image, canary)
                && canary.image.as_deref() != Some(wanted.as_str())
            {
                return Err(Failure::refused(format!(
                    "{phase} refused: the canary in progress in deployment group {group} is {} with {}, not {wanted}; nothing was changed",
                    canary.id,
                    canary.image.as_deref().unwrap_or("no image")
                )));
            }
            if let (Phase::Rollback, Some(wanted), [only]) = (phase, &args.image, apps.as_slice())
                && only.image.as_deref() != Some(wanted.as_str())
            {
                return output::print(&format!(
                    "nothing to roll back in deployment group {group}: its one app {} runs {}, not {wanted} \
                     (rolled back already, or never deployed); nothing was changed\n",
                    output::terminal_safe(&only.id),
                    output::terminal_safe(only.image.as_deref().unwrap_or("no image"))
                ));
            }
            // The canary's image, when not given: the newest app's, so that
            // the command that resumes names it (a rerun after the end is a
            // no-op).
            let image = match &args.image {
                Some(image) => Some(image.clone()),
                None => canary.and_then(|canary| canary.image.clone()),
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
            let resume = format!(
                "canary {phase} --app {name} --group {group}{shown} (with the same options)"
            );
            run_one(session, request, &args.engine, &resume)
        },
    )
}

/// The reads a command makes before its phase starts (which group, what is
/// in it), bounded by the command's `--timeout` as the phase's own are: a
/// silent Marathon must not hold `--timeout 3s` for a minute of retries.
/// A read ended by that bound is worded as the timeout (exit 9), others as
/// what they are.
pub struct Preamble {
    ends: std::time::Instant,
    timeout: std::time::Duration,
}

impl Preamble {
    /// Bounds `session`'s requests from now by `timeout` (the phase sets
    /// its own bound when it starts).
    pub fn start(session: &mut Session<'_>, timeout: std::time::Duration) -> Self {
        session
            .executor()
            .set_deadline_in(Some(timeout + canary_engine::run::LAST_ANSWER));
        Preamble {
            ends: std::time::Instant::now() + timeout,
            timeout,
        }
    }

    /// `error` from `doing` as the command's failure.
    pub fn failure(&self, error: &canary_core::executor::ExecError, doing: &str) -> Failure {
        if std::time::Instant::now() >= self.ends {
            Failure::stopped(format!(
                "{doing}: --timeout {}s reached ({error}); nothing was changed",
                self.timeout.as_secs()
            ))
        } else {
            Failure::from_exec(error, doing)
        }
    }

    /// [`resolve_group`] within the bound.
    pub fn resolve_group(
        &self,
        session: &mut Session<'_>,
        name: &AppName,
        given: Option<&str>,
    ) -> Result<String, Failure> {
        group::resolve(session, name, given)
            .map_err(|e| self.failure(&e, &format!("reading {name}'s deployment group")))
    }
}

/// The deployment group: `--group` when given, else the phase jobs'
/// `canary.deployment-group` label, else the app name.
pub fn resolve_group(
    session: &mut Session<'_>,
    name: &AppName,
    given: Option<&str>,
) -> Result<String, Failure> {
    group::resolve(session, name, given)
        .map_err(|e| Failure::from_exec(&e, &format!("reading {name}'s deployment group")))
}

/// Refuses a `--pre-kill-hook` that cannot run (missing, not a file, not
/// executable), before anything is asked of the cluster: found at the
/// first kill, it would stop a phase half done.
pub fn check_hook(engine: &EngineArgs) -> Result<(), Failure> {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = &engine.pre_kill_hook else {
        return Ok(());
    };
    let shown = output::terminal_safe(&path.display().to_string());
    let meta = std::fs::metadata(path)
        .map_err(|e| Failure::invalid(format!("--pre-kill-hook '{shown}': {e}")))?;
    if !meta.is_file() {
        return Err(Failure::invalid(format!(
            "--pre-kill-hook '{shown}' is not a file"
        )));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(Failure::invalid(format!(
            "--pre-kill-hook '{shown}' is not executable (chmod +x it)"
        )));
    }
    Ok(())
}

/// The pre-kill hook `--pre-kill-hook` names, if any.
pub fn hook(engine: &EngineArgs) -> Option<CommandHook> {
    engine
        .pre_kill_hook
        .as_ref()
        .map(|path| CommandHook::new(path, engine.pre_kill_hook_timeout))
}

/// One phase: with `--dry-run`, the group as it stands and the first step;
/// else the phase driven to its end (the display shows it and says it is
/// done), or its failure with `resume`.
pub fn run_one(
    session: &mut Session<'_>,
    request: PhaseRequest,
    engine: &EngineArgs,
    resume: &str,
) -> Result<(), Failure> {
    let phase = request.phase;
    if engine.dry_run {
        let (observation, step) = canary_engine::plan_once(session, &request)
            .map_err(|e| failed(e, phase, &request.group, resume))?;
        return print_plan(phase, &request.group, &observation, &step);
    }
    let group = request.group.clone();
    let mut hook = hook(engine);
    canary_engine::run_phase(
        session,
        PhaseRun {
            request,
            timeout: engine.timeout,
            hook: hook.as_mut().map(|h| h as &mut dyn PreKillHook),
        },
    )
    .map(drop)
    .map_err(|e| failed(e, phase, &group, resume))
}

/// A phase's failure in words, also told as a `phase_failed` event (with
/// the exit code the command ends with).
pub fn failed(error: PhaseError, phase: Phase, group: &str, resume: &str) -> Failure {
    let failure = phase_failure(error, phase, group, resume);
    events::emit(
        "phase_failed",
        json!({"phase": phase.to_string(), "group": group, "exit_code": failure.code(),
               "error": failure.to_string()}),
    );
    failure
}

/// What `--dry-run` prints: the group, and the step the phase would take
/// first.
/// A plan whose first step is a refusal is refused (exit 8), as the
/// phase itself would be.
pub fn print_plan(
    phase: Phase,
    group: &str,
    observation: &Observation,
    step: &Step,
) -> Result<(), Failure> {
    output::print(&format!(
        "{}\nnext step: {step}\n",
        describe(group, observation)
    ))?;
    match step {
        Step::Refused(reason) => Err(Failure::refused(format!(
            "{phase} refused: {reason}; nothing was changed"
        ))),
        _ => Ok(()),
    }
}

/// A phase that did not finish, as the user sees it, with its exit code.
pub fn phase_failure(error: PhaseError, phase: Phase, group: &str, resume: &str) -> Failure {
    match error {
        PhaseError::LoadBalancer(reason) => Failure::cluster(format!(
            "{phase} refused before any change: {reason}; nothing was changed (check --marathon-lb)"
        )),
        PhaseError::Moved { moved, actions } => Failure::moved(format!(
            "{phase} stopped: deployment group {group} was changed by someone else: {moved}; {}; \
             it changed nothing more (see `canary status`)",
            changes_made(actions)
        )),
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

/// What a command had done, in words: `this command had made 2
/// change(s)`, `this command had changed nothing`.
pub fn changes_made(actions: usize) -> String {
    if actions == 0 {
        "this command had changed nothing".to_owned()
    } else {
        format!("this command had made {actions} change(s) before")
    }
}

/// What `--dry-run` prints about the group.
fn describe(group: &str, observation: &Observation) -> String {
    let lbs: Vec<String> = observation
        .lbs
        .iter()
        .map(|lb| match &lb.state {
            canary_core::plan::LbState::Stats { rows, .. } => {
                format!("{} ({} row(s) of the group's backend)", lb.url, rows.len())
            }
            canary_core::plan::LbState::Unreachable { message } => {
                format!("{} (unreachable: {message})", lb.url)
            }
        })
        .collect();
    // What the cluster says is shown, never obeyed; the line break is ours.
    format!(
        "{}\n{}",
        output::terminal_safe(&format!(
            "deployment group {group}: {}",
            apps_line(&observation.apps)
        )),
        output::terminal_safe(&format!(
            "marathon-lb: {}",
            if lbs.is_empty() {
                "none".to_owned()
            } else {
                lbs.join(", ")
            }
        ))
    )
}
