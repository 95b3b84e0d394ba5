//! How the app logs in to MySQL: TLS (`DB_SSL_MODE`, `DB_SSL_CA`, through rustls) and
//! the password, or with `DB_AUTH=iam` an RDS IAM auth token kept fresh for new
//! connections (see `iam`). The pool's tuning stays in `db.rs`; this decides what a
//! connection attempt looks like, and explains why one failed.

use std::sync::Mutex;

use aws_credential_types::provider::SharedCredentialsProvider;
use rustls::CertificateError;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlSslMode};

use super::iam::{self, CredentialSource, Target, Tokens};
use super::{Db, DbError};
use crate::config::{DbAuth, DbSettings, MySqlConfig, SslMode};

/// What `Db` knows about reaching its database beyond the pool.
#[derive(Default)]
pub(super) struct Connect {
    /// With `DB_AUTH=iam`: whether the pool's options hold a token.
    tokens: Option<Tokens>,
    /// Why the last attempt to reach the database and apply the schema failed, until
    /// one succeeds: `/readyz` says it.
    last_failure: Mutex<Option<String>>,
}

/// The pool for `config`, with `pool` tuned by the caller. IAM tokens are signed with
/// `aws_credentials` when given, else as `DbAuth::Iam` says.
pub(super) fn mysql_pool(
    config: &MySqlConfig,
    pool: MySqlPoolOptions,
    aws_credentials: Option<SharedCredentialsProvider>,
) -> Result<(MySqlPool, Connect), DbError> {
    if let Some(ca) = &config.tls.ca {
        check_ca_bundle(ca)?;
    }
    let mut options = MySqlConnectOptions::new()
        .host(&config.host)
        .port(config.port)
        .username(&config.user)
        .database(&config.database)
        .charset("utf8mb4")
        .ssl_mode(match config.tls.mode {
            SslMode::Disabled => MySqlSslMode::Disabled,
            SslMode::Preferred => MySqlSslMode::Preferred,
            SslMode::Required => MySqlSslMode::Required,
            SslMode::VerifyCa => MySqlSslMode::VerifyCa,
            SslMode::VerifyIdentity => MySqlSslMode::VerifyIdentity,
        });
    if let Some(ca) = &config.tls.ca {
        // A path, not the contents: sqlx reads it for every new connection, so a
        // renewed bundle in a mounted ConfigMap applies without a restart.
        options = options.ssl_ca(ca);
    }
    match &config.auth {
        DbAuth::Password(password) => Ok((
            pool.connect_lazy_with(options.password(password.expose())),
            Connect::default(),
        )),
        DbAuth::Iam { region, keys } => {
            // RDS asks for the token through MySQL's clear-text plugin; configuration
            // has made sure the link is encrypted.
            let options = options.enable_cleartext_plugin(true);
            let connected = iam::Connected::default();
            let pool = pool
                .after_connect({
                    let connected = connected.clone();
                    move |_, _| {
                        connected.notify();
                        Box::pin(async { Ok(()) })
                    }
                })
                .connect_lazy_with(options.clone());
            let credentials = match (aws_credentials, keys) {
                (Some(provider), _) => CredentialSource::Provider(provider),
                (None, Some(keys)) => CredentialSource::Keys(keys.clone()),
                (None, None) => CredentialSource::DefaultChain,
            };
            let target = Target {
                host: config.host.clone(),
                port: config.port,
                user: config.user.clone(),
                region: region.clone(),
            };
            let tokens = iam::keep_fresh(pool.clone(), options, target, credentials, connected);
            Ok((
                pool,
                Connect {
                    tokens: Some(tokens),
                    ..Connect::default()
                },
            ))
        }
    }
}

/// A CA bundle that cannot be read or holds no certificate stops the app at start: every
/// connection would otherwise fail later with a less direct message.
fn check_ca_bundle(path: &std::path::Path) -> Result<(), DbError> {
    let refuse = |why: String| {
        DbError::from(sqlx::Error::Configuration(
            format!("DB_SSL_CA={}: {why}", path.display()).into(),
        ))
    };
    let pem = std::fs::read(path).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    let mut certificates = 0;
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        certificate.map_err(|e| refuse(format!("not a PEM certificate bundle: {e}")))?;
        certificates += 1;
    }
    if certificates == 0 {
        return Err(refuse("holds no PEM certificate".into()));
    }
    Ok(())
}

impl Db {
    /// Like `connect_lazy`, with the AWS credentials that sign IAM auth tokens given by
    /// the caller instead of the configured keys or the SDK's default chain.
    pub fn connect_lazy_with_aws_credentials(
        settings: &DbSettings,
        credentials: SharedCredentialsProvider,
    ) -> Result<Db, DbError> {
        Db::open(settings, Some(credentials))
    }

    /// Whether a connection can be attempted: with IAM, once a token has been signed.
    pub(super) async fn ready_to_connect(&self) -> Result<(), DbError> {
        match &self.connect.tokens {
            Some(tokens) => tokens.ready().await.map_err(DbError::Unavailable),
            None => Ok(()),
        }
    }

    /// Records why reaching the database failed, for `/readyz`.
    pub(super) fn remember_failure(&self, err: &DbError) {
        let reason = match err {
            DbError::Unavailable(reason) => reason.clone(),
            DbError::Other(err) => err.to_string(),
        };
        *self.connect.last_failure.lock().expect("failure record") = Some(reason);
    }

    /// Why requests cannot be served yet: the schema is missing, and the last attempt
    /// to reach the database said why.
    pub(super) fn not_ready_reason(&self) -> String {
        match &*self.connect.last_failure.lock().expect("failure record") {
            Some(reason) => {
                format!("the database schema is not in place yet; last attempt: {reason}")
            }
            None => "the database schema is not in place yet".to_owned(),
        }
    }
}

/// A connection error in words an operator can act on: a refused certificate says which
/// setting to check.
pub(super) fn describe(err: &sqlx::Error) -> String {
    let hint = match err {
        // rustls reports a refused handshake through the socket, as an I/O error.
        sqlx::Error::Io(io) => match io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(rustls::Error::InvalidCertificate(problem)) => match problem {
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    "the server's certificate is not signed by a CA in DB_SSL_CA (or the public roots)"
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    "the server's certificate does not name DBHOST; with verify-identity, connect by a name it lists"
                }
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => {
                    "the server's certificate is outside its validity period (or this clock is wrong)"
                }
                _ => "the server's certificate was refused",
            },
            Some(_) => "the TLS handshake with the server failed",
            None => return err.to_string(),
        },
        sqlx::Error::Tls(inner) if inner.to_string() == "server does not support TLS" => {
            "the server does not offer TLS, and DB_SSL_MODE requires it"
        }
        sqlx::Error::Tls(_) => "TLS to the server failed",
        _ => return err.to_string(),
    };
    format!("{hint}: {err}")
}
