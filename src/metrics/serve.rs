//! The metrics listener: `GET /metrics` in the Prometheus text format, and nothing else.
//! A port of its own, so the public Service and the load balancer never expose it and
//! the NetworkPolicy can admit the scraper to this port only.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The content type of the text format `prometheus-client` writes (OpenMetrics 1.0, which
/// Prometheus reads natively).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics` over `registry`; every other path is a 404.
fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(registry)
}

async fn scrape(State(registry): State<Arc<Registry>>) -> Response {
    let mut text = String::with_capacity(16 * 1024);
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "cannot encode the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The metrics listener, bound (so a taken port stops the start) but not yet serving.
pub struct MetricsServer {
    listener: TcpListener,
    registry: Arc<Registry>,
}

/// The serving listener: stopped with `stop`.
pub struct RunningMetrics {
    stop: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

impl MetricsServer {
    pub async fn bind(address: SocketAddr, registry: Registry) -> io::Result<MetricsServer> {
        Ok(MetricsServer {
            listener: TcpListener::bind(address).await?,
            registry: Arc::new(registry),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn start(self) -> RunningMetrics {
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(self.registry);
        let task = tokio::spawn(async move {
            axum::serve(self.listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        RunningMetrics { stop, task }
    }
}

impl RunningMetrics {
    /// Stops accepting and waits for the scrape in progress, if any.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "the metrics listener failed"),
            Err(err) => tracing::warn!(error = %err, "the metrics listener task failed"),
        }
    }
}
