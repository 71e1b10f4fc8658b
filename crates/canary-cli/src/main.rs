//! `canary`: canary deployments of DC/OS Marathon apps behind marathon-lb
//! (the program is the library's [`canary_cli::main`]).

fn main() -> std::process::ExitCode {
    canary_cli::main()
}
