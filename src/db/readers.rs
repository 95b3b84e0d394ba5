//! The read hot path: lookups and list pages are answered by a few long-lived reader
//! tasks, each owning one connection, that requests talk to over a bounded queue.
//!
//! Why not the pool, query by query:
//! - **No round trip without data.** sqlx pings every connection it takes back into the
//!   pool (`return_to_pool`, not configurable), so a pooled lookup costs two round trips.
//!   A reader's connection is never returned, so never pinged; it is pinged only when it
//!   sat idle long enough to have been cut (a database restart, a proxy's idle timeout).
//! - **Cancellation cannot poison a connection.** A request whose client goes away, or
//!   that times out, only drops its reply channel: the query it asked for runs to the end
//!   on the reader's connection, so no connection is ever left half-way through a result.
//!   A connection that did fail (an I/O error, a query past the query timeout) is dropped,
//!   never reused.
//! - **Coalescing** (the DataLoader pattern). A reader that becomes free takes every job
//!   waiting at that moment (up to [`MAX_BATCH`]) and answers all of its lookups with one
//!   `WHERE emp_id IN (…)` query, and all of its list pages with one query per distinct
//!   page. It never waits for company: a job that reaches an idle reader runs at once,
//!   so one request at a time sees the latency it always had; under load, the jobs that
//!   queued while every reader was busy share one round trip. Every job in a batch
//!   arrived before that batch's query began, so each answer is at least as fresh as a
//!   query of its own would have been: this is not a cache and never serves a stale row.
//!
//! Readers take their connections from the pool and detach them, so the pool's connect
//! options (TLS, credentials) and its ping of a long-idle connection apply to them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::{Connection, MySqlConnection, Row, SqliteConnection};
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use tracing::Span;

use super::metrics::{self as db_metrics, LOOKUP_BATCH, PAGE, READER_CONNECTION};
use super::{DbError, PING_IF_IDLE_FOR, Pool, SQL, employee_from_row};
use crate::employee::{EmpId, Employee};
use crate::metrics::Metrics;
use crate::paging::{PAGE_SIZE, Page, PageNumber};
use crate::telemetry;

/// The most jobs one query answers. Lookup statements are prepared for batch widths
/// 1, 2, 4, … up to this, so each connection caches only a handful of statements.
pub(super) const MAX_BATCH: usize = 64;
/// Jobs waiting for a reader. Beyond this a request is answered 503 at once instead of
/// queueing without bound; at the app's default connection cap (1024) every open
/// connection can still have a query waiting.
pub(super) const QUEUE_CAPACITY: usize = 1024;
/// A reader replaces its connection this often, so a database failover or a changed
/// credential never leaves a connection in use for long.
const REPLACE_AFTER: Duration = Duration::from_secs(30 * 60);

type Reply<T> = oneshot::Sender<Result<T, DbError>>;

enum Job {
    Lookup(EmpId, Reply<Option<Employee>>),
    /// Shared: every caller asking for the same page in a batch gets the one copy.
    Page(PageNumber, Reply<Arc<Page<Employee>>>),
}

/// A job and the span of the request that asked for it (none unless traces are
/// exported), so the query that answers it appears in that request's trace.
struct Queued {
    job: Job,
    caller: Span,
}

impl Queued {
    fn abandoned(&self) -> bool {
        match &self.job {
            Job::Lookup(_, reply) => reply.is_closed(),
            Job::Page(_, reply) => reply.is_closed(),
        }
    }

    fn fail(self, err: &DbError) {
        match self.job {
            Job::Lookup(_, reply) => refuse(reply, err),
            Job::Page(_, reply) => refuse(reply, err),
        }
    }
}

/// Tells one requester its read failed. One that gave up no longer listens: nothing to
/// tell it.
fn refuse<T>(reply: Reply<T>, err: &DbError) {
    let _ = reply.send(Err(err.clone()));
}

/// How many jobs the batches answered, by size: what coalescing buys under load.
#[derive(Default)]
pub struct BatchStats {
    batches: AtomicU64,
    jobs: AtomicU64,
    /// Batches by size class: 1, 2, 3–4, 5–8, 9–16, 17–32, 33–64.
    by_size: [AtomicU64; MAX_BATCH.trailing_zeros() as usize + 1],
}

impl BatchStats {
    fn record(&self, size: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.jobs.fetch_add(size as u64, Ordering::Relaxed);
        let class = size.next_power_of_two().trailing_zeros() as usize;
        self.by_size[class.min(self.by_size.len() - 1)].fetch_add(1, Ordering::Relaxed);
    }

    /// One line, for the log when the app stops: `batches=… jobs=… mean=… sizes=1:…`.
    pub fn summary(&self) -> String {
        let batches = self.batches.load(Ordering::Relaxed);
        let jobs = self.jobs.load(Ordering::Relaxed);
        let sizes = self
            .by_size
            .iter()
            .enumerate()
            .map(|(class, n)| format!("≤{}:{}", 1 << class, n.load(Ordering::Relaxed)))
            .collect::<Vec<_>>()
            .join(" ");
        let mean = if batches == 0 {
            0.0
        } else {
            jobs as f64 / batches as f64
        };
        format!("batches={batches} jobs={jobs} mean={mean:.1} sizes={sizes}")
    }
}

/// The handle requests use: cheap to share, answers through the reader tasks.
pub(super) struct Readers {
    jobs: mpsc::Sender<Queued>,
    stop: watch::Sender<bool>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
    /// How long a request waits for its answer: a connection, then the query.
    answer_within: Duration,
    pub(super) stats: Arc<BatchStats>,
}

/// What each reader needs to get and keep a connection.
#[derive(Clone)]
pub(super) struct ReaderSettings {
    pub(super) count: u32,
    pub(super) queue_capacity: usize,
    pub(super) acquire_timeout: Duration,
    pub(super) query_timeout: Duration,
    pub(super) metrics: Metrics,
}

impl Readers {
    /// Starts the reader tasks; they connect on their first job.
    pub(super) fn start(pool: Pool, settings: ReaderSettings) -> Readers {
        let (jobs, queue) = mpsc::channel(settings.queue_capacity);
        let queue = Arc::new(Mutex::new(queue));
        let (stop, stopped) = watch::channel(false);
        let stats = Arc::new(BatchStats::default());
        let tasks = (0..settings.count)
            .map(|_| {
                let reader = Reader {
                    pool: pool.clone(),
                    settings: settings.clone(),
                    conn: None,
                    stats: stats.clone(),
                };
                tokio::spawn(reader.run(queue.clone(), stopped.clone()))
            })
            .collect();
        Readers {
            jobs,
            stop,
            tasks: std::sync::Mutex::new(tasks),
            answer_within: settings.acquire_timeout + settings.query_timeout,
            stats,
        }
    }

    pub(super) async fn lookup(&self, emp_id: EmpId) -> Result<Option<Employee>, DbError> {
        self.ask(|reply| Job::Lookup(emp_id, reply)).await
    }

    pub(super) async fn page(&self, number: PageNumber) -> Result<Arc<Page<Employee>>, DbError> {
        self.ask(|reply| Job::Page(number, reply)).await
    }

    async fn ask<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, DbError> {
        let (reply, answer) = oneshot::channel();
        let caller = if telemetry::is_tracing() {
            Span::current()
        } else {
            Span::none()
        };
        let queued = Queued {
            job: job(reply),
            caller,
        };
        self.jobs.try_send(queued).map_err(|err| {
            DbError::Unavailable(match err {
                mpsc::error::TrySendError::Full(_) => format!(
                    "{} queries already waiting for the database",
                    self.jobs.max_capacity()
                ),
                mpsc::error::TrySendError::Closed(_) => "the database is closed".into(),
            })
        })?;
        match tokio::time::timeout(self.answer_within, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(DbError::Unavailable("the database is closed".into())),
            Err(_) => Err(DbError::Unavailable(format!(
                "no answer within {} ms",
                self.answer_within.as_millis()
            ))),
        }
    }

    /// Jobs waiting for a reader now.
    pub(super) fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    /// Lets each reader finish its batch and close its connection cleanly.
    pub(super) async fn close(&self) {
        self.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().expect("reader list poisoned"));
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// A connection owned by one reader.
enum Conn {
    MySql(MySqlConnection),
    Sqlite(SqliteConnection),
}

/// Runs the same expression against whichever connection a reader owns.
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            Conn::MySql($c) => $body,
            Conn::Sqlite($c) => $body,
        }
    };
}

struct Owned {
    conn: Conn,
    opened: Instant,
    last_used: Instant,
    served: bool,
}

struct Reader {
    pool: Pool,
    settings: ReaderSettings,
    conn: Option<Owned>,
    stats: Arc<BatchStats>,
}

impl Reader {
    async fn run(
        mut self,
        queue: Arc<Mutex<mpsc::Receiver<Queued>>>,
        mut stop: watch::Receiver<bool>,
    ) {
        while let Some(batch) = next_batch(&queue, &mut stop).await {
            if let Err(down) = self.answer(batch).await {
                // The database cannot be reached: the jobs queued meanwhile would only
                // wait for the same answer, so they get it now. A reader that is already
                // taking jobs holds the queue and will try to connect for its own.
                if let Ok(mut waiting) = queue.try_lock() {
                    while let Ok(job) = waiting.try_recv() {
                        job.fail(&down);
                    }
                }
            }
        }
        if let Some(owned) = self.conn.take() {
            let _ = on_conn!(owned.conn, c => c.close().await);
        }
    }

    /// Answers every job of the batch. Fails only when no connection could be had.
    async fn answer(&mut self, mut batch: Vec<Queued>) -> Result<(), DbError> {
        batch.retain(|job| !job.abandoned());
        if batch.is_empty() {
            return Ok(());
        }
        self.stats.record(batch.len());
        if let Err(err) = self.ensure_connection().await {
            batch.into_iter().for_each(|job| job.fail(&err));
            return Err(err);
        }
        let mut lookups = Vec::new();
        let mut pages = Vec::new();
        let mut lookup_callers = Vec::new();
        let mut page_callers = Vec::new();
        for Queued { job, caller } in batch {
            match job {
                Job::Lookup(id, reply) => {
                    lookups.push((id, reply));
                    lookup_callers.push(caller);
                }
                Job::Page(number, reply) => {
                    pages.push((number, reply));
                    page_callers.push(caller);
                }
            }
        }
        if !lookups.is_empty() {
            let ids = distinct(lookups.iter().map(|(id, _)| id.get()));
            self.settings.metrics.db_batch(lookups.len());
            let span = self.statement_span(LOOKUP_BATCH, &lookup_callers);
            let read = self.query(LOOKUP_BATCH, |conn| Box::pin(lookup(conn, ids.clone())));
            match db_metrics::in_span(span, read).await {
                Ok(found) => {
                    let by_id: HashMap<i64, Employee> =
                        found.into_iter().map(|e| (e.emp_id().get(), e)).collect();
                    for (id, reply) in lookups {
                        let _ = reply.send(Ok(by_id.get(&id.get()).cloned()));
                    }
                }
                Err(err) => lookups.into_iter().for_each(|(_, r)| refuse(r, &err)),
            }
        }
        if !pages.is_empty() {
            let numbers = distinct(pages.iter().map(|(n, _)| *n));
            let span = self.statement_span(PAGE, &page_callers);
            let read = self.query(PAGE, |conn| Box::pin(list_pages(conn, numbers.clone())));
            match db_metrics::in_span(span, read).await {
                Ok(found) => {
                    let by_number: HashMap<PageNumber, Arc<Page<Employee>>> = numbers
                        .iter()
                        .copied()
                        .zip(found.into_iter().map(Arc::new))
                        .collect();
                    for (number, reply) in pages {
                        let _ = reply.send(Ok(Arc::clone(&by_number[&number])));
                    }
                }
                Err(err) => pages.into_iter().for_each(|(_, r)| refuse(r, &err)),
            }
        }
        Ok(())
    }

    /// Runs a read on this reader's connection, getting one first if needed. A read that
    /// fails on a connection that had been in use is retried once on a fresh one: reads
    /// are idempotent, and a database restarted between two batches shows only there.
    async fn query<T>(
        &mut self,
        statement: &'static str,
        read: impl Fn(&mut Conn) -> BoxFuture<'_, Result<T, sqlx::Error>>,
    ) -> Result<T, DbError> {
        let reused = self.ensure_connection().await?;
        match self.try_query(statement, &read).await {
            Err(err) if reused && self.conn.is_none() => {
                tracing::debug!(error = %err, "retrying a read on a new connection");
                self.ensure_connection().await?;
                self.try_query(statement, &read).await
            }
            result => result,
        }
    }

    async fn try_query<T>(
        &mut self,
        statement: &'static str,
        read: &impl Fn(&mut Conn) -> BoxFuture<'_, Result<T, sqlx::Error>>,
    ) -> Result<T, DbError> {
        let owned = self.conn.as_mut().expect("a connection was just ensured");
        let result = db_metrics::timed(
            &self.settings.metrics,
            statement,
            tokio::time::timeout(self.settings.query_timeout, read(&mut owned.conn)),
        )
        .await;
        owned.last_used = Instant::now();
        owned.served = true;
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                // Only a clean error from the server leaves the connection in a known
                // state; anything else (I/O, protocol, decoding mid-stream) retires it.
                if !matches!(err, sqlx::Error::Database(_)) {
                    self.conn = None;
                }
                Err(DbError::from(err))
            }
            Err(_) => {
                // The query may still be running on the server: the connection is in an
                // unknown state, so it is dropped (closing the socket ends the query).
                self.conn = None;
                Err(DbError::Unavailable(format!(
                    "no answer within {} ms",
                    self.settings.query_timeout.as_millis()
                )))
            }
        }
    }

    /// Makes sure this reader holds a usable connection. Returns whether that
    /// connection has served a query before (a failure on it may be a stale socket).
    async fn ensure_connection(&mut self) -> Result<bool, DbError> {
        if let Some(owned) = &mut self.conn {
            if owned.opened.elapsed() >= REPLACE_AFTER {
                let old = self.conn.take().expect("checked above");
                tokio::spawn(async move { on_conn!(old.conn, c => c.close().await) });
            } else if owned.last_used.elapsed() >= PING_IF_IDLE_FOR {
                let limit = self.settings.acquire_timeout;
                let ping =
                    on_conn!(&mut owned.conn, c => tokio::time::timeout(limit, c.ping()).await);
                match ping {
                    Ok(Ok(())) => {
                        owned.last_used = Instant::now();
                        return Ok(owned.served);
                    }
                    _ => self.conn = None,
                }
            } else {
                return Ok(owned.served);
            }
        }
        // The pool's acquire timeout bounds this; a database that is down fails it.
        let metrics = &self.settings.metrics;
        let conn = match &self.pool {
            Pool::MySql(p) => Conn::MySql(
                db_metrics::acquire(metrics, READER_CONNECTION, p)
                    .await?
                    .detach(),
            ),
            Pool::Sqlite(p) => Conn::Sqlite(
                db_metrics::acquire(metrics, READER_CONNECTION, p)
                    .await?
                    .detach(),
            ),
        };
        let now = Instant::now();
        self.conn = Some(Owned {
            conn,
            opened: now,
            last_used: now,
            served: false,
        });
        Ok(false)
    }
}

impl Reader {
    /// The span of a query answering `callers`: a child of the first caller's request
    /// span, linked to the others' (their traces show the query they shared).
    fn statement_span(&self, statement: &'static str, callers: &[Span]) -> Span {
        let system = db_metrics::system(&self.pool);
        let span = db_metrics::statement_span(system, statement, callers.first());
        for other in callers.iter().skip(1) {
            span.follows_from(other);
        }
        span
    }
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Waits for a job, then takes every job already waiting behind it, up to a batch.
/// Returns `None` once the readers are told to stop.
async fn next_batch(
    queue: &Mutex<mpsc::Receiver<Queued>>,
    stop: &mut watch::Receiver<bool>,
) -> Option<Vec<Queued>> {
    let mut queue = tokio::select! {
        queue = queue.lock() => queue,
        _ = stop.wait_for(|stopped| *stopped) => return None,
    };
    let first = tokio::select! {
        job = queue.recv() => job?,
        _ = stop.wait_for(|stopped| *stopped) => return None,
    };
    let mut batch = Vec::with_capacity(MAX_BATCH);
    batch.push(first);
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

fn distinct<T: Ord>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut values: Vec<T> = values.collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// One `IN (…)` query for every ID in the batch. The list is padded to the next power of
/// two by repeating the last ID, so only a few statements are ever prepared.
async fn lookup(conn: &mut Conn, ids: Vec<i64>) -> Result<Vec<Employee>, sqlx::Error> {
    let width = ids.len().next_power_of_two();
    let sql = SQL.lookup_batch(width);
    let padded = ids.iter().chain(std::iter::repeat(
        ids.last().expect("a batch is never empty"),
    ));
    on_conn!(conn, c => {
        let mut query = sqlx::query(sql);
        for id in padded.take(width) {
            query = query.bind(*id);
        }
        query
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(employee_from_row)
            .collect()
    })
}

/// Each distinct page with the total, one statement per page: the rows and the count
/// come from the same statement, hence the same snapshot, so they always agree.
async fn list_pages(
    conn: &mut Conn,
    numbers: Vec<PageNumber>,
) -> Result<Vec<Page<Employee>>, sqlx::Error> {
    let mut pages = Vec::with_capacity(numbers.len());
    for number in numbers {
        let (rows, total) = on_conn!(&mut *conn, c => {
            let rows = sqlx::query(SQL.select_page.as_str())
                .bind(PAGE_SIZE)
                .bind(number.offset())
                .fetch_all(&mut *c)
                .await?;
            let total = match rows.first() {
                Some(row) => row.try_get::<i64, _>("total")?,
                // Past the last page there is no row to carry the count.
                None => sqlx::query_scalar(super::COUNT).fetch_one(&mut *c).await?,
            };
            (
                rows.iter().map(employee_from_row).collect::<Result<Vec<_>, _>>()?,
                total,
            )
        });
        pages.push(Page::new(number, rows, total));
    }
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::sqlite_db;
    use super::*;
    use crate::employee::EmpId;

    fn employee(id: i64) -> Employee {
        Employee::from_stored(
            EmpId::from_stored(id),
            [
                format!("First{id}"),
                format!("Last{id}"),
                "Rust".into(),
                "Toronto".into(),
            ],
        )
    }

    /// Lookups that wait together are answered by one query, each with its own row.
    #[tokio::test]
    async fn concurrent_lookups_share_a_query_and_each_gets_its_own_employee() {
        let (_dir, mut db) = sqlite_db(1).await;
        db.reader_settings.queue_capacity = MAX_BATCH;
        for id in 1..=40 {
            db.insert(&employee(id)).await.unwrap();
        }
        // On this single-threaded runtime every task queues its lookup before the one
        // reader runs, so the reader finds them all waiting.
        let mut lookups = tokio::task::JoinSet::new();
        for id in 1..=50 {
            let db = db.clone();
            lookups.spawn(async move { (id, db.get(EmpId::from_stored(id)).await) });
        }
        while let Some(done) = lookups.join_next().await {
            let (id, found) = done.unwrap();
            let found = found.unwrap();
            if id <= 40 {
                assert_eq!(found, Some(employee(id)));
            } else {
                assert_eq!(found, None, "{id} was never added");
            }
        }
        let stats = &db.readers().stats;
        assert_eq!(stats.jobs.load(Ordering::Relaxed), 50);
        assert_eq!(
            stats.batches.load(Ordering::Relaxed),
            1,
            "{}",
            stats.summary()
        );
    }

    /// A requester that gives up does not disturb the query or the connection.
    #[tokio::test]
    async fn a_cancelled_lookup_leaves_the_reader_working() {
        let (_dir, db) = sqlite_db(1).await;
        db.insert(&employee(7)).await.unwrap();
        let cancelled = tokio::spawn({
            let db = db.clone();
            async move { db.get(EmpId::from_stored(7)).await }
        });
        tokio::task::yield_now().await;
        cancelled.abort();
        assert_eq!(
            db.get(EmpId::from_stored(7)).await.unwrap(),
            Some(employee(7))
        );
        let page = db.page(PageNumber::FIRST).await.unwrap();
        assert_eq!((page.total, &page.rows), (1, &vec![employee(7)]));
    }

    /// A full queue is an immediate "unavailable", not unbounded memory or a long wait.
    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let (_dir, db) = sqlite_db(1).await;
        // The one reader cannot get a connection while the test holds the pool's only
        // one, so jobs pile up in its queue (capacity 4 in these tests).
        let Pool::Sqlite(pool) = &db.pool else {
            unreachable!()
        };
        let held = pool.acquire().await.unwrap();
        let mut waiting = tokio::task::JoinSet::new();
        // The first lookup becomes the reader's batch, stuck waiting for a connection;
        // the next four fill the queue.
        for id in 1..=5 {
            let db = db.clone();
            waiting.spawn(async move { db.get(EmpId::from_stored(id)).await });
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let started = Instant::now();
        match db.get(EmpId::from_stored(9)).await {
            Err(DbError::Unavailable(reason)) => {
                assert!(reason.contains("already waiting"), "{reason}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_millis(100));
        drop(held);
        while let Some(done) = waiting.join_next().await {
            // Each was answered: found nothing, or unavailable while the pool was held.
            done.unwrap().ok();
        }
    }
}
