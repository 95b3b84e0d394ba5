//! The shutdown sequence and the connection limits, in process over real sockets: the
//! readiness probe fails first while everything else keeps serving, then the listener
//! closes; slow and idle connections are closed on time; past the connection cap new
//! connections wait while the open ones are served.

use std::time::{Duration, Instant};

use crate::support::net::{RawConnection, accepts_connections};
use crate::support::{Backend, TestApp, eventually};

/// An app on SQLite with `vars` added. Not waiting for readiness over HTTP: a client's
/// kept-alive connection would count against the connection cap under test.
async fn start(vars: &[(&str, &str)]) -> TestApp {
    vars.iter()
        .fold(TestApp::builder(Backend::Sqlite), |app, (name, value)| {
            app.env(name, value)
        })
        .start()
        .await
}

#[tokio::test]
async fn a_stop_fails_readiness_first_keeps_serving_for_the_delay_then_closes() {
    let mut server = start(&[("SHUTDOWN_DELAY_SECS", "2"), ("SHUTDOWN_DRAIN_SECS", "5")]).await;
    let mut kept_alive = RawConnection::open(server.port).await;
    let before = kept_alive.get("/readyz").await;
    assert!(before.starts_with("HTTP/1.1 200"), "{before}");

    let stopped_at = Instant::now();
    server.begin_stop();

    // During the delay: not ready, but every other route serves normally, on new and on
    // kept-alive connections, asking clients to reconnect elsewhere.
    let readyz = eventually("/readyz fails", Duration::from_secs(5), async || {
        let answer = RawConnection::open(server.port).await.get("/readyz").await;
        if answer.starts_with("HTTP/1.1 503") {
            Ok(answer)
        } else {
            Err(answer)
        }
    })
    .await;
    assert!(readyz.contains("shutting down"), "{readyz}");
    let page = kept_alive.get("/").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.to_ascii_lowercase().contains("connection: close"),
        "{page}"
    );
    let healthz = RawConnection::open(server.port).await.get("/healthz").await;
    assert!(healthz.starts_with("HTTP/1.1 200"), "{healthz}");
    let about = RawConnection::open(server.port).await.get("/about").await;
    assert!(about.starts_with("HTTP/1.1 200"), "{about}");
    assert!(
        stopped_at.elapsed() < Duration::from_secs(2),
        "the checks above must run inside the delay"
    );

    // After the delay the listener is closed and the server finishes.
    let port = server.port;
    let result = tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("the server stops after delay and drain");
    assert!(result.is_ok(), "{result:?}");
    let took = stopped_at.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "stopped before the delay was over: {took:?}"
    );
    assert!(
        !accepts_connections(port).await,
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
    let mut slow = RawConnection::open(server.port).await;
    slow.send("GET / HTTP/1.1\r\nHost: localhost\r\n").await;
    let took = slow
        .closed_within(Duration::from_secs(10))
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
    let mut idle = RawConnection::open(server.port).await;
    assert!(idle.get("/healthz").await.starts_with("HTTP/1.1 200"));
    // Longer than the head timeout, shorter than the idle timeout: still usable.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(idle.get("/healthz").await.starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    idle.closed_within(Duration::from_secs(10))
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
        let mut stream = RawConnection::open(server.port).await;
        assert!(stream.get("/healthz").await.starts_with("HTTP/1.1 200"));
        open.push(stream);
    }
    // The fifth connection is made by the kernel's backlog but not served yet.
    let mut waiting = RawConnection::open(server.port).await;
    waiting
        .send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(700), waiting.read_response())
            .await
            .is_err(),
        "a connection past the cap was served"
    );
    // The open connections still answer, probes included.
    for stream in &mut open {
        assert!(stream.get("/healthz").await.starts_with("HTTP/1.1 200"));
    }
    // One closes: the waiting one is served.
    drop(open.pop());
    let answer = tokio::time::timeout(Duration::from_secs(5), waiting.read_response())
        .await
        .expect("the waiting connection is served once there is room");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
