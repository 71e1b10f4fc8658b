//! The demo's HTML report in a real browser: headless Chromium (Debian's
//! package) loads the page `canary demo --report FILE.html` wrote, takes a
//! screenshot and dumps the rendered DOM. The page must render, its three
//! charts must be there (in the DOM, and drawn: the screenshot holds the
//! traffic chart's colours), and the browser must log no console message
//! (a negative control shows that a page that logs one is caught).
//!
//! Compiled ignored, with the reason, where no chromium was found at build
//! time (never under CI=true: `scripts/test` installs it).

mod common;

use std::path::Path;
use std::process::Output;

/// Runs headless Chromium on `page` with `extra` flags, with the flags this
/// machine needs (no sandbox as root, no network chatter, a fresh
/// profile), logging to stderr.
fn chromium(page: &Path, extra: &[String]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let binary = match env!("CANARY_CHROMIUM") {
        "" => "chromium",
        path => path,
    };
    std::process::Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--timeout=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

/// The console messages Chromium logged for the page.
fn console(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect()
}

/// The share of the screenshot's pixels of colour `rgb`.
fn share_of(png: &Path, rgb: [u8; 3]) -> f64 {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    let pixels = &buffer[..info.buffer_size()];
    let matching = pixels
        .chunks(channels)
        .filter(|p| p.len() >= 3 && p[..3] == rgb)
        .count();
    matching as f64 / (pixels.len() / channels) as f64
}

#[test]
#[cfg_attr(
    not(canary_chromium),
    ignore = "needs chromium (Debian's package; scripts/test installs it, or set CHROMIUM)"
)]
fn the_demos_report_renders_in_chromium_with_its_charts_and_no_console_message() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let dcos_dir = tempfile::tempdir().unwrap();
    let demo = common::canary_in(
        &["demo", "--report", page.to_str().unwrap()],
        dcos_dir.path(),
        &[],
    );
    assert_eq!(
        demo.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&demo.stdout)
    );

    let shot = dir.path().join("report.png");
    let out = chromium(
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1100,1600".to_owned(),
        ],
    );
    assert!(shot.is_file(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(console(&out), Vec::<String>::new());
    // The traffic chart is drawn: the first two versions' colours (nginx
    // blue, httpd orange) cover a good part of the page.
    let blue = share_of(&shot, [0x4e, 0x79, 0xa7]);
    let orange = share_of(&shot, [0xf2, 0x8e, 0x2b]);
    assert!(
        blue > 0.005 && orange > 0.02,
        "blue {blue}, orange {orange}"
    );

    let out = chromium(&page, &["--dump-dom".to_owned()]);
    let dom = String::from_utf8_lossy(&out.stdout);
    for id in ["traffic", "errors", "latency"] {
        assert!(dom.contains(&format!("<svg id=\"{id}\"")), "{id}");
    }
    assert!(dom.contains("0 lost"), "the claim is on the page");
    assert_eq!(console(&out), Vec::<String>::new());
}

/// The negative control of the console check: a page that logs an error
/// is seen doing so.
#[test]
#[cfg_attr(
    not(canary_chromium),
    ignore = "needs chromium (Debian's package; scripts/test installs it, or set CHROMIUM)"
)]
fn a_page_that_logs_to_the_console_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><script>console.error('boom')</script></body></html>",
    )
    .unwrap();
    let out = chromium(&page, &["--dump-dom".to_owned()]);
    let messages = console(&out);
    assert!(
        messages.iter().any(|m| m.contains("boom")),
        "{messages:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
