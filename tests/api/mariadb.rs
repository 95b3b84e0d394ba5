//! A real MariaDB server for the tests: Debian's `mariadb-server`, started on a temporary
//! data directory and a free port, killed (and its directory removed) when dropped or
//! when the test process ends.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const USER: &str = "app";
pub const PASSWORD: &str = "app-test-password";

pub struct MariaDb {
    pub port: u16,
    dir: tempfile::TempDir,
    mariadbd: PathBuf,
    child: Mutex<Option<Child>>,
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from))
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Whether the server binaries are installed.
pub fn installed() -> bool {
    find(&["mariadbd", "mysqld"]).is_some()
        && find(&["mariadb-install-db", "mysql_install_db"]).is_some()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl MariaDb {
    /// Initialises a data directory and starts the server; panics with the server's own
    /// log when it does not come up.
    pub fn start() -> MariaDb {
        let mariadbd = find(&["mariadbd", "mysqld"]).expect("mariadbd is installed");
        let install = find(&["mariadb-install-db", "mysql_install_db"])
            .expect("mariadb-install-db is installed");
        let dir = tempfile::Builder::new()
            .prefix("employee-db-mariadb-")
            .tempdir()
            .expect("temporary directory");
        let datadir = dir.path().join("data");
        // A private tmpdir: servers started in parallel must not share /tmp's
        // temporary tables (seen as "Could not remove temporary table").
        let tmpdir = dir.path().join("tmp");
        std::fs::create_dir_all(&tmpdir).expect("create the server's tmpdir");
        let mut cmd = Command::new(install);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--tmpdir={}", tmpdir.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if running_as_root() {
            cmd.arg("--user=root");
        }
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
        let server = MariaDb {
            port: free_port(),
            dir,
            mariadbd,
            child: Mutex::new(None),
        };
        server.launch();
        server
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn launch(&self) {
        let mut cmd = Command::new(&self.mariadbd);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.path("data").display()))
            .arg(format!("--tmpdir={}", self.path("tmp").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", self.path("mysqld.sock").display()))
            .arg(format!("--pid-file={}", self.path("mysqld.pid").display()))
            .arg(format!("--log-error={}", self.path("error.log").display()))
            .arg(format!("--init-file={}", self.path("init.sql").display()))
            .arg("--skip-name-resolve")
            .arg("--skip-log-bin")
            .arg("--innodb-buffer-pool-size=64M")
            .arg("--max-connections=1000")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if running_as_root() {
            cmd.arg("--user=root");
        }
        let child = cmd.spawn().expect("start mariadbd");
        watch_for_orphan(child.id(), self.dir.path());
        *self.child.lock().unwrap() = Some(child);
        self.wait_until_accepting(Duration::from_secs(60));
    }

    fn wait_until_accepting(&self, limit: Duration) {
        let started = Instant::now();
        loop {
            // The init file runs before the server accepts TCP connections, so a login
            // that works means the application user exists.
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .lock()
                .unwrap()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("mariadbd exited with {status}: {}", self.log());
            }
            assert!(
                started.elapsed() < limit,
                "mariadbd did not accept connections within {limit:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("error.log")).unwrap_or_default()
    }

    /// A URL for `database` as the application user.
    pub fn url(&self, database: &str) -> String {
        format!(
            "mysql://{USER}:{PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// SIGKILL: no clean shutdown, as in a crash or an OOM kill.
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same data directory and port.
    pub fn restart(&self) {
        self.kill();
        self.launch();
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.kill();
    }
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
