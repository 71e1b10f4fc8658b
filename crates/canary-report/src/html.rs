//! The page: a [`RunReport`] as one HTML document with inline CSS and SVG,
//! no script and no external resource.

use crate::{AnalysisPoint, RunReport, SidePoint};
use std::fmt::Write;

/// Chart geometry (SVG user units).
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

/// Version colours, in order of first appearance.
const PALETTE: [&str; 6] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948",
];
const CANARY: &str = "#e15759";
const BASELINE: &str = "#4e79a7";

/// Text for HTML and SVG: `&`, `<`, `>` and quotes escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `12.3 s` from ms.
fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// A time axis from 0 to `duration_ms`.
struct Axis {
    duration_ms: f64,
}

impl Axis {
    fn x(&self, at_ms: u64) -> f64 {
        LEFT + (WIDTH - LEFT - RIGHT) * (at_ms as f64 / self.duration_ms.max(1.0))
    }

    fn y(&self, value: f64, max: f64) -> f64 {
        TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - (value / max.max(f64::MIN_POSITIVE)).clamp(0.0, 1.0))
    }

    /// The frame, the time ticks and the markers' lines, numbered.
    fn frame(&self, svg: &mut String, report: &RunReport, y_label: &str, y_max: &str) {
        let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
        let _ = write!(
            svg,
            r##"<rect x="{x0}" y="{y0}" width="{}" height="{}" fill="#fafafa" stroke="#bbb"/>"##,
            x1 - x0,
            y1 - y0
        );
        let _ = write!(
            svg,
            r##"<text x="4" y="{}" class="axis">{}</text><text x="4" y="{}" class="axis">{}</text><text x="4" y="{y1}" class="axis">0</text>"##,
            y0 + 4.0,
            escape(y_max),
            (y0 + y1) / 2.0,
            escape(y_label)
        );
        let ticks = 6;
        for i in 0..=ticks {
            let at = (self.duration_ms * f64::from(i) / f64::from(ticks)) as u64;
            let x = self.x(at);
            let _ = write!(
                svg,
                r##"<text x="{x:.1}" y="{}" class="axis" text-anchor="middle">{}</text>"##,
                y1 + 16.0,
                seconds(at)
            );
        }
        for (i, m) in report.markers.iter().enumerate() {
            let x = self.x(m.at_ms);
            let colour = match m.ok {
                Some(true) => "#59a14f",
                Some(false) => "#e15759",
                None => "#999",
            };
            let _ = write!(
                svg,
                r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{y1}" stroke="{colour}" stroke-dasharray="3,3"><title>{}</title></line><text x="{x:.1}" y="{}" class="marker" text-anchor="middle" fill="{colour}">{}</text>"##,
                escape(&m.label),
                y0 - 3.0,
                i + 1
            );
        }
    }
}

/// The share of responses per version over time, stacked, 0 to 100%.
fn traffic_chart(report: &RunReport, axis: &Axis) -> String {
    let mut svg = format!(
        r##"<svg id="traffic" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="share of responses per version over time">"##
    );
    axis.frame(&mut svg, report, "share", "100%");
    let versions = report.versions();
    for bucket in &report.traffic {
        let total: u64 = bucket.by_version.values().sum();
        if total == 0 {
            continue;
        }
        let (x, x_end) = (axis.x(bucket.at_ms), axis.x(bucket.at_ms + bucket.width_ms));
        let mut below = 0.0;
        for (i, version) in versions.iter().enumerate() {
            let n = bucket.by_version.get(version).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let share = n as f64 / total as f64;
            let (top, bottom) = (axis.y(below + share, 1.0), axis.y(below, 1.0));
            let _ = write!(
                svg,
                r##"<rect x="{x:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} at {}: {n} of {total} ({:.0}%)</title></rect>"##,
                (x_end - x).max(0.5),
                bottom - top,
                PALETTE[i % PALETTE.len()],
                escape(version),
                seconds(bucket.at_ms),
                share * 100.0
            );
            below += share;
        }
    }
    svg.push_str("</svg>");
    let mut legend = String::from(r#"<p class="legend">"#);
    for (i, version) in versions.iter().enumerate() {
        let _ = write!(
            legend,
            r#"<span><i style="background:{}"></i>{}</span>"#,
            PALETTE[i % PALETTE.len()],
            escape(version)
        );
    }
    legend.push_str("</p>");
    svg + &legend
}

/// One value of both sides over the analysis points, with the verdicts.
fn analysis_chart(
    report: &RunReport,
    axis: &Axis,
    id: &str,
    what: &str,
    value: fn(&SidePoint) -> Option<f64>,
    shown: fn(f64) -> String,
) -> String {
    let points = &report.analysis;
    let max = points
        .iter()
        .flat_map(|p| [Some(&p.canary), p.baseline.as_ref()])
        .flatten()
        .filter_map(value)
        .fold(0.0f64, f64::max)
        * 1.1;
    let max = if max > 0.0 { max } else { 1.0 };
    let mut svg = format!(
        r##"<svg id="{id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{what} of the canary and the baseline">"##
    );
    axis.frame(&mut svg, report, what, &shown(max));
    for (colour, pick) in [
        (
            BASELINE,
            (|p: &AnalysisPoint| p.baseline.clone()) as fn(&AnalysisPoint) -> Option<SidePoint>,
        ),
        (CANARY, |p: &AnalysisPoint| Some(p.canary.clone())),
    ] {
        // One line per analysis: a new one starts at its first window or
        // read, so two analyses are never joined.
        let mut lines: Vec<Vec<String>> = Vec::new();
        for p in points {
            if lines.is_empty() || p.label.ends_with(" 1") {
                lines.push(Vec::new());
            }
            if let Some(v) = pick(p).as_ref().and_then(value) {
                let line = lines.last_mut().expect("one pushed");
                line.push(format!("{:.1},{:.1}", axis.x(p.at_ms), axis.y(v, max)));
            }
        }
        for line in lines.iter().filter(|l| !l.is_empty()) {
            let _ = write!(
                svg,
                r##"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"##,
                line.join(" ")
            );
        }
    }
    for p in points {
        let Some(v) = value(&p.canary) else { continue };
        let colour = match p.verdict.as_str() {
            "pass" | "promote" => "#59a14f",
            "fail" | "rollback" => "#e15759",
            "continue" => "#bbb",
            _ => "#999",
        };
        let _ = write!(
            svg,
            r##"<circle cx="{:.1}" cy="{:.1}" r="5" fill="{colour}" stroke="#333"><title>{}: canary {}, {}</title></circle>"##,
            axis.x(p.at_ms),
            axis.y(v, max),
            escape(&p.label),
            shown(v),
            escape(&p.verdict)
        );
    }
    svg.push_str("</svg>");
    svg + &format!(
        r#"<p class="legend"><span><i style="background:{CANARY}"></i>canary</span><span><i style="background:{BASELINE}"></i>baseline</span><span>dots: the verdict at each point (green pass, red fail, grey none yet)</span></p>"#
    )
}

/// A mean response time: below 1 ms in µs (a mean of whole-ms readings), 0 as `<1 ms` (HAProxy counts whole milliseconds).
fn ms(v: f64) -> String {
    if v < 1.0 && v > 0.0 {
        format!("{:.0} µs", v * 1000.0)
    } else if v == 0.0 {
        "<1 ms".into()
    } else {
        format!("{v:.1} ms")
    }
}

fn rate(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// The page of `report`.
pub fn html(report: &RunReport) -> String {
    let axis = Axis {
        duration_ms: report.duration_ms.max(1) as f64,
    };
    let mut page = format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; padding: 0 1em; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.15em; margin-top: 1.6em; }}
svg {{ width: 100%; height: auto; display: block; }}
.axis {{ font-size: 11px; fill: #555; }} .marker {{ font-size: 11px; font-weight: bold; }}
.legend span {{ margin-right: 1.2em; font-size: 13px; }}
.legend i {{ display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }}
table {{ border-collapse: collapse; font-size: 13px; }} td, th {{ border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; }}
.ok {{ color: #2b7a2b; }} .bad {{ color: #b22; }}
</style></head><body>
<h1>{title}</h1>
"#,
        title = escape(&report.title)
    );
    if !report.claims.is_empty() {
        page.push_str("<ul class=\"claims\">");
        for claim in &report.claims {
            let _ = write!(page, "<li>{}</li>", escape(claim));
        }
        page.push_str("</ul>");
    }
    page.push_str("<h2>Responses per version over time</h2>");
    if report.traffic.is_empty() {
        page.push_str(
            "<p>No traffic in this run's record (an analysis or the demo's requests show it).</p>",
        );
    } else {
        page.push_str(&traffic_chart(report, &axis));
    }
    page.push_str("<h2>Error rate: canary and baseline</h2>");
    if report.analysis.is_empty() {
        page.push_str("<p>No analysis in this run.</p>");
    } else {
        page.push_str(&analysis_chart(
            report,
            &axis,
            "errors",
            "error rate",
            |s| s.error_rate,
            rate,
        ));
        page.push_str("<h2>Mean response time: canary and baseline</h2>");
        page.push_str(&analysis_chart(
            report,
            &axis,
            "latency",
            "response time",
            |s| s.mean_response_ms,
            ms,
        ));
    }
    page.push_str("<h2>What happened when</h2><table><tr><th>#</th><th>at</th><th>what</th></tr>");
    for (i, m) in report.markers.iter().enumerate() {
        let class = match m.ok {
            Some(true) => "ok",
            Some(false) => "bad",
            None => "",
        };
        let _ = write!(
            page,
            r#"<tr><td>{}</td><td>{}</td><td class="{class}">{}</td></tr>"#,
            i + 1,
            seconds(m.at_ms),
            escape(&m.label)
        );
    }
    page.push_str("</table>");
    if !report.analysis.is_empty() {
        page.push_str("<h2>The analysis, point by point</h2><table><tr><th>at</th><th>point</th><th>canary</th><th>baseline</th><th>verdict</th></tr>");
        let side = |s: Option<&SidePoint>| match s {
            Some(s) => format!(
                "{} requests, {} errors, {}",
                s.requests,
                s.error_rate.map_or("-".into(), rate),
                s.mean_response_ms.map_or("-".into(), ms)
            ),
            None => "-".into(),
        };
        for p in &report.analysis {
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                seconds(p.at_ms),
                escape(&p.label),
                escape(&side(Some(&p.canary))),
                escape(&side(p.baseline.as_ref())),
                escape(&p.verdict)
            );
        }
        page.push_str("</table>");
    }
    page.push_str("<p class=\"axis\">Made by canary. This page is self-contained: no script, no network.</p></body></html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Marker, TrafficBucket};
    use std::collections::BTreeMap;

    fn report() -> RunReport {
        RunReport {
            title: "demo <&>".into(),
            claims: vec!["1,000 requests, 0 lost".into()],
            markers: vec![Marker {
                at_ms: 500,
                label: "step 1".into(),
                ok: Some(true),
            }],
            traffic: vec![TrafficBucket {
                at_ms: 0,
                width_ms: 1000,
                by_version: BTreeMap::from([("nginx".into(), 3), ("httpd".into(), 1)]),
            }],
            analysis: vec![AnalysisPoint {
                at_ms: 1000,
                label: "read 1".into(),
                canary: SidePoint {
                    requests: 10,
                    error_rate: Some(0.2),
                    mean_response_ms: Some(0.0),
                },
                baseline: Some(SidePoint {
                    requests: 30,
                    error_rate: Some(0.0),
                    mean_response_ms: Some(2.0),
                }),
                verdict: "rollback".into(),
            }],
            duration_ms: 1000,
        }
    }

    #[test]
    fn the_page_is_self_contained_with_three_charts_and_escaped_text() {
        let page = html(&report());
        for id in ["traffic", "errors", "latency"] {
            assert!(page.contains(&format!("<svg id=\"{id}\"")), "{id}");
        }
        assert!(page.contains("demo &lt;&amp;&gt;"));
        assert!(!page.contains("demo <&>"));
        for external in ["<script", "http://", "https://", "src="] {
            assert!(!page.contains(external), "{external}");
        }
        // The traffic split: nginx 75%, httpd 25%.
        assert!(page.contains("nginx at 0.0 s: 3 of 4 (75%)"), "{page}");
        assert!(page.contains("<1 ms"), "a latency HAProxy counts as 0 ms");
    }

    #[test]
    fn empty_parts_say_so() {
        let page = html(&RunReport::default());
        assert!(page.contains("No traffic in this run"));
        assert!(page.contains("No analysis in this run"));
    }
}
