//! The shutdown sequence and the connection limits, in process over real sockets: the
//! readiness probe fails first while everything else keeps serving, then the listener
//! closes; slow and idle connections are closed on time; past the connection cap new
//! connections wait while the open ones are served.

use std::time::{Duration, Instant};

use employee_db::config::Config;
use employee_db::startup::Application;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::helpers::{Backend, test_env};

/// An app on SQLite with `vars` added, and the sender that stops it.
struct Server {
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start(vars: &[(&str, &str)]) -> Server {
    let (mut env, _, dir) = test_env(Backend::Sqlite, None).await;
    env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let app = Application::build(Config::from_vars(env, None).expect("valid configuration"))
        .await
        .expect("application starts");
    let port = app.port();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    Server {
        port,
        stop: Some(stop),
        task,
        _dir: dir,
    }
}

async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect")
}

/// Sends one keep-alive GET and reads its response head and body.
async fn get(stream: &mut TcpStream, path: &str) -> std::io::Result<String> {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await?;
    read_response(stream).await
}

/// Reads one response (the tests' responses all carry Content-Length).
async fn read_response(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return Ok(text.into_owned());
            }
        }
    }
}

/// Asks `path` on a new connection until the answer satisfies `done` (5 s at most).
async fn answer_until(port: u16, path: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = get(&mut connect(port).await, path).await.unwrap();
        if done(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "{path} never changed: {answer}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the peer closes the connection; `Err` if it is still open at `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(limit, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Ok(started.elapsed()),
        Ok(Ok(n)) => Err(format!(
            "unexpected data: {}",
            String::from_utf8_lossy(&buf[..n])
        )),
        Err(_) => Err(format!("still open after {limit:?}")),
    }
}

#[tokio::test]
async fn a_stop_fails_readiness_first_keeps_serving_for_the_delay_then_closes() {
    let mut server = start(&[("SHUTDOWN_DELAY_SECS", "2"), ("SHUTDOWN_DRAIN_SECS", "5")]).await;
    let mut kept_alive = connect(server.port).await;
    let before = get(&mut kept_alive, "/readyz").await.unwrap();
    assert!(before.starts_with("HTTP/1.1 200"), "{before}");

    let stopped_at = Instant::now();
    server.stop.take().unwrap().send(()).unwrap();

    // During the delay: not ready, but every other route serves normally, on new and on
    // kept-alive connections, asking clients to reconnect elsewhere.
    let readyz = answer_until(server.port, "/readyz", |r| r.starts_with("HTTP/1.1 503")).await;
    assert!(readyz.contains("shutting down"), "{readyz}");
    let page = get(&mut kept_alive, "/").await.unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.to_ascii_lowercase().contains("connection: close"),
        "{page}"
    );
    let mut fresh = connect(server.port).await;
    let healthz = get(&mut fresh, "/healthz").await.unwrap();
    assert!(healthz.starts_with("HTTP/1.1 200"), "{healthz}");
    let about = get(&mut connect(server.port).await, "/about")
        .await
        .unwrap();
    assert!(about.starts_with("HTTP/1.1 200"), "{about}");
    assert!(
        stopped_at.elapsed() < Duration::from_secs(2),
        "the checks above must run inside the delay"
    );

    // After the delay the listener is closed and the server finishes.
    let result = tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("the server stops after delay and drain")
        .expect("server task");
    assert!(result.is_ok(), "{result:?}");
    let took = stopped_at.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "stopped before the delay was over: {took:?}"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", server.port))
            .await
            .is_err(),
        "still accepting after the stop"
    );
}

#[tokio::test]
async fn a_half_sent_request_is_closed_after_the_head_timeout() {
    let server = start(&[
        ("HTTP_HEADER_READ_TIMEOUT_SECS", "1"),
        ("HTTP_IDLE_TIMEOUT_SECS", "30"),
    ])
    .await;
    let mut slow = connect(server.port).await;
    slow.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let took = closed_within(&mut slow, Duration::from_secs(10))
        .await
        .expect("a half-sent request head is not allowed to hold its connection");
    assert!(
        took >= Duration::from_millis(900),
        "closed too early: {took:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_not_the_head_timeout() {
    let server = start(&[
        ("HTTP_HEADER_READ_TIMEOUT_SECS", "1"),
        ("HTTP_IDLE_TIMEOUT_SECS", "3"),
    ])
    .await;
    let mut idle = connect(server.port).await;
    assert!(
        get(&mut idle, "/healthz")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    // Longer than the head timeout, shorter than the idle timeout: still usable.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        get(&mut idle, "/healthz")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    let started = Instant::now();
    closed_within(&mut idle, Duration::from_secs(10))
        .await
        .expect("an idle connection is closed after the idle timeout");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2500),
        "closed before the idle timeout: {took:?}"
    );
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_wait_while_open_ones_are_served() {
    let server = start(&[("HTTP_MAX_CONNECTIONS", "4")]).await;
    let mut open = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(server.port).await;
        assert!(
            get(&mut stream, "/healthz")
                .await
                .unwrap()
                .starts_with("HTTP/1.1 200")
        );
        open.push(stream);
    }
    // The fifth connection is made by the kernel's backlog but not served yet.
    let mut waiting = connect(server.port).await;
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(700), read_response(&mut waiting))
            .await
            .is_err(),
        "a connection past the cap was served"
    );
    // The open connections still answer, probes included.
    for stream in &mut open {
        assert!(
            get(stream, "/healthz")
                .await
                .unwrap()
                .starts_with("HTTP/1.1 200")
        );
    }
    // One closes: the waiting one is served.
    drop(open.pop());
    let answer = tokio::time::timeout(Duration::from_secs(5), read_response(&mut waiting))
        .await
        .expect("the waiting connection is served once there is room")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
