//! Logging and tracing: readable lines for people, JSON (one object per line) for
//! CloudWatch, and, when an OTLP endpoint is configured, OpenTelemetry spans for every
//! request, database statement and S3 fetch. Without an endpoint there is no exporter
//! and no tracing layer at all.

mod otlp;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TracingSettings};

/// The longest the last export may take at exit (the Deployment's grace period leaves
/// 5 s after the drain).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(4);

/// Whether spans go to an OpenTelemetry exporter: set once, when the layer is installed.
static TRACING: AtomicBool = AtomicBool::new(false);

/// Whether this process exports traces. Code that would only feed the exporter (parent
/// contexts, span names, per-statement spans) checks this first, so it costs nothing
/// when tracing is off.
pub fn is_tracing() -> bool {
    TRACING.load(Ordering::Relaxed)
}

/// Holds the trace pipeline, if any, until `shutdown` flushes it.
#[must_use = "call shutdown() at exit, or the last spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still queued (the batch processor sends every few seconds).
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The exporter's requests run on this runtime, while `shutdown` blocks its
        // caller until they are done: block a thread of the blocking pool, not a worker.
        // Bounded, so an unreachable collector cannot hold the exit past the pod's
        // grace period.
        let flushed =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT))
                .await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("employee-db: could not send the last traces: {err}"),
            Err(err) => eprintln!("employee-db: could not send the last traces: {err}"),
        }
    }
}

const SIGNER_QUIET: &str = "aws_sigv4=debug";

/// Installs the global subscriber. `RUST_LOG` refines the default `info` level. Must
/// run inside the Tokio runtime when tracing is configured (the exporter uses it).
pub fn init(format: LogFormat, tracing: &TracingSettings) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // Whatever RUST_LOG says: at trace level the AWS signer logs the canonical
        // request, which for a presigned RDS IAM token includes the session token
        // (aws-sigv4 1.6 redacts it only in headers).
        .add_directive(SIGNER_QUIET.parse().expect("a valid directive"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        // Colour codes only for a person at a terminal, never in collected logs.
        .with_ansi(std::io::stdout().is_terminal());
    let fmt = match format {
        // The current span's fields (the request's id and trace id) go on every line.
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Text => fmt.boxed(),
    };
    let (provider, problem) = match &tracing.traces_endpoint {
        None => (None, None),
        Some(endpoint) => match otlp::provider(endpoint, tracing) {
            Ok(provider) => (Some(provider), None),
            Err(err) => (None, Some(err)),
        },
    };
    let otel = provider.as_ref().map(|provider| {
        use opentelemetry::trace::TracerProvider as _;
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("employee-db"))
            .with_threads(false)
    });
    // `try_init` fails only when a subscriber is already installed, and then that one
    // keeps logging: nothing to report.
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .is_ok();
    if installed && provider.is_some() {
        TRACING.store(true, Ordering::Relaxed);
    }
    if let Some(endpoint) = &tracing.traces_endpoint {
        match problem {
            None => tracing::info!(%endpoint, "sending traces over OTLP/HTTP"),
            Some(err) => {
                tracing::error!(%endpoint, error = %err, "traces cannot be sent; running without")
            }
        }
    }
    Telemetry { provider }
}

/// Makes `span` continue the trace of the caller's `traceparent` header (W3C Trace
/// Context), or start a new one, and returns its trace id when the span is sampled or
/// recorded.
pub fn continue_trace(span: &Span, headers: &HeaderMap) -> Option<String> {
    let parent =
        TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    // Fails only without the OpenTelemetry layer, and then there is no trace to join.
    span.set_parent(parent).ok()?;
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// Renames a span that has started (the request's, once its route is known): the
/// `otel.name` field only names a span before it starts.
pub fn rename(span: &Span, name: String) {
    span.context().span().update_name(name);
}

/// A span for one database statement or other call out of the process, only when traces
/// are exported: logs never need it.
pub fn client_span(make: impl FnOnce() -> Span) -> Span {
    if is_tracing() { make() } else { Span::none() }
}
