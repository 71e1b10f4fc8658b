//! The `dcos-sim` binary: a simulated DC/OS cluster on loopback.
//!
//! Its first line of output names the DC/OS URL, then each marathon-lb URL.

use clap::Parser;
use dcos_sim::{SimConfig, SimHandle};
use std::io::Write;
use std::process::ExitCode;

/// A simulated DC/OS cluster (Marathon, Metronome, IAM, marathon-lb) on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "dcos-sim", version, max_term_width = 100)]
struct Args {
    /// Port of the DC/OS URL; 0 lets the OS pick a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Ports of the marathon-lb stats listeners (repeatable); missing ones are picked by the OS.
    #[arg(long = "lb-port")]
    lb_ports: Vec<u16>,
    /// How many marathon-lb instances to simulate.
    #[arg(long, default_value_t = 1)]
    marathon_lb_count: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Simulated seconds per real second (0: the clock moves only through the control endpoint).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Require authentication (user bootstrapuser / deleteme).
    #[arg(long)]
    auth: bool,
    /// Serve the control endpoints under /__sim/ (faults, clock).
    #[arg(long)]
    control: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = SimConfig {
        seed: args.seed,
        time_scale: args.time_scale,
        auth: args.auth,
        control: args.control,
        marathon_lb_count: args.marathon_lb_count.max(1),
        ..SimConfig::default()
    };
    let sim = match SimHandle::start_on(config, args.port, &args.lb_ports) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("error: cannot start the simulated cluster: {e}");
            return ExitCode::from(4);
        }
    };
    let mut line = sim.dcos_url().to_owned();
    for url in sim.lb_urls() {
        line.push(' ');
        line.push_str(url);
    }
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::from(4);
    }
    sim.wait_for_ctrl_c();
    ExitCode::SUCCESS
}
