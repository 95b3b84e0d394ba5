//! Rollouts and database restarts behind a real load balancer. Two instances of the real
//! binary on a private MariaDB, behind HAProxy health-checking `/readyz` with no retries
//! and no redispatch (a Kubernetes Service or an NLB does not retry for you), while a
//! mixed load runs through it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use sqlx::Connection;
use tokio::sync::Mutex;

use crate::support::http::employee_form;
use crate::support::mariadb::{Login, MariaDb, OwnServer, TestDatabase};
use crate::support::net::free_port;
use crate::support::process::Running;
use crate::support::{eventually, missing};

/// Employees the load looks up; added before the load starts.
const SEEDED: [i64; 4] = [1, 2, 3, 4];

fn haproxy() -> Option<PathBuf> {
    let found = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        missing("HAProxy (Debian's haproxy)");
    }
    found
}

/// One instance of the real binary on `port`, where the balancer expects it.
async fn instance(port: u16, vars: &[(String, String)]) -> Running {
    let port = port.to_string();
    let mut all = vec![("PORT", port.as_str())];
    all.extend(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Running::start(&[], &all).await
}

/// HAProxy in front of the two instances, with its statistics page for the test to
/// see which servers it considers up.
struct Balancer {
    child: Child,
    port: u16,
    stats_port: u16,
}

impl Balancer {
    fn start(haproxy: &Path, dir: &Path, backends: [u16; 2]) -> Balancer {
        let port = free_port();
        let stats_port = free_port();
        let config = dir.join("haproxy.cfg");
        std::fs::write(
            &config,
            format!(
                "global\n  maxconn 2000\n\
                 defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n\
                 \x20 timeout check 2s\n  retries 0\n  option http-keep-alive\n\
                 frontend web\n  bind 127.0.0.1:{port}\n  default_backend app\n\
                 frontend stats\n  bind 127.0.0.1:{stats_port}\n  stats enable\n  stats uri /stats\n\
                 backend app\n  balance roundrobin\n  option httpchk GET /readyz\n  http-check expect status 200\n\
                 \x20 default-server inter 200ms fall 2 rise 2\n\
                 \x20 server a 127.0.0.1:{} check\n  server b 127.0.0.1:{} check\n",
                backends[0], backends[1]
            ),
        )
        .unwrap();
        let child = Command::new(haproxy)
            .args(["-db", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start HAProxy");
        Balancer {
            child,
            port,
            stats_port,
        }
    }

    /// The servers HAProxy currently sends traffic to.
    async fn servers_up(&self, client: &reqwest::Client) -> Vec<String> {
        let Ok(response) = client
            .get(format!("http://127.0.0.1:{}/stats;csv", self.stats_port))
            .send()
            .await
        else {
            return Vec::new();
        };
        let csv = response.text().await.unwrap_or_default();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or("")
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let Some(status) = header.iter().position(|c| *c == "status") else {
            return Vec::new();
        };
        lines
            .map(|line| line.split(',').collect::<Vec<_>>())
            .filter(|cols| cols.first() == Some(&"app") && cols.get(status) == Some(&"UP"))
            .filter_map(|cols| cols.get(1).map(|s| s.to_string()))
            .filter(|name| name != "BACKEND")
            .collect()
    }

    async fn wait_until_up(&self, client: &reqwest::Client, name: &str) {
        eventually(
            &format!("HAProxy sees {name} up"),
            Duration::from_secs(30),
            async || {
                let up = self.servers_up(client).await;
                if up.iter().any(|s| s == name) {
                    Ok(())
                } else {
                    Err(format!("up: {up:?}"))
                }
            },
        )
        .await
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the load saw.
#[derive(Default)]
struct Outcome {
    requests: u64,
    failures: Vec<String>,
    /// IDs whose add was answered 200.
    acknowledged: Vec<i64>,
    /// 503 answers, each with its Retry-After.
    unavailable: u64,
    /// Statuses other than 200 and 503, or 503 without Retry-After.
    unexpected: Vec<String>,
}

/// Mixed requests through the balancer from `clients` keep-alive clients until `stop`.
async fn run_load(
    url: String,
    clients: usize,
    stop: Arc<AtomicBool>,
    outcome: Arc<Mutex<Outcome>>,
    next_id: Arc<AtomicI64>,
) {
    let mut tasks = Vec::new();
    for worker in 0..clients {
        let (url, stop, outcome, next_id) =
            (url.clone(), stop.clone(), outcome.clone(), next_id.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap();
            let mut turn = worker;
            while !stop.load(Ordering::Relaxed) {
                turn += 1;
                let (what, request, added) = match turn % 3 {
                    0 => {
                        let id = next_id.fetch_add(1, Ordering::Relaxed);
                        let form = employee_form([
                            &id.to_string(),
                            "Roll",
                            &format!("Out{id}"),
                            "Deploys",
                            "Cluster",
                        ]);
                        (
                            "add",
                            client.post(format!("{url}/addemp")).form(&form),
                            Some(id),
                        )
                    }
                    1 => {
                        let id = SEEDED[turn % SEEDED.len()].to_string();
                        (
                            "lookup",
                            client
                                .post(format!("{url}/fetchdata"))
                                .form(&[("emp_id", id)]),
                            None,
                        )
                    }
                    _ => ("page", client.get(format!("{url}/")), None),
                };
                let result = request.send().await;
                let mut outcome = outcome.lock().await;
                outcome.requests += 1;
                match result {
                    Err(err) => outcome.failures.push(format!("{what}: {err}")),
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let retry_after = response.headers().contains_key("retry-after");
                        match (status, added) {
                            (200, Some(id)) => outcome.acknowledged.push(id),
                            (200, None) => {}
                            (503, _) if retry_after => outcome.unavailable += 1,
                            _ => outcome.unexpected.push(format!("{what}: {status}")),
                        }
                        if status >= 500 {
                            outcome.failures.push(format!("{what}: status {status}"));
                        }
                        // Read the body so the connection can be reused.
                        drop(outcome);
                        let _ = response.bytes().await;
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// The pair behind HAProxy on one database, with the employees the load looks up.
struct Setup {
    _dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
    ports: [u16; 2],
    instances: [Option<Running>; 2],
    balancer: Balancer,
    client: reqwest::Client,
    database: TestDatabase,
}

async fn setup(haproxy: &Path, delay_secs: u64, server: &Login) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(server).await;
    let vars: Vec<(String, String)> = server
        .app_vars(&database.name)
        .into_iter()
        .chain([
            ("APP_COLOR", "lime".to_owned()),
            ("SHUTDOWN_DELAY_SECS", delay_secs.to_string()),
            ("SHUTDOWN_DRAIN_SECS", "10".to_owned()),
            ("DB_ACQUIRE_TIMEOUT_MS", "5000".to_owned()),
            (
                "RUST_LOG",
                "warn,employee_db::server=info,employee_db::startup=info".to_owned(),
            ),
        ])
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let ports = [free_port(), free_port()];
    let instances = [
        Some(instance(ports[0], &vars).await),
        Some(instance(ports[1], &vars).await),
    ];
    let balancer = Balancer::start(haproxy, dir.path(), ports);
    let client = reqwest::Client::new();
    balancer.wait_until_up(&client, "a").await;
    balancer.wait_until_up(&client, "b").await;
    for id in SEEDED {
        let form = employee_form([
            &id.to_string(),
            "Seed",
            &format!("Employee{id}"),
            "Lookups",
            "Table",
        ]);
        // The pool may still be warming up on a busy machine: a 503 asks to retry.
        eventually(
            &format!("employee {id} seeded"),
            Duration::from_secs(30),
            async || {
                let response = client
                    .post(format!("http://127.0.0.1:{}/addemp", balancer.port))
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                match response.status().as_u16() {
                    200 => Ok(()),
                    503 => Err("503".to_owned()),
                    status => panic!("seeding employee {id}: {status}"),
                }
            },
        )
        .await;
    }
    Setup {
        database,
        _dir: dir,
        vars,
        ports,
        instances,
        balancer,
        client,
    }
}

impl Setup {
    /// Replaces both instances one after the other, the way a rolling update does:
    /// returns each old instance's time from SIGTERM to exit.
    async fn roll(&mut self) -> Vec<Duration> {
        let mut took = Vec::new();
        for (i, name) in ["a", "b"].into_iter().enumerate() {
            let old = self.instances[i].take().expect("instance running");
            let exit = old.terminate().await;
            assert_eq!(
                exit.code,
                Some(0),
                "{name} did not exit cleanly:\n{}",
                exit.logs
            );
            took.push(exit.took);
            self.instances[i] = Some(instance(self.ports[i], &self.vars).await);
            self.balancer.wait_until_up(&self.client, name).await;
        }
        took
    }

    async fn stored_ids(&self) -> Vec<i64> {
        let mut conn = sqlx::MySqlConnection::connect(&self.database.url())
            .await
            .expect("connect to MariaDB");
        sqlx::query_scalar("SELECT emp_id FROM employee")
            .fetch_all(&mut conn)
            .await
            .expect("read ids")
    }

    /// Runs the load while `during` runs (it sees what the load has seen so far), then a
    /// little longer.
    async fn under_load<T>(
        &mut self,
        during: impl AsyncFnOnce(&mut Self, &Mutex<Outcome>) -> T,
    ) -> (T, Outcome) {
        let stop = Arc::new(AtomicBool::new(false));
        let outcome = Arc::new(Mutex::new(Outcome::default()));
        let load = tokio::spawn(run_load(
            format!("http://127.0.0.1:{}", self.balancer.port),
            16,
            stop.clone(),
            outcome.clone(),
            Arc::new(AtomicI64::new(1_000)),
        ));
        // Half a second of load before `during` (every instance warm, as in production)
        // and after it (what follows a roll is served too): a span of time under load is
        // the scenario here, not a condition to wait for.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let result = during(self, &outcome).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        load.await.unwrap();
        let outcome = std::mem::take(&mut *outcome.lock().await);
        (result, outcome)
    }
}

/// A rolling restart under load with `SHUTDOWN_DELAY_SECS=delay_secs`: the database
/// server (not shared with the rest of the suite, whose load would slow the readiness
/// checks), the pair, each old instance's time from SIGTERM to exit, and what the load
/// saw. `None` (the test does not run) without HAProxy or a database server.
async fn roll_under_load(delay_secs: u64) -> Option<(OwnServer, Setup, Vec<Duration>, Outcome)> {
    let haproxy = haproxy()?;
    let server = OwnServer::start().await?;
    let mut setup = setup(&haproxy, delay_secs, server.login()).await;
    let (took, outcome) = setup
        .under_load(async |s: &mut Setup, _| s.roll().await)
        .await;
    println!(
        "rolling restart with SHUTDOWN_DELAY_SECS={delay_secs}: {} requests, {} failed, \
         drains {took:?}",
        outcome.requests,
        outcome.failures.len()
    );
    Some((server, setup, took, outcome))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_behind_the_balancer_drops_no_request() {
    let Some((_server, setup, took, outcome)) = roll_under_load(1).await else {
        return;
    };
    assert!(
        outcome.failures.is_empty(),
        "{} of {} requests failed: {:?}",
        outcome.failures.len(),
        outcome.requests,
        &outcome.failures[..outcome.failures.len().min(10)]
    );
    assert!(
        outcome.requests > 100,
        "the load barely ran: {}",
        outcome.requests
    );
    for time in &took {
        assert!(
            *time >= Duration::from_secs(1),
            "drained before the delay: {time:?}"
        );
    }
    let stored = setup.stored_ids().await;
    let lost: Vec<_> = outcome
        .acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .collect();
    assert!(lost.is_empty(), "acknowledged adds missing: {lost:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_shutdown_delay_the_same_roll_loses_requests() {
    let Some((_server, _, _, outcome)) = roll_under_load(0).await else {
        return;
    };
    assert!(
        !outcome.failures.is_empty(),
        "no request failed without the delay: the roll test cannot tell a good shutdown from a bad one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_behind_the_balancer_is_only_503s_then_recovers() {
    let Some(haproxy) = haproxy() else { return };
    let Some(server) =
        MariaDb::private("it kills and restarts the database behind the balancer").await
    else {
        return;
    };
    let mut setup = setup(&haproxy, 1, server.login()).await;
    let (_, outcome) = setup
        .under_load(async |s: &mut Setup, load: &Mutex<Outcome>| {
            server.kill();
            // Down until the load has met the outage (16 clients: 32 answers of 503).
            eventually("the outage seen", Duration::from_secs(15), async || {
                load.lock().await.unavailable >= 32
            })
            .await;
            server.restart().await;
            // Recovery without touching the app: both instances serve again, and adds
            // are saved again.
            s.balancer.wait_until_up(&s.client, "a").await;
            s.balancer.wait_until_up(&s.client, "b").await;
            let saved = load.lock().await.acknowledged.len();
            eventually("adds saved again", Duration::from_secs(15), async || {
                load.lock().await.acknowledged.len() >= saved + 10
            })
            .await;
        })
        .await;
    println!(
        "database restart behind the balancer: {} requests, {} answered 503 with Retry-After",
        outcome.requests, outcome.unavailable
    );
    assert!(
        outcome.unexpected.is_empty(),
        "answers other than 200 or 503+Retry-After: {:?}",
        &outcome.unexpected[..outcome.unexpected.len().min(10)]
    );
    let transport: Vec<_> = outcome
        .failures
        .iter()
        .filter(|f| !f.ends_with("status 503"))
        .collect();
    assert!(transport.is_empty(), "connection errors: {transport:?}");
    assert!(outcome.unavailable > 0, "the outage was never seen");
    let stored = setup.stored_ids().await;
    assert!(
        outcome.acknowledged.iter().all(|id| stored.contains(id)),
        "an acknowledged add is missing"
    );
}
