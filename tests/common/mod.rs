//! Helpers shared by the black-box tests of the `canary` binary.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `canary args` from the repository root with a clean environment:
/// none of the machine's DCOS_URL, DCOS_ACS_TOKEN, DCOS_CLUSTER or
/// CANARY_CA_CERT, `dcos_dir` as DCOS_DIR (so ~/.dcos never leaks into a
/// test), plus `env`.
pub fn canary_in(args: &[&str], dcos_dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_canary"));
    command
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .env_remove("DCOS_URL")
        .env_remove("DCOS_ACS_TOKEN")
        .env_remove("DCOS_CLUSTER")
        .env_remove("CANARY_CA_CERT")
        .env("DCOS_DIR", dcos_dir);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("canary runs")
}
