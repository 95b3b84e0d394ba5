//! The layers around every response: request ids, the request log line and its trace
//! span, the request metrics, and the security headers.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::lifecycle::Lifecycle;
use crate::metrics::{Metrics, UNMATCHED_ROUTE};
use crate::telemetry;

/// The request-id header set by the outermost layer and quoted on 500 pages.
pub const REQUEST_ID: &str = "x-request-id";

/// Reads the request id that `SetRequestIdLayer` put on a request.
pub fn request_id(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Behind a load balancer that terminates TLS (the ALB of the `alb-https` overlay sets
/// `X-Forwarded-Proto: https`), tells browsers to use HTTPS only from now on. A client
/// that forges the header on plain HTTP gains nothing: browsers ignore this header when
/// it arrives over plain HTTP (RFC 6797, 8.1).
async fn strict_transport_behind_tls(request: Request, next: Next) -> Response {
    let over_tls = request
        .headers()
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"));
    let mut response = next.run(request).await;
    if over_tls {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// The route template a request matched, carried out of the router on the response:
/// the layers around the router run before routing and never see `MatchedPath`.
#[derive(Clone)]
enum Route {
    Matched(MatchedPath),
    /// A nested service (`nest_service`), which axum gives no `MatchedPath`.
    Fixed(&'static str),
}

impl Route {
    fn as_str(&self) -> &str {
        match self {
            Route::Matched(path) => path.as_str(),
            Route::Fixed(path) => path,
        }
    }
}

/// A route layer (it runs only for a matched route): tags the response with the route
/// template, and names the request's trace span after it.
pub async fn tag_route(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    if telemetry::is_tracing()
        && let Some(matched) = &matched
    {
        let span = Span::current();
        span.record("http.route", matched.as_str());
        telemetry::rename(&span, format!("{} {}", request.method(), matched.as_str()));
    }
    let mut response = next.run(request).await;
    if let Some(matched) = matched {
        response.extensions_mut().insert(Route::Matched(matched));
    }
    response
}

/// Labels the responses of a nested service with its fixed template.
pub fn nested_route<B>(
    template: &'static str,
) -> tower::util::MapResponseLayer<
    impl Fn(axum::http::Response<B>) -> axum::http::Response<B> + Clone,
> {
    tower::util::MapResponseLayer::new(move |mut response: axum::http::Response<B>| {
        response.extensions_mut().insert(Route::Fixed(template));
        response
    })
}

/// Counts every answer by method, route template and status class, with its latency.
async fn record_request(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<Route>()
        .map_or(UNMATCHED_ROUTE, Route::as_str);
    metrics.http_request(
        method.as_str(),
        route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The request's span. With tracing on it continues the caller's trace (W3C
/// `traceparent`) and carries the trace id, so every log line of the request names it;
/// the OpenTelemetry fields stay empty (and out of the logs) otherwise.
fn request_span(req: &Request) -> Span {
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %request_id(req).unwrap_or(""),
        trace_id = tracing::field::Empty,
        http.route = tracing::field::Empty,
        otel.name = tracing::field::Empty,
        otel.kind = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    if telemetry::is_tracing() {
        span.record("otel.kind", "server");
        // Until the route is known (tag_route renames it): the method alone, as the
        // OpenTelemetry conventions name a request without a route.
        span.record("otel.name", req.method().as_str());
        if let Some(trace_id) = telemetry::continue_trace(&span, req.headers()) {
            span.record("trace_id", trace_id.as_str());
        }
    }
    span
}

/// Wraps the whole router once in the shared layers, outermost first. Once rather than
/// per route (`Router::layer`): axum copies every route for each new connection, and
/// with the whole stack inside each route that was about 18 KB per connection.
pub fn around(routes: Router, lifecycle: Lifecycle, metrics: Metrics) -> Router {
    let request_id_header = HeaderName::from_static(REQUEST_ID);
    // Metrics off: not even the layer.
    let routes = if metrics.is_on() {
        Router::new().fallback_service(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn_with_state(
                    metrics,
                    record_request,
                ))
                .service(routes),
        )
    } else {
        routes
    };
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(
            request_id_header.clone(),
            MakeRequestUuid,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(|res: &Response, latency: Duration, span: &Span| {
                    if telemetry::is_tracing() {
                        span.record("http.response.status_code", res.status().as_u16());
                        if res.status().is_server_error() {
                            span.record("otel.status_code", "error");
                        }
                    }
                    tracing::info!(
                        status = res.status().as_u16(),
                        // Microsecond precision is plenty and keeps lines short.
                        latency_ms = (latency.as_secs_f64() * 1e6).round() / 1e3,
                        "request"
                    );
                })
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(request_id_header))
        .layer(security_header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             base-uri 'none'; frame-ancestors 'none'",
        ))
        .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(security_header(header::REFERRER_POLICY, "same-origin"))
        .layer(security_header(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        // Pages show personal data: no shared caches. Static files set their own.
        .layer(security_header(header::CACHE_CONTROL, "no-store"))
        .layer(axum::middleware::from_fn(strict_transport_behind_tls))
        // While stopping, every client is asked to reconnect (through the load balancer,
        // to another replica), so no keep-alive connection is left to cut at the drain.
        .map_response(move |mut response: Response| {
            if lifecycle.is_stopping() {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        });
    Router::new().fallback_service(layers.service(routes))
}
