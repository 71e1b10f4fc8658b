//! Why a policy of the analysis was refused.

/// A check or sequence setting that cannot work, naming the field (the
/// binary words it as its flag).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// A rate limit outside 0..=1 (or not a number).
    #[error("{field} must be a share between 0 and 1 (0.05 is 5%), not {value}")]
    NotAShare {
        /// The field, e.g. `max_error_rate`.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A ratio or duration that must be a finite number above zero.
    #[error("{field} must be a finite number greater than 0, not {value}")]
    NotPositive {
        /// The field, e.g. `max_latency_ratio`.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A count of windows that must be at least 1.
    #[error("{field} must be at least 1")]
    Zero {
        /// The field, e.g. `count`.
        field: &'static str,
    },
    /// More windows than one analysis may take.
    #[error("{field} must be at most {max}, not {value}")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// The value given.
        value: u32,
        /// The largest allowed.
        max: u32,
    },
    /// A number outside the range it must be in.
    #[error("{field} must be {range}, not {value}")]
    OutOfRange {
        /// The field, e.g. `alpha`.
        field: &'static str,
        /// The value given.
        value: f64,
        /// The range, in words (`above 0 and at most 0.5`).
        range: &'static str,
    },
    /// A limit no sequence of `count` windows can reach: the analysis
    /// would promote a canary whatever the limit says.
    #[error("{field} ({value}) can never be reached in {count} windows: it must be at most count")]
    Unreachable {
        /// The field, e.g. `failure_limit`.
        field: &'static str,
        /// The value given.
        value: u32,
        /// The windows of the analysis.
        count: u32,
    },
}

impl PolicyError {
    /// The field refused.
    pub fn field(&self) -> &'static str {
        match self {
            PolicyError::NotAShare { field, .. }
            | PolicyError::NotPositive { field, .. }
            | PolicyError::Zero { field }
            | PolicyError::TooLarge { field, .. }
            | PolicyError::OutOfRange { field, .. }
            | PolicyError::Unreachable { field, .. } => field,
        }
    }
}
