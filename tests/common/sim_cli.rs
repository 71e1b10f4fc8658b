//! The binary against one dcos-sim of its own, as an operator would run
//! it: the sim on a loopback address of its own (its frontend binds port
//! 10000), commands given its DC/OS URL, its marathon-lb and a short retry
//! budget.

use dcos_sim::{SimConfig, SimHandle};
use std::path::Path;
use std::process::Output;

/// What a command printed, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A sim at 20 times real time with one marathon-lb.
pub fn sim() -> SimHandle {
    SimHandle::start(SimConfig {
        time_scale: 20.0,
        lb_binds: vec![std::net::SocketAddr::from((super::unique_loopback(), 0))],
        ..SimConfig::default()
    })
    .expect("the sim starts")
}

/// `args` against `sim`: its DC/OS URL, its marathon-lb (for the commands
/// that read one, unless the arguments name one), `--retry-for 5s` unless
/// given, as a command to run with `dcos_dir` as the dcos CLI's home.
pub fn command(sim: &SimHandle, args: &[&str], dcos_dir: &Path) -> std::process::Command {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.extend(["--dcos-url".into(), sim.dcos_url().to_owned()]);
    if !args.contains(&"--retry-for") {
        all.extend(["--retry-for".into(), "5s".into()]);
    }
    if !args.contains(&"--marathon-lb") && !["status", "apply", "render"].contains(&args[0]) {
        for lb in sim.lb_urls() {
            all.extend(["--marathon-lb".to_owned(), lb.clone()]);
        }
    }
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    super::canary_command(&all, dcos_dir, &[])
}

/// [`command`] run to its end.
pub fn canary(sim: &SimHandle, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    command(sim, args, dir.path())
        .output()
        .expect("canary runs")
}

/// What a command that must succeed printed on stdout.
pub fn ok(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Every app of the sim: id, instances, image.
pub fn apps(sim: &SimHandle) -> Vec<(String, u64, String)> {
    super::app_triples(sim.dcos_url(), None)
}

/// testapp live with nginx:1.25 (4 instances).
pub fn live(sim: &SimHandle) {
    ok(&canary(
        sim,
        &["deploy", "--app", "testapp", "--image", "nginx:1.25"],
    ));
}

/// Asserts that `out` ended with exit `code` and its stderr says `words`.
pub fn ended_with(out: &Output, code: i32, words: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(words), "{stderr}");
}
