//! `spawn_app`: the real application on a random port against its own fresh database,
//! with request helpers so tests read like the behaviour they check.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use employee_db::config::Config;
use employee_db::employee::{Employee, EmployeeForm, Field};
use employee_db::startup::Application;
use sqlx::Connection;
use tokio::sync::oneshot;

use crate::mariadb::{self, MariaDb};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MariaDb,
}

/// The MariaDB backend when its server is installed. Under CI a missing server fails the
/// test; elsewhere the test says loudly that it did not run.
pub fn mariadb_backend() -> Option<Backend> {
    if mariadb::installed() {
        return Some(Backend::MariaDb);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("MariaDB is not installed but CI=true: run scripts/test.sh, which installs it");
    }
    eprintln!("NOT RUN: MariaDB is not installed (scripts/test.sh installs it)");
    None
}

/// One server for the whole test binary; each app gets its own database on it.
pub fn shared_mariadb() -> &'static MariaDb {
    static SERVER: OnceLock<MariaDb> = OnceLock::new();
    SERVER.get_or_init(MariaDb::start)
}

/// Creates an empty database with a unique name on `server`.
pub async fn create_database(server: &MariaDb) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut conn = sqlx::MySqlConnection::connect(&server.url(""))
        .await
        .expect("connect to the test MariaDB");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4"
    )))
    .execute(&mut conn)
    .await
    .expect("create test database");
    name
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub backend: Backend,
    /// The database the app uses, for checks that bypass the app.
    pub database_url: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// Environment for an app on `backend`, with a free port and private folders.
pub async fn test_env(
    backend: Backend,
    server: Option<&MariaDb>,
) -> (Vec<(String, String)>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut vars = vec![
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
    ];
    let database_url = match backend {
        Backend::Sqlite => {
            let path = dir.path().join("employees.db");
            vars.push(("SQLITE_PATH", path.display().to_string()));
            format!("sqlite://{}", path.display())
        }
        Backend::MariaDb => {
            let server = server.unwrap_or_else(|| shared_mariadb());
            let database = create_database(server).await;
            vars.extend([
                ("DBHOST", "127.0.0.1".to_owned()),
                ("DBPORT", server.port.to_string()),
                ("DBUSER", mariadb::USER.to_owned()),
                ("DBPWD", mariadb::PASSWORD.to_owned()),
                ("DATABASE", database.clone()),
            ]);
            server.url(&database)
        }
    };
    let vars = vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    (vars, database_url, dir)
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, None, |_| {}).await
}

/// Starts the app with the test environment, adjusted by `customise`, on `server`
/// (the shared MariaDB when `None`).
pub async fn spawn_app_with(
    backend: Backend,
    server: Option<&MariaDb>,
    customise: impl FnOnce(&mut Vec<(String, String)>),
) -> TestApp {
    let app = start_app_with(backend, server, customise).await;
    app.wait_until_ready().await;
    app
}

/// Like `spawn_app_with`, without waiting for the database to be ready.
pub async fn start_app_with(
    backend: Backend,
    server: Option<&MariaDb>,
    customise: impl FnOnce(&mut Vec<(String, String)>),
) -> TestApp {
    let (mut vars, database_url, dir) = test_env(backend, server).await;
    customise(&mut vars);
    // A variable pushed by `customise` overrides the default set above.
    let mut seen = std::collections::HashSet::new();
    vars.reverse();
    vars.retain(|(key, _)| seen.insert(key.clone()));
    let config = Config::from_vars(vars, None).expect("valid test configuration");
    let app = Application::build(config)
        .await
        .expect("application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client"),
        backend,
        database_url,
        stop: Some(stop),
        server: Some(server),
        _dir: dir,
    }
}

pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[track_caller]
    pub fn assert(&self, status: u16, needle: &str) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body:\n{}",
            self.body
        );
        assert!(
            self.body.contains(needle),
            "page does not contain {needle:?}:\n{}",
            self.body
        );
        self
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    async fn read(response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.expect("response body");
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        Self::read(response).await
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.post_raw(path, "application/x-www-form-urlencoded", body.into_bytes())
            .await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Page {
        let mut request = self.client.post(self.url(path)).body(body);
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        Self::read(request.send().await.expect("POST")).await
    }

    pub async fn add_employee(
        &self,
        emp_id: &str,
        first: &str,
        last: &str,
        skill: &str,
        location: &str,
    ) -> Page {
        self.post_form(
            "/addemp",
            &[
                ("emp_id", emp_id),
                ("first_name", first),
                ("last_name", last),
                ("primary_skill", skill),
                ("location", location),
            ],
        )
        .await
    }

    pub async fn fetch(&self, emp_id: &str) -> Page {
        self.post_form("/fetchdata", &[("emp_id", emp_id)]).await
    }

    /// Employees in the database, read directly rather than through the app. Every
    /// stored row must pass the form's own validation.
    pub async fn stored_employees(&self) -> Vec<Employee> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM employee ORDER BY emp_id",
            Field::ALL.map(Field::name).join(", ")
        ));
        type Row = (i64, String, String, String, String);
        let rows: Vec<Row> = match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.database_url)
                    .await
                    .expect("open SQLite");
                sqlx::query_as(sql).fetch_all(&mut conn).await
            }
            Backend::MariaDb => {
                let mut conn = sqlx::MySqlConnection::connect(&self.database_url)
                    .await
                    .expect("connect to MariaDB");
                sqlx::query_as(sql).fetch_all(&mut conn).await
            }
        }
        .expect("read employees");
        rows.into_iter()
            .map(|(id, first, last, skill, location)| {
                let form: EmployeeForm = Field::ALL
                    .into_iter()
                    .zip([id.to_string(), first, last, skill, location])
                    .collect();
                form.validate().expect("a stored row is a valid employee")
            })
            .collect()
    }

    pub async fn stored_ids(&self) -> Vec<i64> {
        self.stored_employees()
            .await
            .into_iter()
            .map(|e| e.emp_id().get())
            .collect()
    }

    /// Waits for `/readyz` (migrations done), failing after 20 s.
    pub async fn wait_until_ready(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let page = self.get("/readyz").await;
            if page.status == 200 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "app not ready after 20 s: {}",
                page.body
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// Stops the app the way SIGTERM does and waits for it to finish.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(handle) => handle.await.expect("server task"),
            None => Ok(()),
        }
    }
}

pub fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Runs a behaviour test once per backend: `sqlite::name` and `mariadb::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod mariadb {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(backend) = $crate::helpers::mariadb_backend() {
                        super::$name(backend).await
                    }
                }
            )*
        }
    };
}
