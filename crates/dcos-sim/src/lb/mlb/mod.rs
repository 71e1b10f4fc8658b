//! The real marathon-lb as a simulated instance
//! ([`crate::SimConfig::marathon_lb`]): the upstream `marathon_lb.py`, run
//! as it is (never copied), as its container runs it
//! (marathon-lb-haproxy.md §7): it reads the sim's Marathon (its event
//! stream with `--sse`), writes HAProxy's config from its templates,
//! validates it with `haproxy -c` and reloads a real HAProxy in
//! master-worker mode through a reload command of ours.
//!
//! Each instance lives in a private directory of the sim's (`templates/`,
//! `haproxy.cfg`, sockets, pid and state files, `tmp/`, and the logs
//! `marathon-lb.log` and `haproxy.log`) and in a PID namespace of its own
//! (`unshare --pid --fork --mount-proc --kill-child`, as a container would
//! have), so `pidof haproxy`, which marathon-lb's getpids service and its
//! reload wait run, sees that instance's haproxies only. The namespace's
//! init holds a pipe from the sim: when the sim stops (or dies) the pipe
//! closes, the init exits and the kernel kills the namespace; a stop that
//! takes longer than a few seconds SIGKILLs `unshare`, whose
//! `--kill-child` takes the tree down. HAProxy is started once with `-W -f
//! CFG -x SOCKET -p PIDFILE`, plus `-S master.sock` for the sim's own
//! oracle (the kill log reads old workers through it); marathon-lb never
//! uses it. The sim binds nothing on the instance's address: HAProxy binds
//! the stats port and the frontends.

mod files;

use super::haproxy::master::{self, WorkerRow};
use super::haproxy::{HaproxyError, socket_command};
use super::rules::Backend;
use serde::Serialize;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The real marathon-lb program and how to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarathonLbProgram {
    /// marathon-lb's directory: `marathon_lb.py` and its modules and Lua
    /// services (`../shared/reference/marathon-lb/upstream`, see
    /// [`MarathonLbProgram::default_dir`]).
    pub dir: PathBuf,
    /// A python that imports marathon-lb's requirements (the venv
    /// `scripts/install-marathon-lb.sh` makes).
    pub python: PathBuf,
    /// `--sse` (the container's default): marathon-lb follows Marathon's
    /// event stream. `false`: it runs once every half second instead
    /// (its poll mode, run again by the instance).
    pub sse: bool,
}

impl MarathonLbProgram {
    /// The program in `dir`, run with `python`, following the event stream.
    pub fn new(dir: impl Into<PathBuf>, python: impl Into<PathBuf>) -> Self {
        MarathonLbProgram {
            dir: dir.into(),
            python: python.into(),
            sse: true,
        }
    }

    /// Where the upstream program is by default:
    /// `$CANARY_SHARED_DIR/reference/marathon-lb/upstream`, else
    /// `../shared/reference/marathon-lb/upstream` beside the workspace.
    pub fn default_dir() -> PathBuf {
        let shared = std::env::var_os("CANARY_SHARED_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
        shared.join("reference/marathon-lb/upstream")
    }

    /// The python of `scripts/install-marathon-lb.sh`'s venv by default:
    /// `$CANARY_MARATHON_LB_PYTHON`, else the workspace's
    /// `target/marathon-lb-venv/bin/python`.
    pub fn default_python() -> PathBuf {
        std::env::var_os("CANARY_MARATHON_LB_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../target/marathon-lb-venv/bin/python")
            })
    }
}

/// How long the instance may take to come up (its stats listener).
const START_LIMIT: Duration = Duration::from_secs(20);

/// The log lines kept in a status.
const LOG_TAIL_LINES: usize = 20;

/// What one real marathon-lb instance is and does now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MarathonLbStatus {
    /// Its private directory (config, templates, sockets, logs).
    pub dir: PathBuf,
    /// The last lines of marathon-lb's log (stdout and stderr).
    pub log_tail: String,
    /// The last lines of HAProxy's log.
    pub haproxy_log_tail: String,
}

/// One instance: its files, and once launched its namespace.
pub(crate) struct RealMarathonLb {
    lb: usize,
    ip: Ipv4Addr,
    stats_port: u16,
    dir: PathBuf,
    haproxy: PathBuf,
    program: MarathonLbProgram,
    supervisor: super::supervisor::Supervisor,
}

impl std::fmt::Debug for RealMarathonLb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealMarathonLb")
            .field("lb", &self.lb)
            .field("dir", &self.dir)
            .finish()
    }
}

fn write(path: &Path, text: &str) -> Result<(), HaproxyError> {
    std::fs::write(path, text).map_err(|source| HaproxyError::Write {
        path: path.to_owned(),
        source,
    })
}

fn mkdir(path: &Path) -> Result<(), HaproxyError> {
    std::fs::create_dir_all(path).map_err(|source| HaproxyError::Write {
        path: path.to_owned(),
        source,
    })
}

/// The last lines of the file at `path`.
fn tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().rev().take(LOG_TAIL_LINES).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// HAProxy's `maxconn` for this machine: what its open-file limit allows
/// (two descriptors a connection, some to spare), at most marathon-lb's
/// 50000.
fn maxconn() -> u64 {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1024);
    (limit.saturating_sub(500) / 2).clamp(256, 50_000)
}

impl RealMarathonLb {
    /// Writes instance `lb`'s files in `dir` (stats listener on `addr`),
    /// ready to [`RealMarathonLb::launch`].
    pub(crate) fn prepare(
        lb: usize,
        addr: SocketAddr,
        dir: &Path,
        haproxy: &Path,
        program: &MarathonLbProgram,
    ) -> Result<RealMarathonLb, HaproxyError> {
        let ip = match addr.ip() {
            std::net::IpAddr::V4(ip) => ip,
            std::net::IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
        };
        for path in [dir, &program.dir, haproxy, &program.python] {
            // The paths go through shlex (marathon-lb's --command) and sh.
            if path.display().to_string().contains([' ', '\'', '"', '\\']) {
                return Err(HaproxyError::NotUp {
                    lb,
                    detail: format!("{} has a space or a quote", path.display()),
                });
            }
        }
        for sub in ["templates", "state", "tmp", "bin"] {
            mkdir(&dir.join(sub))?;
        }
        let site = files::Site {
            dir,
            ip,
            stats_port: addr.port(),
            program: &program.dir,
            maxconn: maxconn(),
        };
        write(&dir.join("templates/HAPROXY_HEAD"), &files::head(&site))?;
        write(
            &dir.join("templates/HAPROXY_FRONTEND_HEAD"),
            &files::frontend_head(ip),
        )?;
        write(
            &dir.join("templates/HAPROXY_HTTP_FRONTEND_APPID_HEAD"),
            &files::appid_frontend_head(ip),
        )?;
        write(
            &dir.join("templates/HAPROXY_BACKEND_HTTP_HEALTHCHECK_OPTIONS"),
            &files::http_check_options(),
        )?;
        write(&dir.join("haproxy.cfg"), &files::first_config(&site))?;
        write(&dir.join("state/global"), "1\n")?;
        write(&dir.join("reload.py"), files::RELOAD_SCRIPT)?;
        // marathon-lb runs `haproxy -c` and `pidof haproxy` from PATH.
        let link = dir.join("bin/haproxy");
        let target = std::path::absolute(haproxy).unwrap_or_else(|_| haproxy.to_owned());
        if haproxy.is_absolute() || haproxy.components().count() > 1 {
            std::os::unix::fs::symlink(&target, &link).map_err(|source| HaproxyError::Write {
                path: link.clone(),
                source,
            })?;
        }
        Ok(RealMarathonLb {
            lb,
            ip,
            stats_port: addr.port(),
            dir: dir.to_owned(),
            haproxy: if link.exists() {
                link
            } else {
                haproxy.to_owned()
            },
            program: program.clone(),
            supervisor: Mutex::new(None),
        })
    }

    /// Starts the instance's namespace against Marathon at `marathon_url`
    /// (`ca_file`: the CA to trust for an `https://` one) and returns once
    /// its HAProxy answers on the stats port.
    pub(crate) fn launch(
        &self,
        marathon_url: &str,
        ca_file: Option<&Path>,
    ) -> Result<(), HaproxyError> {
        let reload = format!(
            "{} {} {}",
            self.program.python.display(),
            self.dir.join("reload.py").display(),
            self.dir.display()
        );
        let mut args: Vec<String> = [
            "-m",
            marathon_url,
            "--group",
            "external",
            "--haproxy-config",
            &self.dir.join("haproxy.cfg").display().to_string(),
            "--command",
            &reload,
            "--dont-bind-http-https",
            "--health-check",
            "--syslog-socket",
            "/dev/null",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        if let Some(ca) = ca_file {
            args.extend(["--marathon-ca-cert".to_owned(), ca.display().to_string()]);
        }
        let private_tmp = !self.dir.starts_with("/tmp");
        let path = format!(
            "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            self.dir.join("bin").display()
        );
        let mut child = Command::new("unshare")
            .args([
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
                "--",
                "sh",
                "-c",
            ])
            .arg(files::INIT_SCRIPT)
            .arg("marathon-lb-init")
            .args(&args)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &self.dir)
            .env("LANG", "C.UTF-8")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .env("MLB_DIR", &self.dir)
            .env("MLB_HAPROXY", &self.haproxy)
            .env("MLB_PYTHON", &self.program.python)
            .env("MLB_PROGRAM", &self.program.dir)
            .env("MLB_SSE", if self.program.sse { "1" } else { "" })
            .env("MLB_PRIVATE_TMP", if private_tmp { "1" } else { "" })
            .env("TMPDIR", self.dir.join("tmp"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| HaproxyError::Spawn {
                binary: PathBuf::from("unshare"),
                source,
            })?;
        let stdin = child.stdin.take().expect("piped");
        *self.supervisor.lock().unwrap_or_else(|p| p.into_inner()) = Some((child, stdin));
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if std::net::TcpStream::connect_timeout(
                &SocketAddr::from((self.ip, self.stats_port)),
                Duration::from_millis(200),
            )
            .is_ok()
            {
                return Ok(());
            }
            let exited = self
                .supervisor
                .lock()
                .ok()
                .and_then(|mut s| s.as_mut().map(|(c, _)| matches!(c.try_wait(), Ok(Some(_)))))
                .unwrap_or(true);
            if exited || Instant::now() >= deadline {
                self.stop();
                return Err(HaproxyError::NotUp {
                    lb: self.lb,
                    detail: format!(
                        "marathon-lb's haproxy did not answer on {}:{}: {}\n{}",
                        self.ip,
                        self.stats_port,
                        tail(&self.dir.join("haproxy.log")),
                        tail(&self.dir.join("marathon-lb.log"))
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn master_socket(&self) -> PathBuf {
        self.dir.join("master.sock")
    }

    /// The master and its workers, old ones included, as the master (in
    /// the instance's PID namespace) numbers them.
    pub(crate) fn pids(&self) -> Vec<u32> {
        let Ok(workers) = master::workers(&self.master_socket()) else {
            return Vec::new();
        };
        workers
            .master
            .into_iter()
            .chain(workers.current)
            .chain(workers.old)
            .collect()
    }

    /// Its directory and the tails of its logs.
    pub(crate) fn status(&self) -> MarathonLbStatus {
        MarathonLbStatus {
            dir: self.dir.clone(),
            log_tail: tail(&self.dir.join("marathon-lb.log")),
            haproxy_log_tail: tail(&self.dir.join("haproxy.log")),
        }
    }

    /// The running worker's `show stat`.
    fn stats(&self) -> Option<String> {
        socket_command(
            &self.dir.join("haproxy.sock"),
            "show stat",
            Duration::from_millis(500),
        )
        .ok()
    }

    /// The running worker's rows of the servers `names`; `None` when its
    /// stats cannot be read.
    pub(crate) fn current_rows(&self, names: &[String]) -> Option<Vec<WorkerRow>> {
        self.stats().map(|csv| master::server_rows(&csv, names, 0))
    }

    /// What its old workers have on the servers `names`.
    pub(crate) fn old_worker_rows(&self, names: &[String]) -> Vec<WorkerRow> {
        master::old_worker_rows(&self.master_socket(), names)
    }

    /// Whether its running HAProxy serves exactly `backends`: the same
    /// backends, each with the same servers, `MAINT` where they are
    /// disabled (HAProxy's own check states and each backend's mode aside:
    /// marathon-lb makes a backend `mode http` only for a Marathon `HTTP`
    /// check, where the sim's model also does for `MESOS_HTTP`).
    pub(crate) fn serves(&self, backends: &[Backend]) -> bool {
        let Some(csv) = self.stats() else {
            return false;
        };
        let mut lines = csv.lines();
        let Some(header) = lines.next() else {
            return false;
        };
        let header: Vec<&str> = header.trim_start_matches(['#', ' ']).split(',').collect();
        let column = |n: &str| header.iter().position(|c| *c == n);
        let (Some(px), Some(sv), Some(st)) = (column("pxname"), column("svname"), column("status"))
        else {
            return false;
        };
        let mut seen: std::collections::BTreeSet<(String, String, bool)> = Default::default();
        let mut proxies: std::collections::BTreeSet<String> = Default::default();
        for fields in lines.map(|l| l.split(',').collect::<Vec<_>>()) {
            let (Some(p), Some(s), Some(status)) = (fields.get(px), fields.get(sv), fields.get(st))
            else {
                continue;
            };
            if *p == "stats" || *s == "FRONTEND" {
                continue;
            }
            // Backends only: marathon-lb's frontend-only proxies (the
            // app-id one) are not the cluster's.
            if *s == "BACKEND" {
                proxies.insert((*p).to_owned());
            } else {
                seen.insert(((*p).to_owned(), (*s).to_owned(), *status == "MAINT"));
            }
        }
        let wanted: std::collections::BTreeSet<(String, String, bool)> = backends
            .iter()
            .flat_map(|b| {
                b.servers
                    .iter()
                    .map(|s| (b.name.clone(), s.name.clone(), s.disabled))
            })
            .collect();
        let names: std::collections::BTreeSet<String> =
            backends.iter().map(|b| b.name.clone()).collect();
        seen == wanted && proxies == names
    }

    /// Stops the namespace (bounded) and with it marathon-lb and HAProxy.
    pub(crate) fn stop(&self) {
        // unshare's --kill-child takes the namespace down with the
        // supervisor.
        super::supervisor::stop(&self.supervisor);
    }
}

impl Drop for RealMarathonLb {
    fn drop(&mut self) {
        self.stop();
    }
}
