//! The client against dcos-sim's marathon-lb instances, two of them on
//! distinct loopback addresses and one port, as one name with two A
//! records is on a cluster.

use canary_core::engine::{LbSource, LbState};
use dcos_sim::{SimConfig, SimHandle};
use lb_stats::LbStatsClient;
use std::time::Duration;

#[test]
fn every_instance_is_read_with_its_pids_and_stats() {
    let sim = SimHandle::start(SimConfig {
        time_scale: 0.0,
        lb_binds: vec![
            "127.0.0.2:0".parse().unwrap(),
            "127.0.0.3:0".parse().unwrap(),
        ],
        ..SimConfig::default()
    })
    .expect("the sim starts");
    let urls: Vec<String> = sim.lb_urls().to_vec();
    assert_eq!(urls.len(), 2);
    let mut client = LbStatsClient::new(&urls, Duration::from_secs(2)).unwrap();
    let views = client.observe();
    assert_eq!(views.len(), 2);
    for (view, url) in views.iter().zip(&urls) {
        assert_eq!(&view.url, url);
        match &view.state {
            LbState::Stats { pids, rows } => {
                assert_eq!(*pids, 2, "master and worker");
                assert!(rows.iter().any(|r| r.pxname == "stats"), "{rows:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    sim.set_reloading(1, true);
    let views = client.observe();
    assert!(
        matches!(views[1].state, LbState::Stats { pids: 3, .. }),
        "{views:?}"
    );
}
