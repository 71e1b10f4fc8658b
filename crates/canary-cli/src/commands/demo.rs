//! `canary demo`: the whole story on an in-process dcos-sim, no cluster
//! needed (behind the `demo` feature, on by default: `cargo build
//! --no-default-features` builds a `canary` without the emulator).

use crate::failure::Failure;
use clap::Args;
use std::path::PathBuf;

/// `canary demo`'s arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Serve the simulated marathon-lb with the sim's own frontend even
    /// when a haproxy is installed.
    #[arg(long)]
    pub no_haproxy: bool,

    /// Cluster time per real second (1 to 50).
    #[arg(long, value_name = "N", default_value_t = 10.0, value_parser = parse_speed)]
    pub speed: f64,

    /// Also write the report to FILE: FILE.html, a self-contained page
    /// (no script, no network) with the share of responses per version over
    /// time, the steps marked, and the canary's and baseline's error rate
    /// and response time at each analysis read; any other name, JSON: every
    /// step's command, exit code, group, checks and traffic, and the same
    /// timeline.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(n) if (1.0..=50.0).contains(&n) => Ok(n),
        _ => Err("a number from 1 to 50".into()),
    }
}

/// `canary demo`: the story on an in-process dcos-sim, this binary as the
/// jobs' runner.
pub fn run(args: &DemoArgs) -> Result<(), Failure> {
    let canary = std::env::current_exe()
        .map_err(|e| Failure::io(format!("cannot find this canary binary: {e}")))?;
    let config = canary_demo::DemoConfig {
        canary,
        haproxy: if args.no_haproxy {
            None
        } else {
            canary_demo::find_haproxy()
        },
        speed: args.speed,
        // Ctrl-C or SIGTERM: the step's child is stopped, the cluster and
        // the demo's files removed, then the process ends by the signal.
        stop: crate::signals::install(),
    };
    let mut stdout = std::io::stdout();
    let outcome = canary_demo::run(&config, &mut stdout);
    let report = match &outcome {
        Ok(report) => report.clone(),
        Err(canary_demo::DemoError::Step { report, .. }) => (**report).clone(),
        Err(canary_demo::DemoError::Setup(_) | canary_demo::DemoError::Interrupted { .. }) => {
            canary_demo::Report::default()
        }
    };
    if let Some(path) = &args.report {
        let html = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
        let text = if html {
            canary_report::html(&report.run)
        } else {
            serde_json::to_string_pretty(&report)
                .map_err(|e| Failure::io(format!("cannot write the report: {e}")))?
                + "\n"
        };
        std::fs::write(path, text)
            .map_err(|e| Failure::io(format!("--report '{}': {e}", path.display())))?;
        println!("the report: {}", path.display());
    }
    if let (Err(e @ canary_demo::DemoError::Interrupted { .. }), Some(signal)) =
        (&outcome, crate::signals::received())
    {
        eprintln!("{e}");
        crate::signals::end_by(signal);
    }
    outcome.map(drop).map_err(|e| match e {
        canary_demo::DemoError::Setup(_) => Failure::cluster(e.to_string()),
        canary_demo::DemoError::Interrupted { .. } => Failure::stopped(e.to_string()),
        canary_demo::DemoError::Step { .. } => Failure::run(e.to_string()),
    })
}
