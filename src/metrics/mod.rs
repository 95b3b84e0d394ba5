//! What the app counts, for Prometheus: requests by route template, the database, the
//! background image, business events, the process, and the build. Each application has
//! a registry of its own (tests run many apps in one process), served on a listener of
//! its own (`serve`), never on the public port.
//!
//! `Metrics` is the handle every module records through. With `METRICS_PORT=0` it is
//! off: every call returns at once, nothing is counted, nothing is served.

mod process;
mod serve;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

pub use self::serve::{MetricsServer, RunningMetrics};

/// Latency buckets from a quarter of a millisecond (a page from memory) to 10 s (a
/// request waiting on a stuck dependency up to its timeout), about ×2.5 apart.
const LATENCY_BUCKETS: [f64; 15] = [
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The route label of a request that matched no route: raw paths would give every
/// scanner's probe a series of its own.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The version and commit the binary was built from. The commit comes from the build
/// (`GIT_SHA`, a Docker build argument the workflow sets).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_SHA: &str = match option_env!("GIT_SHA") {
    Some(sha) if !sha.is_empty() => sha,
    _ => "unknown",
};

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Batch sizes: one lookup alone up to a full batch (64, `db::readers::MAX_BATCH`).
fn batch_histogram() -> Histogram {
    Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
}

type LatencyFamily<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatementLabels {
    statement: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// Why a database call failed, as `db_errors_total` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// Unreachable, timed out, or the schema not in place: the user gets a 503.
    Unavailable,
    /// A unique key taken (an employee ID that exists): the user is told so.
    Duplicate,
    Other,
}

impl DbErrorKind {
    fn label(self) -> &'static str {
        match self {
            DbErrorKind::Unavailable => "unavailable",
            DbErrorKind::Duplicate => "duplicate",
            DbErrorKind::Other => "other",
        }
    }
}

/// How one fetch of the background image ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    /// A new or changed image was downloaded.
    Downloaded,
    /// S3 said the shown image is current (ETag).
    NotModified,
    Failed,
}

impl FetchOutcome {
    fn label(self) -> &'static str {
        match self {
            FetchOutcome::Downloaded => "downloaded",
            FetchOutcome::NotModified => "not_modified",
            FetchOutcome::Failed => "failed",
        }
    }
}

fn lookup_result(found: bool) -> &'static str {
    if found { "found" } else { "not_found" }
}

/// Every series the app records into.
struct Families {
    http_requests: Family<RequestLabels, Counter>,
    http_duration: LatencyFamily<RouteLabels>,
    db_query_duration: LatencyFamily<StatementLabels>,
    db_acquire_duration: LatencyFamily<StatementLabels>,
    db_errors: Family<KindLabels, Counter>,
    db_pool_waiting: Gauge,
    db_batch_size: Histogram,
    background_state: Family<StateLabels, Gauge>,
    background_fetches: Family<OutcomeLabels, Counter>,
    background_bytes: Counter,
    background_last_success: Gauge<f64, AtomicU64>,
    employees_added: Counter,
    employee_lookups: Family<ResultLabels, Counter>,
}

/// The recording handle: cheap to clone; does nothing when metrics are off.
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Families>>);

impl Metrics {
    /// Metrics off: nothing counted.
    pub fn off() -> Metrics {
        Metrics(None)
    }

    /// Registers every series (and the process and build ones) in `registry`.
    pub fn new(registry: &mut Registry) -> Metrics {
        let f = Families {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            db_query_duration: Family::new_with_constructor(latency_histogram),
            db_acquire_duration: Family::new_with_constructor(latency_histogram),
            db_errors: Family::default(),
            db_pool_waiting: Gauge::default(),
            db_batch_size: batch_histogram(),
            background_state: Family::default(),
            background_fetches: Family::default(),
            background_bytes: Counter::default(),
            background_last_success: Gauge::default(),
            employees_added: Counter::default(),
            employee_lookups: Family::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status class",
            f.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its response head, by route template",
            f.http_duration.clone(),
        );
        registry.register(
            "db_query_duration_seconds",
            "Time a database statement took once it had a connection, by statement",
            f.db_query_duration.clone(),
        );
        registry.register(
            "db_pool_acquire_duration_seconds",
            "Time spent waiting for a pooled connection, by statement",
            f.db_acquire_duration.clone(),
        );
        registry.register(
            "db_errors",
            "Failed database calls by kind: unavailable (answered 503), duplicate (an ID \
             taken), other",
            f.db_errors.clone(),
        );
        registry.register(
            "db_pool_waiting",
            "Callers waiting for a pooled connection now",
            f.db_pool_waiting.clone(),
        );
        registry.register(
            "db_lookup_batch_size",
            "Employee lookups answered by one batched query",
            f.db_batch_size.clone(),
        );
        registry.register(
            "background_state",
            "The background image's state: 1 for the current one, 0 for the others",
            f.background_state.clone(),
        );
        registry.register(
            "background_fetches",
            "Background image fetches from S3 by outcome: downloaded, not_modified, failed",
            f.background_fetches.clone(),
        );
        registry.register(
            "background_fetched_bytes",
            "Bytes of background images downloaded",
            f.background_bytes.clone(),
        );
        registry.register(
            "background_last_success_timestamp_seconds",
            "When S3 last answered with the image or confirmed it current (Unix time)",
            f.background_last_success.clone(),
        );
        registry.register(
            "employees_added",
            "Employees added through the form",
            f.employees_added.clone(),
        );
        registry.register(
            "employee_lookups",
            "Employee lookups by result: found or not_found",
            f.employee_lookups.clone(),
        );
        registry.register(
            "build",
            "The version and commit of the running binary",
            Info::new(vec![("version", VERSION), ("git_sha", GIT_SHA)]),
        );
        registry.register_collector(Box::new(process::ProcessCollector));
        // Series with a known, small set of labels start at 0, so that a rate or an
        // alert on them works before the first event instead of seeing no data.
        for kind in [
            DbErrorKind::Unavailable,
            DbErrorKind::Duplicate,
            DbErrorKind::Other,
        ] {
            let _ = f
                .db_errors
                .get_or_create(&KindLabels { kind: kind.label() });
        }
        for outcome in [
            FetchOutcome::Downloaded,
            FetchOutcome::NotModified,
            FetchOutcome::Failed,
        ] {
            let _ = f.background_fetches.get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            });
        }
        for found in [true, false] {
            let _ = f.employee_lookups.get_or_create(&ResultLabels {
                result: lookup_result(found),
            });
        }
        Metrics(Some(Arc::new(f)))
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// One answered request. `route` is the matched route template.
    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let Some(f) = &self.0 else { return };
        f.http_requests
            .get_or_create(&RequestLabels {
                method: method_label(method),
                route: route.to_owned(),
                status: status_class(status),
            })
            .inc();
        f.http_duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The wait for a pooled connection before `statement` ran.
    pub fn db_acquired(&self, statement: &'static str, waited: Duration) {
        let Some(f) = &self.0 else { return };
        f.db_acquire_duration
            .get_or_create(&StatementLabels { statement })
            .observe(waited.as_secs_f64());
    }

    /// One statement's run time, its connection in hand.
    pub fn db_query(&self, statement: &'static str, took: Duration) {
        let Some(f) = &self.0 else { return };
        f.db_query_duration
            .get_or_create(&StatementLabels { statement })
            .observe(took.as_secs_f64());
    }

    pub fn db_error(&self, kind: DbErrorKind) {
        let Some(f) = &self.0 else { return };
        f.db_errors
            .get_or_create(&KindLabels { kind: kind.label() })
            .inc();
    }

    /// How many lookups one batched query answered.
    pub fn db_batch(&self, size: usize) {
        let Some(f) = &self.0 else { return };
        f.db_batch_size.observe(size as f64);
    }

    /// Counts a caller waiting for a connection until the guard is dropped.
    pub fn db_waiting(&self) -> WaitingGuard {
        let gauge = self.0.as_ref().map(|f| {
            f.db_pool_waiting.inc();
            f.db_pool_waiting.clone()
        });
        WaitingGuard(gauge)
    }

    /// The background's state is now `current`, one of `all`.
    pub fn background_state(&self, current: &'static str, all: &[&'static str]) {
        let Some(f) = &self.0 else { return };
        for &state in all {
            f.background_state
                .get_or_create(&StateLabels { state })
                .set(i64::from(state == current));
        }
    }

    pub fn background_fetch(&self, outcome: FetchOutcome, bytes: u64) {
        let Some(f) = &self.0 else { return };
        f.background_fetches
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
        f.background_bytes.inc_by(bytes);
        if outcome != FetchOutcome::Failed {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            f.background_last_success.set(now.as_secs_f64());
        }
    }

    pub fn employee_added(&self) {
        let Some(f) = &self.0 else { return };
        f.employees_added.inc();
    }

    pub fn employee_lookup(&self, found: bool) {
        let Some(f) = &self.0 else { return };
        f.employee_lookups
            .get_or_create(&ResultLabels {
                result: lookup_result(found),
            })
            .inc();
    }
}

/// Decrements `db_pool_waiting` when dropped: the wait ended, however it ended.
pub struct WaitingGuard(Option<Gauge>);

impl Drop for WaitingGuard {
    fn drop(&mut self) {
        if let Some(gauge) = &self.0 {
            gauge.dec();
        }
    }
}

/// Methods as labels: a client may send any token as a method, so anything but the
/// standard ones is `other`.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposition(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    #[test]
    fn off_counts_nothing_and_on_counts_by_label() {
        Metrics::off().http_request("GET", "/", 200, Duration::from_millis(1));

        let mut registry = Registry::default();
        let metrics = Metrics::new(&mut registry);
        metrics.http_request("GET", "/", 200, Duration::from_millis(1));
        metrics.http_request("GET", "/", 204, Duration::from_millis(1));
        metrics.http_request("BREW", UNMATCHED_ROUTE, 404, Duration::from_millis(1));
        let text = exposition(&registry);
        assert!(
            text.contains(r#"http_requests_total{method="GET",route="/",status="2xx"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"http_requests_total{method="other",route="unmatched",status="4xx"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"build_info{version=""#), "{text}");
    }

    #[test]
    fn the_waiting_gauge_follows_the_guards() {
        let mut registry = Registry::default();
        let metrics = Metrics::new(&mut registry);
        let first = metrics.db_waiting();
        let _second = metrics.db_waiting();
        drop(first);
        assert!(exposition(&registry).contains("db_pool_waiting 1\n"));
    }

    #[test]
    fn one_background_state_at_a_time() {
        let mut registry = Registry::default();
        let metrics = Metrics::new(&mut registry);
        metrics.background_state("ready", &["none", "ready"]);
        let text = exposition(&registry);
        assert!(
            text.contains(r#"background_state{state="ready"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"background_state{state="none"} 0"#),
            "{text}"
        );
    }
}
