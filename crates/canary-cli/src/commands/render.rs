//! `canary render`: the new app definition and its three jobs, printed as
//! one JSON document or written as files. Needs no cluster.

use crate::args::BundleArgs;
use crate::failure::Failure;
use crate::{bundle, output};
use clap::Args;
use std::path::PathBuf;

/// `canary render`'s arguments.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Write new-app-definition.json and the three job files into DIR
    /// (created if missing) instead of printing one JSON document.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// What to render.
    #[command(flatten)]
    pub bundle: BundleArgs,
}

/// Runs `canary render`.
pub fn run(args: &RenderArgs) -> Result<(), Failure> {
    let bundle = bundle::render_bundle(&args.bundle)?;
    bundle::zdd_note(&args.bundle.jobs);
    match &args.out {
        Some(dir) => {
            let files = bundle.files();
            output::write_files_atomically(dir, &files)?;
            // Say what is now on disk: a silent success leaves the user to
            // list the directory.
            let mut said = format!(
                "wrote {} files into {}:\n",
                files.len(),
                output::terminal_safe(&dir.display().to_string())
            );
            for file in &files {
                said.push_str(&format!(
                    "  {} ({} bytes)\n",
                    output::terminal_safe(&file.name),
                    file.contents.len()
                ));
            }
            output::print(&said)
        }
        None => output::print(&bundle.to_json_pretty()),
    }
}
