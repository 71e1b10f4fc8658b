//! marathon-lb's stats pages as HAProxy serves them: `;scope=` keeps the
//! proxies whose name contains the text (cut to 20 characters), the HTML
//! page carries HAProxy's `pid = …` and `uptime = …` lines, and the `;csv`
//! rows have the `*_max` columns; emulated, and through a real HAProxy
//! whose own stats listener and Lua getpids service the sim forwards to.

mod common;

use common::{
    create_app, get, group_app, haproxy_binary, lb_columns, try_send, unique_loopback, wait_until,
};
use dcos_sim::{SimConfig, SimHandle};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// A sim at 10x with one instance on its own address; three groups whose
/// backends are `web_10000`, `web_short_1000` and
/// `other-long-name-group_10002` (27 characters), one healthy task each.
fn cluster(haproxy: bool) -> (SimHandle, String) {
    let ip = unique_loopback();
    let sim = SimHandle::start(SimConfig {
        time_scale: 10.0,
        lb_binds: vec![SocketAddr::from((ip, 0))],
        haproxy: haproxy.then(haproxy_binary),
        ..SimConfig::default()
    })
    .expect("sim starts");
    for (id, group, port) in [
        ("/web-blue", "web", 10000),
        ("/short-blue", "web_short", 1000),
        ("/other-blue", "other-long-name-group", 10002),
    ] {
        let app = group_app(id, group, port, "httpd:2.4", 1, json!({}));
        create_app(sim.dcos_url(), &app);
    }
    let lb = sim.lb_urls()[0].clone();
    wait_until(LIMIT, "every backend with its server", || {
        ["other-long-name-group_10002", "web_10000", "web_short_1000"]
            .iter()
            .all(|b| lb_columns(&lb, b).len() == 1)
    });
    (sim, ip.to_string())
}

/// The proxies named in a `;csv` page.
fn proxies(csv: &str) -> Vec<String> {
    let mut names: Vec<String> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .map(str::to_owned)
        .collect();
    names.dedup();
    names
}

fn scope_keeps_proxies_containing_the_text(haproxy: bool) {
    let (sim, _) = cluster(haproxy);
    let lb = &sim.lb_urls()[0];
    let csv = |query: &str| {
        let reply = get(&format!("{lb}/haproxy?stats;csv{query}"));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply.content_type.starts_with("text/plain"));
        proxies(&reply.body)
    };
    assert_eq!(
        csv(""),
        [
            "stats",
            "other-long-name-group_10002",
            "web_10000",
            "web_short_1000"
        ]
    );
    assert_eq!(csv(";scope=web_10000"), ["web_10000"]);
    assert_eq!(csv(";scope=web_"), ["web_10000", "web_short_1000"]);
    assert_eq!(csv(";scope=WEB_1"), ["web_10000"], "case is ignored");
    assert_eq!(
        csv(";scope=_100"),
        ["other-long-name-group_10002", "web_10000", "web_short_1000"]
    );
    assert!(csv(";scope=nothing").is_empty());
    // Past 20 characters the scope is cut: the first 20 are a substring.
    assert_eq!(
        csv(";scope=other-long-name-groupXXXXX"),
        ["other-long-name-group_10002"]
    );
    assert!(csv(";scope=other-long-name-grXXXXX").is_empty());
    // `;scope=` before `;csv` too, and `&` ends it.
    let reply = get(&format!("{lb}/haproxy?stats;scope=other;csv"));
    assert_eq!(proxies(&reply.body), ["other-long-name-group_10002"]);
    let reply = get(&format!("{lb}/haproxy?stats;csv;scope=other&x=1"));
    assert_eq!(proxies(&reply.body), ["other-long-name-group_10002"]);
    // The HTML page is scoped the same way.
    let html = get(&format!("{lb}/haproxy?stats;norefresh;scope=web_short")).body;
    assert!(
        html.contains("<a class=px href=\"#web_short_1000\">"),
        "{html}"
    );
    assert!(!html.contains("href=\"#web_10000\""), "{html}");
    assert!(
        !html.contains("href=\"#other-long-name-group_10002\""),
        "{html}"
    );
}

/// `(pid, nbthread, uptime seconds)` of an HTML stats page.
fn process(html: &str) -> (u64, u64, u64) {
    let after = |marker: &str| {
        let start = html
            .find(marker)
            .unwrap_or_else(|| panic!("{marker} in {html}"))
            + marker.len();
        html[start..].to_owned()
    };
    let pid_line = after("<p><b>pid = </b> ");
    let pid: u64 = pid_line.split(' ').next().unwrap().parse().unwrap();
    let threads_text = after("(process #1, nbproc = 1, nbthread = ");
    let threads: u64 = threads_text.split(')').next().unwrap().parse().unwrap();
    let uptime = after("<b>uptime = </b> ");
    let uptime = uptime.split('<').next().unwrap();
    // `0d 0h00m26s`
    let (days, rest) = uptime.split_once("d ").unwrap();
    let (hours, rest) = rest.split_once('h').unwrap();
    let (minutes, rest) = rest.split_once('m').unwrap();
    let seconds = rest.trim_end_matches('s');
    let n = |t: &str| t.parse::<u64>().unwrap();
    (
        pid,
        threads,
        ((n(days) * 24 + n(hours)) * 60 + n(minutes)) * 60 + n(seconds),
    )
}

fn html_page_names_the_worker_and_a_reload_changes_it(haproxy: bool) {
    let (sim, _) = cluster(haproxy);
    let lb = sim.lb_urls()[0].clone();
    let page = || get(&format!("{lb}/haproxy?stats;norefresh")).body;
    let (pid, threads, _) = process(&page());
    assert_eq!(
        threads as usize,
        std::thread::available_parallelism().unwrap().get(),
        "HAProxy's default threads: one per CPU"
    );
    let app = group_app("/more-blue", "more", 10003, "httpd:2.4", 1, json!({}));
    create_app(sim.dcos_url(), &app);
    wait_until(LIMIT, "a reload", || process(&page()).0 != pid);
    let (_, _, uptime) = process(&page());
    assert!(uptime < 60, "the new worker is young: {uptime} s");
    // The `*_max` columns are there, by name, in 2.6's order.
    let header = get(&format!("{lb}/haproxy?stats;csv")).body;
    let columns: Vec<&str> = header
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let at = |c: &str| {
        columns
            .iter()
            .position(|x| *x == c)
            .unwrap_or_else(|| panic!("{c}: {columns:?}"))
    };
    assert!(at("ttime") < at("qtime_max"));
    assert_eq!(at("ctime_max"), at("qtime_max") + 1);
    assert_eq!(at("rtime_max"), at("qtime_max") + 2);
    assert_eq!(at("ttime_max"), at("qtime_max") + 3);
}

#[test]
fn emulated_scope_keeps_proxies_containing_the_text() {
    scope_keeps_proxies_containing_the_text(false);
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn haproxy_scope_keeps_proxies_containing_the_text() {
    scope_keeps_proxies_containing_the_text(true);
}

#[test]
fn emulated_html_page_names_the_worker_and_a_reload_changes_it() {
    html_page_names_the_worker_and_a_reload_changes_it(false);
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn haproxy_html_page_names_the_worker_and_a_reload_changes_it() {
    html_page_names_the_worker_and_a_reload_changes_it(true);
}

#[test]
fn emulated_max_times_follow_the_worker() {
    let (sim, ip) = cluster(false);
    let lb = sim.lb_urls()[0].clone();
    let slow = try_send("GET", &format!("http://{ip}:10000/slow?ms=300"), &[], None).unwrap();
    assert_eq!(slow.status, 200);
    let row = &lb_columns(&lb, "web_10000")[0];
    let number = |c: &str| row[c].parse::<u64>().unwrap();
    assert!(number("ttime_max") >= 300, "{row:?}");
    assert!(number("rtime_max") >= 300, "{row:?}");
    assert!(number("ttime_max") >= number("rtime_max"));
    assert_eq!(number("qtime_max"), 0, "the emulation never queues");
    // A reload (a new worker) starts the maxima over.
    let app = group_app("/more-blue", "more", 10003, "httpd:2.4", 1, json!({}));
    create_app(sim.dcos_url(), &app);
    wait_until(LIMIT, "the maxima start over", || {
        lb_columns(&lb, "web_10000")[0]["ttime_max"] == "0"
    });
}

#[test]
#[cfg_attr(
    not(canary_haproxy),
    ignore = "needs haproxy (Debian's package; scripts/test installs it, or set HAPROXY)"
)]
fn haproxy_getpids_is_its_own_lua_service_listing_master_and_worker() {
    let (sim, _) = cluster(true);
    assert!(sim.settle_lbs(LIMIT));
    let lb = sim.lb_urls()[0].clone();
    wait_until(LIMIT, "master and one worker", || {
        let mut listed: Vec<u32> = get(&format!("{lb}/_haproxy_getpids"))
            .body
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        listed.sort_unstable();
        let mut real = sim.lb_proxy_status(0).pids;
        real.sort_unstable();
        listed.len() == 2 && listed == real
    });
    let reply = get(&format!("{lb}/_haproxy_getpids"));
    assert!(reply.content_type.starts_with("text/plain"));
    // HAProxy's own monitor-uri.
    assert_eq!(get(&format!("{lb}/_haproxy_health_check")).status, 200);
}
