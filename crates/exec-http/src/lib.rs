//! `exec-http`: canary's executor over the DC/OS HTTP APIs.
//!
//! # The model
//!
//! [`HttpExecutor`] implements canary-core's
//! [`Executor`](canary_core::executor::Executor) (get, create and replace a
//! Metronome job; start, stop and follow a run) with blocking HTTP requests
//! to Metronome's v1 API. It is built from an [`HttpConfig`]:
//!
//! * [`Endpoints`]: where Metronome is, either behind Admin Router at the
//!   cluster's DC/OS URL ([`Endpoints::dcos`]: `<url>/service/metronome`) or
//!   directly, as a job inside the cluster reaches it
//!   ([`Endpoints::metronome`]: `http://metronome.mesos:9000`).
//! * [`Credentials`]: none, a DC/OS token sent as
//!   `Authorization: token=<T>`, or a [`Login`]: a [`ServiceAccount`]
//!   (an RS256 service login token signed with its private key) or a uid
//!   and password, exchanged at `POST <dcos_url>/acs/api/v1/auth/login`
//!   for a token that is replaced shortly before it expires and once after
//!   a 401. No token, password or key ever appears in `Debug` output, an
//!   error or a log line, even if a server echoed it.
//! * [`Timeouts`]: a connect and an overall limit on every request.
//! * [`Tls`]: `https://` URLs are verified against the default roots,
//!   against a CA bundle ([`CaBundle`], e.g. `--ca-cert FILE` or the dcos
//!   CLI's `core.ssl_verify`), or, only when asked, not at all. A
//!   certificate that cannot be verified fails at once (no retries) as
//!   `Unreachable`, naming the URL and how to trust the cluster's CA.
//! * [`Tls::from_ssl_verify`]: the dcos CLI's `core.ssl_verify`, as the
//!   `dcos-cli-config` crate reads it, when the user ran `dcos cluster
//!   setup` and gave nothing else.
//! * [`RetryPolicy`] and a [`Clock`](canary_core::clock::Clock): every
//!   request is one attempt at a time, classified for canary-core's retry
//!   driver ([`canary_core::retry`]), which retries connection failures,
//!   502/503/504 and Marathon's deployment lock with capped exponential
//!   backoff and jitter, up to 60 s by default, waiting on the clock (the
//!   system's unless tests hand in a simulated cluster's). Everything else
//!   fails fast.
//!
//! # Logs
//!
//! Requests, retries and logins are logged with [`tracing`](https://docs.rs/tracing):
//! each attempt at `info` (method, URL, attempt, status, elapsed time),
//! its headers at `debug` with `authorization` shown as `<redacted>`; the
//! bodies of login requests never.
//!
//! # Errors
//!
//! Failed answers become [`ExecError`](canary_core::executor::ExecError)s
//! carrying Metronome's own words: 404 is `NotFound` (and `Ok(None)` for
//! [`get_job`](canary_core::executor::Executor::get_job)), 409 `Conflict`,
//! 400/422 `Invalid` with the validation details, 401/403 `Auth` saying how
//! to log in, connection failures and 502/503/504 left after the retries
//! `Unreachable` with the URL, and anything else (a 500) `Other` with the
//! server's message. A 404 that is not Metronome's (an unknown route: a
//! wrong URL) is `Other`, so a wrong URL is never taken for a missing job.
//!
//! # Repeating requests safely
//!
//! A request that may have reached the server before its connection broke
//! is only repeated when that is harmless: GET, PUT, a create and a stop
//! (what their repeat may meet, a job equal to its own or a run already
//! gone, is reconciled by canary-core's use cases). Starting a run is
//! repeated only when it certainly did not reach Metronome (connection
//! refused, 503), never after a dropped connection: that could start the
//! run twice.
//!
//! ```no_run
//! use canary_core::executor::Executor;
//! use exec_http::{Credentials, Endpoints, HttpConfig, HttpExecutor};
//!
//! let config = HttpConfig::new(Endpoints::dcos("http://dcos.example.com")?)
//!     .with_credentials(Credentials::Token(std::env::var("DCOS_ACS_TOKEN")?));
//! let mut executor = HttpExecutor::new(config)?;
//! let job = executor.get_job("deploy-web-canary")?;
//! println!("{} active run(s)", job.map_or(0, |j| j.active_runs.len()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod auth;
mod client;
mod config;
mod executor;
mod log;
mod tls;

pub use auth::{
    CredentialError, LOGIN_PATH, LOGIN_TOKEN_LIFETIME, Login, REFRESH_MARGIN, ServiceAccount,
};
pub use canary_core::retry::RetryPolicy;
pub use config::{
    BadToken, ConfigError, Credentials, Endpoints, HttpConfig, Timeouts, check_token,
};
pub use executor::HttpExecutor;
pub use tls::{CA_BUNDLE_LIMIT, CaBundle, CaCertError, Tls};
