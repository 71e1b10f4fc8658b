//! Injected faults: error statuses, latency, dropped connections and
//! Marathon leader changes, chosen deterministically from the seed.

use crate::rng::SimRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with this status (and body, default `{"message": "injected fault"}`).
    Status {
        /// The HTTP status code.
        code: u16,
        /// The JSON body, if not the default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Value>,
    },
    /// Delay the request by this many real milliseconds, then serve it.
    Delay {
        /// Real milliseconds.
        ms: u64,
    },
    /// Close the connection without an answer.
    Drop,
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// The HTTP method it applies to; any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The path prefix it applies to (after `//` is collapsed), e.g.
    /// `/service/marathon/v2/apps`.
    pub path_prefix: String,
    /// Only requests to marathon-lb instance `lb`'s stats listener (e.g. to
    /// make its stats fail for a while); requests to every listener when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lb: Option<usize>,
    /// What it does.
    pub action: FaultAction,
    /// How many matching requests it hits before it expires; forever when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// The chance (0 to 1) that a matching request is hit; always when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Cluster time (epoch ms) after which it expires; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
}

impl FaultRule {
    /// A Marathon leader change: every Marathon path answers 503 for
    /// `duration_ms` of cluster time from `now_ms`.
    pub fn leader_change(prefix: &str, now_ms: u64, duration_ms: u64) -> Self {
        FaultRule {
            method: None,
            path_prefix: prefix.to_owned(),
            lb: None,
            action: FaultAction::Status {
                code: 503,
                body: Some(
                    serde_json::json!({"message": "Could not determine the current leader"}),
                ),
            },
            times: None,
            rate: None,
            until_ms: Some(now_ms + duration_ms),
        }
    }
}

/// The active fault rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct Faults {
    rules: Vec<FaultRule>,
}

impl Faults {
    /// Adds a rule.
    pub fn add(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The active rules.
    pub fn rules(&self) -> &[FaultRule] {
        &self.rules
    }

    /// The fault to apply to a request (to marathon-lb instance `lb`'s
    /// listener, or with `None` the DC/OS one), if any; counts it against its
    /// rule.
    pub fn decide(
        &mut self,
        method: &str,
        path: &str,
        lb: Option<usize>,
        now_ms: u64,
        rng: &mut SimRng,
    ) -> Option<FaultAction> {
        self.rules
            .retain(|r| r.until_ms.is_none_or(|until| now_ms < until));
        let mut hit = None;
        for (index, rule) in self.rules.iter_mut().enumerate() {
            let method_ok = rule
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            let listener_ok = rule.lb.is_none_or(|n| lb == Some(n));
            if !method_ok || !listener_ok || !path.starts_with(&rule.path_prefix) {
                continue;
            }
            if let Some(rate) = rule.rate
                && rng.next_f64() >= rate
            {
                continue;
            }
            if let Some(times) = &mut rule.times {
                *times = times.saturating_sub(1);
            }
            hit = Some((index, rule.action.clone()));
            break;
        }
        let (index, action) = hit?;
        if self.rules[index].times == Some(0) {
            self.rules.remove(index);
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> FaultAction {
        FaultAction::Status { code, body: None }
    }

    #[test]
    fn times_rate_and_expiry() {
        let mut rng = SimRng::new(1);
        let mut faults = Faults::default();
        faults.add(FaultRule {
            method: Some("GET".into()),
            path_prefix: "/v2/apps".into(),
            lb: None,
            action: status(500),
            times: Some(2),
            rate: None,
            until_ms: None,
        });
        assert_eq!(
            faults.decide("POST", "/v2/apps", None, 0, &mut rng),
            None,
            "method must match"
        );
        assert_eq!(
            faults.decide("GET", "/v1/jobs", None, 0, &mut rng),
            None,
            "path must match"
        );
        assert_eq!(
            faults.decide("GET", "/v2/apps/x", None, 0, &mut rng),
            Some(status(500))
        );
        assert_eq!(
            faults.decide("get", "/v2/apps", None, 0, &mut rng),
            Some(status(500))
        );
        assert_eq!(
            faults.decide("GET", "/v2/apps", None, 0, &mut rng),
            None,
            "used up"
        );

        faults.add(FaultRule::leader_change("/v2", 1_000, 500));
        assert!(matches!(
            faults.decide("PUT", "/v2/apps/x", None, 1_200, &mut rng),
            Some(FaultAction::Status { code: 503, .. })
        ));
        assert_eq!(
            faults.decide("PUT", "/v2/apps/x", None, 1_500, &mut rng),
            None,
            "expired"
        );

        // A rule for one marathon-lb instance hits only its listener.
        faults.add(FaultRule {
            method: None,
            path_prefix: "/haproxy".into(),
            lb: Some(1),
            action: status(503),
            times: None,
            rate: None,
            until_ms: None,
        });
        assert_eq!(faults.decide("GET", "/haproxy", None, 0, &mut rng), None);
        assert_eq!(faults.decide("GET", "/haproxy", Some(0), 0, &mut rng), None);
        assert_eq!(
            faults.decide("GET", "/haproxy", Some(1), 0, &mut rng),
            Some(status(503))
        );
        faults.clear();

        let mut hits = 0;
        faults.add(FaultRule {
            method: None,
            path_prefix: "/".into(),
            lb: None,
            action: FaultAction::Drop,
            times: None,
            rate: Some(0.25),
            until_ms: None,
        });
        for _ in 0..4000 {
            hits += usize::from(faults.decide("GET", "/x", None, 0, &mut rng).is_some());
        }
        assert!((800..1200).contains(&hits), "{hits} of 4000 at rate 0.25");
    }
}
