//! Identifier rules: Marathon app ids, Metronome job ids, and the app name
//! that canary derives job ids from.

use crate::Phase;
use serde::Serialize;
use std::fmt;

/// The rule for one Marathon path segment (apis.md §1.3), as shown to users.
pub const MARATHON_SEGMENT_RULE: &str = "each '/'-separated segment is made of dot-separated parts of lowercase letters, digits and inner hyphens \
     (pattern ^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])$)";

/// The Metronome job id rule (apis.md §2.3) as canary enforces it, shown to users.
pub const METRONOME_JOB_ID_RULE: &str = "a Metronome job id is dot-separated names of lowercase letters and digits joined by single \
     inner hyphens (pattern ^([a-z0-9]+(-[a-z0-9]+)*)(\\.([a-z0-9]+(-[a-z0-9]+)*))*$; \
     double hyphens are refused because Metronome before 0.6.70 rejects them)";

/// Words Marathon refuses as the last segment of an app id.
const RESERVED_LAST_SEGMENTS: [&str; 3] = ["restart", "tasks", "versions"];

/// Why an app id is not a valid Marathon app id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppIdError {
    /// The id is empty or only `/`.
    #[error("must not be empty or the root group '/'")]
    Root,
    /// A segment does not match the segment pattern.
    #[error("segment '{segment}' is invalid: {rule}", rule = MARATHON_SEGMENT_RULE)]
    BadSegment {
        /// The offending segment (empty for `//`).
        segment: String,
    },
    /// The last segment is a reserved word.
    #[error("must not end with the reserved word '{0}' (reserved: restart, tasks, versions)")]
    Reserved(String),
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// One dot-separated part of a Marathon segment: `[a-z0-9]` at both ends,
/// `[a-z0-9-]` inside.
fn is_marathon_label(part: &str) -> bool {
    let (Some(first), Some(last)) = (part.chars().next(), part.chars().last()) else {
        return false;
    };
    is_lower_alnum(first)
        && is_lower_alnum(last)
        && part.chars().all(|c| is_lower_alnum(c) || c == '-')
}

/// Checks a Marathon app id (absolute or relative, apis.md §1.3).
///
/// `.` and `..` segments, which Marathon would canonicalise, are refused: the
/// id canary reviews should be the id Marathon shows.
///
/// ```
/// use canary_core::validate_app_id;
/// assert!(validate_app_id("/prod/web.v2").is_ok());
/// assert!(validate_app_id("/Prod").is_err());
/// ```
pub fn validate_app_id(id: &str) -> Result<(), AppIdError> {
    let path = id.strip_prefix('/').unwrap_or(id);
    if path.is_empty() {
        return Err(AppIdError::Root);
    }
    let segments: Vec<&str> = path.split('/').collect();
    for segment in &segments {
        if !segment.split('.').all(is_marathon_label) {
            return Err(AppIdError::BadSegment {
                segment: (*segment).to_owned(),
            });
        }
    }
    let last = segments.last().copied().unwrap_or_default();
    if RESERVED_LAST_SEGMENTS.contains(&last) {
        return Err(AppIdError::Reserved(last.to_owned()));
    }
    Ok(())
}

/// Whether `id` is a Metronome job id under canary's (conservative) rule.
pub fn is_valid_job_id(id: &str) -> bool {
    !id.is_empty()
        && id.split('.').all(|name| {
            !name.is_empty()
                && name
                    .split('-')
                    .all(|w| !w.is_empty() && w.chars().all(is_lower_alnum))
        })
}

/// The app name given on the command line (`canary render --app NAME`):
/// it names the app template (`NAME.template.json`) and the three jobs
/// (`deploy-NAME-canary`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AppName(String);

/// An app name that cannot form valid Metronome job ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "app name '{name}' cannot form the Metronome job id '{job_id}': {rule}",
    rule = METRONOME_JOB_ID_RULE
)]
pub struct AppNameError {
    /// The name as given.
    pub name: String,
    /// The first job id that came out invalid.
    pub job_id: String,
}

impl AppName {
    /// Checks that every job id derived from `name` is a valid Metronome job id.
    ///
    /// ```
    /// use canary_core::{AppName, Phase};
    /// let name = AppName::new("testapp").unwrap();
    /// assert_eq!(name.job_id(Phase::Rollback), "rollback-testapp-canary");
    /// let err = AppName::new("Test_App").unwrap_err();
    /// assert!(err.to_string().contains("deploy-Test_App-canary"));
    /// ```
    pub fn new(name: &str) -> Result<Self, AppNameError> {
        for phase in Phase::ALL {
            let job_id = phase.job_id(name);
            if !is_valid_job_id(&job_id) {
                return Err(AppNameError {
                    name: name.to_owned(),
                    job_id,
                });
            }
        }
        Ok(AppName(name.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Metronome job id of one phase, e.g. `deploy-testapp-canary`.
    pub fn job_id(&self, phase: Phase) -> String {
        phase.job_id(&self.0)
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marathon_ids() {
        for ok in ["web", "/web", "/prod/web-1", "/a.b/c0", "/x/restart-now"] {
            assert_eq!(validate_app_id(ok), Ok(()), "{ok}");
        }
        let bad = |id: &str| validate_app_id(id).unwrap_err();
        assert_eq!(bad("/"), AppIdError::Root);
        assert_eq!(bad(""), AppIdError::Root);
        assert!(matches!(bad("/Web"), AppIdError::BadSegment { segment } if segment == "Web"));
        assert!(matches!(bad("/a_b"), AppIdError::BadSegment { .. }));
        assert!(matches!(bad("/-a"), AppIdError::BadSegment { .. }));
        assert!(matches!(bad("/a-"), AppIdError::BadSegment { .. }));
        assert!(matches!(bad("/a..b"), AppIdError::BadSegment { .. }));
        assert!(matches!(bad("/a//b"), AppIdError::BadSegment { segment } if segment.is_empty()));
        assert!(matches!(bad("/a/../b"), AppIdError::BadSegment { .. }));
        assert!(matches!(bad("/a/"), AppIdError::BadSegment { .. }));
        assert_eq!(bad("/a/tasks"), AppIdError::Reserved("tasks".into()));
    }

    #[test]
    fn job_ids() {
        for ok in ["a", "deploy-a-canary", "a.b-c.d0"] {
            assert!(is_valid_job_id(ok), "{ok}");
        }
        for bad in [
            "", "A", "a_b", "-a", "a-", "a--b", "a..b", ".a", "a/b", "a b",
        ] {
            assert!(!is_valid_job_id(bad), "{bad}");
        }
    }

    #[test]
    fn app_name_error_shows_the_rule() {
        let err = AppName::new("my_app").unwrap_err();
        assert_eq!(err.job_id, "deploy-my_app-canary");
        assert!(err.to_string().contains("pattern ^([a-z0-9]+"));
        assert!(AppName::new("").is_err());
        assert!(AppName::new("a/b").is_err());
        assert!(
            AppName::new("-x").is_err(),
            "deploy--x-canary has a double hyphen"
        );
    }
}
