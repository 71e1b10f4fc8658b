//! Renders canary bundles from templates and validates them against the
//! project's JSON Schemas.
//!
//! # The model
//!
//! A [`Renderer`] holds two compiled minijinja templates:
//!
//! * the **app template**, which produces the Marathon app definition of the
//!   new version: the user's own file, the original tool's `APP.template.json`
//!   (its `"ThisIsAUniqueKey"` image placeholder still works), or the embedded
//!   example ([`TemplateSource::embedded_app`]);
//! * the **job template**, rendered once per phase from the
//!   [`canary_core::JobSpec`] that canary-core computed
//!   ([`TemplateSource::embedded_job`], overridable).
//!
//! [`Renderer::render`] renders the app, hands it to [`canary_core::plan`],
//! renders the three jobs, and checks every document against
//! `schemas/marathon-app.schema.json` or `schemas/metronome-job.schema.json`
//! (compiled once, never resolving anything over the network). The result is
//! a [`RenderedBundle`], which serialises deterministically (sorted keys).
//!
//! Templates run with limits: at most [`TEMPLATE_FUEL`] evaluation steps
//! and [`RENDERED_LIMIT`] bytes of output each, so a loop that would run
//! for hours or render gigabytes fails at once as [`RenderError::Limit`];
//! the rendered JSON is parsed strictly (a key given twice in one object is
//! [`RenderError::DuplicateKey`]), and a leading byte-order mark in a
//! template is dropped.
//!
//! Templates run with strict undefined variables, and values enter the JSON
//! only as JSON: through the `json` filter, and anything printed without it is
//! JSON-escaped too. A value holding quotes, backslashes, newlines or `{{`
//! comes out as the same string, in valid JSON.
//!
//! ```
//! use canary_core::{AppName, CanaryRequest};
//! use canary_render::{Renderer, TemplateSource};
//! use std::collections::BTreeMap;
//!
//! let app = TemplateSource::new("web.template.json", r#"{
//!   "id": "/web", "instances": 3,
//!   "container": {"docker": {"image": {{ image | json }}, "network": "BRIDGE",
//!     "portMappings": [{"containerPort": 80, "servicePort": 10000}]}},
//!   "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_ALT_PORT": "10001",
//!              "HAPROXY_0_VHOST": {{ vars.vhost | json }}}
//! }"#);
//! let renderer = Renderer::new(app, TemplateSource::embedded_job())?;
//! let request = CanaryRequest::new(AppName::new("web").unwrap(), "nginx:1.25");
//! let vars = BTreeMap::from([("vhost".to_string(), "a \"quoted\" {{ host }}".to_string())]);
//! let bundle = renderer.render(&request, &vars)?;
//! assert_eq!(bundle.app["labels"]["HAPROXY_0_VHOST"], "a \"quoted\" {{ host }}");
//! let names: Vec<_> = bundle.files().into_iter().map(|f| f.name).collect();
//! assert_eq!(names, ["new-app-definition.json", "deploy-web-canary.json",
//!                    "rollout-web-canary.json", "rollback-web-canary.json"]);
//! # Ok::<(), canary_render::RenderError>(())
//! ```

mod error;
mod output;
mod render;
pub mod schema;
mod strict_json;
mod templates;

pub use error::{RenderError, TemplateLimit};
pub use output::{APP_FILE_NAME, OutputFile, RenderedBundle, RenderedJob};
pub use render::{RENDERED_LIMIT, Renderer, TEMPLATE_FUEL, parse_app_definition};
pub use templates::{
    EMBEDDED_APP_TEMPLATE, EMBEDDED_JOB_TEMPLATE, LEGACY_IMAGE_PLACEHOLDER, TemplateSource,
};
