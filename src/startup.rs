//! Builds the application from a configuration: binds its own listener (port 0 works,
//! for tests), connects the database lazily, starts the background image, and serves
//! until SIGTERM/SIGINT with a graceful drain.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::background::Background;
use crate::config::{ColourSource, Config, DatabaseConfig};
use crate::db::{Db, DbError};
use crate::error::REQUEST_ID;
use crate::routes;
use crate::views::Layout;

/// How long in-flight requests get to finish after a stop signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(9);

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub background: Background,
}

impl AppState {
    pub fn layout(&self) -> Layout<'_> {
        Layout {
            group_name: &self.config.group_name,
            group_slogan: &self.config.group_slogan,
            colour: self.config.colour,
            background: self.background.current_path(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}. {hint}")]
    Bind {
        addr: SocketAddr,
        source: io::Error,
        hint: &'static str,
    },
    #[error("cannot open the database: {0}")]
    Database(#[from] DbError),
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartupError::Bind {
                addr: config.listen,
                hint: match source.kind() {
                    io::ErrorKind::PermissionDenied => {
                        "Ports below 1024 need root or a lowered net.ipv4.ip_unprivileged_port_start; \
                         run with PORT=8080 to use another port"
                    }
                    io::ErrorKind::AddrInUse => {
                        "Another program uses this port; stop it or run with PORT=8080"
                    }
                    _ => "Check BIND_ADDRESS and PORT (for example PORT=8080)",
                },
                source,
            })?;

        let db = Db::connect_lazy(&config.db)?;
        match &config.db.backend {
            DatabaseConfig::Sqlite { path } => {
                db.migrate().await?;
                tracing::info!(
                    path = %path.display(),
                    "using the embedded SQLite database; set DBHOST (and DBPORT, DBUSER, DBPWD, DATABASE) to use MySQL"
                );
            }
            DatabaseConfig::MySql {
                host,
                port,
                user,
                database,
                ..
            } => {
                tracing::info!(%host, port, %user, %database, "using MySQL");
                // The server may not be up yet: serve meanwhile (readiness says 503).
                tokio::spawn({
                    let db = db.clone();
                    async move { db.migrate_until_ready().await }
                });
            }
        }

        let colour_source = match config.colour_source {
            ColourSource::Flag => "--color",
            ColourSource::Environment => "APP_COLOR",
            ColourSource::Random => "random choice",
        };
        tracing::info!(
            colour = config.colour.name(),
            from = colour_source,
            "background colour"
        );

        let background = Background::start(&config.background);
        let state = AppState {
            config: Arc::new(config),
            db,
            background,
        };
        let router = app(state.clone());
        Ok(Application {
            listener,
            router,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or SIGINT.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes, then stops accepting, lets in-flight requests
    /// finish (at most `DRAIN_TIMEOUT`), and closes the database pool.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        tracing::info!(address = %self.local_addr(), "listening");
        let (stopping_tx, mut drain_rx) = watch::channel(false);
        let serve = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            stop.await;
            tracing::info!("stop signal received: finishing in-flight requests");
            let _ = stopping_tx.send(true);
        });
        let drain_deadline = async move {
            let _ = drain_rx.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        };
        let result = tokio::select! {
            result = serve.into_future() => result,
            () = drain_deadline => {
                tracing::warn!(timeout_s = DRAIN_TIMEOUT.as_secs(), "requests still running at the drain deadline; stopping anyway");
                Ok(())
            }
        };
        self.state.db.close().await;
        tracing::info!("stopped");
        result
    }
}

/// The whole HTTP application: pages and probes behind the shared layers.
pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID);
    let routes = Router::new()
        .merge(routes::probes())
        .merge(routes::pages(state.clone()))
        .with_state(state);
    // The shared layers wrap the router once rather than each route (`Router::layer`):
    // axum copies every route for each new connection, and with the whole stack inside
    // each route that was about 18 KB per connection.
    Router::new().fallback_service(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request| {
                        let id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        tracing::info_span!(
                            "request",
                            method = %req.method(),
                            path = %req.uri().path(),
                            request_id = %id,
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
            .layer(PropagateRequestIdLayer::new(request_id))
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
            .service(routes),
    )
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
