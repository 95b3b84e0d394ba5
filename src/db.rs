//! Storage of employees in MySQL/MariaDB, or in an embedded SQLite file when no MySQL
//! host is configured.
//!
//! Two typed pools behind one enum rather than sqlx's `Any` driver: each backend keeps
//! its own statement cache and row decoding, which matters on the hot lookup path, and
//! the queries below are written once and run on either pool.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Row};

use crate::config::{DatabaseConfig, DbSettings};
use crate::employee::{EmpId, Employee, Field};
use crate::metrics::Metrics;
use crate::paging::{Page, PageNumber};
use readers::{ReaderSettings, Readers};

/// The statements, built once from `Field` so the column list is written in one place.
struct Statements {
    insert: String,
    /// `… WHERE emp_id IN (?, …)` for 1, 2, 4, … up to `readers::MAX_BATCH` IDs.
    lookup_batches: Vec<String>,
    /// One page of rows, each carrying the total count in a column named `total`.
    select_page: String,
}

impl Statements {
    fn lookup_batch(&self, width: usize) -> &str {
        &self.lookup_batches[width.trailing_zeros() as usize]
    }
}

static SQL: LazyLock<Statements> = LazyLock::new(|| {
    let columns = Field::ALL.map(Field::name).join(", ");
    let id = Field::EmpId.name();
    Statements {
        insert: format!(
            "INSERT INTO employee ({columns}) VALUES ({})",
            ["?"; Field::ALL.len()].join(", ")
        ),
        lookup_batches: (0..=readers::MAX_BATCH.trailing_zeros())
            .map(|power| {
                let marks = vec!["?"; 1 << power].join(", ");
                format!("SELECT {columns} FROM employee WHERE {id} IN ({marks})")
            })
            .collect(),
        select_page: format!(
            "SELECT {columns}, ({COUNT}) AS total FROM employee ORDER BY {id} LIMIT ? OFFSET ?"
        ),
    }
});
const COUNT: &str = "SELECT COUNT(*) FROM employee";
const PING: &str = "SELECT 1";
/// A pooled connection idle for this long is pinged before it is used again.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// What an insert did: a taken ID is an ordinary answer, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Added,
    IdTaken,
}

/// Cloneable, because one failed batch query answers every request in the batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
    /// The server cannot be reached, timed out, or the schema is not in place yet:
    /// worth retrying, and the answer to the user is 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(#[source] Arc<sqlx::Error>),
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => DbError::Unavailable(err.to_string()),
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                DbError::Unavailable(connect::describe(&err))
            }
            sqlx::Error::Database(ref db) if is_transient(db.as_ref()) => {
                DbError::Unavailable(err.to_string())
            }
            other => DbError::Other(Arc::new(other)),
        }
    }
}

/// Server errors that mean "try again later", not "this request is wrong".
fn is_transient(err: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(mysql) = err.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        // 1040 too many connections, 1053 shutdown in progress, 1205 lock wait timeout,
        // 1213 deadlock, 2006/2013 server gone away / connection lost.
        return matches!(mysql.number(), 1040 | 1053 | 1205 | 1213 | 2006 | 2013);
    }
    // SQLite: 5 BUSY, 6 LOCKED, 8 READONLY (a read-only file or folder), 13 FULL (disk
    // full), 14 CANTOPEN (the folder is missing or not writable), with their extended
    // codes: an operator fixes these without the user changing anything.
    err.code()
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6 | 8 | 13 | 14))
}

#[derive(Clone)]
enum Pool {
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

/// Runs the same expression against whichever pool is configured.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            Pool::MySql($p) => $body,
            Pool::Sqlite($p) => $body,
        }
    };
}

/// A handle to the employee store, cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// Set once migrations have run; until then requests answer 503 instead of
    /// failing on a missing table.
    schema_ready: Arc<AtomicBool>,
    query_timeout: Duration,
    /// The SQLite file, named in every error about it so an operator knows what to fix.
    sqlite_path: Option<std::path::PathBuf>,
    /// TLS and IAM state, and why the database was last unreachable (`db/connect.rs`).
    connect: Arc<connect::Connect>,
    /// Lookups and list pages; started on first use, inside the runtime.
    readers: Arc<OnceLock<Readers>>,
    reader_settings: ReaderSettings,
    metrics: Metrics,
}

impl Db {
    /// Creates the pool without connecting, so the app starts while MySQL is down.
    pub fn connect_lazy(settings: &DbSettings) -> Result<Db, DbError> {
        Db::open(settings, None)
    }

    fn open(
        settings: &DbSettings,
        aws_credentials: Option<SharedCredentialsProvider>,
    ) -> Result<Db, DbError> {
        // The readers' connections come out of the same budget, so the server never sees
        // more than DB_MAX_CONNECTIONS from one replica.
        let readers = settings.read_connections;
        let pool_size = settings.max_connections.saturating_sub(readers).max(1);
        let (pool, connect) = match &settings.backend {
            DatabaseConfig::MySql(mysql) => {
                let (pool, connect) = connect::mysql_pool(
                    mysql,
                    MySqlPoolOptions::new()
                        .max_connections(pool_size)
                        .acquire_timeout(settings.acquire_timeout)
                        // Replace connections now and then, so a failover or a proxy's
                        // idle cut never leaves stale sockets in the pool for long.
                        .max_lifetime(Duration::from_secs(30 * 60))
                        .idle_timeout(Duration::from_secs(5 * 60))
                        // sqlx pings every connection it hands out: one more round trip to
                        // the server for every query. A connection in steady use is known to
                        // be alive; one that sat idle may have been cut by a database restart
                        // or a proxy, so only that one is pinged first.
                        .test_before_acquire(false)
                        .before_acquire(|conn, meta| {
                            Box::pin(async move {
                                if meta.idle_for >= PING_IF_IDLE_FOR {
                                    conn.ping().await?;
                                }
                                Ok(true)
                            })
                        }),
                    aws_credentials,
                )?;
                (Pool::MySql(pool), connect)
            }
            DatabaseConfig::Sqlite { path } => {
                let options = SqliteConnectOptions::from_str("sqlite:")
                    .map_err(DbError::from)?
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a confirmed add survives power loss, not only a crash.
                    .synchronous(SqliteSynchronous::Full)
                    // The search indexes' collation (migrations/sqlite/0004).
                    .collation(
                        crate::search::SQLITE_COLLATION,
                        crate::search::compare_folded,
                    )
                    .busy_timeout(settings.query_timeout);
                (
                    Pool::Sqlite(
                        SqlitePoolOptions::new()
                            .max_connections(pool_size.min(8))
                            .acquire_timeout(settings.acquire_timeout)
                            .connect_lazy_with(options),
                    ),
                    connect::Connect::default(),
                )
            }
        };
        Ok(Db {
            pool,
            schema_ready: Arc::new(AtomicBool::new(false)),
            query_timeout: settings.query_timeout,
            sqlite_path: match &settings.backend {
                DatabaseConfig::Sqlite { path } => Some(path.clone()),
                DatabaseConfig::MySql(_) => None,
            },
            connect: Arc::new(connect),
            readers: Arc::new(OnceLock::new()),
            reader_settings: ReaderSettings {
                count: readers,
                queue_capacity: readers::QUEUE_CAPACITY,
                acquire_timeout: settings.acquire_timeout,
                query_timeout: settings.query_timeout,
                metrics: Metrics::off(),
            },
            metrics: Metrics::off(),
        })
    }

    pub fn backend_name(&self) -> &'static str {
        match self.pool {
            Pool::MySql(_) => "MySQL",
            Pool::Sqlite(_) => "SQLite",
        }
    }

    /// Applies the migrations for this backend. On MySQL sqlx holds a lock meanwhile,
    /// so replicas starting together do not race.
    pub async fn migrate(&self) -> Result<(), DbError> {
        if let Some(dir) = self
            .sqlite_path
            .as_deref()
            .and_then(std::path::Path::parent)
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                DbError::Unavailable(format!(
                    "cannot create the SQLite folder {}: {e}",
                    dir.display()
                ))
            })?;
        }
        self.ready_to_connect().await?;
        let result = metrics::in_span(
            self.statement_span(metrics::MIGRATE),
            metrics::timed(&self.metrics, metrics::MIGRATE, async {
                match &self.pool {
                    Pool::MySql(p) => sqlx::migrate!("migrations/mysql").run(p).await,
                    Pool::Sqlite(p) => sqlx::migrate!("migrations/sqlite").run(p).await,
                }
            }),
        )
        .await;
        result
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(err) => DbError::from(err),
                other => DbError::from(sqlx::Error::Migrate(Box::new(other))),
            })
            .map_err(|err| self.naming_the_file(err))?;
        self.schema_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether migrations have run: the database has been reached since start.
    pub fn schema_is_ready(&self) -> bool {
        self.schema_ready.load(Ordering::Acquire)
    }

    /// Adds the SQLite file's path to an error about it.
    fn naming_the_file(&self, err: DbError) -> DbError {
        match (&self.sqlite_path, err) {
            (Some(path), DbError::Unavailable(reason)) => {
                DbError::Unavailable(format!("SQLite file {}: {reason}", path.display()))
            }
            (_, err) => err,
        }
    }

    /// Keeps trying to migrate until it works, for a database that is not up yet.
    pub async fn migrate_until_ready(&self) {
        let mut delay = Duration::from_millis(200);
        loop {
            match self.migrate().await {
                Ok(()) => {
                    tracing::info!(
                        backend = self.backend_name(),
                        "database schema is up to date"
                    );
                    return;
                }
                Err(err) => {
                    self.remember_failure(&err);
                    match err {
                        DbError::Unavailable(reason) => {
                            tracing::warn!(%reason, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                        }
                        err => {
                            tracing::error!(error = %err, retry_in_ms = delay.as_millis() as u64, "database migration failed");
                        }
                    }
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// Bounds a database call by the query timeout and the schema being in place.
    async fn run<T>(
        &self,
        fut: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, DbError> {
        self.schema_in_place()?;
        match tokio::time::timeout(self.query_timeout, fut).await {
            Ok(result) => result.map_err(DbError::from),
            Err(_) => Err(DbError::Unavailable(format!(
                "no answer within {} ms",
                self.query_timeout.as_millis()
            ))),
        }
    }

    fn schema_in_place(&self) -> Result<(), DbError> {
        if self.schema_ready.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(DbError::Unavailable(self.not_ready_reason()))
        }
    }

    /// A round trip to the server, for the readiness probe.
    pub async fn ping(&self) -> Result<(), DbError> {
        let m = &self.metrics;
        let ping = self.run(async {
            on_pool!(&self.pool, p => {
                let mut conn = metrics::acquire(m, metrics::PING, p).await?;
                metrics::timed(m, metrics::PING, sqlx::query(PING).execute(&mut *conn))
                    .await
                    .map(|_| ())
            })
        });
        self.counted(metrics::in_span(self.statement_span(metrics::PING), ping).await)
    }

    pub async fn insert(&self, e: &Employee) -> Result<Inserted, DbError> {
        let [first_name, last_name, primary_skill, location] = e.text_values();
        let m = &self.metrics;
        let insert = self.run(async {
            on_pool!(&self.pool, p => {
                let mut conn = metrics::acquire(m, metrics::INSERT, p).await?;
                let query = sqlx::query(SQL.insert.as_str())
                    .bind(e.emp_id().get())
                    .bind(first_name)
                    .bind(last_name)
                    .bind(primary_skill)
                    .bind(location)
                    .execute(&mut *conn);
                metrics::timed(m, metrics::INSERT, query).await.map(|_| ())
            })
        });
        let result =
            self.counted(metrics::in_span(self.statement_span(metrics::INSERT), insert).await);
        match result {
            Ok(()) => Ok(Inserted::Added),
            Err(DbError::Other(err)) if matches!(&*err, sqlx::Error::Database(db) if db.is_unique_violation()) => {
                Ok(Inserted::IdTaken)
            }
            Err(other) => Err(other),
        }
    }

    /// The employee with this ID, through the readers (see `readers`).
    pub async fn get(&self, emp_id: EmpId) -> Result<Option<Employee>, DbError> {
        self.counted(match self.schema_in_place() {
            Ok(()) => self.readers().lookup(emp_id).await,
            Err(err) => Err(err),
        })
    }

    /// One page of employees ordered by ID, with the total count.
    pub async fn page(&self, number: PageNumber) -> Result<Arc<Page<Employee>>, DbError> {
        self.counted(match self.schema_in_place() {
            Ok(()) => self.readers().page(number).await,
            Err(err) => Err(err),
        })
    }

    fn readers(&self) -> &Readers {
        self.readers
            .get_or_init(|| Readers::start(self.pool.clone(), self.reader_settings.clone()))
    }

    /// Closes every connection, for a clean shutdown.
    pub async fn close(&self) {
        if let Some(readers) = self.readers.get() {
            readers.close().await;
            tracing::info!(batches = %readers.stats.summary(), "database reads");
        }
        on_pool!(&self.pool, p => p.close().await)
    }
}

/// Reads an employee from a row of either backend, by the columns `Field` names.
fn employee_from_row<R: Row>(row: &R) -> Result<Employee, sqlx::Error>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let text = |field: Field| row.try_get::<String, _>(field.name());
    Ok(Employee::from_stored(
        EmpId::from_stored(row.try_get(Field::EmpId.name())?),
        [
            text(Field::FirstName)?,
            text(Field::LastName)?,
            text(Field::PrimarySkill)?,
            text(Field::Location)?,
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::employee::TEXT_MAX_CHARS;

    fn sqlite_settings(path: std::path::PathBuf) -> DbSettings {
        DbSettings {
            backend: DatabaseConfig::Sqlite { path },
            max_connections: 2,
            acquire_timeout: Duration::from_secs(5),
            query_timeout: Duration::from_secs(5),
            read_connections: 1,
        }
    }

    /// A migrated SQLite database in a temporary folder, with `readers` readers whose
    /// queue holds 4 jobs.
    pub(super) async fn sqlite_db(readers: u32) -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::connect_lazy(&sqlite_settings(dir.path().join("e.db"))).unwrap();
        db.reader_settings.count = readers;
        db.reader_settings.queue_capacity = 4;
        db.reader_settings.acquire_timeout = Duration::from_secs(1);
        db.migrate().await.unwrap();
        (dir, db)
    }

    /// SQLite refuses what MySQL's VARCHAR(64) refuses, even when the app is bypassed.
    #[tokio::test]
    async fn sqlite_refuses_text_wider_than_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect_lazy(&sqlite_settings(dir.path().join("e.db"))).unwrap();
        db.migrate().await.unwrap();
        let Pool::Sqlite(pool) = &db.pool else {
            unreachable!("an SQLite path makes an SQLite pool")
        };
        let insert = |first: String| {
            sqlx::query(SQL.insert.as_str())
                .bind(1_i64)
                .bind(first)
                .bind("Lovelace")
                .bind("Maths")
                .bind("London")
                .execute(pool)
        };
        let too_wide = insert("é".repeat(TEXT_MAX_CHARS + 1)).await.unwrap_err();
        assert!(too_wide.to_string().contains("CHECK"), "{too_wide}");
        insert("é".repeat(TEXT_MAX_CHARS)).await.unwrap();
    }

    /// A folder that cannot be created is "unavailable", with the file named.
    #[tokio::test]
    async fn an_unusable_sqlite_folder_is_unavailable_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-folder");
        std::fs::write(&blocker, b"").unwrap();
        let db = Db::connect_lazy(&sqlite_settings(blocker.join("e.db"))).unwrap();
        match db.migrate().await {
            Err(DbError::Unavailable(reason)) => {
                assert!(reason.contains("not-a-folder"), "{reason}")
            }
            other => panic!("expected unavailable, got {other:?}"),
        }
    }
}

pub mod backup;
mod connect;
mod edit;
mod iam;
mod metrics;
mod readers;
mod search;
pub use edit::{Stored, Updated};
