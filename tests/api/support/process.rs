//! The real binary as a child process, for what only a process shows: exit codes,
//! configuration errors on stderr, signals, and its log output.

use std::io::{BufRead, BufReader, Read};
use std::ops::Deref;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::http::Http;
use super::logs;
use super::wait::eventually;

const BIN: &str = env!("CARGO_BIN_EXE_employee-db");

/// The binary with only `PATH` and the test defaults (an SQLite database and a cache in
/// `dir`, the repository's static files, metrics off) in its environment, then `vars`.
pub fn binary(dir: &Path, vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIND_ADDRESS", "127.0.0.1")
        // Parallel binaries cannot share the default metrics port.
        .env("METRICS_PORT", "0")
        .env("SQLITE_PATH", dir.join("db/employees.db"))
        .env("BACKGROUND_CACHE_DIR", dir.join("cache"))
        .env("STATIC_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/static"))
        .envs(vars.iter().copied())
        .stdin(Stdio::null());
    cmd
}

/// Runs the binary to its end with `vars`.
pub fn run(vars: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temporary directory");
    binary(dir.path(), vars).output().expect("run the binary")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The binary serving on a port of its own choosing (`PORT=0`: a port picked in advance
/// could be taken by a parallel test before the binary binds it); its output is
/// collected for the test (and shown with `TEST_LOG=1`).
pub struct Running {
    process: Process,
    http: Http,
}

/// How the binary ended after SIGTERM.
pub struct Exit {
    pub code: Option<i32>,
    /// From the signal to the exit.
    pub took: Duration,
    /// Everything it wrote, stdout and stderr, line by line.
    pub logs: String,
}

impl Deref for Running {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

/// The child process and what it has written; killed when dropped, so a test that
/// fails early leaves no process behind.
struct Process {
    child: Child,
    dir: tempfile::TempDir,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Process {
    fn output(&self) -> String {
        self.output.lock().expect("process output").clone()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Collects `pipe`'s lines into `output` until the process closes it.
fn collect(pipe: impl Read + Send + 'static, output: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            logs::pass_through("employee-db", &line);
            let mut output = output.lock().expect("process output");
            output.push_str(&line);
            output.push('\n');
        }
    })
}

/// The port in the binary's `listening` log line (text or JSON).
fn listening_port(logs: &str) -> Option<u16> {
    const HOST: &str = "127.0.0.1:";
    logs.lines()
        .filter(|line| line.contains("listening"))
        .find_map(|line| {
            let rest = &line[line.find(HOST)? + HOST.len()..];
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest[..digits].parse().ok()
        })
}

impl Running {
    /// Starts the binary with `args` and `vars` (after the defaults of `binary`) and waits
    /// until it listens.
    pub async fn start(args: &[&str], vars: &[(&str, &str)]) -> Running {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut all = vec![("PORT", "0")];
        all.extend_from_slice(vars);
        let mut child = binary(dir.path(), &all)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the binary");
        let output = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().expect("piped stdout"), output.clone()),
            collect(child.stderr.take().expect("piped stderr"), output.clone()),
        ];
        let mut process = Process {
            child,
            dir,
            output,
            readers,
        };
        let port = eventually("the binary listens", Duration::from_secs(20), async || {
            if let Some(status) = process.child.try_wait().expect("process status") {
                panic!("the binary exited with {status}: {}", process.output());
            }
            listening_port(&process.output()).ok_or_else(|| process.output())
        })
        .await;
        Running {
            process,
            http: Http::on_port(port),
        }
    }

    /// What the binary has written so far.
    pub fn logs(&self) -> String {
        self.process.output()
    }

    /// The URL of the binary's SQLite database.
    pub fn sqlite_url(&self) -> String {
        format!(
            "sqlite://{}",
            self.process.dir.path().join("db/employees.db").display()
        )
    }

    /// Sends SIGTERM and waits (at most 30 s: a drain under load may take its full
    /// `SHUTDOWN_DRAIN_SECS`) for the binary to exit.
    pub async fn terminate(mut self) -> Exit {
        let started = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.process.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let child = &mut self.process.child;
        let status = eventually(
            "the binary exits after SIGTERM",
            Duration::from_secs(30),
            async || child.try_wait().expect("process status"),
        )
        .await;
        let took = started.elapsed();
        for reader in self.process.readers.drain(..) {
            reader.join().expect("output reader");
        }
        Exit {
            code: status.code(),
            took,
            logs: self.logs(),
        }
    }
}
