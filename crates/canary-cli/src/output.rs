//! Writing results: stdout, or a directory of files written atomically.

use crate::failure::Failure;
use canary_render::OutputFile;
use std::io::Write;
use std::path::Path;
use tempfile::NamedTempFile;

/// Prints the document. A closed pipe (`canary render … | head`) is not an
/// error worth a message.
pub fn print(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::io(format!("cannot write to standard output: {e}"))),
    }
}

/// Writes every file into `dir` atomically: all contents go to temporary
/// files in `dir` first, and only when all of them are written and synced are
/// they renamed into place. A failure before the renames leaves `dir` as it
/// was (the temporary files are removed).
pub fn write_files_atomically(dir: &Path, files: &[OutputFile]) -> Result<(), Failure> {
    let shown = dir.display();
    if dir.exists() && !dir.is_dir() {
        return Err(Failure::io(format!(
            "--out '{shown}' exists and is not a directory"
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::io(format!("--out '{shown}': cannot create the directory: {e}")))?;

    let mut staged = Vec::with_capacity(files.len());
    for file in files {
        let prefix = format!(".{}.", file.name);
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
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
            Failure::io(format!(
                "--out '{shown}': cannot move {} into place: {}; already replaced: [{}]; run the command again",
                files[index].name,
                e.error,
                done.join(", ")
            ))
        })?;
    }
    Ok(())
}

fn write_synced(temp: &mut NamedTempFile, contents: &str) -> std::io::Result<()> {
    temp.write_all(contents.as_bytes())?;
    temp.as_file().sync_all()
}
