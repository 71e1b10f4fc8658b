//! The deployment group a command is about, and its apps as they stand.

use crate::session::Session;
use canary_core::executor::ExecError;
use canary_core::plan::predict::by_started_at;
use canary_core::{AppName, MarathonApp};

/// The deployment group of `app`: `given` (`--group`), else the phase
/// jobs' `canary.deployment-group` label, else the app's name.
pub fn resolve(
    session: &mut Session<'_>,
    app: &AppName,
    given: Option<&str>,
) -> Result<String, ExecError> {
    match given {
        Some(group) => Ok(group.to_owned()),
        None => crate::status::gather(session, app.as_str()).map(|s| s.deployment_group),
    }
}

/// The group's apps, oldest first (zdd.py's order).
pub fn apps(session: &mut Session<'_>, group: &str) -> Result<Vec<MarathonApp>, ExecError> {
    let mut apps = session.executor().group_apps(group)?;
    apps.sort_by(by_started_at);
    Ok(apps)
}

/// The newest app of a pair (the canary), when the group has two.
pub fn canary(apps: &[MarathonApp]) -> Option<&MarathonApp> {
    match apps {
        [a, b] => Some(if by_started_at(a, b).is_gt() { a } else { b }),
        _ => None,
    }
}
