//! The rendered, validated documents and their serialised forms.

use canary_core::Phase;
use serde_json::Value;

/// One rendered Metronome job.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedJob {
    /// Its phase.
    pub phase: Phase,
    /// Its job id (`deploy-APP-canary`, ...).
    pub id: String,
    /// The job document, valid against the Metronome job schema.
    pub document: Value,
}

/// A rendered canary: the new app definition and the three jobs, each
/// validated against its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedBundle {
    /// The new app definition (what the jobs hand to zdd.py).
    pub app: Value,
    /// Deploy, rollout and rollback, in that order.
    pub jobs: Vec<RenderedJob>,
}

/// A file of the `--out` directory layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// The file name (no directory).
    pub name: String,
    /// The contents: pretty JSON with sorted keys and a final newline.
    pub contents: String,
}

/// The file name of the app definition, as the original tool named it.
pub const APP_FILE_NAME: &str = "new-app-definition.json";

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values always serialise");
    text.push('\n');
    text
}

impl RenderedBundle {
    /// The whole bundle as one JSON value: `{"app": {…}, "jobs": [{…}, {…}, {…}]}`.
    pub fn to_value(&self) -> Value {
        serde_json::json!({
            "app": self.app,
            "jobs": self.jobs.iter().map(|j| j.document.clone()).collect::<Vec<_>>(),
        })
    }

    /// [`Self::to_value`] as pretty JSON with a final newline (what
    /// `canary render` prints).
    pub fn to_json_pretty(&self) -> String {
        pretty(&self.to_value())
    }

    /// The files of `canary render --out DIR`: `new-app-definition.json` and
    /// one `<job id>.json` per job (the original tool's names).
    pub fn files(&self) -> Vec<OutputFile> {
        let mut files = vec![OutputFile {
            name: APP_FILE_NAME.to_owned(),
            contents: pretty(&self.app),
        }];
        files.extend(self.jobs.iter().map(|job| OutputFile {
            name: format!("{}.json", job.id),
            contents: pretty(&job.document),
        }));
        files
    }
}
