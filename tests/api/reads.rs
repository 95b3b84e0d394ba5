//! Issue 12: what a lookup costs the database, read from the server's own counters on a
//! private MariaDB (the counters are server-wide, so no other test may share it).

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{Connection, MySqlConnection, Row};

use crate::support::TestApp;
use crate::support::mariadb::MariaDb;

/// The server's statement counters, read over the text protocol so that reading them
/// counts as neither a ping nor a prepared statement.
async fn counters(server: &MariaDb) -> HashMap<String, u64> {
    let mut conn = MySqlConnection::connect(&server.login().url(""))
        .await
        .expect("connect to read the server's counters");
    let rows = sqlx::raw_sql(
        "SHOW GLOBAL STATUS WHERE Variable_name IN \
         ('Com_admin_commands', 'Com_stmt_execute', 'Com_stmt_prepare')",
    )
    .fetch_all(&mut conn)
    .await
    .expect("read the server's counters");
    conn.close().await.ok();
    rows.iter()
        .map(|row| {
            let value: String = row.get(1);
            (row.get(0), value.parse().expect("a counter is a number"))
        })
        .collect()
}

fn delta(before: &HashMap<String, u64>, after: &HashMap<String, u64>, name: &str) -> u64 {
    after[name] - before[name]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_is_one_statement_with_no_ping_and_concurrent_lookups_share_one() {
    let Some(server) = MariaDb::private("it counts the statements the server runs").await else {
        return;
    };
    // One reader, so every lookup goes through the same connection.
    let app = Arc::new(
        TestApp::builder_on(&server)
            .env("DB_READ_CONNECTIONS", "1")
            .spawn()
            .await,
    );
    for id in 1..=40 {
        let id = id.to_string();
        app.add_employee(&id, "Ada", &format!("Lovelace{id}"), "Maths", "London")
            .await
            .assert(200, "was added");
    }
    // The reader connects and prepares its statement on its first lookup.
    app.fetch("1").await.assert(200, "Lovelace1<");

    let before = counters(&server).await;
    for id in 1..=40 {
        app.fetch(&id.to_string())
            .await
            .assert(200, &format!("Lovelace{id}<"));
    }
    app.fetch("999").await.assert(404, "999");
    let after = counters(&server).await;
    assert_eq!(
        delta(&before, &after, "Com_admin_commands"),
        0,
        "a lookup on a connection in steady use pings nothing"
    );
    assert_eq!(
        delta(&before, &after, "Com_stmt_execute"),
        41,
        "one statement per lookup, nothing else"
    );
    assert_eq!(
        delta(&before, &after, "Com_stmt_prepare"),
        0,
        "the statement stays prepared on the reader's connection"
    );

    // Lookups that arrive together share statements, and each still gets its own row.
    let before = counters(&server).await;
    let mut lookups = tokio::task::JoinSet::new();
    for round in 0..5 {
        for id in 1..=40 {
            let app = app.clone();
            lookups.spawn(async move {
                let page = app.fetch(&id.to_string()).await;
                (round, id, page)
            });
        }
    }
    while let Some(done) = lookups.join_next().await {
        let (_, id, page) = done.expect("the lookup task ran");
        page.assert(200, &format!("Lovelace{id}<"));
    }
    let after = counters(&server).await;
    let statements = delta(&before, &after, "Com_stmt_execute");
    assert!(
        statements < 200,
        "200 concurrent lookups took {statements} statements: none was shared"
    );
    assert_eq!(delta(&before, &after, "Com_admin_commands"), 0);
}
