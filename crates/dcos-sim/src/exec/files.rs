//! The Mesos agent's files API over the run sandboxes, and the line reader
//! dcos-log serves on top of it.
//!
//! Only paths inside a sandbox are served: an absolute path under one, or
//! Mesos' virtual `/frameworks/F/executors/E/runs/C` (or `…/runs/latest`)
//! prefix. A path is resolved to its canonical form first, so a symlink
//! out of a sandbox is refused (as Mesos does).

use serde_json::{Value, json};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The most one `files/read` returns: Mesos' 16 pages.
pub const READ_CAP: usize = 16 * 4096;

/// The most entries one `files/browse` lists.
pub const BROWSE_CAP: usize = 10_000;

/// The most of a file the dcos-log line reader looks at.
pub const LINES_CAP: u64 = 32 * 1024 * 1024;

/// Why a files request failed, by the status it answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FilesError {
    /// 400, with Mesos' text.
    BadRequest(String),
    /// 404.
    NotFound,
    /// 500, with the reason.
    Internal(String),
}

/// The sandboxes requests may reach: each one's real (canonical) path and
/// the virtual prefixes that name it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attached {
    pub(crate) sandboxes: Vec<(PathBuf, Vec<String>)>,
}

/// The real path of `path`, if it lies inside an attached sandbox.
pub(crate) fn resolve(path: &str, attached: &Attached) -> Result<PathBuf, FilesError> {
    if path.is_empty() {
        return Err(FilesError::BadRequest(
            "Expecting 'path=value' in query.\n".into(),
        ));
    }
    let mut candidate = PathBuf::from(path);
    for (real, prefixes) in &attached.sandboxes {
        for prefix in prefixes {
            if let Some(rest) = path.strip_prefix(prefix.as_str())
                && (rest.is_empty() || rest.starts_with('/'))
            {
                candidate = real.join(rest.trim_start_matches('/'));
            }
        }
    }
    let within = |p: &Path| {
        attached
            .sandboxes
            .iter()
            .any(|(real, _)| p.starts_with(real))
    };
    if !within(&candidate) {
        return Err(FilesError::NotFound);
    }
    let real = candidate.canonicalize().map_err(|_| FilesError::NotFound)?;
    if within(&real) {
        Ok(real)
    } else {
        Err(FilesError::BadRequest(format!(
            "'{path}' is inaccessible.\n"
        )))
    }
}

/// Parses an `offset` or `length` parameter (absent: -1).
pub(crate) fn number(value: Option<&String>, name: &str) -> Result<i64, FilesError> {
    match value {
        None => Ok(-1),
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n >= -1 => Ok(n),
            Ok(n) => Err(FilesError::BadRequest(format!(
                "Negative {name} provided: {n}.\n"
            ))),
            Err(e) => Err(FilesError::BadRequest(format!(
                "Failed to parse {name}: {e}.\n"
            ))),
        },
    }
}

/// `files/read`: up to `length` bytes (at most [`READ_CAP`]) from
/// `offset`; `-1` offsets read nothing and report the size, `-1` lengths
/// read to the end. The data (lossy UTF-8) and the offset read from.
pub(crate) fn read(path: &Path, offset: i64, length: i64) -> Result<(String, u64), FilesError> {
    let internal = |e: std::io::Error| {
        FilesError::Internal(format!("Failed to read '{}': {e}.\n", path.display()))
    };
    if path.is_dir() {
        return Err(FilesError::BadRequest("Cannot read a directory.\n".into()));
    }
    let mut file = File::open(path).map_err(internal)?;
    let size = file.metadata().map_err(internal)?.len();
    let offset = if offset < 0 { size } else { offset as u64 };
    if offset >= size {
        return Ok((String::new(), size));
    }
    let rest = size - offset;
    let length = if length < 0 {
        rest
    } else {
        (length as u64).min(rest)
    };
    let length = length.min(READ_CAP as u64) as usize;
    file.seek(SeekFrom::Start(offset)).map_err(internal)?;
    let mut data = vec![0u8; length];
    let mut filled = 0;
    while filled < length {
        match file.read(&mut data[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(internal(e)),
        }
    }
    data.truncate(filled);
    Ok((String::from_utf8_lossy(&data).into_owned(), offset))
}

/// `ls -l`'s mode string for `mode`.
fn mode_string(meta: &std::fs::Metadata) -> String {
    let kind = if meta.is_dir() {
        'd'
    } else if meta.file_type().is_symlink() {
        'l'
    } else {
        '-'
    };
    let mode = meta.permissions().mode();
    let bits = ['r', 'w', 'x'];
    let mut text = String::from(kind);
    for shift in [6, 3, 0] {
        for (i, c) in bits.iter().enumerate() {
            let bit = 1 << (shift + 2 - i);
            text.push(if mode & bit != 0 { *c } else { '-' });
        }
    }
    text
}

/// `files/browse`: the entries of directory `real` as Mesos lists them,
/// sorted, named under `shown` (the path as the client gave it). Owners
/// are numeric ids.
pub(crate) fn browse(shown: &str, real: &Path) -> Result<Vec<Value>, FilesError> {
    if !real.is_dir() {
        return Err(FilesError::NotFound);
    }
    let entries = std::fs::read_dir(real)
        .map_err(|e| FilesError::Internal(format!("Failed to list '{shown}': {e}.\n")))?;
    let mut listing: Vec<(String, Value)> = Vec::new();
    for entry in entries.flatten().take(BROWSE_CAP) {
        let name = entry.file_name().to_string_lossy().into_owned();
        // stat, not lstat: what Mesos reports for a symlink is its target.
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        let path = format!("{}/{name}", shown.trim_end_matches('/'));
        let info = json!({
            "path": path,
            "nlink": meta.nlink(),
            "size": meta.len(),
            "mtime": meta.mtime(),
            "mode": mode_string(&meta),
            "uid": meta.uid().to_string(),
            "gid": meta.gid().to_string(),
        });
        listing.push((path, info));
    }
    listing.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(listing.into_iter().map(|(_, v)| v).collect())
}

/// Where dcos-log starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cursor {
    /// The first line (`BEG`, the default).
    Begin,
    /// After the last line (`END`).
    End,
    /// The first line starting at or after this byte offset.
    Offset(u64),
}

/// Parses dcos-log's `cursor` parameter.
pub(crate) fn cursor(value: Option<&String>) -> Result<Cursor, String> {
    match value.map(String::as_str) {
        None | Some("") | Some("BEG") => Ok(Cursor::Begin),
        Some("END") => Ok(Cursor::End),
        Some(text) => text
            .parse::<u64>()
            .map(Cursor::Offset)
            .map_err(|_| format!("unable to parse cursor parameter. {text} not an integer")),
    }
}

/// dcos-log v2's text answer for a sandbox file: lines from `cursor`,
/// moved by `skip` lines (negative: back, and then that many lines are
/// read), at most `limit` lines, each ending in a newline.
pub(crate) fn lines(
    path: &Path,
    cursor: Cursor,
    skip: i64,
    limit: Option<usize>,
) -> Result<String, FilesError> {
    let internal =
        |e: std::io::Error| FilesError::Internal(format!("unable to read {}: {e}", path.display()));
    let mut file = File::open(path).map_err(|_| FilesError::NotFound)?;
    let size = file.metadata().map_err(internal)?.len();
    // A very large file: only the part a cursor at its end (or start) needs.
    let base = if size > LINES_CAP && cursor == Cursor::End {
        size - LINES_CAP
    } else {
        0
    };
    file.seek(SeekFrom::Start(base)).map_err(internal)?;
    let mut bytes = Vec::new();
    file.take(LINES_CAP)
        .read_to_end(&mut bytes)
        .map_err(internal)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut starts = Vec::new();
    let mut all: Vec<&str> = text.split('\n').collect();
    if all.last() == Some(&"") {
        all.pop();
    }
    let mut at = base;
    for line in &all {
        starts.push(at);
        at += line.len() as u64 + 1;
    }
    let count = all.len();
    let start = match cursor {
        Cursor::Begin => 0,
        Cursor::End => count,
        Cursor::Offset(offset) => starts.iter().position(|s| *s >= offset).unwrap_or(count),
    };
    let start = if skip < 0 {
        start.saturating_sub(skip.unsigned_abs() as usize)
    } else {
        (start + skip as usize).min(count)
    };
    let take = match (limit, skip) {
        (Some(limit), _) => limit,
        (None, skip) if skip < 0 => skip.unsigned_abs() as usize,
        _ => count,
    };
    let end = (start + take).min(count);
    Ok(all[start..end].iter().map(|l| format!("{l}\n")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> (tempfile::TempDir, Attached) {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap().join("runs/c1");
        std::fs::create_dir_all(&real).unwrap();
        let attached = Attached {
            sandboxes: vec![(real, vec!["/frameworks/f/executors/e/runs/c1".into()])],
        };
        (dir, attached)
    }

    #[test]
    fn only_paths_inside_a_sandbox_resolve() {
        let (_dir, attached) = sandbox();
        let real = attached.sandboxes[0].0.clone();
        std::fs::write(real.join("stdout"), "hello\n").unwrap();
        std::os::unix::fs::symlink("/etc", real.join("escape")).unwrap();
        let shown = format!("{}/stdout", real.display());
        assert_eq!(resolve(&shown, &attached).unwrap(), real.join("stdout"));
        assert_eq!(
            resolve("/frameworks/f/executors/e/runs/c1/stdout", &attached).unwrap(),
            real.join("stdout")
        );
        assert_eq!(resolve("/etc/passwd", &attached), Err(FilesError::NotFound));
        let escape = format!("{}/escape/passwd", real.display());
        assert!(matches!(
            resolve(&escape, &attached),
            Err(FilesError::BadRequest(_))
        ));
        let parent = format!("{}/../../..", real.display());
        assert!(resolve(&parent, &attached).is_err());
    }

    #[test]
    fn reads_follow_mesos_offsets() {
        let (_dir, attached) = sandbox();
        let path = attached.sandboxes[0].0.join("f");
        std::fs::write(&path, "0123456789").unwrap();
        assert_eq!(read(&path, -1, -1).unwrap(), (String::new(), 10));
        assert_eq!(read(&path, 2, 3).unwrap(), ("234".into(), 2));
        assert_eq!(read(&path, 8, -1).unwrap(), ("89".into(), 8));
        assert_eq!(read(&path, 50, 5).unwrap(), (String::new(), 10));
        assert!(matches!(
            number(Some(&"-2".into()), "offset"),
            Err(FilesError::BadRequest(_))
        ));
        assert!(matches!(
            number(Some(&"x".into()), "length"),
            Err(FilesError::BadRequest(_))
        ));
        let big = attached.sandboxes[0].0.join("big");
        std::fs::write(&big, vec![b'a'; READ_CAP * 2]).unwrap();
        assert_eq!(read(&big, 0, -1).unwrap().0.len(), READ_CAP);
    }

    #[test]
    fn browse_lists_like_ls() {
        let (_dir, attached) = sandbox();
        let real = attached.sandboxes[0].0.clone();
        std::fs::write(real.join("b"), "12").unwrap();
        std::fs::create_dir(real.join("a")).unwrap();
        let listing = browse("/x", &real).unwrap();
        assert_eq!(listing[0]["path"], "/x/a");
        assert!(listing[0]["mode"].as_str().unwrap().starts_with('d'));
        assert_eq!(listing[1]["path"], "/x/b");
        assert_eq!(listing[1]["size"], 2);
        assert!(listing[1]["mode"].as_str().unwrap().starts_with("-rw"));
    }

    #[test]
    fn dcos_log_lines() {
        let (_dir, attached) = sandbox();
        let path = attached.sandboxes[0].0.join("stdout");
        std::fs::write(&path, "a\nb\nc\nd\n").unwrap();
        assert_eq!(lines(&path, Cursor::End, -2, None).unwrap(), "c\nd\n");
        assert_eq!(
            lines(&path, Cursor::End, -10, None).unwrap(),
            "a\nb\nc\nd\n"
        );
        assert_eq!(lines(&path, Cursor::Begin, 1, Some(2)).unwrap(), "b\nc\n");
        assert_eq!(lines(&path, Cursor::Offset(4), 0, None).unwrap(), "c\nd\n");
        assert_eq!(lines(&path, Cursor::End, 0, None).unwrap(), "");
        assert_eq!(cursor(Some(&"END".into())), Ok(Cursor::End));
        assert!(cursor(Some(&"x".into())).is_err());
        assert_eq!(
            lines(
                &attached.sandboxes[0].0.join("none"),
                Cursor::Begin,
                0,
                None
            ),
            Err(FilesError::NotFound)
        );
    }
}
