//! What the database does, for the metrics and the traces: each statement's span and
//! run time, the wait for a pooled connection, failures by kind, and the pool's gauges
//! (read from sqlx at each scrape). Statement names are the `statement` label values.

use std::fmt;
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use sqlx::pool::PoolConnection;
use tracing::{Instrument, Span};

use super::{Db, DbError, Pool};
use crate::metrics::{DbErrorKind, Metrics};
use crate::telemetry;

/// The statements, as metrics and spans name them.
pub(super) const LOOKUP_BATCH: &str = "lookup_batch";
/// One list page with its total (and the count alone past the last page).
pub(super) const PAGE: &str = "page";
pub(super) const INSERT: &str = "insert";
pub(super) const PING: &str = "ping";
pub(super) const MIGRATE: &str = "migrate";
/// The edit, delete and search pages' statements (`edit`, `search`): timed with the
/// wait for their pooled connection included.
pub(super) const SELECT_STORED: &str = "select_stored";
pub(super) const UPDATE: &str = "update";
pub(super) const DELETE: &str = "delete";
pub(super) const SEARCH_PAGE: &str = "search_page";
pub(super) const SEARCH_COUNT: &str = "search_count";
/// A reader task taking a connection from the pool to keep (see `readers`).
pub(super) const READER_CONNECTION: &str = "reader_connection";

impl Db {
    /// Records into `metrics` from now on. Before the first lookup: the readers take
    /// their copy when they start.
    pub fn with_metrics(mut self, metrics: Metrics) -> Db {
        self.reader_settings.metrics = metrics.clone();
        self.metrics = metrics;
        self
    }

    pub fn pool_gauges(&self) -> PoolGauges {
        PoolGauges(self.clone())
    }

    /// The span of one statement of this backend, only when traces are exported.
    pub(super) fn statement_span(&self, statement: &'static str) -> Span {
        statement_span(self.system(), statement, None)
    }

    fn system(&self) -> &'static str {
        system(&self.pool)
    }

    /// Runs one statement on the pool (`Db::run`), timed under `statement` with the wait
    /// for its connection included, in its span, a failure counted by kind.
    pub(super) async fn statement<T>(
        &self,
        statement: &'static str,
        call: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, DbError> {
        let timed_call = timed(&self.metrics, statement, self.run(call));
        self.counted(in_span(self.statement_span(statement), timed_call).await)
    }

    /// Counts a failed call by kind, and passes the result on.
    pub(super) fn counted<T>(&self, result: Result<T, DbError>) -> Result<T, DbError> {
        if let Err(err) = &result {
            self.metrics.db_error(error_kind(err));
        }
        result
    }
}

/// The OpenTelemetry name of the database system.
pub(super) fn system(pool: &Pool) -> &'static str {
    match pool {
        Pool::MySql(_) => "mysql",
        Pool::Sqlite(_) => "sqlite",
    }
}

/// A statement's span (a child of `parent`, else of the current span), only when traces
/// are exported.
pub(super) fn statement_span(
    system: &'static str,
    statement: &'static str,
    parent: Option<&Span>,
) -> Span {
    telemetry::client_span(|| match parent {
        Some(parent) => tracing::info_span!(
            parent: parent,
            "db.query",
            otel.name = statement,
            otel.kind = "client",
            db.system.name = system,
            db.operation.name = statement,
        ),
        None => tracing::info_span!(
            "db.query",
            otel.name = statement,
            otel.kind = "client",
            db.system.name = system,
            db.operation.name = statement,
        ),
    })
}

/// Runs `query`, a statement on a connection in hand, and records its run time.
pub(super) async fn timed<T, E>(
    metrics: &Metrics,
    statement: &'static str,
    query: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let result = query.await;
    metrics.db_query(statement, started.elapsed());
    result
}

/// Takes a connection from `pool` for `statement`, counting the caller as waiting
/// meanwhile and recording the wait.
pub(super) async fn acquire<DB: sqlx::Database>(
    metrics: &Metrics,
    statement: &'static str,
    pool: &sqlx::Pool<DB>,
) -> Result<PoolConnection<DB>, sqlx::Error> {
    let waiting = metrics.db_waiting();
    let started = Instant::now();
    // Boxed, as sqlx's own `Executor for &Pool` boxes it: inline in the handler's
    // future it cost memory that scaled with requests served rather than requests in
    // flight (peak RSS under 256 concurrent `POST /addemp` on SQLite: 50 MB inline,
    // 26–28 MB boxed, with never more than 256 handlers or 500 tasks alive; heaptrack
    // showed ~2 KB blocks per request freed only when the load stopped).
    let conn = Box::pin(pool.acquire()).await;
    drop(waiting);
    metrics.db_acquired(statement, started.elapsed());
    conn
}

/// Runs `call` in `span`, when there is one.
pub(super) async fn in_span<T>(span: Span, call: impl Future<Output = T>) -> T {
    call.instrument(span).await
}

fn error_kind(err: &DbError) -> DbErrorKind {
    match err {
        DbError::Unavailable(_) => DbErrorKind::Unavailable,
        DbError::Other(err) => match &**err {
            sqlx::Error::Database(db) if db.is_unique_violation() => DbErrorKind::Duplicate,
            _ => DbErrorKind::Other,
        },
    }
}

/// Registered in the metrics registry; holds a handle to the pool.
pub struct PoolGauges(Db);

impl fmt::Debug for PoolGauges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PoolGauges")
            .field(&self.0.backend_name())
            .finish()
    }
}

impl Collector for PoolGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let (size, idle, max) = on_pool!(&self.0.pool, p => (
            p.size(),
            p.num_idle(),
            p.options().get_max_connections(),
        ));
        // The readers (see `readers`) keep their connections apart from the pool: the
        // pool serves inserts, probes and the readers' (re)connections, and the readers'
        // queue shows how far reads are behind.
        let queued = self.0.readers.get().map_or(0, |readers| readers.queued());
        let gauges = [
            (
                "db_pool_connections",
                "Open connections in the pool, idle or in use (the readers' own are apart)",
                i64::from(size),
            ),
            (
                "db_pool_idle_connections",
                "Open connections in the pool not in use",
                idle as i64,
            ),
            (
                "db_pool_max_connections",
                "The most connections the pool opens (DB_MAX_CONNECTIONS less DB_READ_CONNECTIONS; at most 8 on SQLite)",
                i64::from(max),
            ),
            (
                "db_read_queue_jobs",
                "Lookups and list pages waiting for a reader",
                queued as i64,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}
