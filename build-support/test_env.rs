// Included (`include!`) by the build scripts of the crates whose tests need
// something from outside the repository: `../shared` (the upstream
// reference data) or the real dcos CLI. It decides, once per build, whether
// those tests can run here, so that a test that cannot is compiled with
// `#[ignore = "reason"]` and shows as ignored, with its reason, in the test
// command's summary, never as passed. Under `CI=true` nothing is ignored
// for lack of either: the tests run and fail loudly instead.
//
// cfgs it may set (declared for check-cfg either way):
// * `canary_shared`: the reference data is there (or CI says it must be);
//   its `reference` directory is in the env var `CANARY_SHARED_REFERENCE`;
// * `canary_dcos_cli`: the real dcos CLI is there (or CI says it must be);
// * `canary_haproxy`: a real `haproxy` is there (`HAPROXY` names it, or one
//   is on `PATH`), or CI says it must be; its path, when found, is in the env
//   var `CANARY_HAPROXY` (empty otherwise: tests then look on `PATH` at run
//   time and fail loudly when it is missing).

#[allow(dead_code)]
mod test_env {
    use std::path::{Path, PathBuf};

    fn ci() -> bool {
        println!("cargo::rerun-if-env-changed=CI");
        std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
    }

    fn workspace() -> PathBuf {
        let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
        // Every crate lives at <workspace>/crates/<name>.
        manifest.join("../..")
    }

    /// Declares and maybe sets `canary_shared`.
    pub fn shared() {
        println!("cargo::rustc-check-cfg=cfg(canary_shared)");
        println!("cargo::rerun-if-env-changed=CANARY_SHARED_DIR");
        let shared = std::env::var_os("CANARY_SHARED_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("../shared"));
        let reference = shared.join("reference");
        println!("cargo::rerun-if-changed={}", reference.display());
        println!("cargo::rustc-env=CANARY_SHARED_REFERENCE={}", reference.display());
        if reference.is_dir() || ci() {
            println!("cargo::rustc-cfg=canary_shared");
        }
    }

    /// Declares and maybe sets `canary_dcos_cli`: `DCOS_CLI` names a file,
    /// or `target/dcoscli-venv/bin/dcos` exists, or a `dcos` is on `PATH`.
    pub fn dcos_cli() {
        println!("cargo::rustc-check-cfg=cfg(canary_dcos_cli)");
        println!("cargo::rerun-if-env-changed=DCOS_CLI");
        println!("cargo::rerun-if-env-changed=PATH");
        let venv = workspace().join("target/dcoscli-venv/bin/dcos");
        println!("cargo::rerun-if-changed={}", venv.display());
        let named = std::env::var_os("DCOS_CLI").is_some_and(|p| Path::new(&p).is_file());
        let on_path = std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .any(|dir| dir.join("dcos").is_file());
        if named || venv.is_file() || on_path || ci() {
            println!("cargo::rustc-cfg=canary_dcos_cli");
        }
    }

    /// Declares and maybe sets `canary_haproxy`: `HAPROXY` names a file, or
    /// an `haproxy` is on `PATH` (Debian puts it in /usr/sbin, which a
    /// user's PATH may lack, so that is looked at too).
    pub fn haproxy() {
        println!("cargo::rustc-check-cfg=cfg(canary_haproxy)");
        println!("cargo::rerun-if-env-changed=HAPROXY");
        println!("cargo::rerun-if-env-changed=PATH");
        let named = std::env::var_os("HAPROXY")
            .map(PathBuf::from)
            .filter(|p| p.is_file());
        let found = named.or_else(|| {
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths)
                .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
                .map(|dir| dir.join("haproxy"))
                .find(|p| p.is_file())
        });
        // Debian's place for it: noticed when a later `apt-get install`
        // puts it there.
        println!("cargo::rerun-if-changed=/usr/sbin/haproxy");
        if let Some(path) = &found {
            println!("cargo::rerun-if-changed={}", path.display());
        }
        let shown = found.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        println!("cargo::rustc-env=CANARY_HAPROXY={shown}");
        if found.is_some() || ci() {
            println!("cargo::rustc-cfg=canary_haproxy");
        }
    }
}
