//! The renderer: templates in, a validated [`RenderedBundle`] out.

use crate::error::{RenderError, TemplateLimit};
use crate::output::{RenderedBundle, RenderedJob};
use crate::schema::{SchemaKind, check};
use crate::templates::{LEGACY_IMAGE_PLACEHOLDER, TemplateSource};
use canary_core::{
    AppDefinition, CanaryApp, CanaryRequest, JobSpec, Phase, labels, plan_app, plan_bundle,
};
use minijinja::value::Value as JinjaValue;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

const APP_TEMPLATE: &str = "app";
const JOB_TEMPLATE: &str = "job";

/// How many evaluation steps (minijinja's fuel: about one per expression,
/// filter call, output and loop iteration) one template may take per
/// document. The embedded templates take a few hundred; a loop of
/// 100,000 iterations runs out (in well under a second) instead of
/// running for hours.
pub const TEMPLATE_FUEL: u64 = 100_000;

/// The most text one template may render per document, in bytes: a
/// Marathon app definition or a Metronome job is a few KiB, and nothing
/// past this is kept.
pub const RENDERED_LIMIT: usize = 1024 * 1024;

/// The UTF-8 byte-order mark some editors put first; dropped from templates.
const BOM: char = '\u{feff}';

/// Collects rendered text and refuses more than its limit, so a template
/// that renders gigabytes stops at the limit instead of filling memory.
struct CappedOutput {
    text: Vec<u8>,
    limit: usize,
    exceeded: bool,
}

impl std::io::Write for CappedOutput {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.text.len().saturating_add(bytes.len()) > self.limit {
            self.exceeded = true;
            return Err(std::io::Error::other("the rendered text is too large"));
        }
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Renders one template with the output limit; `file` names it in errors.
fn render_capped<S: Serialize>(
    template: &minijinja::Template<'_, '_>,
    context: S,
    file: &str,
) -> Result<String, RenderError> {
    let mut out = CappedOutput {
        text: Vec::new(),
        limit: RENDERED_LIMIT,
        exceeded: false,
    };
    match template.render_captured_to(context, &mut out) {
        Ok(_) => {}
        Err(_) if out.exceeded => {
            return Err(RenderError::Limit {
                file: file.to_owned(),
                limit: TemplateLimit::Output(RENDERED_LIMIT),
            });
        }
        Err(e) => return Err(template_error(file, template.source(), &e)),
    }
    // minijinja writes whole `str`s, and a refused write keeps none of its
    // bytes, so the text is always UTF-8.
    String::from_utf8(out.text).map_err(|_| RenderError::Template {
        file: file.to_owned(),
        line: None,
        message: "the rendered text is not UTF-8".to_owned(),
        undefined: false,
        variables: Vec::new(),
    })
}

/// The `vars.KEY` names `line` uses (`vars.KEY`, `vars["KEY"]`,
/// `vars['KEY']`), in order, each once.
fn variables_on(line: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names: Vec<String> = Vec::new();
    for (at, _) in line.match_indices("vars") {
        let before = line[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            continue;
        }
        let rest = &line[at + 4..];
        let name = if let Some(after) = rest.strip_prefix('.') {
            ident(after)
        } else if let Some(after) = rest.strip_prefix("[\"").or_else(|| rest.strip_prefix("['")) {
            ident(after)
        } else {
            continue;
        };
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}
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

/// A minijinja error as a [`RenderError`]: running out of fuel is a
/// [`RenderError::Limit`]; anything else names the file, the line and the
/// `vars` that line uses (`source` is the template's text).
fn template_error(file: &str, source: &str, error: &minijinja::Error) -> RenderError {
    if error.kind() == ErrorKind::OutOfFuel {
        return RenderError::Limit {
            file: file.to_owned(),
            limit: TemplateLimit::Fuel(TEMPLATE_FUEL),
        };
    }
    let mut message = error.kind().to_string();
    if let Some(detail) = error.detail() {
        message = format!("{message}: {detail}");
    }
    let variables = error
        .line()
        .and_then(|n| source.lines().nth(n.saturating_sub(1)))
        .map(variables_on)
        .unwrap_or_default();
    RenderError::Template {
        file: file.to_owned(),
        line: error.line(),
        message,
        undefined: error.kind() == ErrorKind::UndefinedError,
        variables,
    }
}

fn parse_json(file: &str, text: &str) -> Result<Value, RenderError> {
    crate::strict_json::parse(text).map_err(|e| {
        let e = match e {
            crate::strict_json::StrictError::Duplicate(duplicate) => {
                return RenderError::DuplicateKey {
                    file: file.to_owned(),
                    key: duplicate.key,
                    object: duplicate.object,
                };
            }
            crate::strict_json::StrictError::Syntax(e) => e,
        };
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

/// Reads a Marathon app definition that was rendered before (the native
/// runner's job hands `canary deploy` the one `render` made): strict JSON
/// (a key named twice is refused) that passes the app schema. `file` names
/// it in errors.
pub fn parse_app_definition(file: &str, text: &str) -> Result<Value, RenderError> {
    let value = parse_json(file, text)?;
    schema_check(SchemaKind::MarathonApp, || file.to_owned(), &value)?;
    Ok(value)
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
    /// `json` filter, [`TEMPLATE_FUEL`]; a leading byte-order mark is
    /// dropped). Fails on a template syntax error, naming file and line.
    pub fn new(app: TemplateSource, job: TemplateSource) -> Result<Self, RenderError> {
        let mut env = Environment::new();
        // Every render gets this much fuel afresh.
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Anything printed without the json filter is still written as JSON,
        // so a template cannot paste raw text into the document by accident.
        env.set_auto_escape_callback(|_| AutoEscape::Json);
        env.add_filter("json", json_filter);
        let app_name = app.name().to_owned();
        let job_name = job.name().to_owned();
        let app_text = app.text().strip_prefix(BOM).unwrap_or(app.text());
        let job_text = job.text().strip_prefix(BOM).unwrap_or(job.text());
        env.add_template_owned(APP_TEMPLATE, app_text.to_owned())
            .map_err(|e| template_error(&app_name, app_text, &e))?;
        env.add_template_owned(JOB_TEMPLATE, job_text.to_owned())
            .map_err(|e| template_error(&job_name, job_text, &e))?;
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
    /// `vars` are the caller's template variables (the `canary` binary's
    /// come from its command line), visible to templates as `vars.KEY`.
    pub fn render(
        &self,
        request: &CanaryRequest,
        vars: &BTreeMap<String, String>,
    ) -> Result<RenderedBundle, RenderError> {
        request.validate().map_err(RenderError::Request)?;
        let app = self.app_definition(request, vars)?;
        let app_file = &self.app_name;
        // canary-core's checks first: their messages say what canary needs;
        // the schema then catches everything else Marathon would refuse.
        let bundle = plan_bundle(app, request).map_err(|source| RenderError::Plan {
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
            .map_err(|e| template_error(&self.job_name, "", &e))?;
        let mut jobs = Vec::with_capacity(specs.len());
        for (phase, spec) in Phase::ALL.into_iter().zip(&specs) {
            let text = render_capped(
                &template,
                JobContext {
                    app: request.app_name.as_str(),
                    image: &request.image,
                    canary_instances: request.canary_instances,
                    vars,
                    phase,
                    job: spec,
                },
                &self.job_name,
            )?;
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

    /// Renders the app template alone and checks it as [`Renderer::render`]
    /// does (canary-core's [`plan_app`], then the app schema): the app a
    /// native deploy carries out. The request's runner is not used (no job
    /// is rendered), so none needs to be configured.
    pub fn render_app(
        &self,
        request: &CanaryRequest,
        vars: &BTreeMap<String, String>,
    ) -> Result<CanaryApp, RenderError> {
        let app = self.app_definition(request, vars)?;
        let app_file = &self.app_name;
        let app = plan_app(app, &request.image, request.canary_instances).map_err(|source| {
            RenderError::Plan {
                file: app_file.clone(),
                source,
            }
        })?;
        schema_check(
            SchemaKind::MarathonApp,
            || format!("the app definition from {app_file}"),
            &app.definition().clone().into_value(),
        )?;
        Ok(app)
    }

    /// The app template rendered and parsed, the legacy image placeholder
    /// replaced (and nowhere else left): the one path of [`Renderer::render`]
    /// and [`Renderer::render_app`] to an app definition.
    fn app_definition(
        &self,
        request: &CanaryRequest,
        vars: &BTreeMap<String, String>,
    ) -> Result<AppDefinition, RenderError> {
        let app_file = &self.app_name;
        let app_template = self
            .env
            .get_template(APP_TEMPLATE)
            .map_err(|e| template_error(app_file, "", &e))?;
        let text = render_capped(
            &app_template,
            AppContext {
                app: request.app_name.as_str(),
                image: &request.image,
                canary_instances: request.canary_instances,
                vars,
            },
            app_file,
        )?;
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
        Ok(app)
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

#[cfg(test)]
mod tests {
    use super::variables_on;

    #[test]
    fn the_vars_a_line_uses_in_every_spelling() {
        assert_eq!(
            variables_on(
                r#""p": {{ vars.port | int }}, "q": {{ vars["host_name"] ~ vars['x'] ~ vars.port }}"#
            ),
            ["port", "host_name", "x"]
        );
        assert!(variables_on("{{ myvars.port }} {{ vars }} {{ app.vars.x }}").is_empty());
    }
}
