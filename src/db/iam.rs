//! RDS IAM database authentication: the password is a SigV4-presigned `connect` URL for
//! the host, port, user and region, signed with the AWS credentials and valid for 15
//! minutes.
//!
//! sqlx 0.9's pool has no hook that runs before it opens a connection: it connects with
//! whatever options it holds at that moment. So a task keeps those options holding a
//! token that has not been used yet: it signs a new one as soon as a new connection has
//! logged in (the pool's `after_connect`), and at least every `REFRESH_EVERY` while no
//! connection is opened, so a connection never logs in with a token signed at start or
//! one near its expiry. Connections opened at the same instant (a failover reconnecting
//! the whole pool) may share one token, which RDS accepts for its whole lifetime.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::Region;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use tokio::sync::{Notify, watch};

use crate::config::{AwsKeys, Secret};

/// What RDS accepts at most, and what AWS's own token generators use.
const TOKEN_LIFETIME: Duration = Duration::from_secs(900);
/// A token waiting in the pool's options is replaced after this, well inside its
/// lifetime, so it outlives clock skew and a slow login.
const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);
/// After a failed signing (no credentials yet, the credential endpoint down).
const RETRY_AFTER: Duration = Duration::from_secs(5);
const SERVICE: &str = "rds-db";

/// RFC 3986 unreserved characters stay; everything else in the user name is encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Where to log in, and as whom: what a token is signed for.
#[derive(Clone)]
pub(super) struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub region: String,
}

/// The AWS credentials that sign: given by the caller, the configured static keys, or
/// the SDK's default chain (environment, profile, web identity, EKS Pod Identity,
/// instance metadata), loaded on first use.
pub(super) enum CredentialSource {
    Provider(SharedCredentialsProvider),
    Keys(AwsKeys),
    DefaultChain,
}

impl CredentialSource {
    async fn provider(self, region: &str) -> SharedCredentialsProvider {
        match self {
            CredentialSource::Provider(provider) => provider,
            CredentialSource::Keys(keys) => SharedCredentialsProvider::new(Credentials::new(
                keys.access_key_id,
                keys.secret_access_key.expose(),
                keys.session_token.map(|t| t.expose().to_owned()),
                None,
                "Environment",
            )),
            // Not cached: each call asks the chain (for Pod Identity, the node's agent),
            // which happens once per new connection and every few minutes.
            CredentialSource::DefaultChain => SharedCredentialsProvider::new(
                aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                    .region(Region::new(region.to_owned()))
                    .build()
                    .await,
            ),
        }
    }
}

/// Whether the pool's options hold a usable token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum TokenState {
    /// Nothing signed yet.
    Pending,
    Signed,
    /// The last attempt failed; the reason, for `/readyz` and the log.
    Failed(String),
}

/// The handle `Db` keeps: the state of the token in the pool's options.
pub(super) struct Tokens {
    state: watch::Receiver<TokenState>,
}

impl Tokens {
    /// Waits for the first signing attempt and says whether the options hold a token.
    pub(super) async fn ready(&self) -> Result<(), String> {
        let mut state = self.state.clone();
        let current = state
            .wait_for(|s| *s != TokenState::Pending)
            .await
            .map(|s| s.clone())
            // The task ends only with the pool: a closed pool cannot connect anyway.
            .unwrap_or(TokenState::Failed("the connection pool is closed".into()));
        match current {
            TokenState::Failed(reason) => Err(reason),
            TokenState::Pending | TokenState::Signed => Ok(()),
        }
    }
}

/// Says that a connection has just logged in, so the token it used is spent.
#[derive(Clone, Default)]
pub(super) struct Connected(Arc<Notify>);

impl Connected {
    pub(super) fn notify(&self) {
        // A stored permit: a login while the task is busy signing is not lost.
        self.0.notify_one();
    }
}

/// Starts the task that keeps `pool`'s options holding a fresh token until the pool
/// closes.
pub(super) fn keep_fresh(
    pool: MySqlPool,
    options: MySqlConnectOptions,
    target: Target,
    credentials: CredentialSource,
    connected: Connected,
) -> Tokens {
    let (state_tx, state) = watch::channel(TokenState::Pending);
    let mut closed = pool.close_event();
    let refresh = async move {
        let credentials = credentials.provider(&target.region).await;
        loop {
            let wait = match token(&target, &credentials, SystemTime::now()).await {
                Ok(token) => {
                    pool.set_connect_options(options.clone().password(token.expose()));
                    state_tx.send_replace(TokenState::Signed);
                    REFRESH_EVERY
                }
                Err(reason) => {
                    tracing::error!(%reason, retry_in_ms = RETRY_AFTER.as_millis() as u64, "cannot sign an RDS IAM auth token");
                    state_tx.send_replace(TokenState::Failed(reason));
                    RETRY_AFTER
                }
            };
            tokio::select! {
                () = connected.0.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    };
    tokio::spawn(async move {
        // Ends with the pool (Db::close), dropping its handle to it.
        let _closed = closed.do_until(refresh).await;
    });
    Tokens { state }
}

/// Asks for credentials and signs a token with them.
async fn token(
    target: &Target,
    credentials: &SharedCredentialsProvider,
    now: SystemTime,
) -> Result<Secret, String> {
    let credentials = credentials.provide_credentials().await.map_err(|e| {
        format!(
            "cannot sign an RDS IAM auth token for {}: no AWS credentials: {}",
            target.user,
            error_chain(&e)
        )
    })?;
    presign(target, credentials, now)
        .map(Secret::new)
        .map_err(|e| format!("cannot sign an RDS IAM auth token: {e}"))
}

/// An error and its causes on one line: the SDK's top-level messages alone ("an error
/// occurred while loading credentials") do not say what to fix.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The token: `host:port/?Action=connect&DBUser=user&X-Amz-…`, a presigned GET of
/// `https://host:port/?Action=connect&DBUser=user` for service `rds-db`, without the
/// scheme.
fn presign(
    target: &Target,
    credentials: Credentials,
    time: SystemTime,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let identity = Identity::from(credentials);
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&target.region)
        .name(SERVICE)
        .time(time)
        .settings(settings)
        .build()?
        .into();
    let unsigned = format!(
        "{}:{}/?Action=connect&DBUser={}",
        target.host,
        target.port,
        utf8_percent_encode(&target.user, QUERY_VALUE)
    );
    let request = SignableRequest::new(
        "GET",
        format!("https://{unsigned}"),
        std::iter::empty(),
        SignableBody::Bytes(&[]),
    )?;
    let (instructions, _signature) = sign(request, &params)?.into_parts();
    let mut token = unsigned;
    for (name, value) in instructions.params() {
        token.push('&');
        token.push_str(name);
        token.push('=');
        token.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(user: &str) -> Target {
        Target {
            host: "prod-instance.us-east-1.rds.amazonaws.com".into(),
            port: 3306,
            user: user.into(),
            region: "us-east-1".into(),
        }
    }

    /// The AWS SDK for Rust's own test vector for its RDS token generator
    /// (aws-sdk-rust, `sdk/rds/src/auth_token.rs`, test `signing_works`): the same
    /// inputs give the same token, byte for byte.
    #[test]
    fn signs_the_token_aws_documents_for_fixed_inputs() {
        let token = presign(
            &target("peccy"),
            Credentials::new("akid", "secret", None, None, "test"),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_724_709_600),
        )
        .unwrap();
        assert_eq!(
            token,
            "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=peccy\
             &X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=akid%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request\
             &X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89"
        );
    }

    /// Temporary credentials (EKS Pod Identity gives those): the session token is part
    /// of what is signed and travels encoded. The expected signature was computed
    /// independently from the SigV4 specification with Python's hmac and hashlib
    /// (canonical request with the token among the sorted query parameters, string to
    /// sign, derived key); the same script reproduces the SDK's vector above.
    #[test]
    fn a_session_token_is_signed_and_encoded() {
        let token = presign(
            &target("employee_app"),
            Credentials::new("akid", "secret", Some("tok/en+=".into()), None, "test"),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_724_709_600),
        )
        .unwrap();
        assert_eq!(
            token,
            "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=employee_app\
             &X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=akid%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request\
             &X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=f4cef9562d6f85b663d48c075ac5e5ae7ab1f86c72eda2d7b863573d2725b310\
             &X-Amz-Security-Token=tok%2Fen%2B%3D"
        );
    }
}
