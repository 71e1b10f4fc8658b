//! Reading a failed `dcos` run into an [`ExecError`].

use crate::argv::{Operation, command_line};
use crate::process::Output;
use canary_core::executor::ExecError;
use canary_core::redact::REDACTED;
use canary_core::retry::{RETRYABLE_STATUSES, TransientKind};

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
/// | `Error: Job not found`, `Error: Job Run not found`, `... does NOT exist`, Marathon's `Error: App '/x' does not exist` | [`ExecError::NotFound`] |
/// | `Application '/x' already exists` (`marathon app add`) | [`ExecError::Conflict`] |
/// | `Changes blocked: deployment already in progress for app.` (Marathon's 409) | [`ExecError::Locked`] |
/// | `Changes blocked: ... for resource.` (Metronome's 409: the job exists) | [`ExecError::Conflict`] |
/// | `HTTP 422`, `HTTP 400` | [`ExecError::Invalid`] |
/// | `Missing required config parameter` | [`ExecError::Other`] with what to set up |
/// | anything else, a usage error, a crash | [`ExecError::Other`] with the command, exit code and the CLI's stderr |
///
/// The CLI's log records (see [`split_log`]) are left out; every message
/// passes through [`scrub`] first.
pub(crate) fn classify(op: &Operation<'_>, what: &str, output: &Output) -> ExecError {
    let stderr = scrub(split_log(&output.stderr).said.trim());
    // Usage errors go to stdout.
    let said = if stderr.is_empty() {
        scrub(output.stdout.trim())
    } else {
        stderr
    };
    let command = command_line(op);
    // Matched whole; quoted cut (a child may print megabytes).
    let mut shown = quote(&said);
    if output.stderr_cut > 0 {
        shown.push_str(&format!(
            " ({} more bytes of its output were not kept)",
            output.stderr_cut
        ));
    }
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
            message: format!("`{command}`: {shown}"),
        };
    }
    if let Some(url) = between(&said, "Request to URL [", "] timed out") {
        return ExecError::Unreachable {
            target: url.to_owned(),
            message: format!("`{command}`: {shown}"),
        };
    }
    if said.contains("Missing required config parameter") {
        return ExecError::Other {
            message: format!(
                "`{command}`: the dcos CLI has no cluster configured ({shown}); {SETUP_HINT}"
            ),
        };
    }
    if said.contains("Job Run not found") {
        return ExecError::NotFound {
            what: what.to_owned(),
        };
    }
    if said.contains("Application '") && said.contains("' already exists") {
        return ExecError::Conflict {
            what: what.to_owned(),
            message: shown,
        };
    }
    if said.contains("Job not found")
        || said.contains("does NOT exist")
        || said.contains("does not exist")
    {
        return ExecError::NotFound {
            what: job_of(op).map_or_else(|| what.to_owned(), |job| format!("job {job}")),
        };
    }
    if said.contains("Changes blocked: deployment already in progress") {
        return if op.is_marathon() || said.contains("for app.") {
            ExecError::Locked {
                what: what.to_owned(),
                message: shown,
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
            message: shown,
        };
    }
    let exit = output.code.map_or_else(
        || "was killed by a signal".to_owned(),
        |c| format!("exited {c}"),
    );
    ExecError::Other {
        message: if shown.is_empty() {
            format!("`{command}` {exit} without a message")
        } else {
            format!("`{command}` {exit}: {shown}")
        },
    }
}

/// How much of what a `dcos` run printed an error quotes (characters).
pub(crate) const MESSAGE_LIMIT: usize = 2000;

/// `text` trimmed and cut to [`MESSAGE_LIMIT`] characters, saying how much
/// was left out (the caller scrubs it first).
pub(crate) fn quote(text: &str) -> String {
    canary_core::executor::quote(text, MESSAGE_LIMIT)
}

/// What a run printed, scrubbed of secrets and [`quote`]d.
pub(crate) fn quoted(text: &str) -> String {
    quote(&scrub(text.trim()))
}

/// The environment variable that sets the CLI's log level; the executor
/// sets it to `error` for every run, so that a failure's stderr also holds
/// the HTTP status (`DCOS Error: Service Unavailable`) and the connection
/// error (refused or dropped) the CLI's own message leaves out. At that
/// level no request (so no `Authorization` header) is logged.
pub(crate) const LOG_LEVEL_ENV: &str = "DCOS_LOG_LEVEL";

/// A failed run's stderr, taken apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Stderr {
    /// What the CLI said itself (its message), without the log records.
    pub said: String,
    /// The log records, oldest first: each one's message, with the lines
    /// that belong to it (a response body, a traceback).
    pub records: Vec<String>,
}

/// The message of a log record's first line, as dcoscli formats them
/// (`THREAD: YYYY-MM-DD HH:MM:SS,mmm PATH:FUNC:LINE - MESSAGE`).
fn log_message(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once(": ")?;
    let stamp = rest.get(..23)?;
    let shape = stamp.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        10 => b == b' ',
        13 | 16 => b == b':',
        19 => b == b',',
        _ => b.is_ascii_digit(),
    });
    if !shape {
        return None;
    }
    rest[23..].split_once(" - ").map(|(_, message)| message)
}

/// Whether a line continues a Python traceback (everything but its last
/// line, the exception).
fn in_traceback(line: &str) -> bool {
    line.is_empty()
        || line.starts_with(char::is_whitespace)
        || line.starts_with("Traceback (most recent call last):")
        || line.starts_with("During handling of the above exception")
        || line.starts_with("The above exception was the direct cause")
}

/// Splits a `dcos` run's stderr into the CLI's own message and the log
/// records [`LOG_LEVEL_ENV`] asks for: `DCOS Error: REASON` with the
/// response body on the next line, and `HTTP Connection Error` (or another
/// logged exception) with its traceback.
pub(crate) fn split_log(stderr: &str) -> Stderr {
    let lines: Vec<&str> = stderr.lines().collect();
    let mut split = Stderr::default();
    let mut said = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(message) = log_message(lines[i]) else {
            said.push(lines[i]);
            i += 1;
            continue;
        };
        let mut record = vec![message];
        i += 1;
        if message.starts_with("DCOS Error:") && i < lines.len() && log_message(lines[i]).is_none()
        {
            // The response body.
            record.push(lines[i]);
            i += 1;
        }
        if lines
            .get(i)
            .is_some_and(|l| l.starts_with("Traceback (most recent call last):"))
        {
            loop {
                while i < lines.len() && in_traceback(lines[i]) {
                    record.push(lines[i]);
                    i += 1;
                }
                // The exception line.
                if i < lines.len() && log_message(lines[i]).is_none() {
                    record.push(lines[i]);
                    i += 1;
                }
                // A chained exception: its traceback follows.
                let chained = lines.get(i).is_some_and(|l| l.is_empty())
                    && lines.get(i + 1).is_some_and(|l| {
                        l.starts_with("During handling of the above exception")
                            || l.starts_with("The above exception was the direct cause")
                    });
                if !chained {
                    break;
                }
            }
        }
        split.records.push(record.join("\n"));
    }
    split.said = said.join("\n");
    split
}

/// Whether a failed run of `op` failed transiently (the failures the HTTP
/// executor retries), read from the log records in its stderr (see
/// [`LOG_LEVEL_ENV`]) or, without them, from the CLI's message:
///
/// | the CLI logged or said | transient |
/// |---|---|
/// | `DCOS Error: Service Unavailable` (503), `HTTP 503` | [`TransientKind::NotSent`] |
/// | `DCOS Error: Bad Gateway` / `Gateway Timeout` (502/504), `HTTP 502` / `HTTP 504` | [`TransientKind::MayHaveArrived`] |
/// | `HTTP Connection Error` with `Connection refused` or `NewConnectionError` in its traceback, or `URL [.../capabilities] is unreachable.` | [`TransientKind::NotSent`] |
/// | any other connection error (`RemoteDisconnected`: dropped), `HTTP Timeout`, `Request to URL [...] timed out.` | [`TransientKind::MayHaveArrived`] |
/// | `Changes blocked: deployment already in progress for app.` | [`TransientKind::Locked`] |
///
/// The last status or connection record decides; another status (a 404,
/// a 409 of Metronome's) is not transient. Messages are scrubbed.
pub(crate) fn transient(op: &Operation<'_>, output: &Output) -> Option<(TransientKind, String)> {
    let stderr = split_log(&output.stderr);
    let said = scrub(stderr.said.trim());
    if said.contains("Changes blocked: deployment already in progress")
        && (op.is_marathon() || said.contains("for app."))
    {
        return Some((TransientKind::Locked, said));
    }
    let answered = |code: u16, body: &str| {
        let reason = match code {
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            _ => "Gateway Timeout",
        };
        let message = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|b| b.get("message")?.as_str().map(str::to_owned))
            .or_else(|| said.strip_prefix("Error: ").map(str::to_owned))
            .map(|m| format!(": {}", scrub(&m)))
            .unwrap_or_default();
        let message = format!("answered {code} {reason}{message}");
        Some(if code == 503 {
            (TransientKind::NotSent, message)
        } else {
            (TransientKind::MayHaveArrived, message)
        })
    };
    let unreachable = between(&said, "URL [", "] is unreachable");
    let connection = |record: &str| {
        let message = if said.is_empty() {
            "the connection to the cluster failed".to_owned()
        } else {
            said.clone()
        };
        let refused = ["Connection refused", "NewConnectionError", "ConnectTimeout"]
            .iter()
            .any(|sign| record.contains(sign));
        let before = unreachable.is_some_and(|url| url.ends_with("/capabilities"));
        Some(if refused || before {
            (TransientKind::NotSent, message)
        } else {
            (TransientKind::MayHaveArrived, message)
        })
    };
    for record in stderr.records.iter().rev() {
        if let Some(reason) = record.strip_prefix("DCOS Error: ") {
            let (reason, body) = reason.split_once('\n').unwrap_or((reason, ""));
            return match reason.trim() {
                "Service Unavailable" => answered(503, body),
                "Bad Gateway" => answered(502, body),
                "Gateway Timeout" => answered(504, body),
                _ => None,
            };
        }
        if record.starts_with("HTTP Connection Error") {
            return connection(record);
        }
        if record.starts_with("HTTP Timeout") {
            return Some((TransientKind::MayHaveArrived, said));
        }
    }
    // No log records: the CLI's message alone.
    for code in RETRYABLE_STATUSES {
        if said.contains(&format!("HTTP {code}")) {
            return answered(code, "");
        }
    }
    if unreachable.is_some() {
        return connection("");
    }
    if said.contains("Request to URL [") && said.contains("] timed out") {
        return Some((TransientKind::MayHaveArrived, said));
    }
    None
}

/// The URL the CLI names in a connection failure (`URL [...] is
/// unreachable.`, `Request to URL [...] timed out.`), if it names one.
pub(crate) fn named_url(said: &str) -> Option<&str> {
    between(said, "URL [", "] is unreachable").or_else(|| between(said, "URL [", "] timed out"))
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
/// [`REDACTED`]: JWTs, long token-like words, and the value after
/// `token=`, `Bearer ` or `password`.
pub(crate) fn scrub(text: &str) -> String {
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
                out.push_str(REDACTED);
            }
        } else if (hide_next && !word.is_empty()) || looks_like_token(word) {
            out.push_str(REDACTED);
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
            ..Output::default()
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

    /// What dcoscli 0.6.1 printed with `DCOS_LOG_LEVEL=error` on dcos-sim
    /// with injected faults (paths shortened).
    const LOGGED_503: &str = "MainThread: 2026-11-27 13:30:38,503 /venv/dcos/rpcclient.py:http_req:130 - DCOS Error: Service Unavailable\n{\"message\":\"injected fault\"}\nError: injected fault\n";
    const LOGGED_502: &str = "MainThread: 2026-11-27 13:30:40,323 /venv/dcos/rpcclient.py:http_req:130 - DCOS Error: Bad Gateway\n{\"message\":\"injected fault\"}\nError: injected fault\n";
    const LOGGED_500: &str = "MainThread: 2026-11-27 13:30:42,097 /venv/dcos/rpcclient.py:http_req:130 - DCOS Error: Internal Server Error\n{\"message\":\"injected fault\"}\nError: injected fault\n";
    const DROPPED: &str = "MainThread: 2026-11-27 13:30:43,001 /venv/dcos/http.py:_request:182 - HTTP Connection Error\nTraceback (most recent call last):\n  File \"/venv/http/client.py\", line 1386, in getresponse\n    response.begin()\nhttp.client.RemoteDisconnected: Remote end closed connection without response\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"/venv/requests/adapters.py\", line 501, in send\n    raise ConnectionError(err, request=request)\nrequests.exceptions.ConnectionError: ('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))\nURL [http://127.0.0.1:32823/service/metronome/v1/jobs] is unreachable.\n";
    const REFUSED: &str = "MainThread: 2026-11-27 13:30:44,001 /venv/dcos/http.py:_request:182 - HTTP Connection Error\nTraceback (most recent call last):\n  File \"/venv/requests/adapters.py\", line 519, in send\n    raise ConnectionError(e, request=request)\nrequests.exceptions.ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: /service/metronome/v1/jobs (Caused by NewConnectionError(\"HTTPConnection(host='127.0.0.1', port=9): Failed to establish a new connection: [Errno 111] Connection refused\"))\nURL [http://127.0.0.1:9/service/metronome/v1/jobs] is unreachable.\n";

    #[test]
    fn log_records_are_told_apart_from_the_clis_message() {
        let split = split_log(LOGGED_503);
        assert_eq!(split.said, "Error: injected fault");
        assert_eq!(
            split.records,
            ["DCOS Error: Service Unavailable\n{\"message\":\"injected fault\"}"]
        );
        let split = split_log(DROPPED);
        assert_eq!(
            split.said,
            "URL [http://127.0.0.1:32823/service/metronome/v1/jobs] is unreachable."
        );
        assert_eq!(split.records.len(), 1);
        assert!(split.records[0].starts_with("HTTP Connection Error\nTraceback"));
        assert!(split.records[0].ends_with("without response'))"));
        // Not a log record: kept.
        assert_eq!(split_log("a: b - c\n").said, "a: b - c");
        // The message keeps no log line.
        assert_eq!(
            classify(&JOB, "job j", &failed(LOGGED_500)).to_string(),
            "`dcos job run j --json` exited 1: Error: injected fault"
        );
    }

    #[test]
    fn transient_failures_are_the_http_executors() {
        let add = Operation::AddJob {
            file: std::path::Path::new("/x"),
        };
        let of = |stderr: &str| transient(&add, &failed(stderr));
        assert_eq!(
            of(LOGGED_503),
            Some((
                TransientKind::NotSent,
                "answered 503 Service Unavailable: injected fault".into()
            ))
        );
        assert_eq!(
            of(LOGGED_502),
            Some((
                TransientKind::MayHaveArrived,
                "answered 502 Bad Gateway: injected fault".into()
            ))
        );
        assert_eq!(of(LOGGED_500), None, "500 fails fast");
        assert!(
            matches!(of(DROPPED), Some((TransientKind::MayHaveArrived, m)) if m.contains("is unreachable"))
        );
        assert!(
            matches!(of(REFUSED), Some((TransientKind::NotSent, m)) if m.contains("is unreachable"))
        );
        // Without log records: the message alone.
        assert!(matches!(
            of("URL [http://127.0.0.1:9/capabilities] is unreachable.\n"),
            Some((TransientKind::NotSent, _))
        ));
        assert!(matches!(
            of("URL [http://127.0.0.1:9/service/metronome/v1/jobs] is unreachable.\n"),
            Some((TransientKind::MayHaveArrived, _))
        ));
        assert!(matches!(
            of("Error decoding response from [http://x/v1/jobs]: HTTP 503: Service Unavailable\n"),
            Some((TransientKind::NotSent, _))
        ));
        assert!(matches!(
            of("Request to URL [http://x/v1/jobs] timed out.\n"),
            Some((TransientKind::MayHaveArrived, _))
        ));
        assert!(matches!(
            transient(
                &Operation::ListApps,
                &failed("Changes blocked: deployment already in progress for app.\n")
            ),
            Some((TransientKind::Locked, _))
        ));
        // Metronome's 409 (a duplicate job) and a 404 are not transient.
        assert_eq!(
            of("Changes blocked: deployment already in progress for resource.\n"),
            None
        );
        assert_eq!(of("Error: Job not found\n"), None);
    }

    #[test]
    fn anything_else_keeps_the_command_code_and_stderr() {
        let out = Output {
            code: Some(1),
            stdout: String::new(),
            stderr: "Traceback (most recent call last):\nKeyError: 'run'\n".into(),
            ..Output::default()
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
            ..Output::default()
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
            ..Output::default()
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
            "Authorization: token=<redacted> failed; Bearer <redacted> and \"<redacted>\" password <redacted>"
        );
        let message = classify(&JOB, "job j", &failed(&format!("Error: bad token {jwt}")));
        assert!(!message.to_string().contains(jwt));
        // Ordinary words, URLs and run ids stay.
        let plain = "URL [http://127.0.0.1:80/service/metronome] run 20261127123255TQ54F";
        assert_eq!(scrub(plain), plain);
    }
}
