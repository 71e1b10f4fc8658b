//! The Mesos fetcher, as far as a local sim needs it: each `run.artifacts`
//! entry is fetched into the sandbox before the command starts.
//!
//! Supported URIs are `file:///absolute/path` and
//! `http://127.x.y.z:PORT/path` (loopback only, no redirects, no proxy);
//! anything else fails the run naming the URI. A file is stored under the
//! last segment of the URI's path, at most [`MAX_ARTIFACT_BYTES`];
//! `executable: true` makes it `0755` (and is never extracted); `extract`
//! (Metronome's default) unpacks `.tar`, `.tar.gz`, `.tgz`, `.tar.bz2`,
//! `.tbz2`, `.tar.xz` and `.txz` archives into the sandbox with the
//! system's `tar` (at most [`MAX_EXTRACTED_BYTES`] and
//! [`MAX_ARCHIVE_ENTRIES`] entries, no absolute or `..` names, no device
//! files), and refuses `.zip` and lone `.gz` files it cannot unpack. Any
//! other file is stored as it is, as Mesos does. `cache` is ignored:
//! every run fetches afresh.

use super::prepare::Artifact;
use super::process::run_bounded;
use std::fs::File;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// The largest artifact fetched.
pub const MAX_ARTIFACT_BYTES: u64 = 256 * 1024 * 1024;

/// The most an archive may unpack to.
pub const MAX_EXTRACTED_BYTES: u64 = 1024 * 1024 * 1024;

/// The most entries an archive may hold.
pub const MAX_ARCHIVE_ENTRIES: usize = 100_000;

/// The longest one fetch (or extraction) may take.
const FETCH_LIMIT: Duration = Duration::from_secs(60);

/// Archive name endings `tar` unpacks (it recognises the compression).
const TAR_ENDINGS: [&str; 7] = [
    ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz",
];

/// Where an artifact comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    File(String),
    Http(String),
}

/// The source of `uri` and the file name it is stored under, or why it is
/// refused.
fn parse(uri: &str) -> Result<(Source, String), String> {
    let path_of = |rest: &str| -> String {
        let end = rest.find(['?', '#']).unwrap_or(rest.len());
        rest[..end].to_owned()
    };
    let (source, path) = if let Some(rest) = uri.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err("a file URI must be file:///absolute/path".into());
        }
        let path = path_of(rest);
        (Source::File(path.clone()), path)
    } else if let Some(rest) = uri.strip_prefix("http://") {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if port.parse::<u16>().is_ok_and(|p| p > 0) => host,
            _ => return Err("an http URI needs an explicit port: http://127.x.y.z:PORT/…".into()),
        };
        let loopback = host
            .parse::<Ipv4Addr>()
            .is_ok_and(|ip| ip.octets()[0] == 127);
        if !loopback {
            return Err(format!(
                "'{host}' is not a 127.x.y.z address: dcos-sim fetches only from loopback"
            ));
        }
        (Source::Http(uri.to_owned()), path_of(path))
    } else {
        return Err("only file:/// and http://127.x.y.z:PORT/ URIs are fetched by dcos-sim".into());
    };
    let name = path.rsplit('/').next().unwrap_or_default();
    if name.is_empty() || name == "." || name == ".." {
        return Err("the URI's path names no file".into());
    }
    Ok((source, name.to_owned()))
}

/// Copies at most [`MAX_ARTIFACT_BYTES`] from `reader` to `out`.
fn copy_limited(reader: impl Read, out: &mut File) -> Result<u64, String> {
    let mut limited = reader.take(MAX_ARTIFACT_BYTES + 1);
    let copied = std::io::copy(&mut limited, out).map_err(|e| format!("cannot copy it: {e}"))?;
    if copied > MAX_ARTIFACT_BYTES {
        return Err(format!(
            "it is larger than {} MiB",
            MAX_ARTIFACT_BYTES / (1024 * 1024)
        ));
    }
    out.flush().map_err(|e| format!("cannot write it: {e}"))?;
    Ok(copied)
}

fn fetch_file(path: &str, out: &mut File) -> Result<u64, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot stat {path}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{path} is not a regular file"));
    }
    copy_limited(file, out)
}

fn fetch_http(uri: &str, out: &mut File, limit: Duration) -> Result<u64, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .proxy(None)
        .http_status_as_error(false)
        .timeout_global(Some(limit))
        .build()
        .into();
    let response = agent.get(uri).call().map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(format!("the server answered HTTP {status}"));
    }
    let length = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > MAX_ARTIFACT_BYTES) {
        return Err(format!(
            "it is larger than {} MiB",
            MAX_ARTIFACT_BYTES / (1024 * 1024)
        ));
    }
    // ureq's own limit lies past ours, so that copy_limited says why.
    let body = response
        .into_body()
        .into_with_config()
        .limit(MAX_ARTIFACT_BYTES + 2)
        .reader();
    copy_limited(body, out)
}

/// Checks an archive's listing (`tar -tv` in the C locale) before anything
/// is unpacked: sizes, entry count, names and entry kinds.
fn check_listing(listing: &str) -> Result<(), String> {
    let mut total = 0u64;
    let mut entries = 0usize;
    for line in listing.lines().filter(|l| !l.is_empty()) {
        entries += 1;
        if entries > MAX_ARCHIVE_ENTRIES {
            return Err(format!(
                "the archive has more than {MAX_ARCHIVE_ENTRIES} entries"
            ));
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let kind = fields.first().and_then(|m| m.chars().next()).unwrap_or('?');
        if !matches!(kind, '-' | 'd' | 'l' | 'h') {
            return Err(format!("the archive holds a special file: {line}"));
        }
        let size: u64 = fields
            .get(2)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("cannot read the archive's listing: {line}"))?;
        total = total.saturating_add(size);
        if total > MAX_EXTRACTED_BYTES {
            return Err(format!(
                "the archive unpacks to more than {} MiB",
                MAX_EXTRACTED_BYTES / (1024 * 1024)
            ));
        }
        let name = fields.get(5..).map(|f| f.join(" ")).unwrap_or_default();
        let name = name.split(" -> ").next().unwrap_or_default();
        if name.starts_with('/') || name.split('/').any(|segment| segment == "..") {
            return Err(format!(
                "the archive names a path outside the sandbox: {name}"
            ));
        }
    }
    Ok(())
}

fn extract_tar(archive: &Path, sandbox: &Path) -> Result<(), String> {
    let listing = run_bounded(
        "tar",
        &[
            "--numeric-owner".as_ref(),
            "-tvf".as_ref(),
            archive.as_os_str(),
        ],
        FETCH_LIMIT,
        16 * 1024 * 1024,
    )?;
    if !listing.status.success() {
        return Err(format!("tar cannot list it: {}", listing.stderr.trim()));
    }
    check_listing(&String::from_utf8_lossy(&listing.stdout))?;
    let unpacked = run_bounded(
        "tar",
        &[
            "--no-same-owner".as_ref(),
            "-xf".as_ref(),
            archive.as_os_str(),
            "-C".as_ref(),
            sandbox.as_os_str(),
        ],
        FETCH_LIMIT,
        64 * 1024,
    )?;
    if !unpacked.status.success() {
        return Err(format!("tar cannot unpack it: {}", unpacked.stderr.trim()));
    }
    Ok(())
}

/// Fetches one artifact into `sandbox` (by `deadline` at the latest, and
/// within a minute); a line for the sandbox's stderr saying what was done,
/// or why it failed.
pub(crate) fn fetch(
    artifact: &Artifact,
    sandbox: &Path,
    deadline: Instant,
) -> Result<String, String> {
    let uri = &artifact.uri;
    let failed = |why: String| format!("Failed to fetch '{uri}': {why}");
    let (source, name) = parse(uri).map_err(failed)?;
    let target = sandbox.join(&name);
    let limit = deadline
        .saturating_duration_since(Instant::now())
        .min(FETCH_LIMIT);
    let mut out =
        File::create(&target).map_err(|e| failed(format!("cannot create {name}: {e}")))?;
    let fetched = match &source {
        Source::File(path) => fetch_file(path, &mut out),
        Source::Http(url) => fetch_http(url, &mut out, limit),
    };
    drop(out);
    let bytes = match fetched {
        Ok(bytes) => bytes,
        Err(why) => {
            let _ = std::fs::remove_file(&target);
            return Err(failed(why));
        }
    };
    let mut note = format!("dcos-sim fetcher: fetched '{uri}' to '{name}' ({bytes} bytes)");
    if artifact.executable {
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| failed(format!("cannot make {name} executable: {e}")))?;
        note.push_str(", made executable");
    } else if artifact.extract {
        if TAR_ENDINGS.iter().any(|end| name.ends_with(end)) {
            extract_tar(&target, sandbox).map_err(failed)?;
            note.push_str(", extracted");
        } else if name.ends_with(".zip") || name.ends_with(".gz") {
            return Err(failed(
                "dcos-sim unpacks only tar archives; fetch it with \"extract\": false".into(),
            ));
        }
    }
    Ok(note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_parsed_and_refused_honestly() {
        assert_eq!(
            parse("file:///opt/bin/canary").unwrap(),
            (Source::File("/opt/bin/canary".into()), "canary".into())
        );
        assert_eq!(
            parse("http://127.0.0.2:8080/dl/canary.tar.gz?x=1")
                .unwrap()
                .1,
            "canary.tar.gz"
        );
        for (uri, why) in [
            ("https://127.0.0.1:1/a", "only file:///"),
            ("http://example.com:80/a", "not a 127.x.y.z"),
            ("http://10.0.0.1:80/a", "not a 127.x.y.z"),
            ("http://127.0.0.1/a", "explicit port"),
            ("file://relative/a", "file:///absolute"),
            ("file:///dir/", "names no file"),
            ("s3://bucket/a", "only file:///"),
        ] {
            let error = parse(uri).unwrap_err();
            assert!(error.contains(why), "{uri}: {error}");
        }
    }

    #[test]
    fn archive_listings_are_checked() {
        let ok = "-rw-r--r-- 0/0 5 2024-01-01 00:00 a b.txt\ndrwxr-xr-x 0/0 0 2024-01-01 00:00 dir/\n\
                  lrwxrwxrwx 0/0 0 2024-01-01 00:00 link -> a b.txt\n";
        assert_eq!(check_listing(ok), Ok(()));
        for bad in [
            "-rw-r--r-- 0/0 5 2024-01-01 00:00 ../escape\n",
            "-rw-r--r-- 0/0 5 2024-01-01 00:00 /etc/passwd\n",
            "crw-r--r-- 0/0 1,3 2024-01-01 00:00 dev/null\n",
            "-rw-r--r-- 0/0 99999999999 2024-01-01 00:00 huge\n",
        ] {
            assert!(check_listing(bad).is_err(), "{bad}");
        }
    }
}
