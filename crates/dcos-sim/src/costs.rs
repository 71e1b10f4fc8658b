//! What clients cost the cluster: requests and response body bytes served,
//! per class of endpoint, so a test or a bench can see what a reader such
//! as canary asks of Marathon, Metronome and marathon-lb
//! ([`crate::SimHandle::costs`], `GET /__sim/costs` with `--control`).
//!
//! Counted where the sim serves: every answer of the DC/OS URL and of the
//! marathon-lb stats listeners, faults and refusals included; the body
//! bytes are the answer's length (a streamed answer, the event stream,
//! counts its requests but no bytes). With a real HAProxy
//! ([`crate::SimConfig::haproxy`]) the stats pages and getpids pass through
//! the sim and are counted with the bytes HAProxy sent. With the real
//! marathon-lb ([`crate::SimConfig::marathon_lb`]) the stats listener is
//! HAProxy's own and nothing of it is counted here; marathon-lb's own reads
//! of Marathon are (they are Marathon requests like any other). The
//! control endpoints (`/__sim/`) are never counted.

use serde::Serialize;
use std::sync::Mutex;

/// A class of endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CostClass {
    /// Marathon's `GET /v2/apps` without a label selector: every app.
    MarathonAppsList,
    /// Marathon's `GET /v2/apps?label=…`: the apps a selector picks.
    MarathonAppsLabel,
    /// Any other Marathon request (`/v2/...`).
    MarathonOther,
    /// Metronome (`/service/metronome/...`, `/v1/...`).
    Metronome,
    /// The rest of the DC/OS URL (IAM, metadata, secrets, Mesos state).
    DcosOther,
    /// marathon-lb's `/haproxy?stats;csv` (any scope).
    LbStatsCsv,
    /// marathon-lb's HTML stats page (`/haproxy?stats`, `;norefresh`).
    LbStatsHtml,
    /// marathon-lb's `/_haproxy_getpids`.
    LbGetpids,
    /// Anything else on a marathon-lb stats listener (its health check).
    LbOther,
}

/// Requests and response body bytes of one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClassCost {
    /// Requests answered.
    pub requests: u64,
    /// Response body bytes sent.
    pub bytes: u64,
}

/// Every class's cost since the start (or the last reset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Costs {
    /// By class; a class with no request is absent.
    pub classes: std::collections::BTreeMap<CostClass, ClassCost>,
}

impl Costs {
    /// One class's cost (zero when it had no request).
    pub fn of(&self, class: CostClass) -> ClassCost {
        self.classes.get(&class).copied().unwrap_or_default()
    }
}

/// The running tally.
#[derive(Debug, Default)]
pub(crate) struct CostCounter(Mutex<Costs>);

impl CostCounter {
    pub(crate) fn record(&self, class: CostClass, bytes: u64) {
        let mut costs = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let entry = costs.classes.entry(class).or_default();
        entry.requests += 1;
        entry.bytes += bytes;
    }

    pub(crate) fn snapshot(&self) -> Costs {
        self.0.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub(crate) fn reset(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Costs::default();
    }
}

/// The class of a request to the DC/OS URL (`lb`: `false`) or to a
/// marathon-lb stats listener (`true`); `None` for the control endpoints.
pub(crate) fn classify(
    lb: bool,
    method: &str,
    path: &str,
    query: Option<&str>,
) -> Option<CostClass> {
    if path.starts_with("/__sim/") {
        return None;
    }
    if lb {
        return Some(match path {
            "/haproxy" if query.is_some_and(|q| q.split(';').any(|o| o == "csv")) => {
                CostClass::LbStatsCsv
            }
            "/haproxy" => CostClass::LbStatsHtml,
            "/_haproxy_getpids" => CostClass::LbGetpids,
            _ => CostClass::LbOther,
        });
    }
    let marathon = ["/service/marathon", "/marathon"]
        .iter()
        .find_map(|prefix| path.strip_prefix(prefix))
        .unwrap_or(path);
    if marathon == "/v2/apps" || marathon == "/v2/apps/" {
        let labelled = query.is_some_and(|q| q.split('&').any(|p| p.starts_with("label=")));
        return Some(match (method, labelled) {
            ("GET", true) => CostClass::MarathonAppsLabel,
            ("GET", false) => CostClass::MarathonAppsList,
            _ => CostClass::MarathonOther,
        });
    }
    if marathon.starts_with("/v2/") {
        return Some(CostClass::MarathonOther);
    }
    if path.starts_with("/service/metronome") || path.starts_with("/v1/") {
        return Some(CostClass::Metronome);
    }
    Some(CostClass::DcosOther)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let c = |lb, m, p, q| classify(lb, m, p, q);
        assert_eq!(
            c(false, "GET", "/v2/apps", None),
            Some(CostClass::MarathonAppsList)
        );
        assert_eq!(
            c(
                false,
                "GET",
                "/service/marathon/v2/apps",
                Some("embed=apps.tasks&label=a%3D%3Db")
            ),
            Some(CostClass::MarathonAppsLabel)
        );
        assert_eq!(
            c(false, "POST", "/v2/apps", None),
            Some(CostClass::MarathonOther)
        );
        assert_eq!(
            c(false, "GET", "/marathon/v2/deployments", None),
            Some(CostClass::MarathonOther)
        );
        assert_eq!(
            c(false, "GET", "/service/metronome/v1/jobs", None),
            Some(CostClass::Metronome)
        );
        assert_eq!(
            c(false, "POST", "/acs/api/v1/auth/login", None),
            Some(CostClass::DcosOther)
        );
        assert_eq!(c(false, "GET", "/__sim/costs", None), None);
        assert_eq!(
            c(true, "GET", "/haproxy", Some("stats;csv;scope=web")),
            Some(CostClass::LbStatsCsv)
        );
        assert_eq!(
            c(true, "GET", "/haproxy", Some("stats;norefresh")),
            Some(CostClass::LbStatsHtml)
        );
        assert_eq!(
            c(true, "GET", "/_haproxy_getpids", None),
            Some(CostClass::LbGetpids)
        );
    }
}
