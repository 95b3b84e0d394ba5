//! Storage of employees in MySQL/MariaDB, or in an embedded SQLite file when no MySQL
//! host is configured.
//!
//! Two typed pools behind one enum rather than sqlx's `Any` driver: each backend keeps
//! its own statement cache and row decoding, which matters on the hot lookup path, and
//! the queries below are written once and run on either pool.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::Connection;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::config::{DatabaseConfig, DbSettings};
use crate::employee::Employee;

/// Employees shown per page of the list.
pub const PAGE_SIZE: i64 = 50;

const INSERT: &str = "INSERT INTO employee (emp_id, first_name, last_name, primary_skill, location) \
                      VALUES (?, ?, ?, ?, ?)";
const SELECT_ONE: &str = "SELECT emp_id, first_name, last_name, primary_skill, location \
                          FROM employee WHERE emp_id = ?";
const SELECT_PAGE: &str = "SELECT emp_id, first_name, last_name, primary_skill, location \
                           FROM employee ORDER BY emp_id LIMIT ? OFFSET ?";
const COUNT: &str = "SELECT COUNT(*) FROM employee";
const PING: &str = "SELECT 1";
/// A pooled connection idle for this long is pinged before it is used again.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The server cannot be reached, timed out, or the schema is not in place yet:
    /// worth retrying, and the answer to the user is 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("an employee with ID {0} already exists")]
    Duplicate(i64),
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) => DbError::Unavailable(err.to_string()),
            sqlx::Error::Database(ref db) if is_transient(db.as_ref()) => {
                DbError::Unavailable(err.to_string())
            }
            other => DbError::Other(other),
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
    // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED (and their extended codes).
    err.code()
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
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
}

impl Db {
    /// Creates the pool without connecting, so the app starts while MySQL is down.
    pub fn connect_lazy(settings: &DbSettings) -> Result<Db, DbError> {
        let pool = match &settings.backend {
            DatabaseConfig::MySql {
                host,
                port,
                user,
                password,
                database,
            } => {
                let options = MySqlConnectOptions::new()
                    .host(host)
                    .port(*port)
                    .username(user)
                    .password(password.expose())
                    .database(database)
                    .charset("utf8mb4");
                Pool::MySql(
                    MySqlPoolOptions::new()
                        .max_connections(settings.max_connections)
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
                        })
                        .connect_lazy_with(options),
                )
            }
            DatabaseConfig::Sqlite { path } => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        DbError::Unavailable(format!(
                            "cannot create the SQLite folder {}: {e}",
                            dir.display()
                        ))
                    })?;
                }
                let options = SqliteConnectOptions::from_str("sqlite:")
                    .map_err(DbError::Other)?
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a confirmed add survives power loss, not only a crash.
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(settings.query_timeout);
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(settings.max_connections.min(8))
                        .acquire_timeout(settings.acquire_timeout)
                        .connect_lazy_with(options),
                )
            }
        };
        Ok(Db {
            pool,
            schema_ready: Arc::new(AtomicBool::new(false)),
            query_timeout: settings.query_timeout,
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
        let result = match &self.pool {
            Pool::MySql(p) => sqlx::migrate!("migrations/mysql").run(p).await,
            Pool::Sqlite(p) => sqlx::migrate!("migrations/sqlite").run(p).await,
        };
        result.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(err) => DbError::from(err),
            other => DbError::Other(sqlx::Error::Migrate(Box::new(other))),
        })?;
        self.schema_ready.store(true, Ordering::Release);
        Ok(())
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
                Err(DbError::Unavailable(reason)) => {
                    tracing::warn!(%reason, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                }
                Err(err) => {
                    tracing::error!(error = %err, retry_in_ms = delay.as_millis() as u64, "database migration failed");
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
        if !self.schema_ready.load(Ordering::Acquire) {
            return Err(DbError::Unavailable(
                "the database schema is not in place yet".into(),
            ));
        }
        match tokio::time::timeout(self.query_timeout, fut).await {
            Ok(result) => result.map_err(DbError::from),
            Err(_) => Err(DbError::Unavailable(format!(
                "no answer within {} ms",
                self.query_timeout.as_millis()
            ))),
        }
    }

    /// A round trip to the server, for the readiness probe.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(async {
            on_pool!(&self.pool, p => sqlx::query(PING).execute(p).await.map(|_| ()))
        })
        .await
    }

    pub async fn insert(&self, e: &Employee) -> Result<(), DbError> {
        let result = self
            .run(async {
                on_pool!(&self.pool, p => sqlx::query(INSERT)
                    .bind(e.emp_id)
                    .bind(&e.first_name)
                    .bind(&e.last_name)
                    .bind(&e.primary_skill)
                    .bind(&e.location)
                    .execute(p)
                    .await
                    .map(|_| ()))
            })
            .await;
        match result {
            Err(DbError::Other(sqlx::Error::Database(db))) if db.is_unique_violation() => {
                Err(DbError::Duplicate(e.emp_id))
            }
            other => other,
        }
    }

    pub async fn get(&self, emp_id: i64) -> Result<Option<Employee>, DbError> {
        self.run(async {
            on_pool!(&self.pool, p => sqlx::query_as(SELECT_ONE)
                .bind(emp_id)
                .fetch_optional(p)
                .await)
        })
        .await
    }

    /// One page (1-based) of employees ordered by ID, and the total count.
    pub async fn page(&self, page: i64) -> Result<(Vec<Employee>, i64), DbError> {
        let offset = (page - 1).saturating_mul(PAGE_SIZE);
        let rows = self
            .run(async {
                on_pool!(&self.pool, p => sqlx::query_as(SELECT_PAGE)
                    .bind(PAGE_SIZE)
                    .bind(offset)
                    .fetch_all(p)
                    .await)
            })
            .await?;
        let total = self.count().await?;
        Ok((rows, total))
    }

    pub async fn count(&self) -> Result<i64, DbError> {
        self.run(async { on_pool!(&self.pool, p => sqlx::query_scalar(COUNT).fetch_one(p).await) })
            .await
    }

    /// Closes every connection, for a clean shutdown.
    pub async fn close(&self) {
        on_pool!(&self.pool, p => p.close().await)
    }
}
