//! [`SimHandle`]: a running simulated cluster, and the API tests use to read
//! and steer it without touching the model.
//!
//! Everything a test does besides HTTP goes through these methods: tokens,
//! faults, Metronome's run hooks and job ids, marathon-lb traffic and
//! reloads, importing Marathon apps and reading one back, and the clock.
//! Each call takes the cluster lock and first brings the cluster up to the
//! current cluster time, exactly as a request does.

use crate::bind::{StartError, bind, bind_lbs, lb_addresses};
use crate::config::SimConfig;
use crate::faults::{FaultAction, FaultRule};
use crate::iam::{Claims, TokenError};
use crate::lb::{
    CapacityMark, CapacityTimeline, Emulated, Haproxy, KillLog, Proxies, Proxy, ProxyStatus,
    RealMarathonLb, RecordError, SessionDrain, Traffic,
};
use crate::marathon::{AppView, Invalid};
use crate::metronome::{ClusterRunHook, RunHook};
use crate::secrets::SecretError;
use crate::server::{Listener, dcos_router, serve};
use crate::state::{Cluster, Shared, Sim};
use std::net::SocketAddr;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;
use tokio::runtime::Runtime;

/// Each instance's way of carrying traffic: a real HAProxy per instance
/// when the config names one (in a private temporary directory), else the
/// emulated frontend, on the instance's own address.
fn start_proxies(
    config: &SimConfig,
    lb_addrs: &[SocketAddr],
    runtime: &tokio::runtime::Handle,
) -> Result<Proxies, StartError> {
    let ip = |addr: &SocketAddr| match addr.ip() {
        std::net::IpAddr::V4(ip) => ip,
        std::net::IpAddr::V6(_) => std::net::Ipv4Addr::LOCALHOST,
    };
    if let Some(program) = &config.marathon_lb {
        // Outside /tmp when it can be: each instance's namespace mounts a
        // private /tmp, which would hide a directory under it.
        let base = if std::path::Path::new("/var/tmp").is_dir() {
            tempfile::Builder::new()
                .prefix("dcos-sim-marathon-lb")
                .tempdir_in("/var/tmp")?
        } else {
            tempfile::Builder::new()
                .prefix("dcos-sim-marathon-lb")
                .tempdir()?
        };
        let binary = config
            .haproxy
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("haproxy"));
        let mut proxies = Proxies::default();
        for (lb, addr) in lb_addrs.iter().enumerate() {
            let dir = base.path().join(format!("lb-{lb}"));
            let mlb = RealMarathonLb::prepare(lb, *addr, &dir, &binary, program)?;
            proxies.list.push(Proxy::MarathonLb(Arc::new(mlb)));
        }
        proxies.dir = Some(base);
        return Ok(proxies);
    }
    let Some(binary) = &config.haproxy else {
        let list = lb_addrs
            .iter()
            .enumerate()
            .map(|(lb, addr)| {
                Proxy::Emulated(Arc::new(Emulated::new(lb, ip(addr), runtime.clone())))
            })
            .collect();
        return Ok(Proxies { list, dir: None });
    };
    let dir = tempfile::Builder::new()
        .prefix("dcos-sim-haproxy")
        .tempdir()?;
    let mut proxies = Proxies {
        list: Vec::new(),
        dir: None,
    };
    for (lb, addr) in lb_addrs.iter().enumerate() {
        let lb_dir = dir.path().join(format!("lb-{lb}"));
        proxies.list.push(Proxy::Haproxy(Haproxy::start(
            lb,
            ip(addr),
            binary,
            &lb_dir,
        )?));
    }
    proxies.dir = Some(dir);
    Ok(proxies)
}

/// With a running clock, brings the cluster to the current time every
/// 20 ms even when nobody asks, so tasks start, marathon-lb instances adopt
/// changes and their frontends or HAProxies follow on time.
async fn pace_cluster(sim: Shared) {
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(sim.cluster());
    }
}

/// A running simulated cluster. Dropping it stops the listeners, the tasks'
/// servers and the marathon-lb frontends (or real HAProxies).
#[derive(Debug)]
pub struct SimHandle {
    sim: Shared,
    dcos_url: String,
    lb_urls: Vec<String>,
    ca_cert_pem: Option<String>,
    runtime: Option<Runtime>,
}

impl SimHandle {
    /// Starts a cluster on loopback (the DC/OS URL on 127.0.0.1, each
    /// marathon-lb where [`SimConfig::lb_binds`] says, by default 127.0.0.1),
    /// on ports the OS picks, on its own runtime threads, and returns once
    /// every listener accepts connections. With [`SimConfig::tls`] the DC/OS
    /// port speaks HTTPS with a certificate made for this run (see
    /// [`SimHandle::ca_cert_pem`]).
    pub fn start(config: SimConfig) -> Result<SimHandle, StartError> {
        Self::start_on(config, 0, &[])
    }

    /// Like [`SimHandle::start`], with a fixed DC/OS port and, without
    /// [`SimConfig::lb_binds`], fixed marathon-lb ports on 127.0.0.1 (0 or
    /// missing: the OS picks).
    pub fn start_on(
        config: SimConfig,
        port: u16,
        lb_ports: &[u16],
    ) -> Result<SimHandle, StartError> {
        let lb_addrs = lb_addresses(&config, lb_ports)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("dcos-sim")
            .build()?;
        let real_mlb = config.marathon_lb.is_some();
        // The real marathon-lb's HAProxy binds the stats ports itself: the
        // ports the OS picks are found first, then let go.
        let lb_addrs = if real_mlb {
            runtime.block_on(async {
                let listeners = bind_lbs(&lb_addrs).await?;
                listeners
                    .iter()
                    .map(|l| l.local_addr().map_err(StartError::Setup))
                    .collect::<Result<Vec<_>, _>>()
            })?
        } else {
            lb_addrs
        };
        let server_tls = if config.tls {
            Some(crate::tls::server_tls()?)
        } else {
            None
        };
        let proxies = start_proxies(&config, &lb_addrs, runtime.handle())?;
        let jobs = crate::exec::JobAgent::new(&config.jobs)?;
        let pace = config.time_scale > 0.0;
        let sim = Sim::new(config, Some(runtime.handle().clone()), proxies, jobs);
        if pace {
            runtime.spawn(pace_cluster(sim.clone()));
        }
        let (dcos_url, lb_urls) = runtime.block_on(async {
            let listener = bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
            let scheme = if server_tls.is_some() {
                "https"
            } else {
                "http"
            };
            let url = format!("{scheme}://{}", listener.local_addr()?);
            let acceptor = server_tls.as_ref().map(|t| t.acceptor.clone());
            let router = dcos_router(&sim);
            tokio::spawn(serve(
                listener,
                Listener::Dcos,
                sim.clone(),
                router,
                acceptor,
            ));
            let mut lb_urls = Vec::new();
            if real_mlb {
                let urls = lb_addrs.iter().map(|a| format!("http://{a}")).collect();
                return Ok::<_, StartError>((url, urls));
            }
            for (index, listener) in bind_lbs(&lb_addrs).await?.into_iter().enumerate() {
                lb_urls.push(format!("http://{}", listener.local_addr()?));
                let router = crate::lb::routes(index, sim.clone());
                let which = Listener::Lb(index);
                tokio::spawn(serve(listener, which, sim.clone(), router, None));
            }
            Ok::<_, StartError>((url, lb_urls))
        })?;
        let handle = SimHandle {
            sim,
            dcos_url,
            lb_urls,
            ca_cert_pem: server_tls.map(|t| t.ca_pem),
            runtime: Some(runtime),
        };
        if real_mlb {
            handle.launch_marathon_lbs()?;
        }
        Ok(handle)
    }

    /// Starts every real marathon-lb against this sim's Marathon (the
    /// DC/OS URL's bare `/v2` paths, as `marathon.mesos:8080` in a cluster).
    fn launch_marathon_lbs(&self) -> Result<(), StartError> {
        let (proxies, dir) = {
            let cluster = self.cluster();
            let proxies: Vec<Proxy> = (0..cluster.lb.count())
                .map(|lb| cluster.lb.proxy(lb))
                .collect();
            (proxies, cluster.lb.dir())
        };
        let ca_file = match (&self.ca_cert_pem, &dir) {
            (Some(pem), Some(dir)) => {
                let path = dir.join("dcos-ca.pem");
                std::fs::write(&path, pem)?;
                Some(path)
            }
            _ => None,
        };
        for proxy in proxies {
            if let Proxy::MarathonLb(mlb) = proxy {
                mlb.launch(&self.dcos_url, ca_file.as_deref())?;
            }
        }
        Ok(())
    }

    /// The DC/OS URL (Admin Router), e.g. `http://127.0.0.1:41234`, or
    /// `https://127.0.0.1:41234` with [`SimConfig::tls`].
    pub fn dcos_url(&self) -> &str {
        &self.dcos_url
    }

    /// With [`SimConfig::tls`], the PEM of the CA that signed the DC/OS
    /// port's certificate (valid for `127.0.0.1` and `localhost`): what a
    /// client trusts to verify the sim. Made anew at every start; `None`
    /// without TLS.
    pub fn ca_cert_pem(&self) -> Option<&str> {
        self.ca_cert_pem.as_deref()
    }

    /// One stats URL per marathon-lb instance, in instance order (the
    /// `lb` index of the other marathon-lb methods), e.g.
    /// `http://127.0.0.2:9090`.
    pub fn lb_urls(&self) -> &[String] {
        &self.lb_urls
    }

    /// The shared simulation, for a client that must read the cluster clock
    /// from elsewhere ([`Sim::now_ms`]) and so needs an owned handle.
    pub fn sim(&self) -> &Shared {
        &self.sim
    }

    /// The cluster, brought up to the current time, with its lock held.
    fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.sim.cluster()
    }

    // ----- the clock -----

    /// Moves the cluster clock forward by `by` (with
    /// [`SimConfig::time_scale`] 0, the only way it moves).
    pub fn advance(&self, by: Duration) {
        self.sim.clock.advance(by);
    }

    /// Cluster time now, epoch milliseconds, after everything due by then
    /// has happened.
    pub fn now_ms(&self) -> u64 {
        self.cluster().now_ms
    }

    /// The cluster id `/metadata` reports.
    pub fn cluster_id(&self) -> String {
        self.cluster().cluster_id.clone()
    }

    // ----- IAM -----

    /// A token for `uid` as a login now would give (valid for
    /// [`crate::iam::TOKEN_LIFETIME`]); `uid` need not be an account.
    pub fn issue_token(&self, uid: &str) -> String {
        let cluster = self.cluster();
        cluster.iam.issue_token(uid, cluster.now_ms)
    }

    /// A token for `uid` that expires at `exp_ms` (cluster epoch
    /// milliseconds, rounded down to the second), e.g. one already expired.
    pub fn issue_token_with_expiry(&self, uid: &str, exp_ms: u64) -> String {
        self.cluster().iam.issue_token_with_expiry(uid, exp_ms)
    }

    /// Checks a token as Admin Router would now: issued by this cluster,
    /// intact and unexpired; its claims.
    pub fn verify_token(&self, token: &str) -> Result<Claims, TokenError> {
        let cluster = self.cluster();
        cluster.iam.verify_token(token, cluster.now_ms)
    }

    // ----- faults -----

    /// Adds a fault rule (as `POST /__sim/faults` does).
    pub fn add_fault(&self, rule: FaultRule) {
        self.cluster().faults.add(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.cluster().faults.clear();
    }

    /// The active fault rules, in the order they are tried, each with what
    /// is left of its `times`; used-up and expired rules are gone.
    pub fn fault_rules(&self) -> Vec<FaultRule> {
        self.cluster().faults.rules().to_vec()
    }

    // ----- Metronome -----

    /// The ids of the jobs, sorted.
    pub fn job_ids(&self) -> Vec<String> {
        self.cluster().metronome.job_ids()
    }

    /// The ids of a job's active runs, oldest first (empty for an unknown
    /// job).
    pub fn active_run_ids(&self, job_id: &str) -> Vec<String> {
        self.cluster().metronome.active_run_ids(job_id)
    }

    /// Sets (or with `None` removes) the hook deciding what runs of any job
    /// do; label hooks win over it (see [`crate::metronome`]).
    pub fn set_run_hook(&self, hook: Option<RunHook>) {
        self.cluster().metronome.set_run_hook(hook);
    }

    /// Sets the hook deciding what runs of jobs labelled `key=value` do,
    /// replacing an earlier hook for that label; the first registered label
    /// hook that matches a job wins.
    pub fn set_run_hook_for_label(&self, key: &str, value: &str, hook: RunHook) {
        self.cluster()
            .metronome
            .set_run_hook_for_label(key, value, hook);
    }

    /// Like [`SimHandle::set_run_hook_for_label`] with a hook that also gets
    /// the [`Cluster`] (to change Marathon as the job would).
    pub fn set_cluster_run_hook_for_label(&self, key: &str, value: &str, hook: ClusterRunHook) {
        self.cluster()
            .metronome
            .set_cluster_run_hook_for_label(key, value, hook);
    }

    /// Removes every run hook: runs succeed after
    /// [`SimConfig::job_run_duration`] (or execute, with
    /// [`crate::JobExecution::Execute`]).
    pub fn clear_run_hooks(&self) {
        self.cluster().metronome.clear_run_hooks();
    }

    // ----- the secret store -----

    /// Creates or replaces the secret at `path` (as the Secrets API's PUT
    /// and PATCH do), e.g. the service-account credential a job's secret
    /// environment variable names.
    pub fn put_secret(&self, path: &str, value: &str) -> Result<(), SecretError> {
        self.cluster().secrets.put(path, value)
    }

    /// Removes the secret at `path`.
    pub fn delete_secret(&self, path: &str) -> Result<(), SecretError> {
        self.cluster().secrets.delete(path)
    }

    /// How many job runs execute now (their processes started or about to).
    pub fn executing_runs(&self) -> usize {
        self.cluster().jobs.executing()
    }

    // ----- Marathon -----

    /// Imports a `GET /v2/apps` response (`{"apps":[…]}`), such as
    /// marathon-lb's `zdd_apps.json`: each app replaces any app of the same
    /// id and keeps its `version`, `versionInfo` and tasks exactly as given.
    /// Returns how many apps were imported. (An app replaced this way
    /// leaves no kill records for its old tasks: an import is set-up, not
    /// something Marathon did.)
    pub fn load_apps_response(&self, response: &serde_json::Value) -> Result<usize, Invalid> {
        self.cluster().load_apps_response(response)
    }

    /// A copy of one Marathon app and its tasks (relative ids resolve
    /// against `/`), or `None`.
    pub fn app(&self, id: &str) -> Option<AppView> {
        self.cluster().app(id)
    }

    // ----- marathon-lb -----
    //
    // `lb` is an index into `lb_urls()`; the methods taking one panic on an
    // index past the last instance, as slice indexing does.

    fn check_lb(&self, lb: usize) {
        assert!(
            lb < self.lb_urls.len(),
            "no marathon-lb instance {lb}: there are {}",
            self.lb_urls.len()
        );
    }

    /// Sets the sessions and queued requests of the HAProxy server named
    /// `server` on marathon-lb instance `lb`, or with `None` on every
    /// instance without traffic of its own for it. They stay until changed,
    /// or until [`Traffic::until_ms`]. A [`SessionDrain`]'s sessions on a
    /// `MAINT` server come on top.
    ///
    /// Panics when `lb` is not an instance index.
    pub fn set_traffic(&self, lb: Option<usize>, server: &str, traffic: Traffic) {
        if let Some(lb) = lb {
            self.check_lb(lb);
        }
        self.cluster().lb.set_traffic(lb, server, traffic);
    }

    /// Removes all traffic set with [`SimHandle::set_traffic`].
    pub fn clear_traffic(&self) {
        self.cluster().lb.clear_traffic();
    }

    /// Sets (or with `None` stops) the sessions every server keeps for a
    /// while after a marathon-lb instance puts it into `MAINT` (see
    /// [`SimConfig::session_drain`]); servers already disabled keep the
    /// time they were disabled at.
    pub fn set_session_drain(&self, drain: Option<SessionDrain>) {
        self.cluster().lb.set_session_drain(drain);
    }

    /// Makes marathon-lb instance `lb` report a reload in progress (three
    /// haproxy pids) until told otherwise, whatever its reload window says.
    /// With a real HAProxy ([`SimConfig::haproxy`]) it reloads that HAProxy
    /// for real instead (getpids is HAProxy's own: three pids only while
    /// the old worker still has connections), and the kill log counts the
    /// instance as reloading while forced. No effect on the real
    /// marathon-lb.
    ///
    /// Panics when `lb` is not an instance index.
    pub fn set_reloading(&self, lb: usize, reloading: bool) {
        self.check_lb(lb);
        self.cluster().lb.set_reloading(lb, reloading);
    }

    /// Sets how long marathon-lb instance `lb` takes to adopt a change in
    /// Marathon (see [`SimConfig::lb_update_delay`]): two instances with
    /// different delays disagree for a while. A pending adoption moves with
    /// the new delay (it is due that long after the change it waits for).
    ///
    /// Panics when `lb` is not an instance index.
    pub fn set_lb_update_delay(&self, lb: usize, delay: Duration) {
        self.check_lb(lb);
        self.cluster().lb.set_update_delay(lb, delay);
    }

    /// Makes every request to marathon-lb instance `lb`'s stats listener
    /// (`/haproxy`, `/_haproxy_getpids`, …) meet `action` (e.g. a 503, or
    /// a dropped connection) for `duration` of cluster time from now: a
    /// [`FaultRule`] with `lb` set, listed by [`SimHandle::fault_rules`].
    ///
    /// Panics when `lb` is not an instance index.
    pub fn fail_lb(&self, lb: usize, action: FaultAction, duration: Duration) {
        self.check_lb(lb);
        let mut cluster = self.cluster();
        let until = cluster
            .now_ms
            .saturating_add(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
        cluster.faults.add(FaultRule {
            method: None,
            path_prefix: "/".into(),
            lb: Some(lb),
            action,
            times: None,
            rate: None,
            until_ms: Some(until),
        });
    }

    /// How marathon-lb instance `lb` carries traffic (emulated frontend or
    /// real HAProxy), its frontend bind errors, and a real HAProxy's
    /// reloads, refused configs and pids.
    ///
    /// Panics when `lb` is not an instance index.
    pub fn lb_proxy_status(&self, lb: usize) -> ProxyStatus {
        self.check_lb(lb);
        let proxy = self.cluster().lb.proxy(lb);
        proxy.status()
    }

    /// Waits, at most `limit`, until every marathon-lb instance's real
    /// HAProxy has validated and loaded (or refused) each change it has
    /// adopted so far; `false` when the time ran out. Without HAProxy,
    /// `true` at once. With the real marathon-lb
    /// ([`SimConfig::marathon_lb`]): until each instance's running HAProxy
    /// serves the backends the cluster now calls for by marathon-lb's rules
    /// (the same backends, servers and `MAINT` ones, for the apps in group
    /// `external`), judged again against the cluster as it moves on.
    pub fn settle_lbs(&self, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        let proxies: Vec<Proxy> = {
            let cluster = self.cluster();
            (0..cluster.lb.count())
                .map(|lb| cluster.lb.proxy(lb))
                .collect()
        };
        for proxy in &proxies {
            if let Proxy::MarathonLb(mlb) = proxy {
                loop {
                    let wanted = self.cluster().lb.external_backends();
                    if mlb.serves(&wanted) {
                        break;
                    }
                    if std::time::Instant::now() >= deadline {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        proxies.iter().all(|proxy| {
            proxy.settle(deadline.saturating_duration_since(std::time::Instant::now()))
        })
    }

    /// How many tasks serve now (each a real HTTP server on the agent).
    pub fn served_tasks(&self) -> usize {
        self.cluster().marathon.agent.served()
    }

    // ----- costs -----

    /// Requests and response body bytes served per class of endpoint since
    /// the start or the last [`SimHandle::reset_costs`] (see
    /// [`crate::costs`] for what is counted).
    pub fn costs(&self) -> crate::Costs {
        self.sim.costs.snapshot()
    }

    /// Starts the cost tally over.
    pub fn reset_costs(&self) {
        self.sim.costs.reset();
    }

    // ----- the records -----

    /// Every task killed so far (through `/v2/tasks/delete`, an app's task
    /// kill, an app DELETE, a scale down or a replacement), with what each
    /// marathon-lb instance had on it at that moment.
    pub fn kill_log(&self) -> KillLog {
        self.cluster().lb.kill_log()
    }

    /// The serving capacity of each deployment group on each marathon-lb
    /// instance over time.
    pub fn capacity_timeline(&self) -> CapacityTimeline {
        self.cluster().lb.capacity_timeline()
    }

    /// A mark in the capacity timeline, now.
    pub fn capacity_mark(&self) -> CapacityMark {
        let cluster = self.cluster();
        cluster.lb.capacity_mark(cluster.now_ms)
    }

    /// The least serving capacity `group` (`web` or `/web`, as in
    /// `HAPROXY_DEPLOYMENT_GROUP`; an app id for an app without one) had on
    /// any marathon-lb instance from `mark` until now: servers in that
    /// instance's backend, not `MAINT`, whose task is running and healthy.
    /// An instance that never routed to the group counts as 0.
    pub fn min_capacity_since(
        &self,
        mark: &CapacityMark,
        group: &str,
    ) -> Result<usize, RecordError> {
        self.cluster().lb.min_capacity_since(mark, group)
    }

    /// Blocks until the process is interrupted (Ctrl-C), for the binary.
    pub fn wait_for_ctrl_c(&self) {
        if let Some(runtime) = &self.runtime {
            let _ = runtime.block_on(tokio::signal::ctrl_c());
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        // The lock is released before the job runners are waited for:
        // their last reports need it.
        let remains = self.sim.cluster().shutdown();
        remains.finish(Duration::from_secs(10));
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
