//! Errors of rendering, each naming the template or document it concerns.

use crate::schema::Violation;
use canary_core::PlanError;

/// What a template's evaluation went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateLimit {
    /// More evaluation steps (minijinja's fuel) than this.
    Fuel(u64),
    /// More rendered text than this many bytes.
    Output(usize),
}

impl std::fmt::Display for TemplateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateLimit::Fuel(steps) => write!(
                f,
                "took more than {steps} evaluation steps (a loop too large, or nested too deep?)"
            ),
            TemplateLimit::Output(bytes) if bytes % (1024 * 1024) == 0 => write!(
                f,
                "rendered more than {} MiB (an app definition or job is a few KiB)",
                bytes / (1024 * 1024)
            ),
            TemplateLimit::Output(bytes) => write!(
                f,
                "rendered more than {bytes} bytes (an app definition or job is a few KiB)"
            ),
        }
    }
}

/// The hint a template error ends with, without naming any flag: callers
/// that know where `vars` came from word their own from the fields.
fn template_hint(undefined: bool, variables: &[String]) -> String {
    let mut hint = String::new();
    if undefined {
        hint.push_str(
            " (available: app, image, canary_instances, vars.KEY; job templates also get job and phase)",
        );
    }
    if !variables.is_empty() {
        let names: Vec<String> = variables.iter().map(|v| format!("vars.{v}")).collect();
        hint.push_str(&format!(" (the line uses {})", names.join(", ")));
    }
    hint
}

/// Why a bundle could not be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// The template has a syntax error, uses an undefined variable, or a
    /// filter failed.
    #[error("{file}{}: template error: {message}{}", line.map(|l| format!(":{l}")).unwrap_or_default(), template_hint(*undefined, variables))]
    Template {
        /// The template's name (file path).
        file: String,
        /// The line in the template, when known.
        line: Option<usize>,
        /// What went wrong (minijinja's words).
        message: String,
        /// Whether a variable was undefined (the message then lists what
        /// templates see).
        undefined: bool,
        /// The template variables (`vars.KEY`) the failing line uses, so
        /// that a caller can say which of its values to check.
        variables: Vec<String>,
    },
    /// The template's evaluation went past a limit ([`crate::TEMPLATE_FUEL`],
    /// [`crate::RENDERED_LIMIT`]); nothing was rendered.
    #[error("{file}: the template {limit}")]
    Limit {
        /// The template's name.
        file: String,
        /// Which limit, and its value.
        limit: TemplateLimit,
    },
    /// The rendered JSON names a key twice in one object.
    #[error(
        "{file}: the rendered JSON names the key {key:?} twice in the object at {}",
        if object.is_empty() { "/" } else { object }
    )]
    DuplicateKey {
        /// The template's name.
        file: String,
        /// The key.
        key: String,
        /// The JSON pointer of the object (`""` for the document itself).
        object: String,
    },
    /// The template rendered to text that is not JSON.
    #[error(
        "{file}: the rendered template is not valid JSON (line {line}, column {column} of the output): {message}{hint}"
    )]
    Json {
        /// The template's name.
        file: String,
        /// Line in the rendered output.
        line: usize,
        /// Column in the rendered output.
        column: usize,
        /// The parser's message.
        message: String,
        /// A hint for a common mistake, or empty.
        hint: String,
    },
    /// The rendered document is not a JSON object.
    #[error("{file}: the rendered document must be a JSON object, found {found}")]
    NotAnObject {
        /// The template's name.
        file: String,
        /// The JSON type found.
        found: &'static str,
    },
    /// The legacy placeholder appears inside a longer string.
    #[error("{file}: the placeholder \"ThisIsAUniqueKey\" must be a whole JSON string value, found inside a longer string at {}", pointers.join(", "))]
    Placeholder {
        /// The template's name.
        file: String,
        /// JSON pointers of the offending strings.
        pointers: Vec<String>,
    },
    /// The request itself is invalid (image, canary count, runner settings),
    /// whatever the templates say.
    #[error(transparent)]
    Request(PlanError),
    /// The app definition cannot make a canary.
    #[error("{file}: {source}")]
    Plan {
        /// The app template's name.
        file: String,
        /// What canary-core refused.
        source: PlanError,
    },
    /// A rendered document breaks its JSON Schema.
    #[error("{document} does not match {schema}:\n  {}", violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Schema {
        /// Which document (`app definition from FILE`, `job deploy-x-canary from FILE`).
        document: String,
        /// Which schema file.
        schema: &'static str,
        /// Every violation, ordered by pointer.
        violations: Vec<Violation>,
    },
    /// A job template changed what canary must control.
    #[error(
        "{file}: the job template rendered {field} = {found} for the {phase} job, but canary requires {expected}"
    )]
    JobIdentity {
        /// The job template's name.
        file: String,
        /// The phase being rendered.
        phase: canary_core::Phase,
        /// The field (`id` or `labels.canary.phase`, ...).
        field: String,
        /// What the template produced (JSON).
        found: String,
        /// What canary needs (JSON).
        expected: String,
    },
}
