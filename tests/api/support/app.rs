//! `spawn_app`: the real application, in-process on a random port, against its own fresh
//! database; `TestApp` asks it things over HTTP (see `http`) and reads its database
//! directly, to check what the app says against what it stored.

use std::ops::Deref;
use std::time::Duration;

use employee_db::config::Config;
use employee_db::employee::{Employee, Field};
use employee_db::startup::Application;
use sqlx::Connection;
use tokio::sync::oneshot;

use super::http::Http;
use super::logs;
use super::mariadb::{Login, MariaDb, TestDatabase, shared_server};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// MariaDB, or the MySQL server `TEST_MYSQL_URL` names.
    MariaDb,
}

/// How long an app may take to become ready (migrations on a busy machine).
const READY_WITHIN: Duration = Duration::from_secs(20);

pub async fn spawn_app(backend: Backend) -> TestApp {
    TestApp::builder(backend).spawn().await
}

/// An app being configured: the test environment plus the variables a test adds.
pub struct AppBuilder<'a> {
    backend: Backend,
    /// The server for `Backend::MariaDb`; the shared one when `None`.
    server: Option<&'a Login>,
    vars: Vec<(String, String)>,
    /// Serve `/metrics` on a port of its own choosing.
    metrics: bool,
}

impl AppBuilder<'_> {
    /// Sets a variable, replacing the test default of the same name.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn envs(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.vars.extend(vars);
        self
    }

    /// Turns metrics on, on a free port (`TestApp::metrics`). Off by default: parallel
    /// apps cannot all listen on `METRICS_PORT`'s default, and a variable cannot ask for
    /// a free port (0 turns metrics off).
    pub fn with_metrics(mut self) -> Self {
        self.metrics = true;
        self
    }

    /// Starts the app and waits until it is ready.
    pub async fn spawn(self) -> TestApp {
        let app = self.start().await;
        app.wait_until_ready(READY_WITHIN).await;
        app
    }

    /// Starts the app without waiting for its database.
    pub async fn start(self) -> TestApp {
        logs::init();
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut vars: Vec<(String, String)> = [
            ("PORT", "0".to_owned()),
            ("BIND_ADDRESS", "127.0.0.1".to_owned()),
            ("APP_COLOR", "lime".to_owned()),
            ("GROUP_NAME", "Test Group".to_owned()),
            ("GROUP_SLOGAN", "Tested for real".to_owned()),
            (
                "STATIC_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/static").to_owned(),
            ),
            (
                "BACKGROUND_CACHE_DIR",
                dir.path().join("cache").display().to_string(),
            ),
            ("DB_ACQUIRE_TIMEOUT_MS", "500".to_owned()),
            ("DB_QUERY_TIMEOUT_MS", "2000".to_owned()),
            ("METRICS_PORT", "0".to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        let (database_url, database, database_vars) = match self.backend {
            Backend::Sqlite => {
                let path = dir.path().join("employees.db");
                let database_vars = vec![("SQLITE_PATH".to_owned(), path.display().to_string())];
                (format!("sqlite://{}", path.display()), None, database_vars)
            }
            Backend::MariaDb => {
                let login = match self.server {
                    Some(login) => login,
                    None => shared_server().await,
                };
                let database = TestDatabase::create(login).await;
                let database_vars = login
                    .app_vars(&database.name)
                    .map(|(name, value)| (name.to_owned(), value))
                    .to_vec();
                (database.url(), Some(database), database_vars)
            }
        };
        vars.extend(database_vars.iter().cloned());
        vars.extend(self.vars);
        // The last value of a variable wins, as the test's own come after the defaults.
        let mut seen = std::collections::HashSet::new();
        vars.reverse();
        vars.retain(|(name, _)| seen.insert(name.clone()));

        let mut config = Config::from_vars(vars, None).expect("valid test configuration");
        if self.metrics {
            config.metrics.listen = Some(std::net::SocketAddr::new(config.listen.ip(), 0));
        }
        let app = Application::build(config)
            .await
            .expect("application starts");
        let http = Http::on_port(app.port());
        let metrics = app.metrics_addr().map(|addr| Http::on_port(addr.port()));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        TestApp {
            http,
            metrics,
            backend: self.backend,
            database_url,
            database_vars,
            stop: Some(stop),
            server: Some(server),
            _database: database,
            _dir: dir,
        }
    }
}

pub struct TestApp {
    http: Http,
    /// The metrics listener, when `with_metrics` turned it on.
    pub metrics: Option<Http>,
    pub backend: Backend,
    /// The database the app uses, for checks that bypass the app.
    pub database_url: String,
    /// The variables that point the app (or the binary) at that database.
    pub database_vars: Vec<(String, String)>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _database: Option<TestDatabase>,
    _dir: tempfile::TempDir,
}

/// The request helpers (`get`, `add_employee`, `fetch`, …) are the app's own.
impl Deref for TestApp {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

/// An `employee` row as stored, read without the app's types (an `Employee` can only be
/// made by validation), so a test sees exactly what is in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEmployee {
    pub emp_id: i64,
    pub first_name: String,
    pub last_name: String,
    pub primary_skill: String,
    pub location: String,
}

/// What storing `employee` must leave in the table.
impl From<&Employee> for StoredEmployee {
    fn from(employee: &Employee) -> StoredEmployee {
        let [first_name, last_name, primary_skill, location] =
            employee.text_values().map(str::to_owned);
        StoredEmployee {
            emp_id: employee.emp_id().get(),
            first_name,
            last_name,
            primary_skill,
            location,
        }
    }
}

impl TestApp {
    pub fn builder(backend: Backend) -> AppBuilder<'static> {
        AppBuilder {
            backend,
            server: None,
            vars: Vec::new(),
            metrics: false,
        }
    }

    /// An app on `server`, a private MariaDB of the test's own.
    pub fn builder_on(server: &MariaDb) -> AppBuilder<'_> {
        AppBuilder {
            backend: Backend::MariaDb,
            server: Some(server.login()),
            vars: Vec::new(),
            metrics: false,
        }
    }

    /// Employees in the database, read directly rather than through the app.
    pub async fn stored_employees(&self) -> Vec<StoredEmployee> {
        stored_employees(self.backend, &self.database_url).await
    }

    pub async fn stored_ids(&self) -> Vec<i64> {
        self.stored_employees()
            .await
            .into_iter()
            .map(|e| e.emp_id)
            .collect()
    }

    /// Tells the app to stop, the way SIGTERM does, without waiting for it.
    pub fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops the app the way SIGTERM does and waits for it to finish.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.begin_stop();
        match self.server.take() {
            Some(handle) => handle.await.expect("server task"),
            None => Ok(()),
        }
    }
}

/// The employees in the database at `database_url`, read directly, in ID order.
pub async fn stored_employees(backend: Backend, database_url: &str) -> Vec<StoredEmployee> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM employee ORDER BY emp_id",
        Field::ALL.map(Field::name).join(", ")
    ));
    type Row = (i64, String, String, String, String);
    let rows: Vec<Row> = match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(database_url)
                .await
                .expect("open SQLite");
            sqlx::query_as(sql).fetch_all(&mut conn).await
        }
        Backend::MariaDb => {
            let mut conn = sqlx::MySqlConnection::connect(database_url)
                .await
                .expect("connect to MariaDB");
            sqlx::query_as(sql).fetch_all(&mut conn).await
        }
    }
    .expect("read employees");
    rows.into_iter()
        .map(
            |(emp_id, first_name, last_name, primary_skill, location)| StoredEmployee {
                emp_id,
                first_name,
                last_name,
                primary_skill,
                location,
            },
        )
        .collect()
}

/// Runs a behaviour test once per backend: `sqlite::name` and `mariadb::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod mariadb {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(backend) = $crate::support::mariadb::mariadb_backend() {
                        super::$name(backend).await
                    }
                }
            )*
        }
    };
}
