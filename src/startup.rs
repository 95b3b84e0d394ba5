//! Builds the application from a configuration: binds its own listeners (the public one
//! and the metrics one; port 0 works, for tests), connects the database lazily, starts
//! the background image, and serves until SIGTERM/SIGINT with a graceful drain.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::background::Background;
use crate::config::ServerSettings;
use crate::config::{ColourSource, Config, DatabaseConfig, DbAuth};
use crate::db::{Db, DbError};
use crate::http::{self, AppState};
use crate::lifecycle::Lifecycle;
use crate::metrics::{Metrics, MetricsServer};
use crate::server;

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
    metrics: Option<MetricsServer>,
    router: Router,
    db: Db,
    lifecycle: Lifecycle,
    server: ServerSettings,
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

        let mut registry = config.metrics.listen.map(|_| Registry::default());
        let metrics = registry.as_mut().map_or_else(Metrics::off, Metrics::new);

        let db = Db::connect_lazy(&config.db)?.with_metrics(metrics.clone());
        let metrics_server = match (config.metrics.listen, registry) {
            (Some(addr), Some(mut registry)) => {
                registry.register_collector(Box::new(db.pool_gauges()));
                let server = MetricsServer::bind(addr, registry).await.map_err(|source| {
                    StartupError::Bind {
                        addr,
                        hint: "Metrics listen on METRICS_PORT: pick a free port, or 0 to turn metrics off",
                        source,
                    }
                })?;
                Some(server)
            }
            _ => None,
        };
        match &config.db.backend {
            DatabaseConfig::Sqlite { path } => {
                tracing::info!(
                    path = %path.display(),
                    "using the embedded SQLite database; set DBHOST (and DBPORT, DBUSER, DBPWD, DATABASE) to use MySQL"
                );
                // A folder that cannot be written (a read-only root, a volume not mounted
                // yet) must not crash the app: pages still answer, database requests
                // answer 503, and the log names the file until it works.
                if let Err(err) = db.migrate().await {
                    tracing::error!(error = %err, "the SQLite database cannot be used yet; retrying");
                    tokio::spawn({
                        let db = db.clone();
                        async move { db.migrate_until_ready().await }
                    });
                }
            }
            DatabaseConfig::MySql(mysql) => {
                tracing::info!(
                    host = %mysql.host,
                    port = mysql.port,
                    user = %mysql.user,
                    database = %mysql.database,
                    ssl_mode = mysql.tls.mode.name(),
                    auth = match mysql.auth {
                        DbAuth::Password(_) => "password",
                        DbAuth::Iam { .. } => "iam",
                    },
                    "using MySQL"
                );
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

        let background = Background::start(&config.background, metrics.clone());
        let lifecycle = Lifecycle::default();
        let server = config.server;
        let router = http::app(AppState {
            config: Arc::new(config),
            db: db.clone(),
            background,
            lifecycle: lifecycle.clone(),
            metrics,
        });
        Ok(Application {
            listener,
            metrics: metrics_server,
            router,
            db,
            lifecycle,
            server,
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

    /// Where `/metrics` is served, when metrics are on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|m| {
            m.local_addr()
                .expect("a bound TCP listener has a local address")
        })
    }

    /// Serves until SIGTERM or SIGINT; a second SIGINT exits at once.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.run_until(async {
            shutdown_signal().await;
            tokio::spawn(async {
                if tokio::signal::ctrl_c().await.is_ok() {
                    tracing::warn!("second interrupt: exiting without draining");
                    std::process::exit(130);
                }
            });
        })
        .await
    }

    /// Serves until `stop` completes, then shuts down in three steps: the readiness
    /// probe fails at once while everything else keeps serving for `shutdown_delay`
    /// (load balancers need that long to stop sending new requests here); then the
    /// server stops accepting and drains for at most `shutdown_drain`; then the
    /// metrics listener stops and the database pool closes. Metrics are served
    /// throughout, so the scraper sees the drain.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let address = self.local_addr();
        let metrics_address = self.metrics_addr();
        // Not the word of the public listener's line: scripts and tests find the app's
        // port in the line that says "listening".
        let metrics = metrics_address.zip(self.metrics).map(|(address, server)| {
            tracing::info!(%address, "serving /metrics");
            server.start()
        });
        tracing::info!(%address, "listening");
        let result = server::serve(
            self.listener,
            self.router,
            &self.server,
            &self.lifecycle,
            stop,
        )
        .await;
        if let Some(metrics) = metrics {
            metrics.stop().await;
        }
        self.db.close().await;
        tracing::info!(
            total_ms = self
                .lifecycle
                .stopping_since()
                .map_or(0, |since| since.elapsed().as_millis() as u64),
            "stopped"
        );
        result
    }
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
