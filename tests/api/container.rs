//! The container image, built from the repository's own Dockerfile with podman and run
//! the way Kubernetes and compose run it: read-only root filesystem, `/tmp` and the
//! image cache in memory, every capability dropped, no privilege escalation, the image's
//! own non-root user, and port 81 bound through the pod's sysctl
//! `net.ipv4.ip_unprivileged_port_start=0`.
//!
//! `scripts/test.sh` builds the image before `cargo test` (a cold build is minutes of
//! compiling that would otherwise compete with the timing-sensitive tests) and passes its
//! ID in `EMPLOYEE_DB_TEST_IMAGE`; run on their own, these tests build it once per test
//! binary with the same script. No registry can be reached from the test machines, so
//! the base images are local stand-ins (`scripts/images/base-images.sh`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::ops::Deref;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Connection;

use crate::support::http::Http;
use crate::support::mariadb::{TestDatabase, mariadb_backend, shared_server};
use crate::support::net::free_port;
use crate::support::s3::{S3Server, SECRET_KEY, client_vars};
use crate::support::{eventually, missing};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const TAG: &str = "localhost/employee-db:test";
/// The image's budget (issue 10): the binary and a distroless base.
const MAX_IMAGE_BYTES: u64 = 40 * 1000 * 1000;
/// Where slirp4netns puts the host's loopback, for containers started with
/// `allow_host_loopback`: the test MariaDB and S3 servers listen on 127.0.0.1 only.
const HOST_LOOPBACK: &str = "10.0.2.2";
const JPEG: &[u8] = include_bytes!("../../static/sample-background.jpg");

/// podman with the project's settings (runc, no default ulimits) instead of the machine's.
fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .env(
            "CONTAINERS_CONF",
            format!("{ROOT}/scripts/images/containers.conf"),
        )
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run podman")
}

/// podman that must succeed; returns its standard output, trimmed.
#[track_caller]
fn podman_ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn podman_usable() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    root && Command::new("podman")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The image under test, built once for the whole test binary. Under CI a machine
/// without podman (or not root, which podman's image storage needs here) fails the test;
/// elsewhere the test says loudly that it did not run.
fn image() -> Option<&'static str> {
    if !podman_usable() {
        missing("podman, run as root (podman's image storage here is root's)");
        return None;
    }
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    let image = IMAGE.get_or_init(|| {
        if let Ok(id) = std::env::var("EMPLOYEE_DB_TEST_IMAGE") {
            return Ok(id);
        }
        let out = Command::new(format!("{ROOT}/scripts/images/build.sh"))
            .arg(TAG)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run scripts/images/build.sh: {e}"))?;
        if !out.status.success() {
            let log = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            return Err(format!(
                "scripts/images/build.sh failed; the end of its output:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    match image {
        Ok(image) => Some(image),
        Err(message) => panic!("{message}"),
    }
}

fn unique(what: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "employee-db-test-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// What goes at `/app/data`, where the image keeps its SQLite file.
enum Data<'a> {
    /// A fresh anonymous volume: podman fills it from the image, owner 65532 included.
    Anonymous,
    /// A named volume that outlives the container.
    Named(&'a str),
    /// A folder of the host's.
    Bind(&'a Path),
}

struct Run<'a> {
    data: Data<'a>,
    env: Vec<(String, String)>,
    /// slirp4netns with the host's loopback at `HOST_LOOPBACK`, instead of podman's bridge.
    host_loopback: bool,
    read_only: bool,
}

impl Default for Run<'_> {
    fn default() -> Self {
        Run {
            data: Data::Anonymous,
            env: Vec::new(),
            host_loopback: false,
            read_only: true,
        }
    }
}

/// A running container of the image, removed (with its anonymous volumes) when dropped.
struct Container {
    name: String,
    started: Instant,
    /// Requests to the published port: `app.get("/")`, `app.fetch("7")`.
    http: Http,
}

impl Deref for Container {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

impl Container {
    fn start(image: &str, run: Run) -> Container {
        let name = unique("app");
        let port = free_port();
        let publish = format!("127.0.0.1:{port}:81");
        let data = match run.data {
            Data::Anonymous => "/app/data".to_owned(),
            Data::Named(volume) => format!("{volume}:/app/data"),
            Data::Bind(dir) => format!("{}:/app/data", dir.display()),
        };
        let mut args: Vec<String> = [
            "run",
            "--detach",
            "--name",
            &name,
            // The hardening of k8s-manifests/ and docker-compose.yml. runc gives a tmpfs
            // the mode of the folder it covers, with root as owner: the image's mode
            // 1777 is what makes the cache writable here, as under compose.
            "--tmpfs",
            "/tmp",
            "--tmpfs",
            "/var/cache/employee-db",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--sysctl",
            "net.ipv4.ip_unprivileged_port_start=0",
            "--publish",
            &publish,
            "--volume",
            &data,
            "--env",
            "GROUP_NAME=Container Group",
            "--env",
            "APP_COLOR=blue",
        ]
        .map(str::to_owned)
        .into();
        if run.read_only {
            args.push("--read-only".into());
        }
        if run.host_loopback {
            args.extend([
                "--network".into(),
                "slirp4netns:allow_host_loopback=true".into(),
            ]);
        }
        for (key, value) in &run.env {
            args.extend(["--env".into(), format!("{key}={value}")]);
        }
        args.push(image.to_owned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        podman_ok(&args);
        Container {
            name,
            started: Instant::now(),
            http: Http::on_port(port),
        }
    }

    /// Waits until `path` answers 200: the container is up and serving.
    async fn wait_for(&self, path: &str) {
        eventually(path, Duration::from_secs(60), async || {
            match self.client.get(self.url(path)).send().await {
                Ok(response) if response.status() == 200 => Ok(()),
                answer => Err(format!(
                    "{answer:?}; state {}; log:\n{}",
                    self.inspect("{{.State.Status}}"),
                    self.logs()
                )),
            }
        })
        .await
    }

    fn inspect(&self, format: &str) -> String {
        podman_ok(&["inspect", "--format", format, &self.name])
    }

    fn logs(&self) -> String {
        let out = podman(&["logs", &self.name]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// The app's process as the host sees it.
    fn pid(&self) -> u32 {
        self.inspect("{{.State.Pid}}")
            .parse()
            .expect("a process ID")
    }

    /// `podman healthcheck run`: runs the image's HEALTHCHECK once, as its timer would.
    fn healthcheck(&self) -> (bool, String) {
        let out = podman(&["healthcheck", "run", &self.name]);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), said)
    }

    /// `podman stop` (SIGTERM, then SIGKILL after the 10 s grace period); returns the
    /// app's exit code.
    fn stop(&self) -> i32 {
        podman_ok(&["stop", "--time", "10", &self.name]);
        self.inspect("{{.State.ExitCode}}")
            .parse()
            .expect("an exit code")
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        podman(&["rm", "--force", "--volumes", "--time", "0", &self.name]);
    }
}

/// A named volume, removed when dropped.
struct Volume(String);

impl Volume {
    fn create() -> Volume {
        let name = unique("data");
        podman_ok(&["volume", "create", &name]);
        Volume(name)
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        podman(&["volume", "rm", "--force", &self.0]);
    }
}

/// The fields of a `/proc/PID/status` line, such as `Uid:` or `CapEff:`.
fn proc_status(pid: u32, field: &str) -> Vec<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status:\n{status}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_image_is_small_non_root_shell_free_and_checks_its_own_health() {
    let Some(image) = image() else { return };
    let inspected: Value =
        serde_json::from_str(&podman_ok(&["image", "inspect", image])).expect("inspect JSON");
    let config = &inspected[0]["Config"];
    assert_eq!(config["User"], "65532:65532", "{config:#}");
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/app/employee-db"])
    );
    assert!(config["ExposedPorts"]["81/tcp"].is_object(), "{config:#}");
    // Kept only in the Docker format: an OCI image would have no health check at all.
    assert_eq!(
        inspected[0]["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "/app/employee-db", "healthcheck"]),
        "{inspected:#}"
    );
    let size = inspected[0]["Size"].as_u64().expect("image size");
    assert!(
        size <= MAX_IMAGE_BYTES,
        "the image is {size} bytes, over its {MAX_IMAGE_BYTES}-byte budget"
    );

    for tool in ["/bin/sh", "/usr/bin/apt-get", "/usr/bin/dpkg"] {
        let out = podman(&["run", "--rm", "--entrypoint", tool, image, "--version"]);
        assert!(!out.status.success(), "the image has {tool}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_hardened_as_uid_65532_and_serves_every_page() {
    let Some(image) = image() else { return };
    let app = Container::start(image, Run::default());
    app.wait_for("/readyz").await;

    app.get("/")
        .await
        .assert(200, "Employee Database")
        .assert(200, "Container Group");
    app.get("/about").await.assert(200, "Hello From CLO835!");
    app.get("/getemp").await.assert(200, "emp_id");
    app.get("/healthz").await.assert(200, "ok");
    app.get("/static/app.css").await.assert(200, "");
    app.add_employee("1001", "Ada", "Lovelace", "Containers", "Toronto")
        .await
        .assert(200, "Ada Lovelace");
    app.fetch("1001")
        .await
        .assert(200, "Lovelace")
        .assert(200, "Containers");
    app.get("/employees").await.assert(200, "Ada");

    let pid = app.pid();
    assert_eq!(
        proc_status(pid, "Uid:"),
        ["65532"; 4],
        "real, effective, saved, fs uid"
    );
    assert_eq!(proc_status(pid, "Gid:"), ["65532"; 4]);
    assert_eq!(proc_status(pid, "CapEff:"), ["0000000000000000"]);
    assert_eq!(proc_status(pid, "CapBnd:"), ["0000000000000000"]);
    assert_eq!(proc_status(pid, "NoNewPrivs:"), ["1"]);
    assert_eq!(app.inspect("{{.HostConfig.ReadonlyRootfs}}"), "true");
    let logs = app.logs();
    assert!(!logs.contains("Read-only file system"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn employees_survive_a_new_container_on_the_same_volume() {
    let Some(image) = image() else { return };
    let volume = Volume::create();
    let first = Container::start(
        image,
        Run {
            data: Data::Named(&volume.0),
            ..Run::default()
        },
    );
    first.wait_for("/readyz").await;
    first
        .add_employee("2002", "Grace", "Hopper", "Containers", "Toronto")
        .await
        .assert(200, "Grace Hopper");
    assert_eq!(first.stop(), 0, "{}", first.logs());
    drop(first);

    let second = Container::start(
        image,
        Run {
            data: Data::Named(&volume.0),
            ..Run::default()
        },
    );
    second.wait_for("/readyz").await;
    second.fetch("2002").await.assert(200, "Hopper");
}

/// A data folder the app cannot write (a volume owned by another user) is a database
/// problem the app reports, not a reason to stop serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_data_folder_gives_503_on_writes_and_a_log_line_naming_it() {
    let Some(image) = image() else { return };
    let dir = tempfile::tempdir().expect("temporary directory");
    // Owned by root (the test), mode 0755: uid 65532 may read it but not write.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let app = Container::start(
        image,
        Run {
            data: Data::Bind(dir.path()),
            ..Run::default()
        },
    );
    app.wait_for("/healthz").await;
    app.get("/").await.assert(200, "Employee Database");
    let page = app
        .add_employee("3003", "Not", "Stored", "Containers", "Toronto")
        .await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert_eq!(app.inspect("{{.State.Running}}"), "true");
    let logs = app.logs();
    assert!(
        logs.contains("/app/data"),
        "no log line names /app/data:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adds_and_fetches_with_mariadb_on_the_host() {
    let Some(image) = image() else { return };
    if mariadb_backend().is_none() {
        return;
    }
    let login = shared_server().await;
    let database = TestDatabase::create(login).await;
    // A server on the host's loopback is at slirp4netns's address inside the container.
    let env = login
        .app_vars(&database.name)
        .map(|(key, value)| match (key, value.as_str()) {
            ("DBHOST", "127.0.0.1" | "localhost") => (key.to_owned(), HOST_LOOPBACK.to_owned()),
            _ => (key.to_owned(), value),
        })
        .into();
    let app = Container::start(
        image,
        Run {
            env,
            host_loopback: true,
            ..Run::default()
        },
    );
    app.wait_for("/readyz").await;
    app.add_employee("4004", "Margaret", "Hamilton", "Containers", "Toronto")
        .await
        .assert(200, "Margaret Hamilton");
    app.fetch("4004").await.assert(200, "Hamilton");

    let mut conn = sqlx::MySqlConnection::connect(&database.url())
        .await
        .expect("connect to the test MariaDB");
    let (last,): (String,) = sqlx::query_as("SELECT last_name FROM employee WHERE emp_id = 4004")
        .fetch_one(&mut conn)
        .await
        .expect("the row the container added");
    assert_eq!(last, "Hamilton");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_background_image_from_the_s3_server_on_the_host() {
    let Some(image) = image() else { return };
    let s3 = S3Server::start().await;
    s3.create_bucket("backgrounds");
    s3.put("backgrounds", "team.jpg", JPEG);
    let endpoint = s3.endpoint.replace("127.0.0.1", HOST_LOOPBACK);
    let app = Container::start(
        image,
        Run {
            env: client_vars(&endpoint, "s3://backgrounds/team.jpg", SECRET_KEY),
            host_loopback: true,
            ..Run::default()
        },
    );
    app.wait_for("/readyz").await;

    let path = eventually(
        "the background is ready",
        Duration::from_secs(30),
        async || {
            let status: Value =
                serde_json::from_str(&app.get("/background").await.body).expect("background JSON");
            match status["image"]["path"].as_str() {
                Some(path) if status["state"] == "ready" => Ok(path.to_owned()),
                _ => Err(format!("{status:#}\n{}", app.logs())),
            }
        },
    )
    .await;
    let (status, headers, body) = app.get_bytes(&path).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(body, JPEG);
    app.get("/").await.assert(200, &path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_healthcheck_is_healthy_and_turns_unhealthy_when_the_app_cannot_answer() {
    let Some(image) = image() else { return };
    let inspected: Value =
        serde_json::from_str(&podman_ok(&["image", "inspect", image])).expect("inspect JSON");
    let check = &inspected[0]["Healthcheck"];
    let start_period = Duration::from_nanos(check["StartPeriod"].as_u64().expect("StartPeriod"));
    let retries = check["Retries"].as_u64().expect("Retries");
    let app = Container::start(image, Run::default());
    app.wait_for("/healthz").await;
    let (healthy, said) = app.healthcheck();
    assert!(healthy, "{said}");
    assert_eq!(app.inspect("{{.State.Health.Status}}"), "healthy");

    // Failures inside the start period do not count: wait it out.
    tokio::time::sleep(start_period.saturating_sub(app.started.elapsed())).await;
    // A hung process: the port still accepts connections, nothing answers.
    let pid = app.pid().to_string();
    let signal = |name: &str| {
        let status = Command::new("kill")
            .args([name, &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {name} {pid}");
    };
    signal("-STOP");
    let failures: Vec<(bool, String)> = (0..retries).map(|_| app.healthcheck()).collect();
    let status = app.inspect("{{.State.Health.Status}}");
    signal("-CONT");
    assert!(failures.iter().all(|(ok, _)| !ok), "{failures:?}");
    assert_eq!(
        status, "unhealthy",
        "{retries} failed checks in a row (the HEALTHCHECK's retries) make it unhealthy"
    );

    let (healthy, said) = app.healthcheck();
    assert!(healthy, "healthy again once the app answers: {said}");
    assert_eq!(app.inspect("{{.State.Health.Status}}"), "healthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podman_stop_completes_the_request_in_flight_and_exits_zero() {
    let Some(image) = image() else { return };
    let app = Container::start(image, Run::default());
    app.wait_for("/readyz").await;
    let body =
        "emp_id=5005&first_name=Inflight&last_name=Request&primary_skill=Patience&location=Wire";

    // Headers and part of the body sent before the signal.
    let mut in_flight = TcpStream::connect(("127.0.0.1", app.http.port)).expect("connect");
    in_flight
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("read timeout");
    write!(
        in_flight,
        "POST /addemp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .expect("send the start of the request");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let name = app.name.clone();
    let stopping = std::thread::spawn(move || podman(&["stop", "--time", "10", &name]));
    // podman sends SIGTERM at once; the app stops accepting and waits for this request.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    in_flight
        .write_all(&body.as_bytes()[10..])
        .expect("send the rest of the request");
    let mut answer = String::new();
    in_flight
        .read_to_string(&mut answer)
        .expect("the in-flight answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("Inflight Request"), "{answer}");

    let stopped = stopping.join().expect("podman stop");
    assert!(stopped.status.success(), "{stopped:?}");
    // 137 would mean podman had to SIGKILL it after the grace period.
    assert_eq!(app.inspect("{{.State.ExitCode}}"), "0", "{}", app.logs());
}

/// Without `--read-only` a write anywhere would succeed and show in `podman diff`: the
/// app must keep to its volumes and tmpfs mounts, so the read-only root never bites.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_nothing_outside_its_volumes() {
    let Some(image) = image() else { return };
    // podman's own mount points (/etc/hosts, /etc/hostname, /etc/resolv.conf) change
    // /etc in every container: a container that only prints the version shows them.
    let baseline = unique("baseline");
    podman_ok(&[
        "run",
        "--name",
        &baseline,
        "--entrypoint",
        "/app/employee-db",
        image,
        "--version",
    ]);
    let expected = podman_ok(&["diff", &baseline]);
    podman(&["rm", "--force", &baseline]);

    let app = Container::start(
        image,
        Run {
            read_only: false,
            ..Run::default()
        },
    );
    app.wait_for("/readyz").await;
    app.get("/").await.assert(200, "Employee Database");
    app.add_employee("6006", "Barbara", "Liskov", "Containers", "Toronto")
        .await
        .assert(200, "Barbara Liskov");
    app.fetch("6006").await.assert(200, "Liskov");
    app.get("/background").await.assert(200, "state");
    let (healthy, said) = app.healthcheck();
    assert!(healthy, "{said}");
    assert_eq!(app.stop(), 0, "{}", app.logs());

    let changes = podman_ok(&["diff", &app.name]);
    assert_eq!(changes, expected, "written outside the volumes");
}
