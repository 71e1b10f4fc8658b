//! Which of the two analyses judges a canary, with its rules: plain data
//! the binary builds from its flags and the engine's driver carries out.

use super::{Checks, SequencePolicy, SequentialPolicy};

/// How an analysis judges.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// Fixed windows, each judged by thresholds; the sequence rule over
    /// them.
    Windows {
        /// The checks of every window (validated by the caller).
        checks: Checks,
        /// How many windows, and the limits that end the analysis early.
        policy: SequencePolicy,
    },
    /// The sequential test at every read (validated by the caller).
    Sequential(SequentialPolicy),
}

impl Method {
    /// `windows` or `sequential`: the `--analysis` value.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Windows { .. } => "windows",
            Method::Sequential(_) => "sequential",
        }
    }
}
