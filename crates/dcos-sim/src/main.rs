//! The `dcos-sim` binary: a simulated DC/OS cluster on loopback.
//!
//! Its first line of output names the DC/OS URL, then each marathon-lb URL.
//! With `--tls-ca-out FILE` the DC/OS URL is `https://` and FILE holds the
//! CA to trust once that line is out.

use clap::Parser;
use dcos_sim::faults::FaultRule;
use dcos_sim::lb::SessionDrain;
use dcos_sim::{
    JobExecution, MarathonLbProgram, ServiceAccount, SimConfig, SimHandle, UserAccount,
    is_loopback_v4,
};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// A simulated DC/OS cluster (Marathon, Metronome, IAM, marathon-lb) on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "dcos-sim", version, max_term_width = 100)]
struct Args {
    /// Port of the DC/OS URL; 0 lets the OS pick a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Ports of the marathon-lb stats listeners on 127.0.0.1 (repeatable); missing ones are
    /// picked by the OS.
    #[arg(long = "lb-port", value_name = "PORT")]
    lb_ports: Vec<u16>,
    /// How many marathon-lb instances to simulate on 127.0.0.1.
    #[arg(long, default_value_t = 1, value_name = "N")]
    marathon_lb_count: usize,
    /// A marathon-lb instance's stats listener (repeatable, one instance each), on a 127.x.y.z
    /// address: several with one port stand for one DNS name with several A records, e.g.
    /// `--lb-bind 127.0.0.2:9090 --lb-bind 127.0.0.3:9090`. Port 0 lets the OS pick one, shared
    /// by the instances on distinct addresses that ask for 0.
    #[arg(long = "lb-bind", value_name = "ADDR:PORT", value_parser = parse_lb_bind,
          conflicts_with_all = ["lb_ports", "marathon_lb_count"])]
    lb_binds: Vec<SocketAddr>,
    /// Seconds of cluster time each marathon-lb takes to adopt a change in Marathon (its stats
    /// show the old backends until then).
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS", value_parser = parse_seconds)]
    lb_delay: f64,
    /// Seconds of cluster time a marathon-lb reports a reload in progress (three pids) after
    /// each change it adopts.
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS", value_parser = parse_seconds)]
    lb_reload_window: f64,
    /// Every server marathon-lb puts into MAINT keeps N sessions for SECONDS of cluster time.
    #[arg(long, value_name = "N:SECONDS", value_parser = parse_drain)]
    session_drain: Option<SessionDrain>,
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
    /// Serve the DC/OS URL over HTTPS (marathon-lb stays HTTP) with a certificate
    /// for 127.0.0.1 and localhost signed by a CA made at start, and write that CA
    /// (PEM) to FILE, atomically, before the URLs are printed: clients trust FILE,
    /// e.g. `canary apply --ca-cert FILE` or `curl --cacert FILE`.
    #[arg(long, value_name = "FILE")]
    tls_ca_out: Option<std::path::PathBuf>,
    /// Run a real HAProxy (Debian's haproxy 2.x, master-worker mode) per marathon-lb instance,
    /// configured and reloaded as marathon-lb does; its frontends bind each group's service port
    /// on the instance's address. Without it the sim's emulated frontend carries the traffic.
    #[arg(long, value_name = "PATH")]
    haproxy: Option<std::path::PathBuf>,
    /// Run the real marathon-lb per instance: marathon_lb.py from DIR (marathon-lb's upstream
    /// directory, e.g. ../shared/reference/marathon-lb/upstream), run as its container runs it
    /// (--sse against the sim's /v2/events, --group external, --health-check), in a PID namespace
    /// of its own (needs root and unshare), configuring and reloading a real HAProxy (--haproxy,
    /// else haproxy from PATH) that binds the instance's stats port and frontends.
    #[arg(long, value_name = "DIR", conflicts_with = "auth")]
    marathon_lb_program: Option<std::path::PathBuf>,
    /// The python that runs the real marathon-lb (scripts/install-marathon-lb.sh makes a venv
    /// with its requirements); default: $CANARY_MARATHON_LB_PYTHON, else the workspace's
    /// target/marathon-lb-venv/bin/python.
    #[arg(long, value_name = "PATH", requires = "marathon_lb_program")]
    marathon_lb_python: Option<std::path::PathBuf>,
    /// Run the real marathon-lb in its poll mode (once every half second) instead of --sse.
    #[arg(long, requires = "marathon_lb_program")]
    marathon_lb_poll: bool,
    /// Job runs execute their job's run.cmd with /bin/sh -c in a fresh sandbox (env, secrets
    /// from the simulated secret store, artifacts, stdout/stderr readable through the Mesos
    /// files API and dcos-log); their status follows the process. Without it a run only walks
    /// through its statuses and succeeds after 10 s of cluster time.
    #[arg(long)]
    execute_jobs: bool,
    /// A directory put first on the PATH of runs that execute, standing for what the job's
    /// container image puts on PATH (the image itself is never run). Implies --execute-jobs.
    #[arg(long, value_name = "DIR", value_parser = parse_runner_path)]
    runner_path: Option<std::path::PathBuf>,
    /// The time limit, in real seconds, of a run that executes when its job sets no
    /// run.restart.activeDeadlineSeconds; past it its process group is killed and the run fails.
    #[arg(long, default_value_t = 3600.0, value_name = "SECONDS", value_parser = parse_limit)]
    job_time_limit: f64,
}

fn parse_runner_path(s: &str) -> Result<std::path::PathBuf, String> {
    let path = std::path::Path::new(s);
    let path = std::path::absolute(path).map_err(|e| format!("'{s}': {e}"))?;
    if s.contains(':') {
        return Err(format!("'{s}' holds ':', which a PATH entry cannot"));
    }
    if !path.is_dir() {
        return Err(format!("'{s}' is not a directory"));
    }
    Ok(path)
}

fn parse_limit(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 1.0 => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds >= 1")),
    }
}

fn parse_lb_bind(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s
        .parse()
        .map_err(|_| format!("'{s}' is not ADDR:PORT, e.g. 127.0.0.2:9090"))?;
    if is_loopback_v4(&addr) {
        Ok(addr)
    } else {
        Err(format!(
            "{addr} is not on loopback: use a 127.x.y.z address"
        ))
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds >= 0")),
    }
}

fn parse_drain(s: &str) -> Result<SessionDrain, String> {
    let bad = || format!("'{s}' is not N:SECONDS, e.g. 2:30");
    let (sessions, seconds) = s.split_once(':').ok_or_else(bad)?;
    let sessions: u64 = sessions.parse().map_err(|_| bad())?;
    let seconds = parse_seconds(seconds).map_err(|_| bad())?;
    Ok(SessionDrain {
        sessions,
        duration: Duration::from_secs_f64(seconds),
    })
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

/// Writes `text` to a temporary file beside `path`, then renames it into
/// place: a reader never sees a partial file.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => std::path::Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?
        .to_string_lossy();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&temp)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut config = SimConfig {
        seed: args.seed,
        time_scale: args.time_scale,
        auth: args.auth,
        control: args.control,
        marathon_lb_count: args.marathon_lb_count.max(1),
        lb_binds: args.lb_binds.clone(),
        lb_update_delay: Duration::from_secs_f64(args.lb_delay),
        lb_reload_window: Duration::from_secs_f64(args.lb_reload_window),
        session_drain: args.session_drain,
        tls: args.tls_ca_out.is_some(),
        haproxy: args.haproxy.clone(),
        jobs: if args.execute_jobs || args.runner_path.is_some() {
            JobExecution::Execute {
                runner_path: args.runner_path.clone(),
                default_time_limit: Duration::from_secs_f64(args.job_time_limit),
            }
        } else {
            JobExecution::Simulated
        },
        marathon_lb: args
            .marathon_lb_program
            .as_ref()
            .map(|dir| MarathonLbProgram {
                dir: dir.clone(),
                python: args
                    .marathon_lb_python
                    .clone()
                    .unwrap_or_else(MarathonLbProgram::default_python),
                sse: !args.marathon_lb_poll,
            }),
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
    if let (Some(path), Some(pem)) = (&args.tls_ca_out, sim.ca_cert_pem())
        && let Err(e) = write_atomically(path, pem)
    {
        eprintln!("error: --tls-ca-out: cannot write {}: {e}", path.display());
        return ExitCode::from(4);
    }
    for rule in args.faults {
        sim.add_fault(rule);
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
