//! Criterion benchmarks of the canary analysis: what one window costs for a
//! large group, so that `--interval` can be short without the analysis
//! being the slow part.
//!
//! The group: a previous app and a canary of 100 tasks each behind three
//! marathon-lb instances (600 server rows a reading). `window/from_csv` is
//! a whole window as the driver does it, from the stats pages' text: both
//! readings parsed ([`parse_stats_csv`]), the snapshots taken, the roles
//! built and [`analyze_window`] run. `window/judge` is [`analyze_window`]
//! alone. One element per iteration: `thrpt` reads in windows per second.
//!
//! Run with `cargo bench -p canary-core --bench analysis`.

use canary_core::MarathonApp;
use canary_core::analysis::{Checks, Roles, Snapshot, analyze_window};
use canary_core::plan::stats::parse_stats_csv;
use canary_core::plan::{LbState, LbView};
use criterion::{Criterion, Throughput, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;

/// Tasks per app.
const TASKS: u16 = 100;
/// marathon-lb instances.
const LBS: usize = 3;

/// An app of the group with `TASKS` tasks on host 10.0.0.1 from `port`.
fn app(id: &str, started: &str, port: u16) -> MarathonApp {
    let tasks: Vec<serde_json::Value> = (0..TASKS)
        .map(|i| serde_json::json!({"id": format!("{id}.{i}"), "host": "10.0.0.1", "ports": [port + i]}))
        .collect();
    MarathonApp::from_marathon(&serde_json::json!({
        "id": id,
        "instances": TASKS,
        "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_STARTED_AT": started},
        "tasks": tasks
    }))
    .expect("a valid app")
}

/// One stats page: every server of both apps, counters scaled by `n`.
fn page(n: u64) -> String {
    let mut csv = String::from(
        "# pxname,svname,status,scur,qcur,stot,econ,eresp,cli_abrt,srv_abrt,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,rtime\n",
    );
    for (base, errors) in [(31000u16, 0u64), (32000, 1)] {
        for i in 0..TASKS {
            let port = base + i;
            csv.push_str(&format!(
                "web_10000,10_0_0_1_{port},UP,1,0,{},0,0,0,0,0,{},0,{},{},0,12\n",
                100 * n,
                97 * n,
                2 * n,
                (1 + errors) * n
            ));
        }
    }
    csv
}

fn views(text: &str) -> Vec<LbView> {
    (0..LBS)
        .map(|i| LbView {
            url: format!("http://10.0.0.{}:9090", i + 2),
            state: LbState::Stats {
                worker: None,
                rows: parse_stats_csv(text).expect("valid CSV"),
            },
        })
        .collect()
}

fn window(c: &mut Criterion) {
    let apps = [
        app("/web-blue", "2026-01-01T00:00:00", 31000),
        app("/web-green", "2026-02-01T00:00:00", 32000),
    ];
    let (start_text, end_text) = (page(10), page(20));
    let checks = Checks::default();

    let mut group = c.benchmark_group("window");
    group.throughput(Throughput::Elements(1));
    group.bench_function("from_csv", |b| {
        b.iter(|| {
            let start = Snapshot::for_group("web", 10000, &views(black_box(&start_text)));
            let end = Snapshot::for_group("web", 10000, &views(black_box(&end_text)));
            let roles = Roles::from_group(&apps, &BTreeMap::new()).expect("two apps");
            analyze_window(&start, &end, &roles, &checks)
        })
    });

    let start = Snapshot::for_group("web", 10000, &views(&start_text));
    let end = Snapshot::for_group("web", 10000, &views(&end_text));
    let roles = Roles::from_group(&apps, &BTreeMap::new()).expect("two apps");
    let judged = analyze_window(&start, &end, &roles, &checks);
    // The fixture means what it says: every server on its side, each of
    // the canary's 100 tasks counted on three load balancers.
    assert_eq!(judged.metrics.canary.servers, u64::from(TASKS) * LBS as u64);
    assert!(judged.metrics.unmatched.is_empty());
    group.bench_function("judge", |b| {
        b.iter(|| analyze_window(black_box(&start), black_box(&end), &roles, &checks))
    });
    group.finish();
}

/// The harness. `criterion_group!` defines an undocumented `pub fn`; inside a
/// private module it is not public API, so `missing_docs` stays quiet.
mod harness {
    use super::window;
    use criterion::criterion_group;

    criterion_group!(benches, window);
}

criterion_main!(harness::benches);
