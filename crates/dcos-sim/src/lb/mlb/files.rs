//! The files of one real marathon-lb instance, all written by dcos-sim (none
//! taken from marathon-lb): its template overrides (marathon-lb reads
//! `templates/<NAME>` from its working directory), the first config HAProxy
//! starts with, the reload command marathon-lb runs, and the init of the
//! instance's PID namespace.

use std::fmt::Write;
use std::net::Ipv4Addr;
use std::path::Path;

/// What the files of one instance need to know.
#[derive(Debug, Clone)]
pub(crate) struct Site<'a> {
    /// The instance's directory.
    pub dir: &'a Path,
    /// The instance's address: stats listener and frontends bind it.
    pub ip: Ipv4Addr,
    /// Its stats port (`:9090` on a cluster).
    pub stats_port: u16,
    /// marathon-lb's directory (the upstream Lua services are loaded from
    /// there, as the container loads them from `/marathon-lb`).
    pub program: &'a Path,
    /// HAProxy's `maxconn`, lowered to what the machine's open-file limit
    /// allows (marathon-lb-haproxy.md §7).
    pub maxconn: u64,
}

/// `templates/HAPROXY_HEAD`: the global section, defaults and stats
/// listener of marathon-lb's own HEAD in substance (the directives
/// marathon-lb-haproxy.md §1–§3 lists), with this instance's socket, state
/// file and stats address, the upstream Lua services, no `nbthread`
/// (HAProxy's default threads, as in production), no syslog and no TLS
/// settings (nothing here speaks TLS).
pub(crate) fn head(site: &Site<'_>) -> String {
    let dir = site.dir.display();
    let program = site.program.display();
    let mut out = String::new();
    let _ = write!(
        out,
        "# dcos-sim's HEAD for a real marathon-lb on {ip} (its own, marathon-lb's in substance)\n\
         global\n\
         \x20 maxconn {maxconn}\n\
         \x20 stats socket {dir}/haproxy.sock mode 600 level admin expose-fd listeners\n\
         \x20 server-state-file global\n\
         \x20 server-state-base {dir}/state/\n\
         \x20 lua-load {program}/getpids.lua\n\
         \x20 lua-load {program}/getconfig.lua\n\
         \x20 lua-load {program}/getmaps.lua\n\
         \x20 lua-load {program}/signalmlb.lua\n\
         defaults\n\
         \x20 load-server-state-from-file global\n\
         \x20 retries 3\n\
         \x20 backlog 10000\n\
         \x20 maxconn {maxconn}\n\
         \x20 timeout connect 3s\n\
         \x20 timeout client 30s\n\
         \x20 timeout server 30s\n\
         \x20 timeout tunnel 3600s\n\
         \x20 timeout http-keep-alive 1s\n\
         \x20 timeout http-request 15s\n\
         \x20 timeout queue 30s\n\
         \x20 timeout tarpit 60s\n\
         \x20 option dontlognull\n\
         \x20 option http-server-close\n\
         \x20 option redispatch\n\
         listen stats\n\
         \x20 bind {ip}:{port}\n\
         \x20 balance\n\
         \x20 mode http\n\
         \x20 stats enable\n\
         \x20 monitor-uri /_haproxy_health_check\n\
         \x20 http-request use-service prometheus-exporter if {{ path /metrics }}\n",
        ip = site.ip,
        port = site.stats_port,
        maxconn = site.maxconn,
    );
    for (path, service) in [
        ("/_haproxy_getpids", "getpids"),
        ("/_haproxy_getvhostmap", "getvhostmap"),
        ("/_haproxy_getappmap", "getappmap"),
        ("/_haproxy_getconfig", "getconfig"),
        ("/_mlb_signal/hup", "signalmlbhup"),
        ("/_mlb_signal/usr1", "signalmlbusr1"),
    ] {
        let _ = writeln!(
            out,
            "  http-request use-service lua.{service} if {{ path {path} }}"
        );
    }
    out
}

/// `templates/HAPROXY_FRONTEND_HEAD`: each frontend binds the instance's
/// own address (marathon-lb's default binds `*`), so two instances on one
/// machine do not clash.
pub(crate) fn frontend_head(ip: Ipv4Addr) -> String {
    format!(
        "\nfrontend {{backend}}\n  bind {ip}:{{servicePort}}{{sslCert}}{{bindOptions}}\n  mode {{mode}}\n"
    )
}

/// `templates/HAPROXY_HTTP_FRONTEND_APPID_HEAD`: marathon-lb always writes
/// this frontend (`bind *:9091` by default, even with
/// `--dont-bind-http-https`); here it binds the instance's own address.
pub(crate) fn appid_frontend_head(ip: Ipv4Addr) -> String {
    format!("\nfrontend marathon_http_appid_in\n  bind {ip}:9091\n  mode http\n")
}

/// `templates/HAPROXY_BACKEND_HTTP_HEALTHCHECK_OPTIONS`: marathon-lb's HTTP
/// check, plus the header that tells a sim task a health check from
/// traffic ([`crate::image::CHECK_HEADER`]).
pub(crate) fn http_check_options() -> String {
    format!(
        "  option  httpchk GET {{healthCheckPath}}\n  http-check send hdr {} 1\n  timeout check {{healthCheckTimeoutSeconds}}s\n",
        crate::image::CHECK_HEADER
    )
}

/// The config HAProxy starts with, before marathon-lb writes its own: the
/// HEAD alone (marathon-lb replaces it at its first run and reloads).
pub(crate) fn first_config(site: &Site<'_>) -> String {
    head(site)
}

/// The reload command handed to marathon-lb (`--command`), doing what the
/// container's reload does (marathon-lb-haproxy.md §1): save `show servers
/// state` from the stats socket into the server-state file, then SIGUSR2 to
/// the master (whose pid HAProxy wrote with `-p`). A Python script: the
/// venv's python is there, and it needs no `socat`.
pub(crate) const RELOAD_SCRIPT: &str = r#"# Written by dcos-sim: marathon-lb's reload as its container does it.
import os
import signal
import socket
import sys

directory = sys.argv[1]
stats = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
stats.settimeout(5)
stats.connect(os.path.join(directory, "haproxy.sock"))
stats.sendall(b"show servers state\n")
state = b""
while True:
    chunk = stats.recv(65536)
    if not chunk:
        break
    state += chunk
stats.close()
target = os.path.join(directory, "state", "global")
with open(target + ".tmp", "wb") as f:
    f.write(state)
os.rename(target + ".tmp", target)
with open(os.path.join(directory, "haproxy.pid")) as f:
    master = int(f.read().split()[0])
os.kill(master, signal.SIGUSR2)
"#;

/// The init of the instance's PID namespace (run by `unshare --pid --fork
/// --mount-proc`): a private `/tmp` (marathon-lb keeps copies of its
/// configs in `/tmp`), HAProxy's master started once, marathon-lb (with
/// `--sse`, or run again every half second without it), then it waits for
/// the sim's pipe on its stdin to close. When it exits, being the
/// namespace's init, the kernel kills every process in the namespace.
pub(crate) const INIT_SCRIPT: &str = r#"
if [ -n "$MLB_PRIVATE_TMP" ]; then mount --bind "$MLB_DIR/tmp" /tmp || exit 3; fi
"$MLB_HAPROXY" -W -f "$MLB_DIR/haproxy.cfg" -x "$MLB_DIR/haproxy.sock" \
  -p "$MLB_DIR/haproxy.pid" -S "$MLB_DIR/master.sock" </dev/null >>"$MLB_DIR/haproxy.log" 2>&1 &
cd "$MLB_DIR" || exit 3
if [ -n "$MLB_SSE" ]; then
  "$MLB_PYTHON" "$MLB_PROGRAM/marathon_lb.py" --sse "$@" </dev/null >>"$MLB_DIR/marathon-lb.log" 2>&1 &
else
  while :; do
    "$MLB_PYTHON" "$MLB_PROGRAM/marathon_lb.py" "$@" </dev/null >>"$MLB_DIR/marathon-lb.log" 2>&1
    sleep 0.5
  done &
fi
read -r _
exit 0
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_has_the_instance_paths_and_the_upstream_services() {
        let site = Site {
            dir: Path::new("/var/tmp/x/lb-0"),
            ip: Ipv4Addr::new(127, 0, 0, 5),
            stats_port: 9090,
            program: Path::new("/shared/upstream"),
            maxconn: 9750,
        };
        let text = head(&site);
        for line in [
            "maxconn 9750",
            "stats socket /var/tmp/x/lb-0/haproxy.sock mode 600 level admin expose-fd listeners",
            "server-state-base /var/tmp/x/lb-0/state/",
            "lua-load /shared/upstream/getpids.lua",
            "lua-load /shared/upstream/signalmlb.lua",
            "load-server-state-from-file global",
            "option redispatch",
            "bind 127.0.0.5:9090",
            "stats enable",
            "monitor-uri /_haproxy_health_check",
            "use-service lua.getpids if { path /_haproxy_getpids }",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        assert!(!text.contains("nbthread"));
        assert!(
            frontend_head(site.ip).contains("bind 127.0.0.5:{servicePort}{sslCert}{bindOptions}")
        );
    }
}
