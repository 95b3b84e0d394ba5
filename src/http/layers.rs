//! The layers around every response: request ids, the request log line, and the
//! security headers.

use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::lifecycle::Lifecycle;

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

/// Wraps the whole router once in the shared layers, outermost first. Once rather than
/// per route (`Router::layer`): axum copies every route for each new connection, and
/// with the whole stack inside each route that was about 18 KB per connection.
pub fn around(routes: Router, lifecycle: Lifecycle) -> Router {
    let request_id_header = HeaderName::from_static(REQUEST_ID);
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(
            request_id_header.clone(),
            MakeRequestUuid,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = %request_id(req).unwrap_or(""),
                    )
                })
                .on_request(())
                .on_response(|res: &Response, latency: Duration, _: &Span| {
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
