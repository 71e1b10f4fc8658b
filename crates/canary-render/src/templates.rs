//! Template sources: the embedded defaults and the user's files.

/// The embedded example app template: a web app behind marathon-lb.
pub const EMBEDDED_APP_TEMPLATE: &str = include_str!("../../../templates/app-example.json.j2");

/// The embedded Metronome job template.
pub const EMBEDDED_JOB_TEMPLATE: &str = include_str!("../../../templates/metronome-job.json.j2");

/// The image placeholder of the original `deploy-canary.sh` templates. A
/// string value equal to it is replaced by the image, so old templates work
/// unchanged.
pub const LEGACY_IMAGE_PLACEHOLDER: &str = "ThisIsAUniqueKey";

/// A template's text and the name errors refer to it by (a file path, or
/// `embedded:…` for the built-in ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSource {
    name: String,
    text: String,
}

impl TemplateSource {
    /// A template read from somewhere the caller knows; `name` is what error
    /// messages show (usually the file path).
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        TemplateSource {
            name: name.into(),
            text: text.into(),
        }
    }

    /// The embedded example app template.
    pub fn embedded_app() -> Self {
        TemplateSource::new("embedded:app-example.json.j2", EMBEDDED_APP_TEMPLATE)
    }

    /// The embedded Metronome job template.
    pub fn embedded_job() -> Self {
        TemplateSource::new("embedded:metronome-job.json.j2", EMBEDDED_JOB_TEMPLATE)
    }

    /// The name errors use.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The template text.
    pub fn text(&self) -> &str {
        &self.text
    }
}
