//! Reading files and streams with a size cap.
//!
//! # The model
//!
//! Every file or stream canary reads (templates, CA bundles, credentials,
//! the dcos CLI's configuration, a password file, the terminal) has a
//! documented [`Limit`]. Reading goes through this crate, which never holds
//! more than the limit plus one byte in memory and stops as soon as the
//! limit is passed, so `/dev/zero`, `/dev/urandom` or a multi-gigabyte file
//! given by mistake ends at once with [`ReadError::TooLarge`] instead of
//! filling memory or never returning.
//!
//! * [`read_bytes`]: the whole file, up to the limit.
//! * [`read_text`]: the same, as UTF-8, without a leading byte-order mark
//!   (editors on Windows write one).
//! * [`read_first_line`] and [`read_line`]: only up to the first line
//!   ending (a password file, an answer typed at a prompt), without it.
//!
//! Errors say what went wrong but not which file: the caller knows the
//! flag, variable or setting that named it and words the message.
//! [`ReadError::is_io`] tells a file that could not be read (the OS said
//! no) from one that was read and refused.
//!
//! ```
//! use bounded_read::{Limit, ReadError, read_text};
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("t.json");
//! std::fs::write(&path, "\u{feff}{\"id\": \"/web\"}")?;
//! assert_eq!(read_text(&path, Limit::kib(1))?, "{\"id\": \"/web\"}");
//! std::fs::write(&path, "x".repeat(2000))?;
//! let err = read_text(&path, Limit::kib(1)).unwrap_err();
//! assert!(matches!(err, ReadError::TooLarge { .. }));
//! assert_eq!(err.to_string(), "it is larger than the limit of 1 KiB");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// The UTF-8 byte-order mark, dropped from the start of text.
const BOM: &str = "\u{feff}";

/// The most bytes a read may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Limit(u64);

impl Limit {
    /// `n` bytes.
    pub const fn bytes(n: u64) -> Self {
        Limit(n)
    }

    /// `n` KiB (1024 bytes each).
    pub const fn kib(n: u64) -> Self {
        Limit(n * 1024)
    }

    /// `n` MiB.
    pub const fn mib(n: u64) -> Self {
        Limit(n * 1024 * 1024)
    }

    /// The limit in bytes.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// `1 MiB`, `64 KiB`, `4096 bytes`: the form messages and the README use.
impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: u64 = 1024 * 1024;
        match self.0 {
            n if n >= MIB && n % MIB == 0 => write!(f, "{} MiB", n / MIB),
            n if n >= 1024 && n % 1024 == 0 => write!(f, "{} KiB", n / 1024),
            n => write!(f, "{n} bytes"),
        }
    }
}

/// Why a bounded read gave nothing back.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("{source}")]
    Io {
        /// What the OS said.
        #[from]
        source: io::Error,
    },
    /// There is more than the limit (reading stopped there).
    #[error("it is larger than the limit of {limit}")]
    TooLarge {
        /// The limit that was passed.
        limit: Limit,
    },
    /// The first line is longer than the limit (reading stopped there).
    #[error("its first line is longer than the limit of {limit}")]
    LineTooLong {
        /// The limit that was passed.
        limit: Limit,
    },
    /// The bytes are not UTF-8 text.
    #[error("it is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Where the first invalid byte is.
        offset: usize,
    },
}

impl ReadError {
    /// Whether the OS refused the read (missing file, permissions), as
    /// opposed to a file that was read and refused for its size or bytes.
    pub fn is_io(&self) -> bool {
        matches!(self, ReadError::Io { .. })
    }
}

/// Reads all of `reader`, failing as soon as it holds more than `limit`.
pub fn read_all(reader: impl Read, limit: Limit) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    // One byte past the limit tells "exactly the limit" from "more".
    reader
        .take(limit.get().saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit.get() {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// The file at `path`, at most `limit` bytes of it.
pub fn read_bytes(path: &Path, limit: Limit) -> Result<Vec<u8>, ReadError> {
    read_all(File::open(path)?, limit)
}

fn utf8(bytes: Vec<u8>) -> Result<String, ReadError> {
    let mut text = String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8 {
        offset: e.utf8_error().valid_up_to(),
    })?;
    if text.starts_with(BOM) {
        text.drain(..BOM.len());
    }
    Ok(text)
}

/// The file at `path` as UTF-8 text (at most `limit` bytes), without a
/// leading byte-order mark.
pub fn read_text(path: &Path, limit: Limit) -> Result<String, ReadError> {
    utf8(read_bytes(path, limit)?)
}

/// The first line of `reader`, without its line ending (`\n` or `\r\n`)
/// and without a leading byte-order mark; reading stops at the first
/// `\n` (or the end), and fails once the line is longer than `limit`.
pub fn read_line(reader: impl Read, limit: Limit) -> Result<String, ReadError> {
    let mut line = Vec::new();
    // `take` bounds what the buffer may pull in: the limit and a `\r\n`.
    BufReader::new(reader.take(limit.get().saturating_add(2))).read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    if line.len() as u64 > limit.get() {
        return Err(ReadError::LineTooLong { limit });
    }
    utf8(line)
}

/// The first line of the file at `path` (see [`read_line`]).
pub fn read_first_line(path: &Path, limit: Limit) -> Result<String, ReadError> {
    read_line(File::open(path)?, limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn limits_print_as_the_readme_writes_them() {
        assert_eq!(Limit::mib(1).to_string(), "1 MiB");
        assert_eq!(Limit::kib(64).to_string(), "64 KiB");
        assert_eq!(Limit::bytes(1536).to_string(), "1536 bytes");
        assert_eq!(Limit::bytes(4096).to_string(), "4 KiB");
    }

    #[test]
    fn exactly_the_limit_is_read_one_byte_more_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [b'a'; 10]).unwrap();
        assert_eq!(read_bytes(&path, Limit::bytes(10)).unwrap().len(), 10);
        let err = read_bytes(&path, Limit::bytes(9)).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { limit } if limit == Limit::bytes(9)));
        assert!(!err.is_io());
    }

    #[test]
    fn endless_devices_end_quickly() {
        let started = Instant::now();
        for device in ["/dev/zero", "/dev/urandom"] {
            let path = Path::new(device);
            if !path.exists() {
                continue;
            }
            assert!(matches!(
                read_text(path, Limit::mib(1)),
                Err(ReadError::TooLarge { .. })
            ));
            assert!(matches!(
                read_first_line(path, Limit::kib(4)),
                Err(ReadError::LineTooLong { .. }) | Err(ReadError::NotUtf8 { .. })
            ));
        }
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    }

    #[test]
    fn text_loses_its_byte_order_mark_and_must_be_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"\xef\xbb\xbfhello").unwrap();
        assert_eq!(read_text(&path, Limit::kib(1)).unwrap(), "hello");
        std::fs::write(&path, b"ab\xffcd").unwrap();
        let err = read_text(&path, Limit::kib(1)).unwrap_err();
        assert!(matches!(err, ReadError::NotUtf8 { offset: 2 }), "{err}");
    }

    #[test]
    fn only_the_first_line_counts() {
        assert_eq!(read_line(&b"pw\nrest"[..], Limit::bytes(2)).unwrap(), "pw");
        assert_eq!(read_line(&b"pw\r\n"[..], Limit::bytes(2)).unwrap(), "pw");
        assert_eq!(read_line(&b"pw"[..], Limit::bytes(2)).unwrap(), "pw");
        assert_eq!(read_line(&b""[..], Limit::bytes(2)).unwrap(), "");
        // The rest of the stream is never looked at, however long.
        let long = [b"pw\n".as_slice(), &[b'x'; 100_000]].concat();
        assert_eq!(read_line(&long[..], Limit::bytes(8)).unwrap(), "pw");
        let err = read_line(&b"abc\n"[..], Limit::bytes(2)).unwrap_err();
        assert!(matches!(err, ReadError::LineTooLong { .. }), "{err}");
        let err = read_line(&b"abc"[..], Limit::bytes(2)).unwrap_err();
        assert!(matches!(err, ReadError::LineTooLong { .. }), "{err}");
    }

    #[test]
    fn a_missing_file_is_an_io_error() {
        let err = read_text(Path::new("/nonexistent/file"), Limit::kib(1)).unwrap_err();
        assert!(err.is_io(), "{err}");
    }
}
