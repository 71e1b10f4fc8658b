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
// * `canary_haproxy`: a real `haproxy` is there (`HAPROXY` names it, or
//   Debian's /usr/sbin/haproxy), or CI says it must be; its path, when found, is in the env
//   var `CANARY_HAPROXY` (empty otherwise: tests then look on `PATH` at run
//   time and fail loudly when it is missing).
// * `canary_marathon_lb`: the real marathon-lb can run here (or CI says it
//   must): its upstream program (`<shared>/reference/marathon-lb/upstream`),
//   a Python that imports its modules (`CANARY_MARATHON_LB_PYTHON` names it,
//   else `target/marathon-lb-venv/bin/python`, which
//   scripts/install-marathon-lb.sh makes), a haproxy (as above) and a
//   working `unshare --pid --fork --mount-proc` (util-linux; needs root);
//   the python's and the program's paths are in the env vars
//   `CANARY_MARATHON_LB_PYTHON` and `CANARY_MARATHON_LB_PROGRAM`.
// * `canary_chromium`: a headless Chromium is there (`CHROMIUM` names it,
//   or Debian's /usr/bin/chromium), or CI says it must be; its path in the
//   env var `CANARY_CHROMIUM` (empty otherwise).

#[allow(dead_code)]
mod test_env {
    use std::path::{Path, PathBuf};

    fn ci() -> bool {
        println!("cargo::rerun-if-env-changed=CI");
        std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
    }

    /// Watches `path` for a rerun, if it exists: cargo reruns a build
    /// script whose watched path is missing at every build, which would
    /// rebuild the package (and everything above it, the binary included)
    /// each time. A path that appears later is noticed through its
    /// variable (`DCOS_CLI`, `HAPROXY`, `CANARY_MARATHON_LB_PYTHON`,
    /// `CANARY_SHARED_DIR`), which scripts/test sets.
    fn watch(path: &Path) {
        if path.exists() {
            println!("cargo::rerun-if-changed={}", path.display());
        }
    }

    fn workspace() -> PathBuf {
        let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
        // The nearest directory up with the workspace's Cargo.lock (a
        // crate lives at <workspace>/crates/<name>, the binary's tests at
        // <workspace>/tests).
        manifest
            .ancestors()
            .find(|dir| dir.join("Cargo.lock").is_file())
            .unwrap_or(&manifest)
            .to_path_buf()
    }

    /// Declares and maybe sets `canary_shared`.
    pub fn shared() {
        println!("cargo::rustc-check-cfg=cfg(canary_shared)");
        println!("cargo::rerun-if-env-changed=CANARY_SHARED_DIR");
        let shared = std::env::var_os("CANARY_SHARED_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("../shared"));
        let reference = shared.join("reference");
        watch(&reference);
        println!("cargo::rustc-env=CANARY_SHARED_REFERENCE={}", reference.display());
        if reference.is_dir() || ci() {
            println!("cargo::rustc-cfg=canary_shared");
        }
    }

    /// Declares and maybe sets `canary_dcos_cli`: `DCOS_CLI` names a file,
    /// or `target/dcoscli-venv/bin/dcos` exists. (`PATH` is not read: it
    /// differs from shell to shell, and each change would rebuild.)
    pub fn dcos_cli() {
        println!("cargo::rustc-check-cfg=cfg(canary_dcos_cli)");
        println!("cargo::rerun-if-env-changed=DCOS_CLI");
        let venv = workspace().join("target/dcoscli-venv/bin/dcos");
        watch(&venv);
        let named = std::env::var_os("DCOS_CLI").is_some_and(|p| Path::new(&p).is_file());
        if named || venv.is_file() || ci() {
            println!("cargo::rustc-cfg=canary_dcos_cli");
        }
    }

    /// Declares and maybe sets `canary_marathon_lb` (see the top of this
    /// file).
    pub fn marathon_lb() {
        println!("cargo::rustc-check-cfg=cfg(canary_marathon_lb)");
        println!("cargo::rerun-if-env-changed=CANARY_MARATHON_LB_PYTHON");
        println!("cargo::rerun-if-env-changed=CANARY_SHARED_DIR");
        let shared = std::env::var_os("CANARY_SHARED_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("../shared"));
        let program = shared.join("reference/marathon-lb/upstream");
        let venv = workspace().join("target/marathon-lb-venv/bin/python");
        watch(&venv);
        let python = std::env::var_os("CANARY_MARATHON_LB_PYTHON")
            .map(PathBuf::from)
            .unwrap_or(venv);
        println!("cargo::rustc-env=CANARY_MARATHON_LB_PYTHON={}", python.display());
        println!("cargo::rustc-env=CANARY_MARATHON_LB_PROGRAM={}", program.display());
        let imports = std::process::Command::new(&python)
            .args(["-c", "import requests, six, dateutil, cryptography, jwt, pycurl"])
            .status()
            .is_ok_and(|s| s.success());
        let haproxy = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
            .iter()
            .map(PathBuf::from)
            .chain(std::env::var_os("HAPROXY").map(PathBuf::from))
            .any(|p| p.is_file());
        let unshare = std::process::Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "true"])
            .status()
            .is_ok_and(|s| s.success());
        if (program.join("marathon_lb.py").is_file() && imports && haproxy && unshare) || ci() {
            println!("cargo::rustc-cfg=canary_marathon_lb");
        }
    }

    /// Declares and maybe sets `canary_haproxy`: `HAPROXY` names a file, or
    /// Debian's (/usr/sbin/haproxy) or a local build's
    /// (/usr/local/sbin/haproxy) is there. (`PATH` is not read: it differs
    /// from shell to shell, and each change would rebuild; scripts/test
    /// sets `HAPROXY` to the one it finds.)
    pub fn haproxy() {
        println!("cargo::rustc-check-cfg=cfg(canary_haproxy)");
        println!("cargo::rerun-if-env-changed=HAPROXY");
        let named = std::env::var_os("HAPROXY")
            .map(PathBuf::from)
            .filter(|p| p.is_file());
        let found = named.or_else(|| {
            ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        });
        if let Some(path) = &found {
            watch(path);
        }
        let shown = found.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        println!("cargo::rustc-env=CANARY_HAPROXY={shown}");
        if found.is_some() || ci() {
            println!("cargo::rustc-cfg=canary_haproxy");
        }
    }

    /// Declares and maybe sets `canary_chromium` (see the file's docs).
    pub fn chromium() {
        println!("cargo::rustc-check-cfg=cfg(canary_chromium)");
        println!("cargo::rerun-if-env-changed=CHROMIUM");
        let found = std::env::var_os("CHROMIUM")
            .map(PathBuf::from)
            .filter(|p| p.is_file())
            .or_else(|| Some(PathBuf::from("/usr/bin/chromium")).filter(|p| p.is_file()));
        if let Some(path) = &found {
            watch(path);
        }
        let shown = found.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        println!("cargo::rustc-env=CANARY_CHROMIUM={shown}");
        if found.is_some() || ci() {
            println!("cargo::rustc-cfg=canary_chromium");
        }
    }
}
