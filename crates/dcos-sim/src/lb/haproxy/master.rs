//! What a real HAProxy in master-worker mode tells through its master CLI
//! (`-S master.sock`), for the kill log's oracle: `show proc` lists the
//! current workers and the old ones still finishing their connections, and
//! `@!<pid> show stat` reaches one worker, old ones included, so what an
//! old worker still had on a server can be read although no stats page
//! shows it. Shared by the sim's own HAProxy and the real marathon-lb's.

use super::socket_command;
use std::path::Path;
use std::time::Duration;

/// How long one master CLI exchange may take: generous, because a loaded
/// machine (a test under load on two cores) can keep HAProxy's master from
/// answering for a while, and an oracle that gives up too soon would read
/// as "nothing on that server".
const LIMIT: Duration = Duration::from_secs(3);

/// The status of the row an oracle gives when the master could not be
/// asked: never taken for "nothing there".
pub(crate) const UNREADABLE: &str = "unreadable: the master CLI did not answer";

/// The workers `show proc` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Workers {
    /// The master's pid.
    pub master: Option<u32>,
    /// The current worker(s).
    pub current: Vec<u32>,
    /// Old workers still running after a reload.
    pub old: Vec<u32>,
}

/// Parses `show proc`: a `#<PID> <type> …` header, the master's line, then
/// `# workers`, `# old workers` and `# programs` sections.
pub(crate) fn parse_show_proc(text: &str) -> Workers {
    let mut workers = Workers::default();
    let mut section = "";
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('#') {
            if !name.starts_with('<') {
                section = if name.trim() == "old workers" {
                    "old"
                } else {
                    "other"
                };
            }
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(pid), Some(kind)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        match (kind, section) {
            ("master", _) => workers.master = Some(pid),
            ("worker", "old") => workers.old.push(pid),
            ("worker", _) => workers.current.push(pid),
            _ => {}
        }
    }
    workers
}

/// `command` on the master CLI at `socket`, tried again while the master
/// refuses connections (it re-executes itself at every reload, and its CLI
/// socket refuses for that moment), within [`LIMIT`].
fn ask(socket: &Path, command: &str) -> std::io::Result<String> {
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        match socket_command(socket, command, LIMIT) {
            Err(e)
                if e.kind() == std::io::ErrorKind::ConnectionRefused
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            answer => return answer,
        }
    }
}

/// The workers of the master whose CLI is at `socket`.
pub(crate) fn workers(socket: &Path) -> std::io::Result<Workers> {
    ask(socket, "show proc;quit").map(|text| parse_show_proc(&text))
}

/// One server's row in one worker's stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerRow {
    /// The worker's pid (as its master sees it).
    pub pid: u32,
    /// The server.
    pub server: String,
    /// HAProxy's status column (`UP`, `MAINT`, `DOWN`, `no check`, …).
    pub status: String,
    /// `scur`.
    pub sessions: u64,
    /// `qcur`.
    pub queued: u64,
}

/// The rows of the servers `names` in `show stat` output `csv` (summed over
/// the backends a server is in; the first backend's status), read by
/// column name.
pub(crate) fn server_rows(csv: &str, names: &[String], pid: u32) -> Vec<WorkerRow> {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let header: Vec<&str> = header.trim_start_matches(['#', ' ']).split(',').collect();
    let column = |n: &str| header.iter().position(|c| *c == n);
    let (Some(sv), Some(scur), Some(qcur), Some(status)) = (
        column("svname"),
        column("scur"),
        column("qcur"),
        column("status"),
    ) else {
        return Vec::new();
    };
    let mut rows: Vec<WorkerRow> = Vec::new();
    for fields in lines.map(|l| l.split(',').collect::<Vec<_>>()) {
        let Some(name) = fields.get(sv).filter(|n| names.iter().any(|m| m == *n)) else {
            continue;
        };
        let number = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        match rows.iter_mut().find(|r| r.server == *name) {
            Some(row) => {
                row.sessions += number(scur);
                row.queued += number(qcur);
            }
            None => rows.push(WorkerRow {
                pid,
                server: (*name).to_owned(),
                status: fields.get(status).copied().unwrap_or("").to_owned(),
                sessions: number(scur),
                queued: number(qcur),
            }),
        }
    }
    rows
}

/// What every old worker of the master at `socket` has on the servers
/// `names` now; one row of status [`UNREADABLE`] (per server) when the
/// master cannot be asked.
pub(crate) fn old_worker_rows(socket: &Path, names: &[String]) -> Vec<WorkerRow> {
    let Ok(workers) = workers(socket) else {
        return names
            .iter()
            .map(|name| WorkerRow {
                pid: 0,
                server: name.clone(),
                status: UNREADABLE.to_owned(),
                sessions: 0,
                queued: 0,
            })
            .collect();
    };
    let mut rows = Vec::new();
    for pid in workers.old {
        // A worker that exits between the two questions answers nothing:
        // it has nothing on any server any more.
        if let Ok(csv) = ask(socket, &format!("@!{pid} show stat;quit")) {
            rows.extend(server_rows(&csv, names, pid));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_proc_sections() {
        let text = "#<PID>          <type>          <reloads>       <uptime>        <version>\n\
                    1058            master          1 [failed: 0]   0d00h10m15s     2.6.12\n\
                    # workers\n\
                    28129           worker          0               0d00h00m00s     2.6.12\n\
                    # old workers\n\
                    1059            worker          1               0d00h10m15s     2.6.12\n\
                    # programs\n\n";
        assert_eq!(
            parse_show_proc(text),
            Workers {
                master: Some(1058),
                current: vec![28129],
                old: vec![1059],
            }
        );
    }

    #[test]
    fn rows_by_column_name_summed_over_backends() {
        let csv = "# pxname,svname,qcur,qmax,scur,status\n\
                   web_10000,FRONTEND,,,0,OPEN\n\
                   web_10000,a,1,0,2,MAINT\n\
                   web_10001,a,0,0,3,MAINT\n\
                   web_10000,b,0,0,0,UP\n";
        let rows = server_rows(csv, &["a".to_owned()], 7);
        assert_eq!(
            rows,
            [WorkerRow {
                pid: 7,
                server: "a".into(),
                status: "MAINT".into(),
                sessions: 5,
                queued: 1,
            }]
        );
    }
}
