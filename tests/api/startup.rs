//! The real binary: configuration errors, a port it cannot bind, the colour flag, the
//! healthcheck subcommand, a password kept out of the logs, and a clean stop on SIGTERM.

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_employee-db");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn command(dir: &tempfile::TempDir, vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIND_ADDRESS", "127.0.0.1")
        .env("SQLITE_PATH", dir.path().join("db/employees.db"))
        .env("BACKGROUND_CACHE_DIR", dir.path().join("cache"))
        .env("STATIC_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/static"))
        .envs(vars.iter().copied())
        .stdin(Stdio::null());
    cmd
}

fn run(vars: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    command(&dir, vars).output().expect("run the binary")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_unknown_colour_stops_before_binding_with_one_clear_line() {
    let port = free_port().to_string();
    let out = run(&[("APP_COLOR", "purple"), ("PORT", &port)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    for needle in [
        "APP_COLOR",
        "purple",
        "red, green, blue, blue2, pink, darkblue, lime",
    ] {
        assert!(err.contains(needle), "{needle} missing from {err}");
    }
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
}

#[test]
fn a_port_that_is_not_a_number_is_named() {
    let out = run(&[("PORT", "eighty")]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("PORT=\"eighty\"") && err.contains("0 to 65535"),
        "{err}"
    );
    let out = run(&[("PORT", "0"), ("DB_ACQUIRE_TIMEOUT_MS", "soon")]);
    assert!(
        stderr(&out).contains("DB_ACQUIRE_TIMEOUT_MS"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_port_in_use_is_one_line_naming_the_address_and_the_fix() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = run(&[("PORT", &port)]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("PORT=8080"), "{err}");
}

pub struct Running {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Running {
    pub fn start(args: &[&str], vars: &[(&str, &str)]) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let port_text = port.to_string();
        let mut all = vec![("PORT", port_text.as_str())];
        all.extend_from_slice(vars);
        let child = command(&dir, &all)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the binary");
        let running = Running { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the binary did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        running
    }

    fn get(&self, path: &str) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    }

    pub fn terminate(mut self) -> (Option<i32>, Duration, String) {
        let started = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code();
            }
            assert!(Instant::now() < deadline, "no exit within 15 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = self.child.wait_with_output().unwrap();
        let logs = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (code, started.elapsed(), logs)
    }
}

#[test]
fn the_colour_flag_wins_and_sigterm_exits_zero() {
    let app = Running::start(&["--color", "blue2"], &[("APP_COLOR", "red")]);
    let page = app.get("/");
    assert!(
        page.starts_with("HTTP/1.0 200") || page.starts_with("HTTP/1.1 200"),
        "{page}"
    );
    assert!(page.contains("theme-blue2"), "{page}");
    let (code, _, logs) = app.terminate();
    assert_eq!(code, Some(0), "{logs}");
    assert!(
        logs.contains("colour=\"blue2\"") || logs.contains("colour=blue2"),
        "{logs}"
    );
    assert!(logs.contains("stopped"), "{logs}");
}

#[test]
fn healthcheck_subcommand_reports_the_local_server() {
    let app = Running::start(&[], &[]);
    let port = app.port.to_string();
    let dir = tempfile::tempdir().unwrap();
    let ok = command(&dir, &[("PORT", &port)])
        .arg("healthcheck")
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
    let closed = free_port().to_string();
    let bad = command(&dir, &[("PORT", &closed)])
        .arg("healthcheck")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains(&closed));
    app.terminate();
}

#[test]
fn the_database_password_never_reaches_the_logs_or_pages() {
    let closed = free_port().to_string();
    let secret = "s3cr3t-Pa55word-for-logs";
    let app = Running::start(
        &[],
        &[
            ("DBHOST", "127.0.0.1"),
            ("DBPORT", &closed),
            ("DBPWD", secret),
            ("RUST_LOG", "debug"),
        ],
    );
    std::thread::sleep(Duration::from_millis(700));
    for path in ["/", "/readyz", "/employees"] {
        let page = app.get(path);
        assert!(!page.contains(secret), "{path}: {page}");
    }
    let (code, _, logs) = app.terminate();
    assert_eq!(code, Some(0));
    assert!(logs.contains("using MySQL"), "{logs}");
    assert!(!logs.contains(secret), "{logs}");
}

#[test]
fn json_logs_have_one_object_per_request() {
    let app = Running::start(&[], &[("LOG_FORMAT", "json")]);
    app.get("/about");
    let (_, _, logs) = app.terminate();
    let request_line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "request" && v["span"]["path"] == "/about")
        .unwrap_or_else(|| panic!("no JSON request line in {logs}"));
    assert_eq!(request_line["status"], 200);
    assert_eq!(request_line["span"]["method"], "GET");
    assert!(request_line["latency_ms"].as_f64().is_some());
}

#[tokio::test]
async fn an_unexpected_failure_is_a_500_page_with_the_request_id_that_the_log_has() {
    use sqlx::Connection;
    let app = Running::start(&[], &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app.get("/readyz").contains(" 200 ") {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Break the schema behind the app's back: the next query fails in a way no user
    // input can cause.
    let url = format!(
        "sqlite://{}",
        app.dir.path().join("db/employees.db").display()
    );
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("DROP TABLE employee")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let page = app.get("/employees");
    assert!(
        page.starts_with("HTTP/1.0 500") || page.starts_with("HTTP/1.1 500"),
        "{page}"
    );
    assert!(page.contains("Something went wrong"), "{page}");
    assert!(
        !page.to_lowercase().contains("no such table"),
        "internals leaked: {page}"
    );
    let id = page
        .split("<code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .expect("request id on the page")
        .to_owned();
    assert_eq!(id.len(), 36, "{id}");
    let (_, _, logs) = app.terminate();
    let line = logs
        .lines()
        .find(|l| l.contains("request failed"))
        .unwrap_or_else(|| panic!("no error line in {logs}"));
    assert!(line.contains(&id), "{line}");
    assert!(
        line.contains("no such table"),
        "the log keeps the cause: {line}"
    );
}
