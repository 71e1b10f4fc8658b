//! Writing results: stdout, or a directory of files written atomically.

use crate::failure::Failure;
use canary_render::OutputFile;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// The longest file name the common file systems take (ext4, xfs, btrfs,
/// tmpfs: `NAME_MAX`), in bytes.
const NAME_MAX: usize = 255;

/// Whether `c` can change what a terminal shows beyond printing itself:
/// C0 and C1 controls (ESC starts the sequences that retitle, clear or move
/// the cursor), DEL, and the invisible marks that reorder or hide text
/// (bidirectional overrides, zero-width characters).
fn unsafe_on_a_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// `text` with every character a terminal would act on written as an
/// escape (`\u{1b}`), so text from the cluster is shown, never obeyed.
pub fn terminal_safe(text: &str) -> String {
    terminal_safe_keeping(text, &[])
}

/// [`terminal_safe`], keeping the characters in `keep` (an error message
/// keeps its line breaks).
pub fn terminal_safe_keeping(text: &str, keep: &[char]) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if unsafe_on_a_terminal(c) && !keep.contains(&c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Prints the document. Standard output that is closed (`>&-`) or whose
/// reader has gone (`| head -c1`) is an I/O error (exit 4): the document
/// did not arrive, and a script must not take the silence for success.
/// With `--events json` it goes to standard error, beside the progress.
pub fn print(text: &str) -> Result<(), Failure> {
    // With --events json, stdout carries the events only.
    if crate::events::json() {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
        return Ok(());
    }
    let stdout = std::io::stdout();
    if stdout_was_closed(&stdout) {
        return Err(Failure::io(
            "cannot write to standard output: it is closed (nothing was written); to discard the output, redirect it to /dev/null opened write-only (`> /dev/null`): a read-write /dev/null is what Rust's runtime puts in place of a closed standard output",
        ));
    }
    let mut stdout = stdout.lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::io(format!("cannot write to standard output: {e}")))
}

/// Whether the process started with standard output closed (`>&-`).
///
/// Rust's runtime reopens a closed descriptor 0-2 at start-up on
/// `/dev/null`, read-write, so writes "succeed" into nothing. A shell's
/// `> /dev/null` opens it write-only, which stays a success; a read-write
/// `/dev/null` on stdout is the runtime's stand-in. (A closed descriptor
/// seen here, on systems that do not reopen, counts too.)
fn stdout_was_closed(stdout: &std::io::Stdout) -> bool {
    use rustix::fs::{FileType, OFlags};
    use std::os::unix::fs::MetadataExt;
    let Ok(flags) = rustix::fs::fcntl_getfl(stdout) else {
        return true;
    };
    let Ok(stat) = rustix::fs::fstat(stdout) else {
        return true;
    };
    let is_null = FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice
        && std::fs::metadata("/dev/null").is_ok_and(|null| null.rdev() == stat.st_rdev);
    is_null && flags & OFlags::RWMODE == OFlags::RDWR
}

/// The directories `create_dir_all(dir)` would create, outermost first.
fn missing_ancestors(dir: &Path) -> Vec<PathBuf> {
    let mut missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && std::fs::symlink_metadata(a).is_err())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    missing
}

/// What canary made in `--out` and must take away again if it fails:
/// the directories it created (outermost first) and the files it moved
/// into them.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_shown_not_obeyed() {
        assert_eq!(terminal_safe("httpd:2.4"), "httpd:2.4");
        assert_eq!(
            terminal_safe("a\u{1b}]0;pwned\u{7}b"),
            "a\\u{1b}]0;pwned\\u{7}b"
        );
        assert_eq!(terminal_safe("x\u{9b}2J\u{7f}"), "x\\u{9b}2J\\u{7f}");
        assert_eq!(terminal_safe("ab\u{202e}cd"), "ab\\u{202e}cd");
        assert_eq!(terminal_safe("a\nb\tc"), "a\\u{a}b\\u{9}c");
        assert_eq!(terminal_safe_keeping("a\nb\u{1b}", &['\n']), "a\nb\\u{1b}");
        assert_eq!(terminal_safe("caf\u{e9} \u{1F600}"), "caf\u{e9} \u{1F600}");
    }

    fn file(name: &str) -> OutputFile {
        OutputFile {
            name: name.to_owned(),
            contents: format!("{{\"name\": \"{name}\"}}\n"),
        }
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Every file stages, then the second rename fails (its target's
    /// directory does not exist, as when something removed it meanwhile):
    /// in a directory canary made, everything goes again, the directory
    /// too; in the user's directory the staged files go, the replaced one
    /// stays, and the message names it.
    #[test]
    fn a_rename_that_fails_after_staging_leaves_no_temporary_file_behind() {
        let parent = tempfile::tempdir().unwrap();
        let made = parent.path().join("new").join("rendered");
        let files = [file("a.json"), file("gone/b.json"), file("c.json")];
        let err = write_files_atomically(&made, &files)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot move gone/b.json into place")
                && err.ends_with("the directory canary created for it was removed"),
            "{err}"
        );
        assert!(
            !parent.path().join("new").exists(),
            "both created directories removed"
        );
        assert!(entries(parent.path()).is_empty());

        let mine = tempfile::tempdir().unwrap();
        std::fs::write(mine.path().join("a.json"), "old").unwrap();
        std::fs::write(mine.path().join("keep.txt"), "mine").unwrap();
        let err = write_files_atomically(mine.path(), &files)
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("already replaced: [a.json]; run the command again"),
            "{err}"
        );
        assert_eq!(
            entries(mine.path()),
            ["a.json", "keep.txt"],
            "no staged file left"
        );
        assert_eq!(
            std::fs::read_to_string(mine.path().join("a.json")).unwrap(),
            files[0].contents
        );
    }
}

#[derive(Default)]
struct Made {
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

impl Made {
    /// Removes what was made, innermost first; a directory someone else
    /// has put a file into meanwhile stays (only empty ones are removed).
    fn undo(&mut self) {
        if self.dirs.is_empty() {
            // Files moved into a directory that existed replaced the
            // user's: they stay, and the message says which.
            return;
        }
        for file in self.files.drain(..) {
            let _ = std::fs::remove_file(file);
        }
        for dir in self.dirs.drain(..).rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Checks every target before anything is replaced: each name fits the
/// file system, and no target is a directory (or a link to one).
fn check_targets(dir: &Path, files: &[OutputFile]) -> Result<(), Failure> {
    let shown = dir.display();
    for file in files {
        if file.name.len() > NAME_MAX {
            return Err(Failure::io(format!(
                "--out '{shown}': cannot write {}…: the file name is {} bytes long, and file systems take at most {NAME_MAX} (use a shorter --app); nothing was written",
                file.name.chars().take(40).collect::<String>(),
                file.name.len()
            )));
        }
        let target = dir.join(&file.name);
        if std::fs::metadata(&target).is_ok_and(|m| m.is_dir()) {
            return Err(Failure::io(format!(
                "--out '{shown}': {} is a directory, so it cannot be replaced by the file; nothing was written",
                file.name
            )));
        }
    }
    Ok(())
}

/// Writes every file into `dir` atomically: every target is checked first,
/// all contents go to temporary files in `dir`, and only when all of them
/// are written and synced are they renamed into place. A failure before the
/// renames leaves `dir` as it was (the temporary files are removed), and a
/// directory canary created for the purpose is removed again.
pub fn write_files_atomically(dir: &Path, files: &[OutputFile]) -> Result<(), Failure> {
    let shown = dir.display();
    if dir.exists() && !dir.is_dir() {
        return Err(Failure::io(format!(
            "--out '{shown}' exists and is not a directory"
        )));
    }
    check_targets(dir, files)?;
    let mut made = Made::default();
    let result = write_into(dir, files, &mut made);
    if result.is_err() {
        made.undo();
    }
    result
}

fn write_into(dir: &Path, files: &[OutputFile], made: &mut Made) -> Result<(), Failure> {
    let shown = dir.display();
    for missing in missing_ancestors(dir) {
        match std::fs::create_dir(&missing) {
            Ok(()) => made.dirs.push(missing),
            // Made meanwhile by someone else: theirs, not ours to remove.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(Failure::io(format!(
                    "--out '{shown}': cannot create the directory: {e}"
                )));
            }
        }
    }

    let mut staged = Vec::with_capacity(files.len());
    for file in files {
        let mut builder = tempfile::Builder::new();
        // A short name of its own, so that staging works for every name
        // the target check let through.
        builder.prefix(".canary-").suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Rendered files hold no secret (only a secret's path), and they
            // are meant to be reviewed and committed.
            builder.permissions(std::fs::Permissions::from_mode(0o644));
        }
        let mut temp = builder.tempfile_in(dir).map_err(|e| {
            Failure::io(format!("--out '{shown}': cannot create a file there: {e}"))
        })?;
        write_synced(&mut temp, &file.contents).map_err(|e| {
            Failure::io(format!("--out '{shown}': cannot write {}: {e}", file.name))
        })?;
        staged.push((temp, dir.join(&file.name)));
    }
    for (index, (temp, target)) in staged.into_iter().enumerate() {
        temp.persist(&target).map_err(|e| {
            let done: Vec<&str> = files[..index].iter().map(|f| f.name.as_str()).collect();
            let left = if made.dirs.is_empty() {
                format!(
                    "already replaced: [{}]; run the command again",
                    done.join(", ")
                )
            } else {
                "the directory canary created for it was removed".to_owned()
            };
            Failure::io(format!(
                "--out '{shown}': cannot move {} into place: {}; {left}",
                files[index].name, e.error
            ))
        })?;
        made.files.push(target);
    }
    Ok(())
}

fn write_synced(temp: &mut NamedTempFile, contents: &str) -> std::io::Result<()> {
    temp.write_all(contents.as_bytes())?;
    temp.as_file().sync_all()
}

/// Left-aligned columns, two spaces apart. Every cell is made
/// terminal-safe first: most hold what the cluster says (ids, images,
/// labels, run ids), which must not be able to drive the terminal.
pub fn columns(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| terminal_safe(cell)).collect())
        .collect();
    let mut widths = Vec::new();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            let width = cell.chars().count();
            match widths.get_mut(i) {
                Some(w) if *w < width => *w = width,
                Some(_) => {}
                None => widths.push(width),
            }
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
