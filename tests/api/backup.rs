//! Backup and restore through the real binary, as an operator runs them: the restore drill
//! (a backup to S3 while a writer keeps adding, the table wiped, restored, and compared
//! field for field with the snapshot), a move between backends, damaged files refused
//! with nothing written, and `--merge`.
//!
//! The backup files are read here by the documented format (README), not by the app's
//! own reader, so the format is checked as the contract it is.

use std::process::Output;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use employee_db::search::{SQLITE_COLLATION, compare_folded};
use sha2::{Digest, Sha256};
use sqlx::Connection;

use crate::on_both_backends;
use crate::support::app::stored_employees;
use crate::support::http::Http;
use crate::support::mariadb::{TestDatabase, mariadb_backend, shared_server};
use crate::support::process;
use crate::support::s3::{ACCESS_KEY, S3Server, SECRET_KEY};
use crate::support::{Backend, StoredEmployee, TestApp, spawn_app};

const BUCKET: &str = "backups";

/// `employee-db ARGS` with `vars`, run off the test's runtime, which serves the app and
/// the S3 server the binary talks to.
async fn employee_db(args: &[&str], vars: &[(String, String)]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let vars = vars.to_vec();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("temporary directory");
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        process::binary(dir.path(), &vars)
            .args(&args)
            .output()
            .expect("run employee-db")
    })
    .await
    .expect("the binary's runner")
}

/// Runs the binary and expects success; returns its one line of stdout.
async fn succeeds(args: &[&str], vars: &[(String, String)]) -> String {
    let out = employee_db(args, vars).await;
    assert!(
        out.status.success(),
        "employee-db {args:?} failed ({}): {}",
        out.status,
        process::stderr(&out)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Runs a restore that must fail with exit code 1 and one line on stderr containing
/// `expected`.
async fn restore_fails(from: &str, vars: &[(String, String)], expected: &str) {
    let out = employee_db(&["restore", "--from", from], vars).await;
    let stderr = process::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "restore of {from}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("employee-db: restore failed, nothing was written: "),
        "{stderr}"
    );
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in: {stderr}"
    );
}

/// The binary's environment for the S3 test server.
fn s3_vars(s3: &S3Server) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_REGION", "eu-west-1"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec()
}

fn with(mut vars: Vec<(String, String)>, more: &[(String, String)]) -> Vec<(String, String)> {
    vars.extend_from_slice(more);
    vars
}

/// A backup file read by the documented format, its checksum checked.
struct BackupFile {
    header: serde_json::Value,
    rows: Vec<StoredEmployee>,
}

fn read_backup(bytes: &[u8]) -> BackupFile {
    let text = std::str::from_utf8(bytes).expect("a backup is UTF-8");
    assert!(text.ends_with('\n'), "every line ends in a newline");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 2, "a header and a trailer at least");
    let trailer: serde_json::Value = serde_json::from_str(lines[lines.len() - 1]).expect("trailer");
    let body = &bytes[..bytes.len() - lines[lines.len() - 1].len() - 1];
    assert_eq!(
        trailer["sha256"].as_str().expect("the trailer's sha256"),
        hex(&Sha256::digest(body)),
        "the trailer's checksum covers every byte before it"
    );
    let header: serde_json::Value = serde_json::from_str(lines[0]).expect("header");
    assert_eq!(header["format"], "employee-db-backup");
    assert_eq!(header["format_version"], 1);
    let rows: Vec<StoredEmployee> = lines[1..lines.len() - 1]
        .iter()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("row");
            let text = |name: &str| row[name].as_str().expect("a text field").to_owned();
            StoredEmployee {
                emp_id: row["emp_id"].as_i64().expect("a numeric emp_id"),
                first_name: text("first_name"),
                last_name: text("last_name"),
                primary_skill: text("primary_skill"),
                location: text("location"),
            }
        })
        .collect();
    assert_eq!(
        header["rows"].as_u64(),
        Some(rows.len() as u64),
        "the header counts the rows"
    );
    BackupFile { header, rows }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A file with `rows` in place of the original's and a recomputed checksum: what a tool
/// that edits a backup on purpose would write.
fn resealed(header: &serde_json::Value, rows: &[String]) -> Vec<u8> {
    let mut header = header.clone();
    header["rows"] = rows.len().into();
    let mut body = format!("{header}\n").into_bytes();
    for row in rows {
        body.extend_from_slice(row.as_bytes());
        body.push(b'\n');
    }
    let sha = hex(&Sha256::digest(&body));
    body.extend_from_slice(format!("{{\"sha256\":\"{sha}\"}}\n").as_bytes());
    body
}

fn row_json(e: &StoredEmployee) -> String {
    serde_json::json!({
        "emp_id": e.emp_id,
        "first_name": e.first_name,
        "last_name": e.last_name,
        "primary_skill": e.primary_skill,
        "location": e.location,
    })
    .to_string()
}

/// Employees at the edges of what the form accepts: 64 characters of two-, three- and
/// four-byte UTF-8, and markup that must come back as text.
fn awkward_employees() -> Vec<StoredEmployee> {
    let employee =
        |emp_id: i64, first: String, last: &str, skill: &str, location: &str| StoredEmployee {
            emp_id,
            first_name: first,
            last_name: last.to_owned(),
            primary_skill: skill.to_owned(),
            location: location.to_owned(),
        };
    vec![
        employee(1, "é".repeat(64), "Lovelace", "Maths", "London"),
        employee(2, "日本語".repeat(21) + "語", "山田", "Kanji", "東京"),
        employee(3, "\u{1F600}".repeat(64), "Emoji", "Faces", "Everywhere"),
        employee(
            4,
            "<script>alert(1)</script>".to_owned(),
            "\"Quoted\" & 'single'",
            "<b>bold</b>",
            "O'Brien\\Path",
        ),
        employee(i64::MAX, "Max".to_owned(), "Id", "Big numbers", "Edge"),
    ]
}

async fn add_through_the_app(app: &TestApp, employees: &[StoredEmployee]) {
    for e in employees {
        app.add_employee(
            &e.emp_id.to_string(),
            &e.first_name,
            &e.last_name,
            &e.primary_skill,
            &e.location,
        )
        .await
        .assert(200, "was added");
    }
}

/// Runs `sql` on the app's database directly (setting up or wiping, behind its back).
async fn execute(app: &TestApp, sql: String) {
    let sql = sqlx::AssertSqlSafe(sql);
    match app.backend {
        Backend::Sqlite => {
            // The search indexes need the app's collation to take a write.
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&app.database_url)
                .expect("an SQLite URL")
                .collation(SQLITE_COLLATION, compare_folded);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .expect("open SQLite");
            sqlx::raw_sql(sql).execute(&mut conn).await.map(|_| ())
        }
        Backend::MariaDb => {
            let mut conn = sqlx::MySqlConnection::connect(&app.database_url)
                .await
                .expect("connect to MariaDB");
            sqlx::raw_sql(sql).execute(&mut conn).await.map(|_| ())
        }
    }
    .expect("SQL on the app's database");
}

/// Many valid employees, stored directly: the app's form would take minutes for them.
async fn insert_directly(app: &TestApp, ids: std::ops::RangeInclusive<i64>) {
    let ids: Vec<i64> = ids.collect();
    for chunk in ids.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|id| {
                format!(
                    "({id}, 'Bulk', 'Row {id}', 'Volume', 'Warehouse {}')",
                    id % 97
                )
            })
            .collect();
        execute(
            app,
            format!(
                "INSERT INTO employee (emp_id, first_name, last_name, primary_skill, location) \
                 VALUES {}",
                values.join(", ")
            ),
        )
        .await;
    }
}

async fn wipe(app: &TestApp) {
    execute(app, "DELETE FROM employee".to_owned()).await;
    assert!(app.stored_employees().await.is_empty());
}

/// Adds employees through the app one after another until stopped, recording when each
/// add was acknowledged.
struct Writer {
    acknowledged: Arc<Mutex<Vec<(i64, Instant)>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    fn start(app: &TestApp, first_id: i64) -> Writer {
        let http = Http::on_port(app.port);
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let acknowledged = acknowledged.clone();
            let stop = stop.clone();
            async move {
                let mut id = first_id;
                while !stop.load(Ordering::SeqCst) {
                    let location = format!("Desk {id}");
                    http.add_employee(&id.to_string(), "Writer", "Concurrent", "Racing", &location)
                        .await
                        .assert(200, "was added");
                    acknowledged
                        .lock()
                        .expect("acknowledged adds")
                        .push((id, Instant::now()));
                    id += 1;
                }
            }
        });
        Writer {
            acknowledged,
            stop,
            task,
        }
    }

    fn count(&self) -> usize {
        self.acknowledged.lock().expect("acknowledged adds").len()
    }

    async fn stop(self) -> Vec<(i64, Instant)> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("the writer never failed an add");
        Arc::try_unwrap(self.acknowledged)
            .expect("the writer is done")
            .into_inner()
            .expect("acknowledged adds")
    }
}

const WRITER_FIRST_ID: i64 = 1_000_000;

async fn restore_drill(backend: Backend) {
    let app = spawn_app(backend).await;
    let s3 = S3Server::start().await;
    s3.create_bucket(BUCKET);
    let awkward = awkward_employees();
    add_through_the_app(&app, &awkward).await;
    insert_directly(&app, 100..=5_099).await;

    let writer = Writer::start(&app, WRITER_FIRST_ID);
    crate::support::eventually(
        "the writer has added a few employees",
        std::time::Duration::from_secs(20),
        async || writer.count() >= 5,
    )
    .await;
    let backup_started = Instant::now();
    let vars = with(app.database_vars.clone(), &s3_vars(&s3));
    let printed = succeeds(&["backup", "--to", &format!("s3://{BUCKET}/drill/")], &vars).await;
    let backup_ended = Instant::now();
    let written_while_backing_up = writer.count();
    crate::support::eventually(
        "the writer adds after the backup",
        std::time::Duration::from_secs(20),
        async || writer.count() > written_while_backing_up + 3,
    )
    .await;
    let acknowledged = writer.stop().await;
    assert!(
        acknowledged
            .iter()
            .any(|(_, at)| *at > backup_started && *at < backup_ended),
        "the writer kept adding while the backup ran"
    );

    let objects = s3.objects(BUCKET, "drill/");
    assert_eq!(objects.len(), 1, "one backup object");
    let (key, bytes) = &objects[0];
    let name = key.strip_prefix("drill/").expect("under the prefix");
    assert!(
        name.len() == "20261128T020000Z.jsonl".len()
            && name.ends_with("Z.jsonl")
            && name.as_bytes()[8] == b'T',
        "named by its UTC time: {name}"
    );
    assert!(
        printed.contains(&format!("s3://{BUCKET}/{key}")),
        "{printed}"
    );
    let backup = read_backup(bytes);
    let backend_name = match backend {
        Backend::Sqlite => "SQLite",
        Backend::MariaDb => "MySQL",
    };
    assert_eq!(backup.header["backend"], backend_name);

    // The file is one snapshot: every row in it is stored exactly so, every add
    // acknowledged before the backup began is in it, and the writer's adds in it are a
    // prefix of the order they were made in (no later add without the earlier ones).
    let before_wipe = app.stored_employees().await;
    for row in &backup.rows {
        assert!(before_wipe.contains(row), "{row:?} is not stored so");
    }
    let in_file = |id: i64| backup.rows.binary_search_by_key(&id, |r| r.emp_id).is_ok();
    for e in &awkward {
        assert!(backup.rows.contains(e), "{e:?} is missing or changed");
    }
    for (id, at) in &acknowledged {
        if *at < backup_started {
            assert!(
                in_file(*id),
                "employee {id}, added before the backup began, is missing"
            );
        }
    }
    let writer_rows: Vec<i64> = backup
        .rows
        .iter()
        .map(|r| r.emp_id)
        .filter(|id| (WRITER_FIRST_ID..i64::MAX).contains(id))
        .collect();
    let writer_order: Vec<i64> = acknowledged.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        writer_rows,
        writer_order[..writer_rows.len()],
        "a prefix of the adds"
    );
    assert!(
        writer_rows.len() < writer_order.len(),
        "adds after the backup are not in it"
    );

    wipe(&app).await;
    let printed = succeeds(
        &["restore", "--from", &format!("s3://{BUCKET}/{key}")],
        &vars,
    )
    .await;
    let n = backup.rows.len();
    assert!(
        printed.starts_with(&format!("restore: {n} rows read, {n} written, 0 skipped")),
        "{printed}"
    );
    assert_eq!(
        app.stored_employees().await,
        backup.rows,
        "restored field for field"
    );
    app.fetch("1").await.assert(200, &"é".repeat(64));
}

async fn damaged_backups_are_refused_with_nothing_written(backend: Backend) {
    let app = spawn_app(backend).await;
    let awkward = awkward_employees();
    add_through_the_app(&app, &awkward).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let good_path = dir.path().join("good.jsonl");
    let good_path = good_path.to_str().expect("a UTF-8 path");
    succeeds(&["backup", "--to", good_path], &app.database_vars).await;
    let good = std::fs::read(good_path).expect("the backup file");
    let backup = read_backup(&good);
    wipe(&app).await;

    // Where the last line, the trailer, begins.
    let trailer_start = good[..good.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .expect("a line before the trailer")
        + 1;
    let mut flipped = good.clone();
    let at = flipped
        .windows(8)
        .position(|w| w == b"Lovelace")
        .expect("a row to damage");
    flipped[at] ^= 0x20;
    let mut too_long = backup.rows.clone();
    too_long[2].first_name = "x".repeat(65);
    let newer = String::from_utf8(good.clone()).expect("UTF-8").replacen(
        "\"format_version\":1",
        "\"format_version\":2",
        1,
    );
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "truncated",
            good[..good.len() - 30].to_vec(),
            "the backup is truncated",
        ),
        (
            "cut after a row",
            good[..trailer_start].to_vec(),
            "the backup is truncated: the header announces 5 rows and a trailer, the file ends after 5 rows",
        ),
        (
            "flipped",
            flipped,
            "the backup is damaged or was edited: its SHA-256 is",
        ),
        (
            "invalid row",
            resealed(
                &backup.header,
                &too_long.iter().map(row_json).collect::<Vec<_>>(),
            ),
            "line 4: employee 3: First name must be at most 64 characters (it has 65).",
        ),
        (
            "newer format",
            newer.into_bytes(),
            "backup format version 2 is not known to employee-db",
        ),
        (
            "not a backup",
            b"id,name\n1,Ada\n".to_vec(),
            "not an employee-db backup",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(format!("{name}.jsonl"));
        std::fs::write(&path, bytes).expect("write the damaged file");
        restore_fails(path.to_str().expect("UTF-8"), &app.database_vars, expected).await;
        assert!(
            app.stored_employees().await.is_empty(),
            "{name}: nothing written"
        );
    }
    let missing = dir.path().join("missing.jsonl");
    restore_fails(
        missing.to_str().expect("UTF-8"),
        &app.database_vars,
        "cannot open",
    )
    .await;

    // The same refusals from S3, where the object is read twice.
    let s3 = S3Server::start().await;
    s3.create_bucket(BUCKET);
    s3.put(BUCKET, "cut.jsonl", &good[..good.len() / 2]);
    s3.put(BUCKET, "good.jsonl", &good);
    let vars = with(app.database_vars.clone(), &s3_vars(&s3));
    restore_fails(&format!("s3://{BUCKET}/cut.jsonl"), &vars, "truncated").await;
    restore_fails(&format!("s3://{BUCKET}/none.jsonl"), &vars, "NoSuchKey").await;
    let wrong_key = with(
        vars.clone(),
        &[(
            "AWS_SECRET_ACCESS_KEY".to_owned(),
            "not-the-secret".to_owned(),
        )],
    );
    restore_fails(
        &format!("s3://{BUCKET}/good.jsonl"),
        &wrong_key,
        "SignatureDoesNotMatch",
    )
    .await;
    assert!(app.stored_employees().await.is_empty());

    succeeds(
        &["restore", "--from", &format!("s3://{BUCKET}/good.jsonl")],
        &vars,
    )
    .await;
    assert_eq!(app.stored_employees().await, awkward);
}

async fn merge_skips_identical_rows_and_stops_at_a_conflict(backend: Backend) {
    let app = spawn_app(backend).await;
    // Two batches' worth, so a conflict in the second undoes the first.
    insert_directly(&app, 1..=1_500).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("b.jsonl");
    let path = path.to_str().expect("UTF-8");
    let vars = &app.database_vars;
    succeeds(&["backup", "--to", path], vars).await;
    let backup = read_backup(&std::fs::read(path).expect("the backup"));

    restore_fails(path, vars, "the database already holds 1500 employees").await;
    let printed = succeeds(&["restore", "--from", path, "--merge"], vars).await;
    assert!(
        printed.starts_with("restore: 1500 rows read, 0 written, 1500 skipped"),
        "{printed}"
    );

    execute(&app, "DELETE FROM employee WHERE emp_id <> 1200".to_owned()).await;
    execute(
        &app,
        "UPDATE employee SET location = 'Moved' WHERE emp_id = 1200".to_owned(),
    )
    .await;
    let changed = app.stored_employees().await;
    let out = employee_db(&["restore", "--from", path, "--merge"], vars).await;
    let stderr = process::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("employee 1200 is stored differently from the backup")
            && stderr.contains("Moved"),
        "{stderr}"
    );
    assert_eq!(
        app.stored_employees().await,
        changed,
        "rows 1-1000 were rolled back"
    );

    execute(&app, "DELETE FROM employee WHERE emp_id = 1200".to_owned()).await;
    add_through_the_app(&app, &backup.rows[..1]).await;
    let printed = succeeds(&["restore", "--from", path, "--merge"], vars).await;
    assert!(
        printed.starts_with("restore: 1500 rows read, 1499 written, 1 skipped"),
        "{printed}"
    );
    assert_eq!(app.stored_employees().await, backup.rows);
}

on_both_backends!(
    restore_drill,
    damaged_backups_are_refused_with_nothing_written,
    merge_skips_identical_rows_and_stops_at_a_conflict,
);

/// The path from a trial on SQLite to a MySQL deployment, and back: each restore goes
/// into a database that has never been migrated.
#[tokio::test]
async fn a_backup_moves_between_backends() {
    if mariadb_backend().is_none() {
        return;
    }
    let sqlite = spawn_app(Backend::Sqlite).await;
    let awkward = awkward_employees();
    add_through_the_app(&sqlite, &awkward).await;
    let s3 = S3Server::start().await;
    s3.create_bucket(BUCKET);
    let from_sqlite = format!("s3://{BUCKET}/move/from-sqlite.jsonl");
    succeeds(
        &["backup", "--to", &from_sqlite],
        &with(sqlite.database_vars.clone(), &s3_vars(&s3)),
    )
    .await;

    let login = shared_server().await;
    let fresh = TestDatabase::create(login).await;
    let mariadb_vars: Vec<(String, String)> = login
        .app_vars(&fresh.name)
        .map(|(k, v)| (k.to_owned(), v))
        .to_vec();
    succeeds(
        &["restore", "--from", &from_sqlite],
        &with(mariadb_vars.clone(), &s3_vars(&s3)),
    )
    .await;
    assert_eq!(
        stored_employees(Backend::MariaDb, &fresh.url()).await,
        awkward
    );

    let dir = tempfile::tempdir().expect("temporary directory");
    let from_mariadb = dir.path().join("from-mariadb.jsonl");
    let from_mariadb = from_mariadb.to_str().expect("UTF-8");
    succeeds(&["backup", "--to", from_mariadb], &mariadb_vars).await;
    let sqlite_path = dir.path().join("new-folder/employees.db");
    let sqlite_vars = vec![("SQLITE_PATH".to_owned(), sqlite_path.display().to_string())];
    succeeds(&["restore", "--from", from_mariadb], &sqlite_vars).await;
    let url = format!("sqlite://{}", sqlite_path.display());
    assert_eq!(stored_employees(Backend::Sqlite, &url).await, awkward);
}

/// Larger than one 8 MiB part: uploaded in parts, read back whole.
#[tokio::test]
async fn a_backup_larger_than_a_part_is_uploaded_in_parts() {
    let app = spawn_app(Backend::Sqlite).await;
    insert_directly(&app, 1..=90_000).await;
    let s3 = S3Server::start().await;
    s3.create_bucket(BUCKET);
    let vars = with(app.database_vars.clone(), &s3_vars(&s3));
    succeeds(
        &["backup", "--to", &format!("s3://{BUCKET}/big.jsonl")],
        &vars,
    )
    .await;
    let objects = s3.objects(BUCKET, "big.jsonl");
    let bytes = &objects[0].1;
    assert!(bytes.len() > 8 * 1024 * 1024, "{} bytes", bytes.len());
    let stored = app.stored_employees().await;
    assert_eq!(read_backup(bytes).rows, stored);
    wipe(&app).await;
    succeeds(
        &["restore", "--from", &format!("s3://{BUCKET}/big.jsonl")],
        &vars,
    )
    .await;
    assert_eq!(app.stored_employees().await, stored);
}

/// A database that cannot be reached is one line and exit code 1, for both commands.
#[tokio::test]
async fn an_unreachable_database_is_one_line_and_exit_1() {
    let closed_port = crate::support::net::free_port().to_string();
    let mysql = [
        ("DBHOST", "127.0.0.1"),
        ("DBPORT", closed_port.as_str()),
        ("DB_ACQUIRE_TIMEOUT_MS", "500"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec();
    let dir = tempfile::tempdir().expect("temporary directory");
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"").expect("a file where a folder should be");
    let sqlite = vec![(
        "SQLITE_PATH".to_owned(),
        blocker.join("employees.db").display().to_string(),
    )];
    let backup_file = dir.path().join("b.jsonl");
    let backup_file = backup_file.to_str().expect("UTF-8");
    std::fs::write(backup_file, b"").expect("a placeholder backup");
    for vars in [mysql, sqlite] {
        for (args, prefix) in [
            (
                vec!["backup", "--to", backup_file],
                "employee-db: backup failed, no backup was written: database unavailable",
            ),
            (
                vec!["restore", "--from", backup_file],
                "employee-db: restore failed, nothing was written: database unavailable",
            ),
        ] {
            let out = employee_db(&args, &vars).await;
            let stderr = process::stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?} {vars:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(stderr.starts_with(prefix), "{args:?} {vars:?}: {stderr}");
        }
    }
    assert!(
        !dir.path().join("b.jsonl.partial").exists(),
        "a failed backup leaves no partial file"
    );
}

/// A destination or source that is neither a path nor an S3 URL is a usage error.
#[tokio::test]
async fn a_location_that_is_no_file_or_s3_url_exits_2() {
    for args in [
        ["backup", "--to", "ftp://host/b.jsonl"],
        ["restore", "--from", "s3://Not_A_Bucket/b.jsonl"],
    ] {
        let out = employee_db(&args, &[]).await;
        let stderr = process::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("accepted forms: s3://BUCKET/KEY"),
            "{stderr}"
        );
    }
}
