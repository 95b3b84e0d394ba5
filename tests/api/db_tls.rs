//! TLS to MySQL (`DB_SSL_MODE`, `DB_SSL_CA`) and RDS IAM authentication (`DB_AUTH=iam`),
//! against MariaDB servers of the tests' own with a CA and a server certificate made
//! here. The servers require TLS of every client, as the RDS parameter group does, so a
//! test that gets data through has used TLS.
//!
//! Nothing here can check an IAM token but AWS: the IAM tests use a server that accepts
//! any password, and show what the app controls (a token signed for every new
//! connection, over a verified TLS link, never logged); the token's exact form is
//! checked against AWS's own test vector in `src/db/iam.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};
use employee_db::config::{DatabaseConfig, DbAuth, DbSettings, DbTls, MySqlConfig, SslMode};
use employee_db::db::{Db, DbError};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use crate::support::mariadb::{MariaDb, ServerOptions, ServerTls, TestDatabase};
use crate::support::net::free_port;
use crate::support::process::Running;
use crate::support::{TestApp, eventually};

/// The certificates the tests use: a CA, a server certificate it signed for
/// `localhost` only, and a second CA that signed nothing the server shows.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ca = certificate_authority("employee-db test CA");
        let server_key = KeyPair::generate().expect("server key");
        let mut server = CertificateParams::new(vec!["localhost".to_owned()]).expect("names");
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server = server
            .signed_by(&server_key, &ca)
            .expect("server certificate");
        let other_ca = certificate_authority("another CA");
        for (name, pem) in [
            ("ca.pem", ca.pem()),
            ("other-ca.pem", other_ca.pem()),
            ("server.pem", server.pem()),
            ("server-key.pem", server_key.serialize_pem()),
        ] {
            std::fs::write(dir.path().join(name), pem).expect("write a PEM file");
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ca(&self) -> String {
        self.path("ca.pem").display().to_string()
    }

    fn server_tls(&self) -> ServerTls {
        ServerTls::Required {
            cert: self.path("server.pem"),
            key: self.path("server-key.pem"),
        }
    }
}

fn certificate_authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

/// A server that presents `pki`'s certificate and refuses clients without TLS.
async fn tls_server(pki: &Pki, why: &str, any_password: bool) -> Option<MariaDb> {
    MariaDb::private_with(
        why,
        ServerOptions {
            tls: pki.server_tls(),
            any_password,
        },
    )
    .await
}

/// `/readyz` is 503 and its reason contains `why`.
async fn not_ready_because(app: &TestApp, why: &str) {
    eventually(
        "readiness names the reason",
        Duration::from_secs(20),
        async || {
            let page = app.get("/readyz").await;
            if page.status == 503 && page.body.contains(why) {
                Ok(page.body)
            } else {
                Err(format!("{}: {}", page.status, page.body))
            }
        },
    )
    .await;
}

#[tokio::test]
async fn verify_identity_connects_over_tls() {
    let pki = Pki::new();
    let Some(server) = tls_server(&pki, "it presents its own certificate", false).await else {
        return;
    };
    let app = TestApp::builder_on(&server)
        .env("DBHOST", "localhost")
        .env("DB_SSL_MODE", "verify-identity")
        .env("DB_SSL_CA", &pki.ca())
        .spawn()
        .await;
    app.get("/readyz").await.assert(200, "ready");
    app.add_employee("7", "Ada", "Lovelace", "Maths", "London")
        .await
        .assert(200, "was added");
    app.fetch("7").await.assert(200, "Lovelace");
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_and_readyz_says_why() {
    let pki = Pki::new();
    let Some(server) = tls_server(&pki, "it presents its own certificate", false).await else {
        return;
    };
    let app = TestApp::builder_on(&server)
        .env("DBHOST", "localhost")
        .env("DB_SSL_MODE", "verify-identity")
        .env("DB_SSL_CA", &pki.path("other-ca.pem").display().to_string())
        .start()
        .await;
    not_ready_because(
        &app,
        "the server's certificate is not signed by a CA in DB_SSL_CA",
    )
    .await;
    app.fetch("1").await.assert(503, "Database unavailable");
}

#[tokio::test]
async fn a_host_name_the_certificate_does_not_list_is_refused_and_readyz_says_why() {
    let pki = Pki::new();
    let Some(server) = tls_server(&pki, "it presents its own certificate", false).await else {
        return;
    };
    // The certificate names localhost only; 127.0.0.1 is the same server.
    let app = TestApp::builder_on(&server)
        .env("DBHOST", "127.0.0.1")
        .env("DB_SSL_MODE", "verify-identity")
        .env("DB_SSL_CA", &pki.ca())
        .start()
        .await;
    not_ready_because(&app, "the server's certificate does not name DBHOST").await;
    // verify-ca checks the signature but not the name: the same address is accepted.
    let app = TestApp::builder_on(&server)
        .env("DBHOST", "127.0.0.1")
        .env("DB_SSL_MODE", "verify-ca")
        .env("DB_SSL_CA", &pki.ca())
        .spawn()
        .await;
    app.get("/readyz").await.assert(200, "ready");
}

#[tokio::test]
async fn required_against_a_server_without_tls_is_refused_and_readyz_says_why() {
    let Some(server) = MariaDb::private_with(
        "it runs without TLS",
        ServerOptions {
            tls: ServerTls::Off,
            any_password: false,
        },
    )
    .await
    else {
        return;
    };
    let app = TestApp::builder_on(&server)
        .env("DB_SSL_MODE", "required")
        .start()
        .await;
    not_ready_because(
        &app,
        "the server does not offer TLS, and DB_SSL_MODE requires it",
    )
    .await;
    // preferred, the default, falls back to plain TCP.
    let app = TestApp::builder_on(&server).spawn().await;
    app.get("/readyz").await.assert(200, "ready");
}

#[tokio::test]
async fn the_iam_token_never_reaches_the_logs() {
    let pki = Pki::new();
    let Some(server) = tls_server(&pki, "it accepts any password", true).await else {
        return;
    };
    let database = TestDatabase::create(server.login()).await;
    let port = server.login().port().to_string();
    let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
    let ca = pki.ca();
    let app = Running::start(
        &[],
        &[
            ("DBHOST", "localhost"),
            ("DBPORT", &port),
            ("DBUSER", "employee_app"),
            ("DATABASE", &database.name),
            ("DB_AUTH", "iam"),
            ("DB_SSL_MODE", "verify-identity"),
            ("DB_SSL_CA", &ca),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_SESSION_TOKEN", "session-token-EXAMPLE"),
            // Every library's most detailed output: sqlx, rustls, the AWS signer.
            ("RUST_LOG", "trace"),
        ],
    )
    .await;
    app.wait_until_ready(Duration::from_secs(20)).await;
    app.add_employee("3", "Grace", "Hopper", "Compilers", "Arlington")
        .await
        .assert(200, "was added");
    for path in ["/", "/readyz", "/employees"] {
        let page = app.get(path).await;
        assert!(!page.body.contains("X-Amz-"), "{path}: {}", page.body);
    }
    let exit = app.terminate().await;
    assert!(
        exit.logs.contains("using MySQL") && exit.logs.contains("iam"),
        "{}",
        exit.logs
    );
    // A token is `host:port/?Action=connect&DBUser=…&X-Amz-…&X-Amz-Signature=…`: its
    // signature and session token are what a reader could log in with.
    for needle in [
        "X-Amz-Signature",
        "X-Amz-Security-Token",
        secret,
        "session-token-EXAMPLE",
    ] {
        assert!(!exit.logs.contains(needle), "{needle} in:\n{}", exit.logs);
    }
}

/// Credentials that count how often they are asked for.
#[derive(Debug, Clone, Default)]
struct Counting(Arc<AtomicUsize>);

impl ProvideCredentials for Counting {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.fetch_add(1, Ordering::SeqCst);
        provider::future::ProvideCredentials::ready(Ok(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        )))
    }
}

fn iam_settings(port: u16, database: &str, ca: String) -> DbSettings {
    DbSettings {
        backend: DatabaseConfig::MySql(MySqlConfig {
            host: "localhost".into(),
            port,
            user: "employee_app".into(),
            auth: DbAuth::Iam {
                region: "eu-west-1".into(),
                keys: None,
            },
            database: database.into(),
            tls: DbTls {
                mode: SslMode::VerifyIdentity,
                ca: Some(ca.into()),
            },
        }),
        max_connections: 3,
        acquire_timeout: Duration::from_secs(2),
        query_timeout: Duration::from_secs(2),
        read_connections: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_new_connection_gets_a_newly_signed_token() {
    let pki = Pki::new();
    let Some(server) = tls_server(&pki, "it restarts the server", true).await else {
        return;
    };
    let database = TestDatabase::create(server.login()).await;
    let asked = Counting::default();
    let db = Db::connect_lazy_with_aws_credentials(
        &iam_settings(server.login().port(), &database.name, pki.ca()),
        SharedCredentialsProvider::new(asked.clone()),
    )
    .expect("a pool");
    let asked_for = || asked.0.load(Ordering::SeqCst);
    db.migrate()
        .await
        .expect("migrations over TLS with a token");
    // One token before the first connection, one more once it has used that one.
    eventually(
        "a token for the next connection",
        Duration::from_secs(5),
        async || asked_for() == 2,
    )
    .await;
    for reconnect in 1..=2 {
        // A restart cuts the pooled connection, as a Multi-AZ failover does: the next
        // one logs in with a token signed after the last login.
        server.restart().await;
        eventually("the pool reconnects", Duration::from_secs(10), async || {
            db.ping().await.map_err(|e| e.to_string())
        })
        .await;
        eventually(
            "a new token after the new connection",
            Duration::from_secs(5),
            async || asked_for() == 2 + reconnect,
        )
        .await;
    }
    db.close().await;
}

/// Credentials that cannot be had, as on a pod without Pod Identity.
#[derive(Debug)]
struct NoCredentials;

impl ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
            "no Pod Identity association for this service account",
        )))
    }
}

#[tokio::test]
async fn without_aws_credentials_the_database_is_unavailable_and_says_why() {
    let pki = Pki::new();
    // Nothing listens there: no connection is tried without a token.
    let db = Db::connect_lazy_with_aws_credentials(
        &iam_settings(free_port(), "employees", pki.ca()),
        SharedCredentialsProvider::new(NoCredentials),
    )
    .expect("a pool");
    match db.migrate().await {
        Err(DbError::Unavailable(reason)) => assert!(
            reason.contains("no AWS credentials") && reason.contains("no Pod Identity association"),
            "{reason}"
        ),
        other => panic!("expected unavailable, got {other:?}"),
    }
    db.close().await;
}
