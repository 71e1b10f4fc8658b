//! HAProxy's `;csv` stats page as marathon-lb's HAProxy writes it: a
//! header, then per backend its `FRONTEND` row, one row per server (`UP`, or
//! `MAINT` when disabled) and its `BACKEND` row.

use super::rules::Backend;

/// HAProxy's `;csv` columns (62 of them, the 1.6-era set zdd.py parses).
const COLUMNS: [&str; 62] = [
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
];

fn row(fields: &[(&str, String)]) -> String {
    let mut line = String::new();
    for column in COLUMNS {
        if let Some((_, value)) = fields.iter().find(|(c, _)| *c == column) {
            line.push_str(value);
        }
        line.push(',');
    }
    line.push('\n');
    line
}

/// The `;csv` page of marathon-lb instance `index` for `backends`, with each
/// server's current sessions and queue from `traffic(name)`.
pub(crate) fn stats_csv(
    index: usize,
    backends: &[Backend],
    traffic: impl Fn(&str) -> (u64, u64),
) -> String {
    let mut out = format!("# {}\n", COLUMNS.join(","));
    let pid = (index + 1).to_string();
    out.push_str(&row(&[
        ("pxname", "stats".into()),
        ("svname", "FRONTEND".into()),
        ("status", "OPEN".into()),
        ("pid", pid.clone()),
        ("type", "0".into()),
    ]));
    for backend in backends {
        let name = backend.name.clone();
        out.push_str(&row(&[
            ("pxname", name.clone()),
            ("svname", "FRONTEND".into()),
            ("status", "OPEN".into()),
            ("pid", pid.clone()),
            ("type", "0".into()),
        ]));
        for server in &backend.servers {
            let (scur, qcur) = traffic(&server.name);
            let status = if server.disabled { "MAINT" } else { "UP" };
            out.push_str(&row(&[
                ("pxname", name.clone()),
                ("svname", server.name.clone()),
                ("qcur", qcur.to_string()),
                ("scur", scur.to_string()),
                ("status", status.into()),
                ("weight", "1".into()),
                ("act", "1".into()),
                ("bck", "0".into()),
                ("pid", pid.clone()),
                ("type", "2".into()),
                ("check_status", "L7OK".into()),
            ]));
        }
        out.push_str(&row(&[
            ("pxname", name),
            ("svname", "BACKEND".into()),
            ("status", "UP".into()),
            ("pid", pid.clone()),
            ("type", "1".into()),
        ]));
    }
    out
}
