//! The MySQL-protocol server behind the MariaDB backend's tests, and a uniquely named
//! database on it for each app.
//!
//! By default that is Debian's `mariadb-server`, started by the tests on a temporary data
//! directory and a free port, killed (and its directory removed) when dropped or when the
//! test process ends. With `TEST_MYSQL_URL=mysql://USER:PASSWORD@HOST:PORT` the tests use
//! that server instead (CI points it at a MySQL service container); the tests that kill or
//! restart the server then say `NOT RUN (external server)`, since they cannot do that to
//! a server they did not start.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::Connection;
use tokio::sync::OnceCell;

use super::app::Backend;
use super::net::{accepts_connections, free_port};
use super::wait::eventually;
use super::{missing, not_run};

const EXTERNAL: &str = "TEST_MYSQL_URL";

/// How the tests reach a server: the address and the account the app logs in with.
#[derive(Clone, Debug)]
pub struct Login {
    host: String,
    port: u16,
    user: String,
    password: String,
}

impl Login {
    /// `mysql://USER:PASSWORD@HOST[:PORT]`, as `TEST_MYSQL_URL` gives it.
    fn parse(text: &str) -> Result<Login, String> {
        let url = url::Url::parse(text).map_err(|e| e.to_string())?;
        if !matches!(url.scheme(), "mysql" | "mariadb") {
            return Err(format!("the scheme is {:?}, not mysql", url.scheme()));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err(
                "it names a database or options; the tests create their own \
                        databases, so give only the server"
                    .to_owned(),
            );
        }
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .map(|text| text.into_owned())
                .map_err(|e| e.to_string())
        };
        let login = Login {
            host: url.host_str().ok_or("there is no host")?.to_owned(),
            port: url.port().unwrap_or(3306),
            user: decode(url.username())?,
            password: decode(url.password().unwrap_or_default())?,
        };
        if login.user.is_empty() {
            return Err("there is no user".to_owned());
        }
        Ok(login)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for `database` (empty: none) with this login, for connections the tests make.
    pub fn url(&self, database: &str) -> String {
        let mut url = url::Url::parse("mysql://localhost").expect("a valid base URL");
        url.set_host(Some(&self.host)).expect("a valid host");
        url.set_port(Some(self.port))
            .expect("a URL with a host has a port");
        url.set_username(&self.user)
            .expect("a URL with a host has a user");
        url.set_password(Some(&self.password))
            .expect("a URL with a host has a password");
        url.set_path(database);
        url.into()
    }

    /// The app's environment for `database` on this server.
    pub fn app_vars(&self, database: &str) -> [(&'static str, String); 5] {
        [
            ("DBHOST", self.host.clone()),
            ("DBPORT", self.port.to_string()),
            ("DBUSER", self.user.clone()),
            ("DBPWD", self.password.clone()),
            ("DATABASE", database.to_owned()),
        ]
    }
}

/// The server `TEST_MYSQL_URL` names, if it is set; a malformed value fails the test.
fn external() -> Option<Login> {
    let text = std::env::var(EXTERNAL).ok().filter(|v| !v.is_empty())?;
    match Login::parse(&text) {
        Ok(login) => Some(login),
        Err(why) => panic!(
            "{EXTERNAL} is not a usable server URL ({why}); \
             expected mysql://USER:PASSWORD@HOST:PORT"
        ),
    }
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from))
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

const SERVER: [&str; 2] = ["mariadbd", "mysqld"];
const INSTALL_DB: [&str; 2] = ["mariadb-install-db", "mysql_install_db"];

/// Whether a private server can be started; when not, the test fails under CI and
/// says `NOT RUN` elsewhere.
fn installed() -> bool {
    let found = find(&SERVER).is_some() && find(&INSTALL_DB).is_some();
    if !found {
        missing("MariaDB (Debian's mariadb-server)");
    }
    found
}

/// The MariaDB backend, when there is a server to run it on.
pub fn mariadb_backend() -> Option<Backend> {
    (external().is_some() || installed()).then_some(Backend::MariaDb)
}

/// The server every app without a private one uses, each in its own database: the
/// external one, or one private server for the whole test binary.
pub async fn shared_server() -> &'static Login {
    enum Shared {
        External(Login),
        Private(MariaDb),
    }
    static SERVER: OnceCell<Shared> = OnceCell::const_new();
    let shared = SERVER
        .get_or_init(|| async {
            match external() {
                Some(login) => Shared::External(login),
                None => Shared::Private(MariaDb::start().await),
            }
        })
        .await;
    match shared {
        Shared::External(login) => login,
        Shared::Private(server) => &server.login,
    }
}

/// A server for a load test, which must not share one with the rest of the suite: a
/// private server, or the external one (which CI gives to the suite alone).
pub struct OwnServer {
    login: Login,
    _private: Option<MariaDb>,
}

impl OwnServer {
    pub async fn start() -> Option<OwnServer> {
        if let Some(login) = external() {
            return Some(OwnServer {
                login,
                _private: None,
            });
        }
        if !installed() {
            return None;
        }
        let server = MariaDb::start().await;
        Some(OwnServer {
            login: server.login.clone(),
            _private: Some(server),
        })
    }

    pub fn login(&self) -> &Login {
        &self.login
    }
}

/// An empty database with a unique name, dropped again with this value: an external
/// server is not thrown away after the run.
pub struct TestDatabase {
    pub name: String,
    login: Login,
}

impl TestDatabase {
    pub async fn create(login: &Login) -> TestDatabase {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        // The process start time keeps names apart between runs that share a server and
        // happen to get the same process ID (containers).
        static STARTED: std::sync::LazyLock<u128> = std::sync::LazyLock::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |t| t.as_micros() % 1_000_000_000)
        });
        let name = format!(
            "test_{}_{}_{}",
            std::process::id(),
            *STARTED,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = sqlx::MySqlConnection::connect(&login.url(""))
            .await
            .expect("connect to the test database server");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4"
        )))
        .execute(&mut conn)
        .await
        .expect("create test database");
        TestDatabase {
            name,
            login: login.clone(),
        }
    }

    pub fn url(&self) -> String {
        self.login.url(&self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let url = self.login.url("");
        let sql = format!("DROP DATABASE IF EXISTS `{}`", self.name);
        // Drop cannot await, and the test's runtime may be on this very thread: a short
        // thread of its own does the work. A server the test killed refuses at once.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async {
                let mut conn = sqlx::MySqlConnection::connect(&url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        })
        .join();
        if let Ok(Err(err)) = dropped {
            eprintln!("test database {} not dropped: {err}", self.name);
        }
    }
}

/// The account the tests create on a private server (the app does not run as root).
const USER: &str = "app";
const PASSWORD: &str = "app-test-password";

/// A private MariaDB server, for tests that kill and restart it.
pub struct MariaDb {
    login: Login,
    dir: tempfile::TempDir,
    mariadbd: PathBuf,
    child: Mutex<Option<Child>>,
    options: ServerOptions,
}

/// What a test's own server does beyond the defaults.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    pub tls: ServerTls,
    /// Every login is accepted whatever its password (`--skip-grant-tables`): a stand-in
    /// for RDS's IAM plugin, whose tokens only AWS can check.
    pub any_password: bool,
}

#[derive(Clone, Debug, Default)]
pub enum ServerTls {
    /// As the server version does by itself (MariaDB 11.4+ makes its own certificate).
    #[default]
    Default,
    /// No TLS at all.
    Off,
    /// This PEM certificate and key, and TLS required of every client
    /// (`require_secure_transport`, as the RDS parameter group sets it).
    Required { cert: PathBuf, key: PathBuf },
}

/// `program` (the server or its installer) on the data and temporary directories in
/// `dir`, ignoring the machine's option files.
fn server_command(program: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--tmpdir={}", dir.join("tmp").display()));
    if running_as_root() {
        // The server refuses to run as root unless told to.
        cmd.arg("--user=root");
    }
    cmd
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl MariaDb {
    /// A server of this test's own, or `None` (with a loud `NOT RUN` line naming `why` it
    /// needs one) when the tests use an external server or MariaDB is not installed.
    pub async fn private(why: &str) -> Option<MariaDb> {
        MariaDb::private_with(why, ServerOptions::default()).await
    }

    /// Like `private`, with `options`.
    pub async fn private_with(why: &str, options: ServerOptions) -> Option<MariaDb> {
        if external().is_some() {
            not_run(
                "external server",
                &format!("{why}; {EXTERNAL} names a server the tests did not start"),
            );
            return None;
        }
        if !installed() {
            return None;
        }
        Some(MariaDb::start_with(options).await)
    }

    async fn start() -> MariaDb {
        MariaDb::start_with(ServerOptions::default()).await
    }

    /// Initialises a data directory and starts the server; panics with the server's own
    /// log when it does not come up.
    async fn start_with(options: ServerOptions) -> MariaDb {
        let dir = tokio::task::spawn_blocking(initialise)
            .await
            .expect("initialise the data directory");
        let server = MariaDb {
            login: Login {
                host: "127.0.0.1".to_owned(),
                port: free_port(),
                user: USER.to_owned(),
                password: PASSWORD.to_owned(),
            },
            dir,
            mariadbd: find(&SERVER).expect("mariadbd is installed"),
            child: Mutex::new(None),
            options,
        };
        server.launch().await;
        server
    }

    pub fn login(&self) -> &Login {
        &self.login
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn launch(&self) {
        let mut cmd = server_command(&self.mariadbd, self.dir.path());
        cmd.arg(format!("--port={}", self.login.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", self.path("mysqld.sock").display()))
            .arg(format!("--pid-file={}", self.path("mysqld.pid").display()))
            .arg(format!("--log-error={}", self.path("error.log").display()))
            .arg("--skip-name-resolve")
            .arg("--skip-log-bin")
            .arg("--innodb-buffer-pool-size=64M")
            .arg("--max-connections=1000")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.options.any_password {
            // The init file's CREATE USER is refused without grant tables.
            cmd.arg("--skip-grant-tables");
        } else {
            cmd.arg(format!("--init-file={}", self.path("init.sql").display()));
        }
        match &self.options.tls {
            ServerTls::Default => {}
            ServerTls::Off => {
                cmd.arg("--skip-ssl");
            }
            ServerTls::Required { cert, key } => {
                cmd.arg(format!("--ssl-cert={}", cert.display()))
                    .arg(format!("--ssl-key={}", key.display()))
                    .arg("--require-secure-transport=ON");
            }
        }
        let child = cmd.spawn().expect("start mariadbd");
        watch_for_orphan(child.id(), self.dir.path());
        *self.child.lock().expect("server process") = Some(child);
        // The init file runs before the server accepts TCP connections, so a server that
        // accepts one has the application user.
        eventually(
            "mariadbd accepts connections",
            Duration::from_secs(60),
            async || {
                let exited = self
                    .child
                    .lock()
                    .expect("server process")
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                if let Some(status) = exited {
                    panic!("mariadbd exited with {status}: {}", self.log());
                }
                if accepts_connections(self.login.port).await {
                    Ok(())
                } else {
                    Err(format!("not listening yet; its log:\n{}", self.log()))
                }
            },
        )
        .await;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("error.log")).unwrap_or_default()
    }

    /// SIGKILL: no clean shutdown, as in a crash or an OOM kill.
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().expect("server process").take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same data directory and port.
    pub async fn restart(&self) {
        self.kill();
        self.launch().await;
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fresh data directory with the application user, in a new temporary folder.
fn initialise() -> tempfile::TempDir {
    let install = find(&INSTALL_DB).expect("mariadb-install-db is installed");
    let dir = tempfile::Builder::new()
        .prefix("employee-db-mariadb-")
        .tempdir()
        .expect("temporary directory");
    // A private tmpdir: servers started in parallel must not share /tmp's
    // temporary tables (seen as "Could not remove temporary table").
    std::fs::create_dir_all(dir.path().join("tmp")).expect("create the server's tmpdir");
    let mut cmd = server_command(&install, dir.path());
    cmd.arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = cmd.output().expect("run mariadb-install-db");
    assert!(
        out.status.success(),
        "mariadb-install-db failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Runs at every start: the application user the tests connect as (not root).
    std::fs::write(
        dir.path().join("init.sql"),
        format!(
            "CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';\n\
             GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%';\n"
        ),
    )
    .expect("write init.sql");
    dir
}

/// A server held in a `static` is never dropped: a small watchdog kills it, and removes
/// its directory, once this test process has gone.
fn watch_for_orphan(server_pid: u32, dir: &Path) {
    let script = format!(
        "while kill -0 {test} 2>/dev/null; do sleep 1; done; \
         if [ \"$(cat /proc/{server}/comm 2>/dev/null)\" = mariadbd ]; then kill -9 {server}; fi; \
         rm -rf '{dir}'",
        test = std::process::id(),
        server = server_pid,
        dir = dir.display()
    );
    let _ = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}
