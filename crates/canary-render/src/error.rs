//! Errors of rendering, each naming the template or document it concerns.

use crate::schema::Violation;
use canary_core::PlanError;

/// Why a bundle could not be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// The template has a syntax error, uses an undefined variable, or a
    /// filter failed.
    #[error("{file}{}: template error: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Template {
        /// The template's name (file path).
        file: String,
        /// The line in the template, when known.
        line: Option<usize>,
        /// What went wrong.
        message: String,
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
