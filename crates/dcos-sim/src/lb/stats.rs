//! HAProxy's `;csv` stats page as marathon-lb's HAProxy writes it: a
//! header, then per backend its `FRONTEND` row, one row per server (`UP`, or
//! `MAINT` when disabled) and its `BACKEND` row.

use super::counters::Snapshot;
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

/// What the emulated stats show for one server: sessions and queue (the
/// simulated traffic plus the emulated frontend's requests in flight) and
/// the emulated frontend's counters.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ServerRow {
    pub scur: u64,
    pub qcur: u64,
    pub counters: Snapshot,
}

/// The counter columns of a row (HAProxy's names).
fn counter_fields(c: &Snapshot) -> Vec<(&'static str, String)> {
    let names = [
        "hrsp_1xx",
        "hrsp_2xx",
        "hrsp_3xx",
        "hrsp_4xx",
        "hrsp_5xx",
        "hrsp_other",
    ];
    let mut fields: Vec<(&'static str, String)> = names
        .iter()
        .zip(c.hrsp)
        .map(|(n, v)| (*n, v.to_string()))
        .collect();
    fields.extend([
        ("stot", c.stot.to_string()),
        ("lbtot", c.stot.to_string()),
        ("req_tot", c.stot.to_string()),
        ("econ", c.econ.to_string()),
        ("eresp", c.eresp.to_string()),
        ("cli_abrt", c.cli_abrt.to_string()),
        ("srv_abrt", c.srv_abrt.to_string()),
        ("rtime", c.rtime.to_string()),
    ]);
    fields
}

/// The `;csv` page of marathon-lb instance `index` for `backends`, each
/// server's row from `server(backend, name)`.
pub(crate) fn stats_csv(
    index: usize,
    backends: &[Backend],
    server: impl Fn(&str, &str) -> ServerRow,
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
        let mut total = Snapshot::default();
        let (mut scur_total, mut qcur_total) = (0, 0);
        for entry in &backend.servers {
            let ServerRow {
                scur,
                qcur,
                counters,
            } = server(&name, &entry.name);
            let status = if entry.disabled { "MAINT" } else { "UP" };
            let mut fields = vec![
                ("pxname", name.clone()),
                ("svname", entry.name.clone()),
                ("qcur", qcur.to_string()),
                ("scur", scur.to_string()),
                ("status", status.into()),
                ("weight", "1".into()),
                ("act", "1".into()),
                ("bck", "0".into()),
                ("pid", pid.clone()),
                ("type", "2".into()),
                ("check_status", "L7OK".into()),
            ];
            fields.extend(counter_fields(&counters));
            out.push_str(&row(&fields));
            scur_total += scur;
            qcur_total += qcur;
            total.stot += counters.stot;
            total.econ += counters.econ;
            total.eresp += counters.eresp;
            total.cli_abrt += counters.cli_abrt;
            total.srv_abrt += counters.srv_abrt;
            for (sum, value) in total.hrsp.iter_mut().zip(counters.hrsp) {
                *sum += value;
            }
        }
        let mut fields = vec![
            ("pxname", name),
            ("svname", "BACKEND".into()),
            ("qcur", qcur_total.to_string()),
            ("scur", scur_total.to_string()),
            ("status", "UP".into()),
            ("pid", pid.clone()),
            ("type", "1".into()),
        ];
        fields.extend(
            counter_fields(&total)
                .into_iter()
                .filter(|(n, _)| *n != "rtime"),
        );
        out.push_str(&row(&fields));
    }
    out
}
