//! The emulated HTML stats page (`/haproxy?stats`, `;norefresh`): the lines
//! of HAProxy 2.6's "General process information" a reader looks for, with
//! the same text shape as HAProxy prints them, then one table per proxy in
//! the page's scope.
//!
//! ```text
//! <p><b>pid = </b> 1003 (process #1, nbproc = 1, nbthread = 2)<br>
//! <b>uptime = </b> 0d 0h00m26s<br>
//! ```
//!
//! The pid is the emulated worker's (it changes at every reload) and the
//! uptime is cluster time since that worker started. The tables are a
//! reduced version of HAProxy's (name anchors as HAProxy writes them,
//! sessions, queue, total and status per row), not its full set of cells.

use super::stats::Row;

/// The process block's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Process {
    /// The answering worker's pid.
    pub pid: u64,
    /// Its threads (HAProxy's default: one per CPU).
    pub nbthread: usize,
    /// How long it has run, ms.
    pub uptime_ms: u64,
}

/// HAProxy's uptime text: `0d 0h00m26s`.
pub(crate) fn uptime(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{}d {}h{:02}m{:02}s",
        s / 86_400,
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60
    )
}

/// Text safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn field<'a>(row: &'a Row, column: &str) -> &'a str {
    row.iter()
        .find(|(c, _)| *c == column)
        .map_or("", |(_, v)| v.as_str())
}

/// The page for `process` and the stats `rows` (already scoped).
pub(crate) fn page(process: Process, rows: &[Row]) -> String {
    let mut out = format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\"\n\
         \"http://www.w3.org/TR/html4/loose.dtd\">\n\
         <html><head><title>Statistics Report for HAProxy</title></head>\n\
         <body><h1>dcos-sim: marathon-lb's HAProxy, emulated</h1>\n\
         <h2>Statistics Report for pid {pid}</h2>\n\
         <hr width=\"100%\" class=\"hr\">\n\
         <h3>&gt; General process information</h3>\n\
         <table border=0><tr><td align=\"left\" nowrap width=\"1%\">\n\
         <p><b>pid = </b> {pid} (process #1, nbproc = 1, nbthread = {threads})<br>\n\
         <b>uptime = </b> {uptime}<br>\n\
         </td></tr></table>\n",
        pid = process.pid,
        threads = process.nbthread,
        uptime = uptime(process.uptime_ms),
    );
    let mut current: Option<String> = None;
    for row in rows {
        let proxy = escape(field(row, "pxname"));
        if current.as_deref() != Some(proxy.as_str()) {
            if current.is_some() {
                out.push_str("</table>\n");
            }
            out.push_str(&format!(
                "<table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\"><th class=\"pxname\" \
                 width=\"10%\"><a name=\"{proxy}\"></a><a class=px href=\"#{proxy}\">{proxy}</a>\
                 </th><th class=\"empty\" width=\"90%\"></th></tr>\n</table>\n\
                 <table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\"><th></th><th>Cur</th>\
                 <th>Queue</th><th>Total</th><th>Status</th></tr>\n"
            ));
            current = Some(proxy.clone());
        }
        let (name, class) = match field(row, "svname") {
            "FRONTEND" => ("Frontend".to_owned(), "frontend"),
            "BACKEND" => ("Backend".to_owned(), "backend"),
            server if field(row, "status") == "MAINT" => (escape(server), "maintain"),
            server => (escape(server), "active_up"),
        };
        out.push_str(&format!(
            "<tr class=\"{class}\"><td class=ac><a name=\"{proxy}/{name}\"></a><a class=lfsb \
             href=\"#{proxy}/{name}\">{name}</a></td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td></tr>\n",
            field(row, "scur"),
            field(row, "qcur"),
            field(row, "stot"),
            escape(field(row, "status")),
        ));
    }
    if current.is_some() {
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_has_haproxys_shape() {
        assert_eq!(uptime(26_400), "0d 0h00m26s");
        assert_eq!(
            uptime(((2 * 24 + 3) * 3600 + 4 * 60 + 5) * 1000),
            "2d 3h04m05s"
        );
    }

    #[test]
    fn process_lines_and_one_table_per_proxy() {
        let rows: Vec<Row> = vec![
            vec![
                ("pxname", "web_10000".into()),
                ("svname", "FRONTEND".into()),
            ],
            vec![
                ("pxname", "web_10000".into()),
                ("svname", "a".into()),
                ("status", "MAINT".into()),
                ("scur", "2".into()),
            ],
        ];
        let process = Process {
            pid: 1003,
            nbthread: 2,
            uptime_ms: 26_000,
        };
        let html = page(process, &rows);
        assert!(html.contains(
            "<p><b>pid = </b> 1003 (process #1, nbproc = 1, nbthread = 2)<br>\n\
             <b>uptime = </b> 0d 0h00m26s<br>"
        ));
        assert_eq!(html.matches("<a class=px href=\"#web_10000\">").count(), 1);
        assert!(html.contains("<tr class=\"maintain\"><td class=ac><a name=\"web_10000/a\">"));
        assert!(html.contains("<td>2</td>"));
    }
}
