//! HAProxy's stats as marathon-lb serves them on its stats port: the
//! `;csv` page read by column name, a line at a time and filtered to the
//! group's proxies, and the answering worker from the HTML page's header.
//! Pure: a reader in another crate streams the pages through these.

use std::collections::BTreeMap;
use std::time::Duration;

/// One row of HAProxy's `;csv` stats: a frontend, backend or server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsRow {
    /// `pxname`: the proxy (backend) name.
    pub pxname: String,
    /// `svname`: the server name, or `FRONTEND`/`BACKEND`.
    pub svname: String,
    /// Every column by name, as text.
    pub columns: BTreeMap<String, String>,
}

impl StatsRow {
    /// `status`, e.g. `UP`, `MAINT`, `DOWN`, `no check`.
    pub fn status(&self) -> &str {
        self.columns.get("status").map_or("", String::as_str)
    }

    /// A numeric column; empty or absent counts as 0, as zdd.py reads them.
    pub fn number(&self, column: &str) -> u64 {
        self.columns
            .get(column)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Whether it is a server row (not the FRONTEND or BACKEND summary).
    pub fn is_server(&self) -> bool {
        self.svname != "FRONTEND" && self.svname != "BACKEND"
    }
}

/// Why a stats page could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    /// There is no `# pxname,svname,...` header.
    #[error("the stats page has no `# pxname,svname,...` header")]
    NoHeader,
    /// The header lacks a column the engine needs.
    #[error("the stats header has no `{0}` column")]
    MissingColumn(&'static str),
}

/// Splits one CSV line: fields separated by `,`, a field in double quotes
/// may hold commas and doubled quotes.
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if field.is_empty() => quoted = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// Which proxies of a stats page to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyFilter {
    /// Every row.
    All,
    /// Rows of exactly this proxy (a backend and its frontend share the
    /// name in marathon-lb's config).
    Exactly(String),
    /// Rows of the proxies whose name starts with this.
    Prefix(String),
}

impl ProxyFilter {
    /// Whether rows of proxy `pxname` are kept.
    pub fn keeps(&self, pxname: &str) -> bool {
        match self {
            ProxyFilter::All => true,
            ProxyFilter::Exactly(name) => pxname == name,
            ProxyFilter::Prefix(prefix) => pxname.starts_with(prefix.as_str()),
        }
    }
}

/// Reads one marathon-lb's `/haproxy?stats;csv` page by column name, a line
/// at a time, keeping only the rows of the proxies a [`ProxyFilter`]
/// keeps: a reader streams the page through it, so memory follows the
/// group's rows, not the cluster's. HAProxy 1.6's 62 columns and 2.x's
/// 90-odd read alike. Lines that repeat the header (`#`) and blank lines
/// are skipped; a row shorter than the header leaves the missing columns
/// empty.
#[derive(Debug, Clone)]
pub struct StatsCsv {
    filter: ProxyFilter,
    names: Option<Vec<String>>,
    pxname: usize,
    rows: Vec<StatsRow>,
}

impl StatsCsv {
    /// A parser keeping the rows `filter` keeps.
    pub fn new(filter: ProxyFilter) -> StatsCsv {
        StatsCsv {
            filter,
            names: None,
            pxname: 0,
            rows: Vec::new(),
        }
    }

    /// Takes the next line of the page (with or without its line end).
    pub fn line(&mut self, line: &str) -> Result<(), StatsError> {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return Ok(());
        }
        let Some(names) = &self.names else {
            let header = line
                .trim_start()
                .strip_prefix('#')
                .ok_or(StatsError::NoHeader)?;
            let names: Vec<String> = csv_fields(header.trim().trim_end_matches(','))
                .into_iter()
                .map(|n| n.trim().to_owned())
                .collect();
            for required in ["pxname", "svname", "status", "scur", "qcur"] {
                if !names.iter().any(|n| n == required) {
                    return Err(StatsError::MissingColumn(required));
                }
            }
            self.pxname = names.iter().position(|n| n == "pxname").unwrap_or(0);
            self.names = Some(names);
            return Ok(());
        };
        if line.trim_start().starts_with('#') {
            return Ok(());
        }
        // The proxy name is the first field of every row HAProxy writes;
        // judge the filter on it before splitting the whole line.
        if self.pxname == 0 {
            let first = line.split(',').next().unwrap_or_default();
            if !first.starts_with('"') && !self.filter.keeps(first) {
                return Ok(());
            }
        }
        let fields = csv_fields(line);
        let columns: BTreeMap<String, String> = names
            .iter()
            .cloned()
            .zip(fields.into_iter().chain(std::iter::repeat(String::new())))
            .collect();
        let pxname = columns.get("pxname").cloned().unwrap_or_default();
        if !self.filter.keeps(&pxname) {
            return Ok(());
        }
        self.rows.push(StatsRow {
            svname: columns.get("svname").cloned().unwrap_or_default(),
            pxname,
            columns,
        });
        Ok(())
    }

    /// The rows kept; an error when the page had no header at all.
    pub fn finish(self) -> Result<Vec<StatsRow>, StatsError> {
        match self.names {
            Some(_) => Ok(self.rows),
            None => Err(StatsError::NoHeader),
        }
    }
}

/// Reads a whole `/haproxy?stats;csv` page (every proxy) by column name;
/// see [`StatsCsv`] for reading a page a line at a time, filtered.
pub fn parse_stats_csv(text: &str) -> Result<Vec<StatsRow>, StatsError> {
    let mut csv = StatsCsv::new(ProxyFilter::All);
    for line in text.lines() {
        csv.line(line)?;
    }
    csv.finish()
}

/// The HAProxy worker process that answered a stats request, as its HTML
/// stats page introduces itself (`pid = 6600 (process #1, nbproc = 1,
/// nbthread = 2)`, `uptime = 0d 0h00m26s`). marathon-lb reloads HAProxy
/// by starting a new worker, whose counters start at zero: a different pid
/// between two readings is a reload, seen without forking anything (the
/// `/_haproxy_getpids` endpoint runs `pidof` inside the HAProxy that carries
/// the traffic, and that costs requests: marathon-lb-haproxy.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Worker {
    /// Its process id.
    pub pid: u32,
    /// How long it has run, to the second, when it answered.
    pub uptime: Duration,
    /// Its threads (`nbthread`), when the page says.
    pub threads: Option<u32>,
}

/// The number after `label` in `text`, HTML tags skipped.
fn number_after(text: &str, label: &str) -> Option<u64> {
    let at = text.find(label)? + label.len();
    let rest = strip_tags(&text[at..text.len().min(at + 200)]);
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// `0d 0h00m26s` (HAProxy's uptime) as a duration.
fn uptime(text: &str) -> Option<Duration> {
    let at = text.find("uptime = ")? + "uptime = ".len();
    let rest = strip_tags(&text[at..text.len().min(at + 200)]);
    let rest = rest.trim_start();
    let mut total = 0u64;
    let mut number = String::new();
    let mut units = 0;
    for c in rest.chars() {
        match c {
            '0'..='9' => number.push(c),
            'd' | 'h' | 'm' | 's' if !number.is_empty() => {
                let n: u64 = number.parse().ok()?;
                number.clear();
                total += n * match c {
                    'd' => 86_400,
                    'h' => 3_600,
                    'm' => 60,
                    _ => 1,
                };
                units += 1;
                if c == 's' {
                    break;
                }
            }
            ' ' => {}
            _ => break,
        }
    }
    (units > 0).then(|| Duration::from_secs(total))
}

/// The answering worker from (the start of) an HTML stats page
/// (`/haproxy?stats;norefresh`): `None` when the page does not say.
pub fn parse_stats_page_worker(html: &str) -> Option<Worker> {
    let pid = number_after(html, "pid = ")?;
    Some(Worker {
        pid: u32::try_from(pid).ok()?,
        uptime: uptime(html)?,
        threads: number_after(html, "nbthread = ").and_then(|n| u32::try_from(n).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_read_by_column_name_whatever_the_column_set() {
        let v16 = "# pxname,svname,qcur,qmax,scur,smax,status,\nweb_10000,FRONTEND,,,3,5,OPEN,\nweb_10000,10_0_0_1_31000,0,0,2,4,UP,\nweb_10000,10_0_0_2_31001,1,1,0,0,MAINT,\n# pxname,svname,qcur,qmax,scur,smax,status,\n\nweb_10000,BACKEND,0,0,2,4,UP,\n";
        let rows = parse_stats_csv(v16).unwrap();
        assert_eq!(rows.len(), 4);
        let up = &rows[1];
        assert!(up.is_server() && up.status() == "UP" && up.number("scur") == 2);
        assert_eq!((rows[2].number("qcur"), rows[2].status()), (1, "MAINT"));
        assert!(!rows[3].is_server());
        // A 2.x order with more columns and a quoted field holding a comma.
        let v2 = "# pxname,svname,status,scur,qcur,check_desc,rtime\nweb_10000,s1,UP,7,0,\"Layer7 check passed, code 200\",12\n";
        let rows = parse_stats_csv(v2).unwrap();
        assert_eq!(rows[0].number("scur"), 7);
        assert_eq!(
            rows[0].columns["check_desc"],
            "Layer7 check passed, code 200"
        );
        assert_eq!(rows[0].number("rtime"), 12);
        assert_eq!(parse_stats_csv("no header"), Err(StatsError::NoHeader));
        assert_eq!(
            parse_stats_csv("# pxname,svname,status\n"),
            Err(StatsError::MissingColumn("scur"))
        );
    }

    #[test]
    fn a_filter_keeps_only_the_proxies_asked_for_a_line_at_a_time() {
        let page = "# pxname,svname,status,scur,qcur\n\
                    web_10000,FRONTEND,OPEN,1,0\n\
                    web_10000,s1,UP,1,0\n\
                    web_100001,s1,UP,9,0\n\
                    other_web_10000,s1,UP,9,0\n\
                    web_10000,BACKEND,UP,1,0\n";
        let mut exact = StatsCsv::new(ProxyFilter::Exactly("web_10000".into()));
        let mut prefix = StatsCsv::new(ProxyFilter::Prefix("web_".into()));
        for line in page.lines() {
            exact.line(line).unwrap();
            prefix.line(line).unwrap();
        }
        let exact = exact.finish().unwrap();
        assert_eq!(exact.len(), 3);
        assert!(exact.iter().all(|r| r.pxname == "web_10000"));
        assert_eq!(prefix.finish().unwrap().len(), 4);
        assert_eq!(
            StatsCsv::new(ProxyFilter::All).finish(),
            Err(StatsError::NoHeader)
        );
    }

    #[test]
    fn the_worker_is_read_from_haproxys_html_header() {
        // As HAProxy 2.6 prints it (tags included).
        let html = "<h2>Statistics Report for pid 6600</h2>\n<hr width=\"100%\" class=\"hr\">\n\
                    <h3>&gt; General process information</h3>\n<table border=0><tr><td align=\"left\" nowrap width=\"1%\">\n\
                    <p><b>pid = </b> 6600 (process #1, nbproc = 1, nbthread = 2)<br>\n\
                    <b>uptime = </b> 1d 2h03m04s<br>\n";
        assert_eq!(
            parse_stats_page_worker(html),
            Some(Worker {
                pid: 6600,
                uptime: Duration::from_secs(86_400 + 2 * 3_600 + 3 * 60 + 4),
                threads: Some(2),
            })
        );
        assert_eq!(parse_stats_page_worker("<html>no header</html>"), None);
        assert_eq!(
            parse_stats_page_worker("pid = 12 (process #1)<br>uptime = 0d 0h00m09s"),
            Some(Worker {
                pid: 12,
                uptime: Duration::from_secs(9),
                threads: None
            })
        );
    }
}
