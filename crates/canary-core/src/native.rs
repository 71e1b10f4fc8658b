//! The native runner's invocation: what a native phase job asks `canary`
//! to do ([`NativeInvocation`]), as typed data. Its command line is the
//! binary's own (its flags are the binary's to name): the runner is given
//! a [`NativeArgv`] that turns an invocation into [`Word`]s, and
//! canary-core only quotes those for the job's shell.

use crate::job::Phase;

/// What one native phase job asks `canary` to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativeInvocation<'a> {
    /// The phase (the subcommand).
    pub phase: Phase,
    /// The app name.
    pub app: &'a str,
    /// The canary's image.
    pub image: &'a str,
    /// The deployment group (rollout and rollback name it).
    pub group: &'a str,
    /// Where the job put the app definition in the sandbox (the deploy
    /// deploys it): a [`Word::Sandbox`] path.
    pub app_definition: &'static str,
    /// The deploy's canary instances.
    pub canary_instances: u32,
    /// The engine's limits, each left to canary's default when unset.
    pub options: NativeOptions,
    /// The DC/OS URL (Admin Router) as the job reaches it.
    pub dcos_url: &'a str,
    /// Every marathon-lb stats URL as the job reaches it.
    pub marathon_lb: &'a [String],
    /// The CA bundle Admin Router's certificate is checked against, when
    /// it is checked against the sandbox's: a [`Word::Sandbox`] path.
    pub ca_cert: Option<&'static str>,
}

/// One word of a command line, by how the shell must take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// A flag, a subcommand, a number, a duration: written as it is
    /// (quoted all the same if it holds anything but letters, digits,
    /// `.`, `_`, `-` and `:`).
    Bare(String),
    /// A value from the user or the cluster: always single-quoted.
    Value(String),
    /// A path in the sandbox (`$MESOS_SANDBOX/...`): double-quoted, so
    /// the shell expands the variable and nothing else.
    Sandbox(&'static str),
}

/// Turns an invocation into the binary's words (its subcommand, flags and
/// values): the binary's own, handed to canary-core with the runner.
#[derive(Clone, Copy)]
pub struct NativeArgv(pub fn(&NativeInvocation<'_>) -> Vec<Word>);

impl std::fmt::Debug for NativeArgv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NativeArgv(..)")
    }
}

impl PartialEq for NativeArgv {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::fn_addr_eq(self.0, other.0)
    }
}

/// The words as the job's shell takes them, space-separated.
pub(crate) fn shell_words(words: &[Word]) -> String {
    words
        .iter()
        .map(|word| match word {
            Word::Bare(w)
                if !w.is_empty()
                    && w.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':')
                    }) =>
            {
                w.clone()
            }
            Word::Bare(w) | Word::Value(w) => shell_quote(w),
            Word::Sandbox(path) => format!("\"{path}\""),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a native job passes to `canary deploy|rollout|rollback` beyond the
/// group: the engine's limits, each left to canary's default when unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NativeOptions {
    /// `--timeout`: how long the whole phase may take.
    pub timeout: Option<std::time::Duration>,
    /// `--health-timeout`: how long new tasks may take to become healthy.
    pub health_timeout: Option<std::time::Duration>,
    /// `--drain-timeout`: how long one drain may take.
    pub drain_timeout: Option<std::time::Duration>,
    /// `--keep-failed-canary` (the deploy job only): a canary that never
    /// gets healthy stays, for the rollback job to remove.
    pub keep_failed_canary: bool,
}

/// Quotes `s` for a POSIX shell: single quotes, with embedded single quotes
/// closed, escaped and reopened. Safe for any input.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_by_kind() {
        let words = [
            Word::Bare("--timeout".into()),
            Word::Bare("30s".into()),
            Word::Value("it's".into()),
            Word::Bare("a;b".into()),
            Word::Sandbox("$MESOS_SANDBOX/x.json"),
        ];
        assert_eq!(
            shell_words(&words),
            r#"--timeout 30s 'it'\''s' 'a;b' "$MESOS_SANDBOX/x.json""#
        );
    }
}
