//! `load-client`: sends a bounded load to one loopback HTTP target and
//! prints what happened to every request.
//!
//! Exit codes: 0 every request succeeded; 1 some failed (the summary says
//! which, by kind and phase); 2 bad flags (clap's usage error, or a bound
//! named).

use clap::Parser;
use load_client::{LoadClient, LoadConfig};
use std::process::ExitCode;
use std::time::Duration;

/// Send a bounded HTTP load to http://127.x.y.z:PORT and count every lost request.
#[derive(Debug, Parser)]
#[command(name = "load-client", version, max_term_width = 100)]
struct Args {
    /// The target, e.g. a marathon-lb frontend: http://127.0.0.2:10000 (loopback only).
    target: String,
    /// Concurrent keep-alive connections (1 to 256).
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Stop after this many seconds (at most 3600).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Stop after this many requests (at most 1000000).
    #[arg(long, default_value_t = 100_000)]
    requests: u64,
    /// Share of requests (0 to 1) that are /slow?ms=SLOW_MS.
    #[arg(long, default_value_t = 0.0)]
    slow_share: f64,
    /// How late the slow requests ask to be answered, ms (at most 30000).
    #[arg(long, default_value_t = 2000)]
    slow_ms: u64,
    /// The path of the other requests.
    #[arg(long, default_value = "/")]
    path: String,
    /// The time limit of one request, seconds (a slow one gets its delay on top).
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Width of the traffic-share windows in the summary, seconds.
    #[arg(long, default_value_t = 1.0)]
    window: f64,
}

fn seconds(flag: &str, value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("--{flag} {value} is not a number of seconds"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = (|| -> Result<LoadConfig, String> {
        Ok(LoadConfig {
            path: args.path.clone(),
            slow_share: args.slow_share,
            slow_ms: args.slow_ms,
            max_requests: args.requests,
            max_duration: seconds("seconds", args.seconds)?,
            request_timeout: seconds("timeout", args.timeout)?,
            window: seconds("window", args.window)?,
            ..LoadConfig::new(args.target.clone(), args.connections)
        })
    })();
    let client = match config.map(LoadClient::start) {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    while !client.finished() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let summary = client.stop().summary();
    print!("{summary}");
    if summary.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
