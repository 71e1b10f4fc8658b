//! A real HAProxy per marathon-lb instance, run as marathon-lb runs it
//! (marathon-lb-haproxy.md §1): master-worker mode (`-W`), listening
//! sockets fetched from the running worker on every reload (`-x` and
//! `expose-fd listeners`), the server state saved before each reload and
//! loaded by the new worker, and every candidate config validated with
//! `haproxy -c -f` before it is swapped in. A candidate that fails is never
//! loaded: the running config stays, a log line says why, and
//! [`HaproxyStatus::rejected`] keeps it (also `GET /__sim/lb/haproxy`).
//!
//! Each instance has its own directory in the sim's private temporary
//! directory (config, stats socket, master CLI socket, pid file, state
//! file, HAProxy's log), removed when the sim stops. The master runs under
//! a small `sh` supervisor that holds a pipe from the sim: when the sim
//! stops, or its process dies, the pipe closes and the supervisor stops the
//! master, which stops its workers.
//!
//! Reloads run on one thread per instance, in the order the instance adopts
//! changes, newest first when several wait (marathon-lb also rewrites once
//! for a burst of events); the cluster never waits for them.

mod config;
pub(crate) mod master;

use super::rules::Backend;
pub(crate) use config::Paths;
use serde::Serialize;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a start, a validation or a reload may take.
const STEP_LIMIT: Duration = Duration::from_secs(10);

/// The most rejected configs kept per instance (the oldest go first).
const REJECTIONS_KEPT: usize = 100;

/// Why a real HAProxy could not be started.
#[derive(Debug, thiserror::Error)]
pub enum HaproxyError {
    /// The binary could not be run.
    #[error("cannot run {binary}: {source}")]
    Spawn {
        /// The haproxy binary given.
        binary: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Its files could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// HAProxy refused the config or did not come up.
    #[error("haproxy for marathon-lb {lb} did not start: {detail}")]
    NotUp {
        /// The instance.
        lb: usize,
        /// What HAProxy said.
        detail: String,
    },
}

/// A candidate config HAProxy's validation refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigRejection {
    /// Which refusal of this instance it is (0, 1, …).
    pub seq: u64,
    /// What `haproxy -c` said (its last lines).
    pub error: String,
    /// The candidate config.
    pub config: String,
}

/// What one instance's HAProxy has done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HaproxyStatus {
    /// Configs validated and loaded by a reload (the first start not
    /// counted).
    pub reloads: u64,
    /// Candidates refused by validation, oldest first (at most 100 kept).
    pub rejected: Vec<ConfigRejection>,
    /// The last reload that validated but failed to happen, if any.
    pub reload_error: Option<String>,
}

enum Message {
    Adopt(Vec<Backend>),
    /// Answered once every earlier message is done.
    Sync(Sender<()>),
}

/// One instance's real HAProxy.
pub(crate) struct Haproxy {
    lb: usize,
    binary: PathBuf,
    dir: PathBuf,
    paths: Paths,
    /// Its own stats listener (`listen stats`), which the sim's forwards to.
    stats: SocketAddr,
    master_pid: u32,
    status: Arc<Mutex<HaproxyStatus>>,
    sender: Mutex<Option<Sender<Message>>>,
    supervisor: super::supervisor::Supervisor,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Haproxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Haproxy")
            .field("lb", &self.lb)
            .field("dir", &self.dir)
            .field("master_pid", &self.master_pid)
            .finish()
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), HaproxyError> {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, text)
        .and_then(|()| std::fs::rename(&temp, path))
        .map_err(|source| HaproxyError::Write {
            path: path.to_owned(),
            source,
        })
}

/// The last lines of `text`, at most 2000 characters.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().rev().take(12).collect();
    let joined = lines.into_iter().rev().collect::<Vec<_>>().join("\n");
    let mut start = joined.len().saturating_sub(2000);
    while !joined.is_char_boundary(start) {
        start += 1;
    }
    joined[start..].to_owned()
}

/// Runs `haproxy -c -f file`: `Err` with what it said when invalid.
fn validate(binary: &Path, file: &Path) -> Result<(), String> {
    let mut child = Command::new(binary)
        .arg("-c")
        .arg("-f")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let deadline = Instant::now() + STEP_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("haproxy -c did not finish in 10 s".into());
            }
        }
    };
    let mut said = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut said);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut said);
    }
    if status.success() {
        Ok(())
    } else {
        Err(tail(&said))
    }
}

/// Sends one command to a stats (or master CLI) socket and reads the answer
/// until the socket closes or `limit` passes.
pub(crate) fn socket_command(
    socket: &Path,
    command: &str,
    limit: Duration,
) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(limit))?;
    stream.set_write_timeout(Some(limit))?;
    stream.write_all(format!("{command}\n").as_bytes())?;
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = Instant::now() + limit;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if out.is_empty() => return Err(e),
            Err(_) => break,
        }
        if Instant::now() >= deadline || out.len() > 16 << 20 {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The pids of `master`'s children (its workers, old ones included).
fn children(master: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{master}/task")) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

impl Haproxy {
    /// Starts instance `lb`'s HAProxy from `binary` with no backends yet,
    /// its files in `dir`, its frontends on `ip`; returns once its stats
    /// socket answers.
    pub(crate) fn start(
        lb: usize,
        ip: Ipv4Addr,
        binary: &Path,
        dir: &Path,
    ) -> Result<Arc<Haproxy>, HaproxyError> {
        let paths = Paths::in_dir(dir);
        std::fs::create_dir_all(&paths.state_dir).map_err(|source| HaproxyError::Write {
            path: paths.state_dir.clone(),
            source,
        })?;
        let stats_port = free_port(ip).map_err(|source| HaproxyError::Write {
            path: dir.to_owned(),
            source,
        })?;
        let cfg = paths.config.clone();
        write_file(&paths.lua, &config::getpids_lua(&cfg))?;
        write_file(&cfg, &config::render(lb, ip, stats_port, &paths, &[]))?;
        write_file(&paths.state_file(), "1\n")?;
        validate(binary, &cfg).map_err(|detail| HaproxyError::NotUp { lb, detail })?;
        let log = std::fs::File::create(dir.join("haproxy.log")).map_err(|source| {
            HaproxyError::Write {
                path: dir.join("haproxy.log"),
                source,
            }
        })?;
        let pid_file = dir.join("haproxy.pid");
        // The supervisor: runs the master, and stops it when its stdin (a
        // pipe from the sim) closes, whether the sim stops or dies. The
        // config path reaches it through the environment, so that its own
        // command line does not look like one of the instance's haproxy
        // processes to the getpids service.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(
                r#""$0" -W -f "$DCOS_SIM_HAPROXY_CONFIG" "$@" </dev/null & pid=$!; read -r _; kill -TERM "$pid"; wait "$pid""#,
            )
            .env("DCOS_SIM_HAPROXY_CONFIG", &cfg)
            .arg(binary)
            .arg("-x")
            .arg(&paths.socket)
            .arg("-S")
            .arg(dir.join("master.sock"))
            .arg("-p")
            .arg(&pid_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|source| HaproxyError::Spawn {
                binary: binary.to_owned(),
                source,
            })?;
        let stdin = child.stdin.take().expect("piped");
        let deadline = Instant::now() + STEP_LIMIT;
        let master_pid = loop {
            let pid = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok());
            let up = socket_command(&paths.socket, "show info", Duration::from_secs(1)).is_ok();
            if let (Some(pid), true) = (pid, up) {
                break pid;
            }
            let exited = matches!(child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                let said = std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default();
                return Err(HaproxyError::NotUp {
                    lb,
                    detail: tail(&said),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let (sender, receiver) = channel();
        let haproxy = Arc::new(Haproxy {
            lb,
            binary: binary.to_owned(),
            dir: dir.to_owned(),
            paths,
            stats: SocketAddr::from((ip, stats_port)),
            master_pid,
            status: Arc::new(Mutex::new(HaproxyStatus::default())),
            sender: Mutex::new(Some(sender)),
            supervisor: Mutex::new(Some((child, stdin))),
            worker: Mutex::new(None),
        });
        let worker = Reloader {
            haproxy: Arc::downgrade(&haproxy),
            ip,
            stats_port,
            running: config::render(lb, ip, stats_port, &haproxy.paths, &[]),
        };
        let handle = std::thread::Builder::new()
            .name(format!("dcos-sim-haproxy-{lb}"))
            .spawn(move || worker.run(receiver))
            .map_err(|source| HaproxyError::Spawn {
                binary: binary.to_owned(),
                source,
            })?;
        *haproxy.worker.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        Ok(haproxy)
    }

    /// Hands the instance's newly adopted backends to its reload thread.
    pub(crate) fn adopt(&self, backends: &[Backend]) {
        if let Some(sender) = &*self.sender.lock().unwrap_or_else(|p| p.into_inner()) {
            let _ = sender.send(Message::Adopt(backends.to_vec()));
        }
    }

    /// Waits (at most `limit`) until every change handed over so far has
    /// been validated and loaded or refused.
    pub(crate) fn settle(&self, limit: Duration) -> bool {
        let (tx, rx) = channel();
        let sent = self
            .sender
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(|s| s.send(Message::Sync(tx)).is_ok()))
            .unwrap_or(false);
        sent && rx.recv_timeout(limit).is_ok()
    }

    /// What it has done so far.
    pub(crate) fn status(&self) -> HaproxyStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Asks the master to reload now (the sim's forced reload), without a
    /// config change: a new worker starts and the old one finishes its
    /// connections.
    pub(crate) fn force_reload(&self) {
        if let Ok(mut stream) = UnixStream::connect(self.dir.join("master.sock")) {
            let _ = stream.write_all(b"reload\n");
        }
    }

    /// Its own stats listener (`/haproxy?stats`, `/_haproxy_getpids`, …).
    pub(crate) fn stats_addr(&self) -> SocketAddr {
        self.stats
    }

    /// What its old workers (those still finishing their connections after
    /// a reload) have on the servers `names`, from the master CLI.
    pub(crate) fn old_worker_rows(&self, names: &[String]) -> Vec<master::WorkerRow> {
        master::old_worker_rows(&self.dir.join("master.sock"), names)
    }

    /// The master and its workers (an old one lingering after a reload
    /// makes it three or more), as `pidof haproxy` would list them.
    pub(crate) fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.master_pid];
        pids.extend(children(self.master_pid));
        pids
    }

    /// `(scur, qcur)` of server `name` (summed over its backends) from the
    /// running worker's stats, `None` when they cannot be read.
    pub(crate) fn sessions(&self, name: &str) -> Option<(u64, u64)> {
        // As generous as the master CLI's limit (see master::LIMIT).
        let csv = socket_command(&self.paths.socket, "show stat", Duration::from_secs(3)).ok()?;
        let rows = master::server_rows(&csv, &[name.to_owned()], self.master_pid);
        Some(rows.first().map_or((0, 0), |r| (r.sessions, r.queued)))
    }

    /// Stops the master and its workers and waits for them (bounded).
    pub(crate) fn stop(&self) {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(worker) = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take() {
            // The reload thread itself may drop the last handle.
            if worker.thread().id() != std::thread::current().id() {
                let _ = worker.join();
            }
        }
        super::supervisor::stop(&self.supervisor);
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port the OS says is free on `ip` now (HAProxy binds it right after).
pub(crate) fn free_port(ip: Ipv4Addr) -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind((ip, 0))?.local_addr()?.port())
}

/// The reload thread of one instance.
struct Reloader {
    haproxy: std::sync::Weak<Haproxy>,
    ip: Ipv4Addr,
    stats_port: u16,
    /// The config the running worker has.
    running: String,
}

impl Reloader {
    fn run(mut self, receiver: Receiver<Message>) {
        while let Ok(first) = receiver.recv() {
            // A burst of changes is one rewrite: the newest backends win.
            let mut latest = None;
            let mut syncs = Vec::new();
            for message in std::iter::once(first).chain(receiver.try_iter()) {
                match message {
                    Message::Adopt(backends) => latest = Some(backends),
                    Message::Sync(reply) => syncs.push(reply),
                }
            }
            if let Some(backends) = latest {
                let Some(haproxy) = self.haproxy.upgrade() else {
                    return;
                };
                self.apply(&haproxy, &backends);
            }
            for reply in syncs {
                let _ = reply.send(());
            }
        }
    }

    /// Validates, then swaps in and reloads, the config for `backends`.
    fn apply(&mut self, haproxy: &Haproxy, backends: &[Backend]) {
        let lb = haproxy.lb;
        let candidate = config::render(lb, self.ip, self.stats_port, &haproxy.paths, backends);
        if candidate == self.running {
            return;
        }
        let new_file = haproxy.dir.join("haproxy.cfg.new");
        let status = |f: &mut dyn FnMut(&mut HaproxyStatus)| {
            if let Ok(mut s) = haproxy.status.lock() {
                f(&mut s);
            }
        };
        if let Err(e) = write_file(&new_file, &candidate) {
            status(&mut |s| s.reload_error = Some(e.to_string()));
            return;
        }
        if let Err(error) = validate(&haproxy.binary, &new_file) {
            eprintln!(
                "dcos-sim: marathon-lb {lb}: haproxy refused the new config, the running one stays: {}",
                error
                    .lines()
                    .find(|l| l.contains("parsing ["))
                    .or_else(|| error.lines().last())
                    .unwrap_or("")
            );
            status(&mut |s| {
                let seq = s.rejected.last().map_or(0, |r| r.seq + 1);
                if s.rejected.len() == REJECTIONS_KEPT {
                    s.rejected.remove(0);
                }
                s.rejected.push(ConfigRejection {
                    seq,
                    error: error.clone(),
                    config: candidate.clone(),
                });
            });
            return;
        }
        match self.reload(haproxy, &new_file) {
            Ok(()) => {
                self.running = candidate;
                status(&mut |s| {
                    s.reloads += 1;
                    s.reload_error = None;
                });
            }
            Err(e) => {
                eprintln!("dcos-sim: marathon-lb {lb}: haproxy reload failed: {e}");
                status(&mut |s| s.reload_error = Some(e.clone()));
            }
        }
    }

    /// marathon-lb's reload: save the server state, put the config in place,
    /// ask the master to reload, and wait for the new worker.
    fn reload(&self, haproxy: &Haproxy, new_file: &Path) -> Result<(), String> {
        let state = socket_command(
            &haproxy.paths.socket,
            "show servers state",
            Duration::from_secs(2),
        )
        .map_err(|e| format!("cannot save the server state: {e}"))?;
        write_file(&haproxy.paths.state_file(), &state).map_err(|e| e.to_string())?;
        std::fs::rename(new_file, &haproxy.paths.config)
            .map_err(|e| format!("cannot put the config in place: {e}"))?;
        let before = children(haproxy.master_pid);
        let master = haproxy.dir.join("master.sock");
        {
            let mut stream = UnixStream::connect(&master)
                .map_err(|e| format!("cannot reach the master CLI: {e}"))?;
            stream
                .write_all(b"reload\n")
                .map_err(|e| format!("cannot ask the master to reload: {e}"))?;
        }
        // The reload is done when a worker the master did not have before
        // answers on the stats socket.
        let deadline = Instant::now() + STEP_LIMIT;
        loop {
            let now = children(haproxy.master_pid);
            let fresh = now.iter().any(|p| !before.contains(p));
            if fresh
                && socket_command(
                    &haproxy.paths.socket,
                    "show info",
                    Duration::from_millis(500),
                )
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let said =
                    std::fs::read_to_string(haproxy.dir.join("haproxy.log")).unwrap_or_default();
                return Err(format!("no new worker within 10 s: {}", tail(&said)));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
