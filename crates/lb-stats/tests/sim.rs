//! The client against dcos-sim's marathon-lb instances, two of them on
//! distinct loopback addresses and one port, as one name with two A
//! records is on a cluster.

use canary_core::plan::{LbQuery, LbSource, LbState, ProxyFilter};
use dcos_sim::{SimConfig, SimHandle};
use lb_stats::LbStatsClient;
use std::time::Duration;

fn sim() -> SimHandle {
    SimHandle::start(SimConfig {
        time_scale: 0.0,
        lb_binds: vec![
            "127.0.0.2:0".parse().unwrap(),
            "127.0.0.3:0".parse().unwrap(),
        ],
        ..SimConfig::default()
    })
    .expect("the sim starts")
}

#[test]
fn every_instance_is_read_with_the_rows_asked_for() {
    let sim = sim();
    let urls: Vec<String> = sim.lb_urls().to_vec();
    assert_eq!(urls.len(), 2);
    let mut client = LbStatsClient::new(&urls, Duration::from_secs(2)).unwrap();
    let every = LbQuery {
        filter: ProxyFilter::All,
        worker: false,
    };
    let views = client.observe(&every);
    assert_eq!(views.len(), 2);
    for (view, url) in views.iter().zip(&urls) {
        assert_eq!(&view.url, url);
        match &view.state {
            LbState::Stats { worker, rows } => {
                assert_eq!(*worker, None, "not asked for");
                assert!(rows.iter().any(|r| r.pxname == "stats"), "{rows:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    // Only the group's backend: the stats listener's own rows are left out.
    let views = client.observe(&LbQuery::for_group("web", Some(10000), true));
    for view in &views {
        let LbState::Stats { rows, .. } = &view.state else {
            panic!("{view:?}");
        };
        assert!(rows.iter().all(|r| r.pxname == "web_10000"), "{rows:?}");
    }
}
