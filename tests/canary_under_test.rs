//! The `canary` binary, built in the test package so that its tests can
//! run it (`CARGO_BIN_EXE_canary-under-test`): the same library and main
//! as crates/canary-cli's `canary`.

fn main() -> std::process::ExitCode {
    canary_cli::main()
}
