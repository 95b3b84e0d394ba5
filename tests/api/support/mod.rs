//! What the tests share: the app in-process (`app`) or as the real binary (`process`),
//! requests and pages (`http`), the database servers (`mariadb`), an S3 server (`s3`), a
//! real browser (`browser`), sockets (`net`), waiting for a condition (`wait`) and the
//! app's logs (`logs`).

pub mod app;
pub mod browser;
pub mod http;
pub mod logs;
pub mod mariadb;
pub mod net;
pub mod process;
pub mod s3;
pub mod wait;

pub use app::{Backend, StoredEmployee, TestApp, spawn_app};
pub use http::Page;
pub use wait::eventually;

use std::io::Write;

/// Says loudly that a test did not run and why, past the test harness's output capture,
/// so the line shows in a passing run too: `NOT RUN (kind): test name: reason`.
pub fn not_run(kind: &str, reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr(), "NOT RUN ({kind}): {test}: {reason}");
}

/// A tool a test needs is missing: under `CI=true` the test fails (scripts/test.sh
/// installs every tool); elsewhere it says so and the caller returns.
pub fn missing(tool: &str) {
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "{tool} is missing but CI=true: run scripts/test.sh, which installs it"
    );
    not_run(
        "missing tool",
        &format!("{tool} (scripts/test.sh installs it)"),
    );
}
