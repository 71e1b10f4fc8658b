//! `dcos-sim`: a local emulator of the DC/OS APIs canary talks to, for tests
//! and demos.
//!
//! # The model
//!
//! One [`Sim`] holds a simulated cluster: Marathon (apps, tasks,
//! deployments and a scheduler that starts tasks and passes their health
//! checks), Metronome (jobs and runs), IAM (accounts and tokens) and the
//! marathon-lb instances, each with its own, possibly lagging, view of the
//! apps (HAProxy stats, reloads, sessions; see [`lb`]). State lives in memory
//! and advances lazily: every request first brings the cluster up to the
//! current cluster time, replaying every event due (a task starting, a health
//! check passing, a marathon-lb instance adopting a change) at its own time,
//! so what happens depends only on the seed, the configuration and the times
//! at which requests arrive. The cluster clock can run faster than real time
//! ([`SimConfig::time_scale`]) or only when told (scale 0,
//! [`SimHandle::advance`]).
//!
//! The model is private; [`SimHandle`] is the API a test uses besides HTTP,
//! including the cluster's own records for safety checks (a kill log and a
//! serving-capacity timeline, [`lb::KillLog`], [`lb::CapacityTimeline`]).
//!
//! [`SimHandle::start`] serves it over HTTP on loopback: one listener for
//! the DC/OS URL on 127.0.0.1 (Admin Router paths such as
//! `/service/marathon/v2/apps`, plus the bare `/v2` and `/v1` paths a job
//! inside the cluster uses), and one per simulated marathon-lb, on 127.0.0.1
//! or the 127.x.y.z addresses of [`SimConfig::lb_binds`]. With
//! [`SimConfig::tls`] the DC/OS URL is `https://` and
//! [`SimHandle::ca_cert_pem`] is the CA to trust. Faults ([`faults`]) and
//! the control endpoints under `/__sim/` let tests break things on purpose.
//!
//! ```no_run
//! use dcos_sim::{SimConfig, SimHandle};
//! let sim = SimHandle::start(SimConfig::default()).unwrap();
//! println!("DC/OS at {}, marathon-lb at {:?}", sim.dcos_url(), sim.lb_urls());
//! ```

pub mod agent;
mod bind;
mod clock;
pub mod config;
mod control;
pub mod costs;
pub mod exec;
pub mod faults;
mod handle;
mod http;
pub mod iam;
pub mod image;
pub mod lb;
pub mod marathon;
pub mod metronome;
mod misc;
mod rng;
pub mod secrets;
mod server;
pub mod state;
mod tls;

pub use bind::{StartError, is_loopback_v4};
pub use config::{JobExecution, ServiceAccount, SimConfig, UserAccount};
pub use costs::{ClassCost, CostClass, Costs};
pub use handle::SimHandle;
pub use lb::{MarathonLbProgram, MarathonLbStatus};
pub use misc::{CAPABILITIES_MEDIA_TYPE, DCOS_VERSION};
pub use state::{Cluster, Shared, Sim};
