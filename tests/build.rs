//! Decides whether the tests that need something from outside the
//! repository can run here (see build-support/test_env.rs).

include!("../build-support/test_env.rs");

fn main() {
    test_env::dcos_cli();
    test_env::haproxy();
    test_env::marathon_lb();
    test_env::chromium();
}
