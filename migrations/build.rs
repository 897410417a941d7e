//! Tells the tests whether a PostgreSQL server is configured for them: without
//! `HOVERBOT_TEST_DATABASE_URL`, the tests that need one are compiled as ignored, so `cargo test`
//! lists them as skipped, with the reason, instead of passing them without testing anything.

fn main() {
    println!("cargo::rerun-if-env-changed=HOVERBOT_TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(no_test_postgres)");
    if std::env::var_os("HOVERBOT_TEST_DATABASE_URL").is_none() {
        println!("cargo::rustc-cfg=no_test_postgres");
    }
}
