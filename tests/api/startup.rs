//! The real binary: configuration errors, a port it cannot bind, the colour flag, the
//! healthcheck subcommand, a password kept out of the logs, and a clean stop on SIGTERM.

use std::net::TcpListener;
use std::time::Duration;

use crate::support::eventually;
use crate::support::net::free_port;
use crate::support::process::{Running, binary, run, stderr};

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

#[tokio::test]
async fn the_colour_flag_wins_and_sigterm_exits_zero() {
    let app = Running::start(&["--color", "blue2"], &[("APP_COLOR", "red")]).await;
    app.get("/").await.assert(200, "theme-blue2");
    let exit = app.terminate().await;
    assert_eq!(exit.code, Some(0), "{}", exit.logs);
    assert!(
        exit.logs.contains("colour=\"blue2\"") || exit.logs.contains("colour=blue2"),
        "{}",
        exit.logs
    );
    assert!(exit.logs.contains("stopped"), "{}", exit.logs);
}

#[tokio::test]
async fn healthcheck_subcommand_reports_the_local_server() {
    let app = Running::start(&[], &[]).await;
    let port = app.port.to_string();
    let dir = tempfile::tempdir().unwrap();
    let ok = binary(dir.path(), &[("PORT", &port)])
        .arg("healthcheck")
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
    let closed = free_port().to_string();
    let bad = binary(dir.path(), &[("PORT", &closed)])
        .arg("healthcheck")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains(&closed));
    app.terminate().await;
}

#[tokio::test]
async fn the_database_password_never_reaches_the_logs_or_pages() {
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
    )
    .await;
    // The app has tried to log in with the password and reported the failure: the place
    // a careless error message would repeat it.
    eventually(
        "a failed login reported",
        Duration::from_secs(10),
        async || app.logs().contains("database not reachable yet"),
    )
    .await;
    app.get("/readyz").await.assert(503, "not ready");
    for path in ["/", "/readyz", "/employees"] {
        let page = app.get(path).await;
        let answer = format!("{:?}\n{}", page.headers, page.body);
        assert!(!answer.contains(secret), "{path}: {answer}");
    }
    let exit = app.terminate().await;
    assert_eq!(exit.code, Some(0));
    assert!(exit.logs.contains("using MySQL"), "{}", exit.logs);
    assert!(!exit.logs.contains(secret), "{}", exit.logs);
}

#[tokio::test]
async fn json_logs_have_one_object_per_request() {
    let app = Running::start(&[], &[("LOG_FORMAT", "json")]).await;
    app.get("/about").await;
    let logs = app.terminate().await.logs;
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
    let app = Running::start(&[], &[]).await;
    app.wait_until_ready(Duration::from_secs(10)).await;
    // Break the schema behind the app's back: the next query fails in a way no user
    // input can cause.
    let mut conn = sqlx::SqliteConnection::connect(&app.sqlite_url())
        .await
        .unwrap();
    sqlx::query("DROP TABLE employee")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let page = app.get("/employees").await;
    page.assert(500, "Something went wrong");
    assert!(
        !page.body.to_lowercase().contains("no such table"),
        "internals leaked: {}",
        page.body
    );
    let id = page
        .body
        .split("<code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .expect("request id on the page")
        .to_owned();
    assert_eq!(id.len(), 36, "{id}");
    let logs = app.terminate().await.logs;
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
