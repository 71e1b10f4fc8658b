//! The HAProxy config one marathon-lb instance runs, written by
//! marathon-lb's rules (marathon-lb-haproxy.md §1–§5, zdd.md §9): the
//! global section with the stats socket that hands listening sockets over
//! (`expose-fd listeners`) and the server-state file, the defaults that
//! matter for draining, and per backend a frontend on the instance's own
//! address and the service port, the backend, and one server line per task
//! in the instance's view, `disabled` when marathon-lb drains it.
//!
//! Like marathon-lb's, it sets no `nbthread`: HAProxy starts one thread per
//! CPU, as production marathon-lb does (marathon-lb-haproxy.md §8). Its
//! `listen stats` is marathon-lb's stats listener (`stats enable`, so
//! `/haproxy?stats`, `;csv`, `;norefresh` and `;scope=` are HAProxy's own;
//! `monitor-uri /_haproxy_health_check`; `/_haproxy_getpids` from a Lua
//! service of ours that forks, as marathon-lb's does), bound to a private
//! port of the instance's address: the sim's stats listener forwards to it.
//!
//! Deliberate differences, for a sim on a shared machine: `maxconn 4096`
//! (global and defaults; marathon-lb has 50000 and 10000), `hard-stop-after
//! 60s` (an old worker lingers at most that long after a reload), and the
//! health checks carry [`crate::image::CHECK_HEADER`] so a task can tell
//! them from traffic. Servers outside 127/8 (an imported fixture's) are left
//! out with a comment: the sim sends nothing off the machine.

use crate::lb::rules::Backend;
use std::fmt::Write;
use std::net::Ipv4Addr;
use std::path::Path;

/// Where one instance's files are.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    /// The stats socket (`show stat`, `show servers state`, `-x`).
    pub socket: std::path::PathBuf,
    /// The directory of the server-state file (`server-state-base`).
    pub state_dir: std::path::PathBuf,
    /// The running config (`-f`): unique to the instance, which is how its
    /// getpids service finds its own processes.
    pub config: std::path::PathBuf,
    /// The Lua file of the getpids service.
    pub lua: std::path::PathBuf,
}

impl Paths {
    /// The files of an instance whose directory is `dir`.
    pub(crate) fn in_dir(dir: &Path) -> Paths {
        Paths {
            socket: dir.join("haproxy.sock"),
            state_dir: dir.join("state"),
            config: dir.join("haproxy.cfg"),
            lua: dir.join("getpids.lua"),
        }
    }

    /// The server-state file marathon-lb saves before each reload.
    pub(crate) fn state_file(&self) -> std::path::PathBuf {
        self.state_dir.join("global")
    }
}

/// A server id derived from its name alone (FNV-1a), so it stays the same
/// across reloads and the saved server state still matches; a clash within
/// the backend moves to the next free id.
fn server_id(name: &str, taken: &mut Vec<u32>) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let mut id = hash % 1_000_000 + 1;
    while taken.contains(&id) {
        id = id % 1_000_000 + 1;
    }
    taken.push(id);
    id
}

/// A regular expression for `pgrep -f` that matches the command line of
/// every haproxy process running `config` (`-f CONFIG` as an argument) and
/// of no other: not a shell whose command holds the expression itself (its
/// text has `[ ]` and `\.` where the processes' have a space and a dot).
fn own_processes(config: &Path) -> String {
    let mut pattern = String::from("[ ]-f ");
    for c in config.display().to_string().chars() {
        if !c.is_ascii_alphanumeric() && !matches!(c, '/' | '-' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str("( |$)");
    pattern
}

/// Our getpids service for the instance whose config is `config`: the pids
/// of that instance's haproxy processes (master and workers, old ones
/// included), whitespace-separated, as text/plain, from `pgrep` run through
/// `io.popen`: a fork of the HAProxy that carries the traffic, as
/// marathon-lb's own service (`pidof haproxy`) forks it.
pub(crate) fn getpids_lua(config: &Path) -> String {
    let command = format!("pgrep -f -- '{}'", own_processes(config));
    format!(
        "-- Written by dcos-sim: /_haproxy_getpids for one simulated marathon-lb instance.\n\
         -- Lists this instance's haproxy processes (those running its config file).\n\
         local command = {command:?}\n\
         core.register_service(\"dcos_sim_getpids\", \"http\", function(applet)\n\
         \x20 local pipe = io.popen(command, \"r\")\n\
         \x20 local listed = pipe:read(\"*a\") or \"\"\n\
         \x20 pipe:close()\n\
         \x20 local pids = {{}}\n\
         \x20 for pid in string.gmatch(listed, \"%d+\") do pids[#pids + 1] = pid end\n\
         \x20 local body = table.concat(pids, \" \")\n\
         \x20 applet:set_status(200)\n\
         \x20 applet:add_header(\"content-length\", string.len(body))\n\
         \x20 applet:add_header(\"content-type\", \"text/plain\")\n\
         \x20 applet:start_response()\n\
         \x20 applet:send(body)\n\
         end)\n"
    )
}

/// The config of instance `lb` on `ip` (stats listener on `stats_port`)
/// for `backends`.
pub(crate) fn render(
    lb: usize,
    ip: Ipv4Addr,
    stats_port: u16,
    paths: &Paths,
    backends: &[Backend],
) -> String {
    let mut out = String::new();
    let state_base = format!("{}/", paths.state_dir.display());
    let _ = write!(
        out,
        "# Written by dcos-sim for marathon-lb instance {lb} ({ip}), by marathon-lb's rules.\n\
         global\n\
         \x20 maxconn 4096\n\
         \x20 hard-stop-after 60s\n\
         \x20 stats socket {} mode 600 level admin expose-fd listeners\n\
         \x20 server-state-file global\n\
         \x20 server-state-base {state_base}\n\
         \x20 lua-load {}\n\
         \n\
         defaults\n\
         \x20 load-server-state-from-file global\n\
         \x20 retries 3\n\
         \x20 maxconn 4096\n\
         \x20 timeout connect 3s\n\
         \x20 timeout client 30s\n\
         \x20 timeout server 30s\n\
         \x20 timeout http-keep-alive 1s\n\
         \x20 timeout http-request 15s\n\
         \x20 timeout queue 30s\n\
         \n\
         listen stats\n\
         \x20 bind {ip}:{stats_port}\n\
         \x20 mode http\n\
         \x20 stats enable\n\
         \x20 monitor-uri /_haproxy_health_check\n\
         \x20 http-request use-service lua.dcos_sim_getpids if {{ path /_haproxy_getpids }}\n",
        paths.socket.display(),
        paths.lua.display(),
    );
    for backend in backends {
        let mode = if backend.check.is_some() {
            "http"
        } else {
            "tcp"
        };
        let name = &backend.name;
        let _ = write!(
            out,
            "\nfrontend {name}\n\
             \x20 bind {ip}:{}\n\
             \x20 mode {mode}\n\
             \x20 use_backend {name}\n\
             \n\
             backend {name}\n\
             \x20 balance {}\n\
             \x20 mode {mode}\n",
            backend.port, backend.balance
        );
        if mode == "http" {
            out.push_str("  option forwardfor\n");
            out.push_str("  http-request set-header X-Forwarded-Port %[dst_port]\n");
        }
        if let Some(check) = &backend.check {
            let _ = write!(
                out,
                "  option httpchk GET {}\n\
                 \x20 http-check send hdr {} 1\n\
                 \x20 timeout check {}s\n",
                check.path.replace(|c: char| !c.is_ascii_graphic(), "_"),
                crate::image::CHECK_HEADER,
                check.timeout_s
            );
        }
        let mut taken = Vec::new();
        for server in &backend.servers {
            let loopback = server
                .ip
                .parse::<Ipv4Addr>()
                .is_ok_and(|a| a.octets()[0] == 127);
            if !loopback {
                let _ = writeln!(
                    out,
                    "  # server {} {}:{} left out: dcos-sim sends traffic to 127.x only",
                    server.name,
                    server.ip.replace(|c: char| !c.is_ascii_graphic(), "_"),
                    server.port
                );
                continue;
            }
            let _ = write!(
                out,
                "  server {} {}:{} id {}",
                server.name,
                server.ip,
                server.port,
                server_id(&server.name, &mut taken)
            );
            if let Some(check) = &backend.check {
                let _ = write!(
                    out,
                    " check inter {}s fall {}",
                    check.interval_s, check.fall
                );
            }
            if server.disabled {
                out.push_str(" disabled");
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::rules::{HttpCheck, Server};

    fn server(name: &str, port: u64, disabled: bool) -> Server {
        Server {
            name: name.into(),
            ip: "127.0.0.1".into(),
            port,
            disabled,
            task_id: format!("t{port}"),
        }
    }

    #[test]
    fn one_frontend_and_backend_per_group_with_checks_and_drained_servers() {
        let backends = vec![Backend {
            name: "web_10000".into(),
            group: "/web".into(),
            port: 10000,
            balance: "roundrobin".into(),
            check: Some(HttpCheck {
                path: "/health".into(),
                interval_s: 3,
                timeout_s: 2,
                fall: 4,
            }),
            servers: vec![
                server("127_0_0_1_31000", 31000, true),
                server("127_0_0_1_31001", 31001, false),
                Server {
                    ip: "10.0.6.25".into(),
                    ..server("10_0_6_25_31184", 31184, false)
                },
            ],
        }];
        let paths = Paths::in_dir(Path::new("/tmp/lb-0"));
        let text = render(0, Ipv4Addr::new(127, 0, 0, 2), 9090, &paths, &backends);
        for line in [
            "stats socket /tmp/lb-0/haproxy.sock mode 600 level admin expose-fd listeners",
            "server-state-file global",
            "server-state-base /tmp/lb-0/state/",
            "load-server-state-from-file global",
            "timeout http-keep-alive 1s",
            "lua-load /tmp/lb-0/getpids.lua",
            "listen stats\n  bind 127.0.0.2:9090\n  mode http\n  stats enable\n",
            "monitor-uri /_haproxy_health_check",
            "use-service lua.dcos_sim_getpids if { path /_haproxy_getpids }",
            "frontend web_10000",
            "bind 127.0.0.2:10000",
            "use_backend web_10000",
            "backend web_10000",
            "balance roundrobin",
            "mode http",
            "option forwardfor",
            "option httpchk GET /health",
            "timeout check 2s",
            "# server 10_0_6_25_31184 10.0.6.25:31184 left out",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        let servers: Vec<&str> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("server "))
            .collect();
        assert_eq!(servers.len(), 2);
        assert!(servers[0].starts_with("  server 127_0_0_1_31000 127.0.0.1:31000 id "));
        assert!(servers[0].ends_with(" check inter 3s fall 4 disabled"));
        assert!(servers[1].ends_with(" check inter 3s fall 4"));
        assert!(!text.contains("nbthread"), "HAProxy's default threads");
        // Ids depend on the name only.
        let again = render(0, Ipv4Addr::new(127, 0, 0, 2), 9090, &paths, &backends);
        assert_eq!(text, again);
    }

    #[test]
    fn getpids_matches_the_instance_processes_and_not_its_own_shell() {
        let lua = getpids_lua(Path::new("/tmp/dcos-sim-haproxyAb.1/lb-0/haproxy.cfg"));
        let pattern = r"[ ]-f /tmp/dcos-sim-haproxyAb\\.1/lb-0/haproxy\\.cfg( |$)";
        assert!(lua.contains(pattern), "{lua}");
        assert!(lua.contains("io.popen(command"));
        assert!(lua.contains("core.register_service(\"dcos_sim_getpids\", \"http\""));
    }

    #[test]
    fn without_an_http_check_the_backend_is_tcp_and_unchecked() {
        let backends = vec![Backend {
            name: "db_10001".into(),
            group: "/db".into(),
            port: 10001,
            balance: "roundrobin".into(),
            check: None,
            servers: vec![server("127_0_0_1_31002", 31002, false)],
        }];
        let text = render(
            1,
            Ipv4Addr::LOCALHOST,
            9090,
            &Paths::in_dir(Path::new("/x")),
            &backends,
        );
        assert!(text.contains("mode tcp"));
        assert!(!text.contains("httpchk"));
        assert!(text.contains("server 127_0_0_1_31002 127.0.0.1:31002 id "));
        assert!(!text.contains(" check"));
    }
}
