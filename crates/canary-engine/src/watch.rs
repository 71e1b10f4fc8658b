//! `status --watch`'s use case: the group as it stands, again and again,
//! with the traffic split marathon-lb counted over each refresh and a
//! read-only sequential analysis of the canary since the watch began
//! (restarted whenever the group's apps change).

use crate::session::Session;
use crate::status::{SplitError, gather};
use canary_core::analysis::{
    Roles, SequentialAnalysis, SequentialPolicy, SequentialReport, Snapshot, delta,
};
use canary_core::plan::sample::{ObservedSplit, group_port, observed_split};
use canary_core::plan::{LbQuery, LbView};
use canary_core::status::GroupStatus;
use std::collections::BTreeMap;
use std::time::Duration;

/// One refresh of the watch.
#[derive(Debug, Clone)]
pub struct WatchFrame {
    /// Its number, from 1.
    pub number: u64,
    /// The group as it stands.
    pub status: GroupStatus,
    /// What marathon-lb counted since the previous refresh (`None`: the
    /// first refresh, no group, or no marathon-lb read).
    pub observed: Option<ObservedSplit>,
    /// Why there is no split, when there is none.
    pub no_split: Option<String>,
    /// The analysis of the canary since the watch began (or since the
    /// group last changed); `None` without a canary beside a baseline.
    pub analysis: Option<SequentialReport>,
}

/// Refreshes every `every` until `frame` returns false or the session is
/// asked to stop (then `Ok`: a watch ends by being stopped). Changes
/// nothing.
pub fn watch(
    session: &mut Session<'_>,
    app_name: &str,
    every: Duration,
    frame: &mut dyn FnMut(&WatchFrame) -> bool,
) -> Result<(), SplitError> {
    let mut number = 0;
    let mut previous: Option<(String, Vec<LbView>)> = None;
    let mut analysis: Option<(String, SequentialAnalysis)> = None;
    let started = session.now();
    loop {
        number += 1;
        let status = gather(session, app_name)?;
        let group = status.deployment_group.clone();
        let mut apps = session.executor().group_apps(&group)?;
        apps.sort_by(canary_core::plan::predict::by_started_at);
        // The apps' identities: a change restarts the analysis.
        let identity: String = apps
            .iter()
            .map(|a| format!("{}@{}", a.id, a.version.as_deref().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(",");
        if analysis.as_ref().is_some_and(|(key, _)| *key != identity) {
            analysis = None;
        }
        let (mut observed, mut no_split, mut report) = (None, None, None);
        match group_port(&apps) {
            None if apps.is_empty() => no_split = Some("no app of the group runs".into()),
            None => no_split = Some("no app of the group has a service port".into()),
            Some(port) => {
                let query = LbQuery::for_group(&group, Some(port), true);
                let views = session.lbs().observe(&query);
                match crate::status::none_read(&views) {
                    Some(why) => no_split = Some(format!("no marathon-lb could be read ({why})")),
                    None => {
                        if let Some((key, before)) = &previous
                            && *key == identity
                        {
                            observed = Some(observed_split(&group, port, &apps, before, &views));
                            let roles = Roles::from_group(&apps, &BTreeMap::new());
                            if let (Some(roles), true) = (roles, apps.len() == 2) {
                                let (_, running) = analysis.get_or_insert_with(|| {
                                    (identity.clone(), SequentialAnalysis::new(watch_policy()))
                                });
                                let (start, end) = (
                                    Snapshot::for_group(&group, port, before),
                                    Snapshot::for_group(&group, port, &views),
                                );
                                report = Some(running.record(
                                    &delta(&start, &end),
                                    &roles,
                                    session.now().since(started),
                                ));
                            }
                        } else {
                            no_split = Some(
                                "counting from now: the split shows at the next refresh".into(),
                            );
                        }
                    }
                }
                previous = Some((identity.clone(), views));
            }
        }
        let keep_going = frame(&WatchFrame {
            number,
            status,
            observed,
            no_split,
            analysis: report,
        });
        if !keep_going || session.sleep(every).is_err() {
            return Ok(());
        }
    }
}

/// The watch judges as `canary analyze` does by default, without an end.
fn watch_policy() -> SequentialPolicy {
    SequentialPolicy {
        max_duration: Duration::from_secs(7 * 24 * 3600),
        ..SequentialPolicy::default()
    }
}
