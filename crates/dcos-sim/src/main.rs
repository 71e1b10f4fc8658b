//! The `dcos-sim` binary: a simulated DC/OS cluster on loopback.
//!
//! Its first line of output names the DC/OS URL, then each marathon-lb URL.

use clap::Parser;
use dcos_sim::faults::FaultRule;
use dcos_sim::{ServiceAccount, SimConfig, SimHandle, UserAccount};
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
    /// Serve the control endpoints under /__sim/ (faults, clock, marathon-lb traffic).
    #[arg(long)]
    control: bool,
    /// A file of accounts for --auth, one `uid:password` per line (instead of bootstrapuser).
    #[arg(long, value_name = "FILE")]
    users_file: Option<std::path::PathBuf>,
    /// A service account for --auth (repeatable): its uid and a file with its
    /// public key (PEM); it logs in with an RS256 login token.
    #[arg(long = "service-account", value_name = "UID=PEM_FILE")]
    service_accounts: Vec<String>,
    /// A fault rule as JSON (repeatable), e.g.
    /// '{"path_prefix":"/v2/apps","action":{"status":{"code":503}},"times":3}'.
    #[arg(long = "fault", value_name = "JSON", value_parser = parse_fault)]
    faults: Vec<FaultRule>,
}

fn parse_fault(s: &str) -> Result<FaultRule, String> {
    serde_json::from_str(s).map_err(|e| format!("not a fault rule: {e}"))
}

fn read_service_account(spec: &str) -> Result<ServiceAccount, String> {
    let (uid, path) = spec
        .split_once('=')
        .ok_or_else(|| format!("'{spec}' is not UID=PEM_FILE"))?;
    let public_key_pem =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    Ok(ServiceAccount {
        uid: uid.to_owned(),
        public_key_pem,
    })
}

fn read_users(path: &std::path::Path) -> Result<Vec<UserAccount>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (uid, password) = line
                .split_once(':')
                .ok_or_else(|| format!("{}: a line is not uid:password", path.display()))?;
            Ok(UserAccount {
                uid: uid.to_owned(),
                password: password.to_owned(),
            })
        })
        .collect()
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut config = SimConfig {
        seed: args.seed,
        time_scale: args.time_scale,
        auth: args.auth,
        control: args.control,
        marathon_lb_count: args.marathon_lb_count.max(1),
        ..SimConfig::default()
    };
    if let Some(path) = &args.users_file {
        match read_users(path) {
            Ok(users) => config.users = users,
            Err(e) => {
                eprintln!("error: --users-file: {e}");
                return ExitCode::from(3);
            }
        }
    }
    for spec in &args.service_accounts {
        match read_service_account(spec) {
            Ok(account) => config.service_accounts.push(account),
            Err(e) => {
                eprintln!("error: --service-account: {e}");
                return ExitCode::from(3);
            }
        }
    }
    let sim = match SimHandle::start_on(config, args.port, &args.lb_ports) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("error: cannot start the simulated cluster: {e}");
            return ExitCode::from(4);
        }
    };
    for rule in args.faults {
        sim.with_cluster(|cluster| cluster.faults.add(rule));
    }
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
