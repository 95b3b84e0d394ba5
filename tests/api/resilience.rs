//! The database going away and coming back, with a dedicated MariaDB server per test so
//! that killing it disturbs no other test.

use std::time::{Duration, Instant};

use crate::support::mariadb::MariaDb;
use crate::support::net::accepts_connections;
use crate::support::{Backend, TestApp, eventually, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_stopped_then_started_gives_503_then_recovers_without_restart() {
    let Some(server) = MariaDb::private("it stops and starts the database server").await else {
        return;
    };
    let app = TestApp::builder_on(&server).spawn().await;
    app.add_employee("1", "Ada", "Lovelace", "Maths", "London")
        .await
        .assert(200, "was added");

    server.kill();
    let started = Instant::now();
    let page = app.fetch("1").await;
    // Bounded by the acquire timeout (500 ms in tests): a clear page, not a hang.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    page.assert(503, "Database unavailable")
        .assert(503, "Test Group");
    assert_eq!(page.header("retry-after"), "5");
    app.add_employee("2", "Grace", "Hopper", "Compilers", "Arlington")
        .await
        .assert(503, "nothing was read or saved");
    // Still ready (every replica shares the database: the app's own 503 pages beat a
    // load balancer with no replica to send to), and the probe says why pages fail.
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(
        ready.body.contains("503") && ready.body.contains("database unavailable"),
        "{}",
        ready.body
    );
    assert_eq!(
        app.get("/healthz").await.status,
        200,
        "liveness ignores the database"
    );

    server.restart().await;
    eventually("recovery", Duration::from_secs(10), async || {
        app.fetch("1").await.status == 200
    })
    .await;
    app.fetch("1").await.assert(200, "Lovelace");
    app.add_employee("2", "Grace", "Hopper", "Compilers", "Arlington")
        .await
        .assert(200, "was added");
    assert_eq!(app.stored_ids().await, vec![1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_starts_while_the_database_is_down_and_becomes_ready_when_it_is_up() {
    let Some(server) = MariaDb::private("it starts the app before the database server").await
    else {
        return;
    };
    let app = TestApp::builder_on(&server).start().await;
    // Taken down before the app's first connection: migrations have not run.
    server.kill();
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    app.get("/").await.assert(200, "Employee Database");
    app.fetch("1").await.assert(503, "Database unavailable");

    server.restart().await;
    eventually("readiness", Duration::from_secs(15), async || {
        app.get("/readyz").await.status == 200
    })
    .await;
    app.add_employee("3", "Alan", "Turing", "Computability", "Manchester")
        .await
        .assert(200, "was added");
}

#[tokio::test]
async fn a_stopped_app_closes_its_listener_cleanly() {
    let app = spawn_app(Backend::Sqlite).await;
    let port = app.port;
    app.stop().await.expect("clean stop");
    assert!(!accepts_connections(port).await);
}
