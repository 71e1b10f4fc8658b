//! The renderer: templates in, a validated [`RenderedBundle`] out.

use crate::error::RenderError;
use crate::output::{RenderedBundle, RenderedJob};
use crate::schema::{SchemaKind, check};
use crate::templates::{LEGACY_IMAGE_PLACEHOLDER, TemplateSource};
use canary_core::{AppDefinition, CanaryRequest, JobSpec, Phase, labels, plan};
use minijinja::value::Value as JinjaValue;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

const APP_TEMPLATE: &str = "app";
const JOB_TEMPLATE: &str = "job";

/// The `json` filter: writes any value as JSON text (strings quoted and
/// escaped), the only way values should enter a JSON template.
fn json_filter(value: &JinjaValue) -> Result<JinjaValue, minijinja::Error> {
    if value.is_undefined() {
        return Err(minijinja::Error::new(
            ErrorKind::UndefinedError,
            "the json filter got an undefined value",
        ));
    }
    let text = serde_json::to_string(value).map_err(|e| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "value cannot be written as JSON",
        )
        .with_source(e)
    })?;
    Ok(JinjaValue::from_safe_string(text))
}

/// Renders canary bundles from an app template and a job template.
///
/// Templates are compiled once, when the renderer is built, so one renderer
/// can render many bundles quickly (other generators reuse it per app).
///
/// ```
/// use canary_core::{AppName, CanaryRequest};
/// use canary_render::{Renderer, TemplateSource};
///
/// let renderer = Renderer::new(TemplateSource::embedded_app(), TemplateSource::embedded_job())?;
/// let request = CanaryRequest::new(AppName::new("web").unwrap(), "nginx:1.25");
/// let bundle = renderer.render(&request, &Default::default())?;
/// assert_eq!(bundle.app["id"], "/web");
/// assert_eq!(bundle.jobs[0].id, "deploy-web-canary");
/// # Ok::<(), canary_render::RenderError>(())
/// ```
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
    app_name: String,
    job_name: String,
}

fn template_error(file: &str, error: &minijinja::Error) -> RenderError {
    let mut message = error.kind().to_string();
    if let Some(detail) = error.detail() {
        message = format!("{message}: {detail}");
    }
    if error.kind() == ErrorKind::UndefinedError {
        message.push_str(
            " (available: app, image, canary_instances, vars.KEY from --var KEY=VALUE; \
             job templates also get job and phase)",
        );
    }
    RenderError::Template {
        file: file.to_owned(),
        line: error.line(),
        message,
    }
}

fn parse_json(file: &str, text: &str) -> Result<Value, RenderError> {
    serde_json::from_str(text).map_err(|e| {
        let hint = if text.contains("\"\"") {
            "; values inserted with the json filter are already quoted, so write {{ x | json }}, not \"{{ x | json }}\""
        } else {
            ""
        };
        RenderError::Json {
            file: file.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
            hint: hint.to_owned(),
        }
    })
}

/// `document` names the document in the error; it is built only on failure.
fn schema_check(
    kind: SchemaKind,
    document: impl FnOnce() -> String,
    value: &Value,
) -> Result<(), RenderError> {
    let violations = check(kind, value);
    if violations.is_empty() {
        return Ok(());
    }
    let schema = match kind {
        SchemaKind::MarathonApp => "schemas/marathon-app.schema.json",
        SchemaKind::MetronomeJob => "schemas/metronome-job.schema.json",
    };
    Err(RenderError::Schema {
        document: document(),
        schema,
        violations,
    })
}

#[derive(Serialize)]
struct AppContext<'a> {
    app: &'a str,
    image: &'a str,
    canary_instances: u32,
    vars: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct JobContext<'a> {
    app: &'a str,
    image: &'a str,
    canary_instances: u32,
    vars: &'a BTreeMap<String, String>,
    phase: Phase,
    job: &'a JobSpec,
}

impl Renderer {
    /// Compiles both templates (strict undefined, JSON auto-escaping, the
    /// `json` filter). Fails on a template syntax error, naming file and line.
    pub fn new(app: TemplateSource, job: TemplateSource) -> Result<Self, RenderError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Anything printed without the json filter is still written as JSON,
        // so a template cannot paste raw text into the document by accident.
        env.set_auto_escape_callback(|_| AutoEscape::Json);
        env.add_filter("json", json_filter);
        let app_name = app.name().to_owned();
        let job_name = job.name().to_owned();
        env.add_template_owned(APP_TEMPLATE, app.text().to_owned())
            .map_err(|e| template_error(&app_name, &e))?;
        env.add_template_owned(JOB_TEMPLATE, job.text().to_owned())
            .map_err(|e| template_error(&job_name, &e))?;
        Ok(Renderer {
            env,
            app_name,
            job_name,
        })
    }

    /// The renderer with both embedded templates.
    pub fn embedded() -> Self {
        Renderer::new(
            TemplateSource::embedded_app(),
            TemplateSource::embedded_job(),
        )
        .expect("embedded templates compile (covered by tests)")
    }

    /// Renders the app template, checks it, plans the canary with
    /// canary-core, renders and checks the three jobs.
    ///
    /// `vars` are the template variables from `--var KEY=VALUE`, visible to
    /// templates as `vars.KEY`.
    pub fn render(
        &self,
        request: &CanaryRequest,
        vars: &BTreeMap<String, String>,
    ) -> Result<RenderedBundle, RenderError> {
        request.validate().map_err(RenderError::Request)?;
        let app_file = &self.app_name;
        let text = self
            .env
            .get_template(APP_TEMPLATE)
            .and_then(|t| {
                t.render(AppContext {
                    app: request.app_name.as_str(),
                    image: &request.image,
                    canary_instances: request.canary_instances,
                    vars,
                })
            })
            .map_err(|e| template_error(app_file, &e))?;
        let value = parse_json(app_file, &text)?;
        let mut app = AppDefinition::from_value(value).map_err(|e| RenderError::NotAnObject {
            file: app_file.clone(),
            found: e.found,
        })?;
        app.replace_placeholder(LEGACY_IMAGE_PLACEHOLDER, &request.image);
        let misplaced = app.pointers_containing(LEGACY_IMAGE_PLACEHOLDER);
        if !misplaced.is_empty() {
            return Err(RenderError::Placeholder {
                file: app_file.clone(),
                pointers: misplaced,
            });
        }
        // canary-core's checks first: their messages say what canary needs;
        // the schema then catches everything else Marathon would refuse.
        let bundle = plan(app, request).map_err(|source| RenderError::Plan {
            file: app_file.clone(),
            source,
        })?;
        let canary_core::CanaryBundle { app, jobs: specs } = bundle;
        let app_value = app.into_value();
        schema_check(
            SchemaKind::MarathonApp,
            || format!("the app definition from {app_file}"),
            &app_value,
        )?;

        let template = self
            .env
            .get_template(JOB_TEMPLATE)
            .map_err(|e| template_error(&self.job_name, &e))?;
        let mut jobs = Vec::with_capacity(specs.len());
        for (phase, spec) in Phase::ALL.into_iter().zip(&specs) {
            let text = template
                .render(JobContext {
                    app: request.app_name.as_str(),
                    image: &request.image,
                    canary_instances: request.canary_instances,
                    vars,
                    phase,
                    job: spec,
                })
                .map_err(|e| template_error(&self.job_name, &e))?;
            let document = parse_json(&self.job_name, &text)?;
            self.check_identity(phase, spec, &document)?;
            schema_check(
                SchemaKind::MetronomeJob,
                || format!("job {} from {}", spec.id, self.job_name),
                &document,
            )?;
            jobs.push(RenderedJob {
                phase,
                id: spec.id.clone(),
                document,
            });
        }
        Ok(RenderedBundle {
            app: app_value,
            jobs,
        })
    }

    /// A custom job template may change resources or placement, but not the
    /// id or the labels tools find the jobs by.
    fn check_identity(
        &self,
        phase: Phase,
        spec: &JobSpec,
        document: &Value,
    ) -> Result<(), RenderError> {
        let mismatch =
            |field: String, found: Option<&Value>, expected: &str| RenderError::JobIdentity {
                file: self.job_name.clone(),
                phase,
                field,
                found: found.map_or_else(|| "nothing".to_owned(), Value::to_string),
                expected: Value::from(expected).to_string(),
            };
        if document.get("id").and_then(Value::as_str) != Some(spec.id.as_str()) {
            return Err(mismatch("id".into(), document.get("id"), &spec.id));
        }
        for key in [
            labels::PHASE,
            labels::APP,
            labels::DEPLOYMENT_GROUP,
            labels::IMAGE,
        ] {
            let found = document.get("labels").and_then(|l| l.get(key));
            if found.and_then(Value::as_str) != Some(spec.labels[key].as_str()) {
                return Err(mismatch(format!("labels.{key}"), found, &spec.labels[key]));
            }
        }
        Ok(())
    }
}
