//! Reading a failed `dcos` run into an [`ExecError`].

use crate::argv::{Operation, command_line};
use crate::process::Output;
use canary_core::executor::ExecError;

/// What to do when the CLI has no working configuration.
const SETUP_HINT: &str = "run `dcos cluster setup URL` (or set DCOS_URL), or point DCOS_DIR / DCOS_CLUSTER at a configured cluster";

/// What to do when the CLI's token is missing, refused or expired.
const LOGIN_HINT: &str = "run `dcos auth login`, or set DCOS_ACS_TOKEN";

/// The job an operation is about, if it names one.
fn job_of<'a>(op: &Operation<'a>) -> Option<&'a str> {
    match *op {
        Operation::History { job_id, .. }
        | Operation::KillRun { job_id, .. }
        | Operation::StartRun { job_id }
        | Operation::ListRuns { job_id }
        | Operation::ShowRun { job_id, .. } => Some(job_id),
        _ => None,
    }
}

/// The text between `start` and the next `end` in `text`.
fn between<'t>(text: &'t str, start: &str, end: &str) -> Option<&'t str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// Maps a failed run of `op` (about `what`, e.g. `job deploy-web-canary`)
/// to the error the HTTP executor gives for the same failure, read from
/// dcoscli 0.6.1's messages (it exits 1 for every failure):
///
/// | the CLI says | error |
/// |---|---|
/// | `Your core.dcos_acs_token is invalid`, `Authentication failed`, `You are not authorized`, `HTTP 401`, `HTTP 403` | [`ExecError::Auth`] |
/// | `URL [...] is unreachable.`, `Request to URL [...] timed out.` | [`ExecError::Unreachable`] |
/// | `Error: Job not found`, `Error: Job Run not found`, `... does NOT exist` | [`ExecError::NotFound`] |
/// | `Changes blocked: deployment already in progress for app.` (Marathon's 409) | [`ExecError::Locked`] |
/// | `Changes blocked: ... for resource.` (Metronome's 409: the job exists) | [`ExecError::Conflict`] |
/// | `HTTP 422`, `HTTP 400` | [`ExecError::Invalid`] |
/// | `Missing required config parameter` | [`ExecError::Other`] with what to set up |
/// | anything else, a usage error, a crash | [`ExecError::Other`] with the command, exit code and the CLI's stderr |
///
/// Every message passes through [`scrub`] first.
pub fn classify(op: &Operation<'_>, what: &str, output: &Output) -> ExecError {
    let stderr = scrub(output.stderr.trim());
    // Usage errors go to stdout.
    let said = if stderr.is_empty() {
        scrub(output.stdout.trim())
    } else {
        stderr
    };
    let command = command_line(op);
    if said.contains("Your core.dcos_acs_token is invalid") {
        return ExecError::Auth {
            message: format!(
                "`{command}`: the CLI's token was refused (invalid or expired); {LOGIN_HINT}"
            ),
        };
    }
    if said.contains("Authentication failed") || said.contains("HTTP 401") {
        return ExecError::Auth {
            message: format!("`{command}`: the CLI has no token for this cluster; {LOGIN_HINT}"),
        };
    }
    if said.contains("You are not authorized to perform this operation")
        || said.contains("HTTP 403")
    {
        return ExecError::Auth {
            message: format!(
                "`{command}`: the account is not permitted to do this; log in as an account that is, with `dcos auth login`"
            ),
        };
    }
    if let Some(url) = between(&said, "URL [", "] is unreachable") {
        return ExecError::Unreachable {
            target: url.to_owned(),
            message: format!("`{command}`: {said}"),
        };
    }
    if let Some(url) = between(&said, "Request to URL [", "] timed out") {
        return ExecError::Unreachable {
            target: url.to_owned(),
            message: format!("`{command}`: {said}"),
        };
    }
    if said.contains("Missing required config parameter") {
        return ExecError::Other {
            message: format!(
                "`{command}`: the dcos CLI has no cluster configured ({said}); {SETUP_HINT}"
            ),
        };
    }
    if said.contains("Job Run not found") {
        return ExecError::NotFound {
            what: what.to_owned(),
        };
    }
    if said.contains("Job not found") || said.contains("does NOT exist") {
        return ExecError::NotFound {
            what: job_of(op).map_or_else(|| what.to_owned(), |job| format!("job {job}")),
        };
    }
    if said.contains("Changes blocked: deployment already in progress") {
        return if op.is_marathon() || said.contains("for app.") {
            ExecError::Locked {
                what: what.to_owned(),
                message: said,
            }
        } else {
            ExecError::Conflict {
                what: what.to_owned(),
                message: "it already exists (Metronome answered 409)".to_owned(),
            }
        };
    }
    if said.contains("HTTP 422") || said.contains("HTTP 400") {
        return ExecError::Invalid {
            what: what.to_owned(),
            message: said,
        };
    }
    let exit = output.code.map_or_else(
        || "was killed by a signal".to_owned(),
        |c| format!("exited {c}"),
    );
    ExecError::Other {
        message: if said.is_empty() {
            format!("`{command}` {exit} without a message")
        } else {
            format!("`{command}` {exit}: {said}")
        },
    }
}

/// Whether `word` looks like a token: a JWT (three base64url parts, the
/// first starting `eyJ`) or a long run of token characters.
fn looks_like_token(word: &str) -> bool {
    let token_chars = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=' | '+'));
    let jwt = word.starts_with("eyJ") && word.split('.').count() == 3;
    token_chars && (jwt || (word.len() >= 40 && word.chars().any(|c| c.is_ascii_digit())))
}

/// `text` with everything that looks like a credential replaced by
/// `[redacted]`: JWTs, long token-like words, and the value after
/// `token=`, `Bearer ` or `password`.
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut hide_next = false;
    for piece in text.split_inclusive(|c: char| c.is_whitespace() || "\"'`,;()[]{}".contains(c)) {
        let end = piece
            .char_indices()
            .last()
            .filter(|(_, c)| c.is_whitespace() || "\"'`,;()[]{}".contains(*c))
            .map_or(piece.len(), |(i, _)| i);
        let (word, sep) = piece.split_at(end);
        let lower = word.to_ascii_lowercase();
        if let Some(at) = lower.find("token=") {
            let keep = at + "token=".len();
            out.push_str(&word[..keep]);
            if keep < word.len() {
                out.push_str("[redacted]");
            }
        } else if (hide_next && !word.is_empty()) || looks_like_token(word) {
            out.push_str("[redacted]");
        } else {
            out.push_str(word);
        }
        if !word.is_empty() {
            hide_next = lower == "bearer" || lower.starts_with("password");
        }
        out.push_str(sep);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(stderr: &str) -> Output {
        Output {
            code: Some(1),
            stdout: String::new(),
            stderr: stderr.to_owned(),
        }
    }

    const JOB: Operation<'static> = Operation::StartRun { job_id: "j" };

    #[test]
    fn messages_map_to_the_http_executors_kinds() {
        let kind = |op: &Operation<'_>, stderr: &str| classify(op, "job j", &failed(stderr));
        assert!(matches!(
            kind(
                &JOB,
                "Your core.dcos_acs_token is invalid. Please run: `dcos auth login`\n"
            ),
            ExecError::Auth { .. }
        ));
        assert!(matches!(
            kind(
                &JOB,
                "Authentication failed. Please run `dcos auth login`.\n"
            ),
            ExecError::Auth { .. }
        ));
        match kind(
            &JOB,
            "URL [http://127.0.0.1:9/service/metronome/capabilities] is unreachable.\n",
        ) {
            ExecError::Unreachable { target, .. } => {
                assert_eq!(target, "http://127.0.0.1:9/service/metronome/capabilities");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            kind(&JOB, "Error: Job not found\n"),
            ExecError::NotFound {
                what: "job j".into()
            }
        );
        let show = Operation::ShowRun {
            job_id: "j",
            run_id: "r",
        };
        assert_eq!(
            classify(
                &show,
                "run r of job j",
                &failed("Error: Job Run not found\n")
            ),
            ExecError::NotFound {
                what: "run r of job j".into()
            }
        );
        assert_eq!(
            classify(&show, "run r of job j", &failed("Error: Job not found\n")),
            ExecError::NotFound {
                what: "job j".into()
            }
        );
        let add = Operation::AddJob {
            file: std::path::Path::new("/x"),
        };
        assert!(matches!(
            classify(
                &add,
                "job j",
                &failed("Changes blocked: deployment already in progress for resource.\n")
            ),
            ExecError::Conflict { .. }
        ));
        assert!(matches!(
            classify(
                &Operation::ListApps,
                "Marathon apps",
                &failed("Changes blocked: deployment already in progress for app.\n")
            ),
            ExecError::Locked { .. }
        ));
        assert!(matches!(
            classify(
                &add,
                "job j",
                &failed("Error while fetching [http://x/v1/jobs]: HTTP 422: \"{}\".\n")
            ),
            ExecError::Invalid { .. }
        ));
        match kind(
            &JOB,
            "Missing required config parameter: \"core.dcos_url\".  Please run `dcos config set core.dcos_url <value>`.\n",
        ) {
            ExecError::Other { message } => {
                assert!(message.contains("dcos cluster setup"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn anything_else_keeps_the_command_code_and_stderr() {
        let out = Output {
            code: Some(1),
            stdout: String::new(),
            stderr: "Traceback (most recent call last):\nKeyError: 'run'\n".into(),
        };
        match classify(&JOB, "job j", &out) {
            ExecError::Other { message } => {
                assert!(
                    message.starts_with("`dcos job run j --json` exited 1: Traceback"),
                    "{message}"
                );
                assert!(message.contains("KeyError: 'run'"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let usage = Output {
            code: Some(1),
            stdout: "Invalid subcommand usage\n".into(),
            stderr: String::new(),
        };
        assert!(
            classify(&JOB, "job j", &usage)
                .to_string()
                .contains("Invalid subcommand usage")
        );
        let killed = Output {
            code: None,
            stdout: String::new(),
            stderr: String::new(),
        };
        assert!(
            classify(&JOB, "job j", &killed)
                .to_string()
                .contains("killed by a signal")
        );
    }

    #[test]
    fn tokens_are_scrubbed_from_messages() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOiJib290c3RyYXB1c2VyIn0.c2lnbmF0dXJl";
        let text = format!(
            "Authorization: token={jwt} failed; Bearer abc123 and \"{jwt}\" password hunter2"
        );
        let clean = scrub(&text);
        assert!(!clean.contains(jwt), "{clean}");
        assert!(
            !clean.contains("abc123") && !clean.contains("hunter2"),
            "{clean}"
        );
        assert_eq!(
            clean,
            "Authorization: token=[redacted] failed; Bearer [redacted] and \"[redacted]\" password [redacted]"
        );
        let message = classify(&JOB, "job j", &failed(&format!("Error: bad token {jwt}")));
        assert!(!message.to_string().contains(jwt));
        // Ordinary words, URLs and run ids stay.
        let plain = "URL [http://127.0.0.1:80/service/metronome] run 20261127123255TQ54F";
        assert_eq!(scrub(plain), plain);
    }
}
