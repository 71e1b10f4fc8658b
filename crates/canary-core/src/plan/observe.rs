//! What the planner sees of a cluster at one moment: the deployment
//! group's Marathon apps ([`MarathonApp`]), every marathon-lb's HAProxy
//! stats for the group ([`LbView`], read as [`LbQuery`] says), and what the
//! readings so far have shown ([`DrainEvidence`]).

use super::evidence::DrainEvidence;
use super::stats::{ProxyFilter, StatsRow, Worker};
use crate::marathon::MarathonApp;

/// One marathon-lb instance as the engine saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbView {
    /// Its stats URL (one per address the marathon-lb name resolves to).
    pub url: String,
    /// What it showed.
    pub state: LbState,
}

/// What one marathon-lb showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LbState {
    /// Its stats.
    Stats {
        /// The worker that answered, when it was asked for (the HTML stats
        /// page's header) and the page said.
        worker: Option<Worker>,
        /// The rows of `/haproxy?stats;csv` that were asked for (the
        /// group's backend, see [`LbQuery`]).
        rows: Vec<StatsRow>,
    },
    /// It could not be read.
    Unreachable {
        /// What failed.
        message: String,
    },
}

/// What to read of every marathon-lb: only the group's proxies
/// (`/haproxy?stats;csv;scope=`, which HAProxy matches as a substring;
/// the rows are then kept by [`ProxyFilter`]), and the answering worker
/// only where a reload must be told apart (counter deltas). Never
/// `/_haproxy_getpids` (marathon-lb-haproxy.md §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbQuery {
    /// The rows to keep.
    pub filter: ProxyFilter,
    /// Whether to read the answering worker (one more small request).
    pub worker: bool,
}

impl LbQuery {
    /// The group's backend on `port` when it is known, else every backend
    /// of the group (`<group>_`); `worker` as given.
    pub fn for_group(group: &str, port: Option<u16>, worker: bool) -> LbQuery {
        let filter = match port {
            Some(port) => ProxyFilter::Exactly(super::predict::backend_name(group, port)),
            None => ProxyFilter::Prefix(super::predict::backend_prefix(group)),
        };
        LbQuery { filter, worker }
    }

    /// What to read for the group's `apps` (as observed): the one backend
    /// their ports name, or every backend of the group while none is known
    /// (no app yet) or they disagree (a port being moved).
    pub fn for_apps(group: &str, apps: &[MarathonApp], worker: bool) -> LbQuery {
        let mut ports: Vec<u16> = apps.iter().filter_map(super::sample::app_port).collect();
        ports.sort_unstable();
        ports.dedup();
        match ports.as_slice() {
            [port] => LbQuery::for_group(group, Some(*port), worker),
            _ => LbQuery::for_group(group, None, worker),
        }
    }

    /// The `scope` HAProxy is asked for: the start of the name to keep,
    /// only of the characters a URL carries as they are (letters, digits,
    /// `-`, `_`, `.`; HAProxy does not decode `%XX` in it, and `;` or `&`
    /// ends it) and at most 20 of them (HAProxy 2.6 keeps the first 20 of
    /// a longer one and ignores case, so it matches a superset, which
    /// [`ProxyFilter`] then narrows); empty for every proxy.
    pub fn scope(&self) -> String {
        let name = match &self.filter {
            ProxyFilter::All => "",
            ProxyFilter::Exactly(name) | ProxyFilter::Prefix(name) => name,
        };
        name.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .take(20)
            .collect()
    }

    /// Whether a row of proxy `pxname` is kept.
    pub fn keeps(&self, pxname: &str) -> bool {
        self.filter.keeps(pxname)
    }
}

/// Everything the planner sees at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The group's apps (any order).
    pub apps: Vec<MarathonApp>,
    /// Every marathon-lb instance.
    pub lbs: Vec<LbView>,
    /// What the driver's readings of the load balancers have shown so far
    /// (this one included): since when servers are `MAINT`, the longest
    /// request.
    pub evidence: DrainEvidence,
}
