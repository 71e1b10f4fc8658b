//! The model: one marathon-lb in front of four servers (three baseline
//! tasks, one canary: one request in four to the canary), read every
//! 4 to 6 s (uneven, as polls are), with HAProxy reloads that restart the
//! counters and leave the old worker's last requests in no stats page.

use canary_core::MarathonApp;
use canary_core::analysis::snapshot::LbSnapshot;
use canary_core::analysis::{Counters, Roles, Snapshot};
use rand::Rng;
use rand::rngs::StdRng;
use rand_distr::{Binomial, Distribution, Normal, Poisson};
use std::collections::BTreeMap;

/// What the servers do.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Requests per second to the whole group.
    pub rps: f64,
    /// The baseline's error rate.
    pub baseline_rate: f64,
    /// The canary's error rate.
    pub canary_rate: f64,
    /// The baseline's mean response time, ms.
    pub baseline_ms: f64,
    /// The canary's, ms.
    pub canary_ms: f64,
}

/// The chance that a read interval holds a reload (marathon-lb reloads on
/// every change in the cluster): about one a minute.
const RELOAD_CHANCE: f64 = 1.0 / 12.0;

/// Server names as marathon-lb gives them (host 10.0.0.1, the tasks'
/// ports): three baseline, then the canary.
pub const SERVERS: [&str; 4] = [
    "10_0_0_1_31000",
    "10_0_0_1_31001",
    "10_0_0_1_31002",
    "10_0_0_1_31003",
];

/// The group's roles: `/web-blue` (31000..31002) the baseline,
/// `/web-green` (31003) the canary.
pub fn roles() -> Roles {
    let app = |id: &str, started: &str, ports: &[u16]| {
        let tasks: Vec<_> = ports
            .iter()
            .map(|p| serde_json::json!({"id": format!("{id}.{p}"), "host": "10.0.0.1", "ports": [p]}))
            .collect();
        MarathonApp::from_marathon(&serde_json::json!({
            "id": id, "instances": ports.len(),
            "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_STARTED_AT": started},
            "tasks": tasks
        }))
        .expect("a valid app")
    };
    let blue = app("/web-blue", "2026-01-01T00:00:00", &[31000, 31001, 31002]);
    let green = app("/web-green", "2026-02-01T00:00:00", &[31003]);
    Roles::from_group(&[blue, green], &BTreeMap::new()).expect("two apps")
}

/// The load balancer's counters as they stand.
pub struct Lb {
    scenario: Scenario,
    worker: u32,
    servers: [Counters; 4],
}

impl Lb {
    /// A fresh HAProxy.
    pub fn new(scenario: Scenario) -> Lb {
        Lb {
            scenario,
            worker: 1,
            servers: [Counters::default(); 4],
        }
    }

    /// `seconds` of traffic, perhaps with a reload in it.
    pub fn serve(&mut self, seconds: f64, rng: &mut StdRng) {
        let reload = rng.gen_bool(RELOAD_CHANCE);
        // The share of the interval the old worker still counted (its
        // requests after the last read are in no stats page).
        let before_reload = if reload { rng.r#gen::<f64>() } else { 0.0 };
        if reload {
            self.worker += 1;
            self.servers = [Counters::default(); 4];
        }
        let s = self.scenario;
        let per_server = Poisson::new((s.rps / 4.0 * seconds).max(1e-9)).expect("a rate");
        for (i, counters) in self.servers.iter_mut().enumerate() {
            let (rate, ms) = if i == 3 {
                (s.canary_rate, s.canary_ms)
            } else {
                (s.baseline_rate, s.baseline_ms)
            };
            let n = per_server.sample(rng) as u64;
            let counted = n - (n as f64 * before_reload) as u64;
            let errors = Binomial::new(counted, rate).expect("a rate").sample(rng);
            counters.hrsp_2xx += counted - errors;
            counters.hrsp_5xx += errors;
            counters.stot += counted;
            // rtime averages the last 1024 requests: about the mean, with
            // the spread of an average of that many.
            let spread = Normal::new(ms, ms * 0.5 / 32.0).expect("a spread");
            counters.rtime = spread.sample(rng).max(1.0).round() as u64;
        }
    }

    /// What a read shows.
    pub fn snapshot(&self) -> Snapshot {
        let servers = SERVERS
            .iter()
            .zip(self.servers)
            .map(|(name, c)| ((*name).to_owned(), c))
            .collect();
        Snapshot {
            backend: "web_10000".into(),
            lbs: BTreeMap::from([(
                "http://10.0.0.2:9090".to_owned(),
                LbSnapshot::Read {
                    worker: Some(self.worker),
                    servers,
                },
            )]),
        }
    }
}
