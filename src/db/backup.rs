//! Backup and restore at the database: a consistent snapshot read in ID order while the
//! app keeps writing, and an all-or-nothing load in batched multi-row INSERTs.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use sqlx::{MySql, Sqlite, Transaction};

use super::{COUNT, Db, DbError, Pool, employee_from_row};
use crate::employee::{Employee, Field};

/// Rows per page read and per INSERT: 5,000 placeholders, far below SQLite's 32,766 and
/// MySQL's 65,535, and a few hundred KiB per statement, below any `max_allowed_packet`.
const BATCH_ROWS: usize = 1000;

/// InnoDB: every read in the transaction sees the database as it was at its start, and
/// READ ONLY lets the server skip the bookkeeping for writes. The isolation level is set
/// for this one transaction, whatever the server's default.
const BEGIN_SNAPSHOT_MYSQL: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; \
                                    START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";
/// SQLite in WAL mode: a read transaction keeps its snapshot from its first read to its
/// end, and the app's writers carry on meanwhile.
const BEGIN_SNAPSHOT_SQLITE: &str = "BEGIN";
/// SQLite: take the write lock at the start, so the load cannot fail half-way on a lock
/// upgrade that another writer holds.
const BEGIN_LOAD_SQLITE: &str = "BEGIN IMMEDIATE";

static COLUMNS: LazyLock<String> = LazyLock::new(|| Field::ALL.map(Field::name).join(", "));

static PAGE_AFTER: LazyLock<String> = LazyLock::new(|| {
    let id = Field::EmpId.name();
    format!(
        "SELECT {} FROM employee WHERE {id} > ? ORDER BY {id} LIMIT ?",
        *COLUMNS
    )
});

/// `INSERT … VALUES (?, …), …` for `rows` rows.
fn insert_rows(rows: usize) -> sqlx::AssertSqlSafe<String> {
    let one = format!("({})", ["?"; Field::ALL.len()].join(", "));
    sqlx::AssertSqlSafe(format!(
        "INSERT INTO employee ({}) VALUES {}",
        *COLUMNS,
        vec![one; rows].join(", ")
    ))
}

/// The stored rows among `ids` IDs.
fn select_ids(ids: usize) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM employee WHERE {} IN ({})",
        *COLUMNS,
        Field::EmpId.name(),
        vec!["?"; ids].join(", ")
    ))
}

enum Tx {
    MySql(Transaction<'static, MySql>),
    Sqlite(Transaction<'static, Sqlite>),
}

/// Runs the same expression on whichever transaction is open.
macro_rules! on_tx {
    ($tx:expr, $t:ident => $body:expr) => {
        match $tx {
            Tx::MySql($t) => $body,
            Tx::Sqlite($t) => $body,
        }
    };
}

/// Bounds one statement by the query timeout, as the app bounds its queries, so a hung
/// server cannot hang a backup or restore; the whole run may take longer.
async fn bounded<T>(
    timeout: Duration,
    statement: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, DbError> {
    match tokio::time::timeout(timeout, statement).await {
        Ok(result) => result.map_err(DbError::from),
        Err(_) => Err(DbError::Unavailable(format!(
            "no answer within {} ms (DB_QUERY_TIMEOUT_MS)",
            timeout.as_millis()
        ))),
    }
}

/// The employee table as it was when the snapshot began, read a page at a time.
pub struct Snapshot {
    tx: Tx,
    timeout: Duration,
    rows: u64,
    /// The last ID handed out: pages continue after it (keyset paging on the primary
    /// key, so each page is one index range whatever the table's size).
    after: i64,
    done: bool,
}

impl Snapshot {
    /// How many employees the snapshot holds.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The next employees in ID order; an empty batch at the end.
    pub async fn next_batch(&mut self) -> Result<Vec<Employee>, DbError> {
        if self.done {
            return Ok(Vec::new());
        }
        let after = self.after;
        let tx = &mut self.tx;
        let batch = bounded(self.timeout, async {
            on_tx!(tx, t => sqlx::query(PAGE_AFTER.as_str())
                .bind(after)
                .bind(BATCH_ROWS as i64)
                .fetch_all(&mut **t)
                .await
                .and_then(|rows| rows.iter().map(employee_from_row).collect::<Result<Vec<_>, _>>()))
        })
        .await?;
        match batch.last() {
            Some(last) => self.after = last.emp_id().get(),
            None => self.done = true,
        }
        Ok(batch)
    }

    /// Ends the read transaction (it wrote nothing, so there is nothing to keep).
    pub async fn close(self) -> Result<(), DbError> {
        on_tx!(self.tx, t => t.rollback().await)?;
        Ok(())
    }
}

/// What a restore did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Restored {
    pub read: u64,
    pub written: u64,
    /// Rows already stored exactly as in the backup (`--merge`).
    pub skipped: u64,
}

/// Why a restore wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError<E> {
    /// Reading the rows failed.
    #[error(transparent)]
    Source(E),
    #[error(
        "the database already holds {0} employees: restore into an empty database, or pass \
         --merge to add the backup's employees to them"
    )]
    NotEmpty(i64),
    #[error(
        "employee {} is stored differently from the backup (stored: {}; backup: {}): \
         nothing was restored; change or remove that employee, or restore into an empty \
         database",
        .stored.emp_id(),
        describe(.stored),
        describe(.incoming)
    )]
    Conflict {
        stored: Employee,
        incoming: Employee,
    },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// An employee's text fields, for a message.
fn describe(employee: &Employee) -> String {
    employee.text_values().join(" | ")
}

impl Db {
    /// How many employees are stored, for a restore's early refusal of a database that
    /// has some.
    pub async fn employee_count(&self) -> Result<i64, DbError> {
        self.run(async { on_pool!(&self.pool, p => sqlx::query_scalar(COUNT).fetch_one(p).await) })
            .await
    }

    /// Opens a consistent snapshot of the employee table and counts it; the app may keep
    /// serving and writing while it is read.
    pub async fn snapshot(&self) -> Result<Snapshot, DbError> {
        let mut tx = match &self.pool {
            Pool::MySql(p) => Tx::MySql(p.begin_with(BEGIN_SNAPSHOT_MYSQL).await?),
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with(BEGIN_SNAPSHOT_SQLITE).await?),
        };
        let rows = count(self.query_timeout, &mut tx).await?;
        Ok(Snapshot {
            tx,
            timeout: self.query_timeout,
            rows: rows.max(0) as u64,
            after: 0,
            done: false,
        })
    }

    /// Loads the employees `next` yields (in ascending ID order, as a backup holds them) in
    /// one transaction: all of them or, on any error, none. Without `merge` the table must
    /// be empty; with it, a row already stored identically is skipped and one stored
    /// differently stops the load.
    pub async fn restore<E>(
        &self,
        merge: bool,
        mut next: impl AsyncFnMut() -> Result<Option<Employee>, E>,
    ) -> Result<Restored, RestoreError<E>> {
        let mut tx = match &self.pool {
            Pool::MySql(p) => Tx::MySql(p.begin().await.map_err(DbError::from)?),
            Pool::Sqlite(p) => Tx::Sqlite(
                p.begin_with(BEGIN_LOAD_SQLITE)
                    .await
                    .map_err(|e| self.naming_the_file(e.into()))?,
            ),
        };
        let timeout = self.query_timeout;
        if !merge {
            let stored = count(timeout, &mut tx).await?;
            if stored > 0 {
                return Err(RestoreError::NotEmpty(stored));
            }
        }
        let mut done = Restored::default();
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        loop {
            batch.clear();
            while batch.len() < BATCH_ROWS {
                match next().await.map_err(RestoreError::Source)? {
                    Some(employee) => batch.push(employee),
                    None => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            done.read += batch.len() as u64;
            if merge {
                let stored = stored_among(timeout, &mut tx, &batch).await?;
                let before = batch.len();
                let mut conflict = None;
                batch.retain(|incoming| match stored.get(&incoming.emp_id().get()) {
                    None => true,
                    Some(same) if same == incoming => false,
                    Some(other) => {
                        conflict.get_or_insert_with(|| (other.clone(), incoming.clone()));
                        false
                    }
                });
                if let Some((stored, incoming)) = conflict {
                    return Err(RestoreError::Conflict { stored, incoming });
                }
                done.skipped += (before - batch.len()) as u64;
            }
            insert_all(timeout, &mut tx, &batch).await?;
            done.written += batch.len() as u64;
        }
        on_tx!(tx, t => t.commit().await).map_err(DbError::from)?;
        Ok(done)
    }
}

async fn count(timeout: Duration, tx: &mut Tx) -> Result<i64, DbError> {
    bounded(timeout, async {
        on_tx!(tx, t => sqlx::query_scalar(COUNT).fetch_one(&mut **t).await)
    })
    .await
}

/// The stored employees with the IDs in `batch`, by ID.
async fn stored_among(
    timeout: Duration,
    tx: &mut Tx,
    batch: &[Employee],
) -> Result<HashMap<i64, Employee>, DbError> {
    let rows = bounded(timeout, async {
        on_tx!(tx, t => {
            let mut query = sqlx::query(select_ids(batch.len()));
            for employee in batch {
                query = query.bind(employee.emp_id().get());
            }
            query
                .fetch_all(&mut **t)
                .await
                .and_then(|rows| rows.iter().map(employee_from_row).collect::<Result<Vec<_>, _>>())
        })
    })
    .await?;
    Ok(rows.into_iter().map(|e| (e.emp_id().get(), e)).collect())
}

async fn insert_all(timeout: Duration, tx: &mut Tx, batch: &[Employee]) -> Result<(), DbError> {
    if batch.is_empty() {
        return Ok(());
    }
    bounded(timeout, async {
        on_tx!(tx, t => {
            let mut query = sqlx::query(insert_rows(batch.len()));
            for employee in batch {
                query = query.bind(employee.emp_id().get());
                for value in employee.text_values() {
                    query = query.bind(value);
                }
            }
            query.execute(&mut **t).await.map(|_| ())
        })
    })
    .await
}
