//! The app's logs in tests. `TEST_LOG=1` shows them: the in-process app logs through a
//! subscriber that writes into the test's captured output, and the real binary's output
//! is passed through the same way, so `cargo test` prints them only for a failed test
//! (or always, with `-- --nocapture`). `RUST_LOG` picks the level, as in production.
//! `Logs::capture` records lines a test asserts on.

use std::io;
use std::sync::{Arc, Mutex, Once};

use tracing::subscriber::DefaultGuard;
use tracing_subscriber::EnvFilter;

/// Whether `TEST_LOG` asks to show the app's logs.
pub fn shown() -> bool {
    std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// With `TEST_LOG`, installs the process-wide subscriber once; the test writer sends each
/// line to the output of the test whose thread wrote it.
pub fn init() {
    static INSTALLED: Once = Once::new();
    if shown() {
        INSTALLED.call_once(|| {
            tracing_subscriber::fmt()
                .with_env_filter(filter())
                .with_test_writer()
                .with_ansi(false)
                .init();
        });
    }
}

/// Writes one line of a child process's output to the test's output, with `TEST_LOG`.
pub fn pass_through(source: &str, line: &str) {
    if shown() {
        eprintln!("[{source}] {line}");
    }
}

/// Log lines written on this thread while the guard from `capture` lives. Tests that use
/// it run on a current-thread runtime, so the app's tasks log on the test's thread, into
/// this test's capture only.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        if shown() {
            eprint!("{}", String::from_utf8_lossy(buf));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Logs {
    pub fn capture() -> (Logs, DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }

    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|line| line.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}
