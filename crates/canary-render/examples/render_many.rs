//! Another generator using canary as a library: renders the canary bundles
//! of several apps from one renderer (templates compiled once) and prints a
//! one-line summary per app.
//!
//! Run with `cargo run -p canary-render --example render_many`.

use canary_core::{AppName, CanaryRequest};
use canary_render::{RenderError, Renderer};
use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let renderer = Renderer::embedded();
    let apps = [
        ("shop", "registry.example.com/shop:2.3.1", "10010", "10011"),
        (
            "search",
            "registry.example.com/search:7.0.0",
            "10020",
            "10021",
        ),
        (
            "checkout",
            "registry.example.com/checkout:1.9.4",
            "10030",
            "10031",
        ),
    ];
    for (name, image, port, alt) in apps {
        let mut request = CanaryRequest::new(AppName::new(name)?, image);
        request.canary_instances = 2;
        let vars = BTreeMap::from([
            ("service_port".to_owned(), port.to_owned()),
            ("alt_port".to_owned(), alt.to_owned()),
            ("vhost".to_owned(), format!("{name}.example.com")),
        ]);
        let bundle = renderer.render(&request, &vars)?;
        let jobs: Vec<&str> = bundle.jobs.iter().map(|job| job.id.as_str()).collect();
        println!(
            "{name}: app {} on port {port}, jobs {}",
            bundle.app["id"],
            jobs.join(", ")
        );
    }
    // A bad app is reported, not rendered.
    let request = CanaryRequest::new(AppName::new("broken")?, "bad image");
    match renderer.render(&request, &BTreeMap::new()) {
        Err(RenderError::Request(error)) => println!("broken: refused: {error}"),
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    Ok(())
}
