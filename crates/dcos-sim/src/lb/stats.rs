//! HAProxy's `;csv` stats page as marathon-lb's HAProxy writes it: a
//! header, then per backend its `FRONTEND` row, one row per server (`UP`, or
//! `MAINT` when disabled) and its `BACKEND` row; `;scope=TEXT` keeps only
//! the proxies whose name contains TEXT, as HAProxy does (see [`Scope`]).

use super::counters::Snapshot;
use super::rules::Backend;

/// HAProxy 2.6's `;csv` columns from the first through `ttime_max`, in its
/// order: the 62 of the 1.6-era set zdd.py parses, then the newer ones up
/// to the `*_max` times. 2.6 goes on after `ttime_max` with a column named
/// `-`, which zdd.py cannot parse (marathon-lb-haproxy.md §9), so the
/// emulation stops there.
const COLUMNS: [&str; 94] = [
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
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
];

/// HAProxy keeps at most this many characters of `;scope=` (its
/// `STAT_SCOPE_TXT_MAXLEN`): a longer scope is cut to its first 20, as seen
/// with Debian's HAProxy 2.6.
pub(crate) const SCOPE_MAX: usize = 20;

/// Which proxies a stats page shows: those whose name contains the scope,
/// ignoring case (HAProxy's `strnistr`); no scope or an empty one: all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scope(Option<String>);

impl Scope {
    /// The scope of a stats query (`stats;csv;scope=web`): the text after
    /// `;scope=` up to the next `;` or `&`, cut to [`SCOPE_MAX`] characters.
    pub(crate) fn of_query(query: &str) -> Scope {
        let Some(start) = query.find(";scope=") else {
            return Scope(None);
        };
        let text: String = query[start + 7..]
            .split([';', '&'])
            .next()
            .unwrap_or("")
            .chars()
            .take(SCOPE_MAX)
            .collect();
        Scope((!text.is_empty()).then(|| text.to_ascii_lowercase()))
    }

    /// Whether proxy `name` is shown.
    pub(crate) fn shows(&self, name: &str) -> bool {
        self.0
            .as_ref()
            .is_none_or(|scope| name.to_ascii_lowercase().contains(scope.as_str()))
    }
}

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
        ("qtime_max", c.maxes[0].to_string()),
        ("ctime_max", c.maxes[1].to_string()),
        ("rtime_max", c.maxes[2].to_string()),
        ("ttime_max", c.maxes[3].to_string()),
    ]);
    fields
}

/// One row of a stats page, by column name.
pub(crate) type Row = Vec<(&'static str, String)>;

/// The rows of the stats page of marathon-lb instance `index` for
/// `backends` within `scope`, each server's from `server(backend, name)`.
pub(crate) fn stats_rows(
    index: usize,
    backends: &[Backend],
    scope: &Scope,
    server: impl Fn(&str, &str) -> ServerRow,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let pid = (index + 1).to_string();
    if scope.shows("stats") {
        rows.push(vec![
            ("pxname", "stats".into()),
            ("svname", "FRONTEND".into()),
            ("status", "OPEN".into()),
            ("pid", pid.clone()),
            ("type", "0".into()),
        ]);
    }
    for backend in backends.iter().filter(|b| scope.shows(&b.name)) {
        let name = backend.name.clone();
        rows.push(vec![
            ("pxname", name.clone()),
            ("svname", "FRONTEND".into()),
            ("status", "OPEN".into()),
            ("pid", pid.clone()),
            ("type", "0".into()),
        ]);
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
            rows.push(fields);
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
            for (max, value) in total.maxes.iter_mut().zip(counters.maxes) {
                *max = (*max).max(value);
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
        rows.push(fields);
    }
    rows
}

/// The `;csv` page of `rows`.
pub(crate) fn csv(rows: &[Row]) -> String {
    let mut out = format!("# {}\n", COLUMNS.join(","));
    for fields in rows {
        out.push_str(&row(fields));
    }
    out
}

/// The `;csv` page of marathon-lb instance `index` for `backends`, each
/// server's row from `server(backend, name)`.
#[cfg(test)]
pub(crate) fn stats_csv(
    index: usize,
    backends: &[Backend],
    server: impl Fn(&str, &str) -> ServerRow,
) -> String {
    csv(&stats_rows(index, backends, &Scope::default(), server))
}
