//! The one configuration struct, read from the original app's environment variables
//! (filled by a Kubernetes ConfigMap and Secrets) plus the command line.
//!
//! Every variable is read as text by envy and checked here, so a bad value stops the
//! program before it binds with one message naming the variable, the value and what is
//! allowed, instead of a serde error or a silent default.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The colours the original app supports, with its hex values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Red,
    Green,
    Blue,
    Blue2,
    Pink,
    Darkblue,
    Lime,
}

impl Colour {
    pub const ALL: [Colour; 7] = [
        Colour::Red,
        Colour::Green,
        Colour::Blue,
        Colour::Blue2,
        Colour::Pink,
        Colour::Darkblue,
        Colour::Lime,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Green => "green",
            Colour::Blue => "blue",
            Colour::Blue2 => "blue2",
            Colour::Pink => "pink",
            Colour::Darkblue => "darkblue",
            Colour::Lime => "lime",
        }
    }

    /// The original picks a random colour when none is configured.
    pub fn random() -> Colour {
        // RandomState is seeded from the OS per process: enough randomness for a
        // cosmetic choice without another dependency.
        let n = RandomState::new().build_hasher().finish();
        Colour::ALL[(n % Colour::ALL.len() as u64) as usize]
    }

    fn allowed() -> String {
        Colour::ALL.map(Colour::name).join(", ")
    }
}

impl FromStr for Colour {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let wanted = s.trim();
        Colour::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(wanted))
            .ok_or(())
    }
}

/// Where the colour came from, for the start-up log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourSource {
    Flag,
    Environment,
    Random,
}

/// A value that must never be printed: Debug and Display show a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseConfig {
    MySql(MySqlConfig),
    Sqlite { path: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MySqlConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub auth: DbAuth,
    pub database: String,
    pub tls: DbTls,
}

/// How the app proves who it is to MySQL (`DB_AUTH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbAuth {
    /// `DBPWD`.
    Password(Secret),
    /// A fresh RDS IAM auth token for every new connection, signed for `region` with
    /// the AWS credentials (`keys` when set, else the SDK's default chain).
    Iam {
        region: String,
        keys: Option<AwsKeys>,
    },
}

/// TLS to MySQL: `DB_SSL_MODE` and `DB_SSL_CA`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbTls {
    pub mode: SslMode,
    /// A PEM bundle of CA certificates trusted beside the public roots (for RDS, the
    /// regional bundle).
    pub ca: Option<PathBuf>,
}

/// MySQL's `--ssl-mode` values, with MySQL's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disabled,
    /// TLS when the server offers it, without checking its certificate; else plain TCP.
    Preferred,
    /// TLS or no connection; the certificate is not checked.
    Required,
    /// TLS with a certificate signed by a trusted CA, for any host name.
    VerifyCa,
    /// TLS with a trusted certificate that names `DBHOST`.
    VerifyIdentity,
}

impl SslMode {
    pub const ALL: [SslMode; 5] = [
        SslMode::Disabled,
        SslMode::Preferred,
        SslMode::Required,
        SslMode::VerifyCa,
        SslMode::VerifyIdentity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disabled => "disabled",
            SslMode::Preferred => "preferred",
            SslMode::Required => "required",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyIdentity => "verify-identity",
        }
    }

    /// Whether a connection in this mode is always encrypted.
    pub fn requires_tls(self) -> bool {
        matches!(
            self,
            SslMode::Required | SslMode::VerifyCa | SslMode::VerifyIdentity
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSettings {
    pub backend: DatabaseConfig,
    pub max_connections: u32,
    /// How long a request waits for a connection before it answers 503.
    pub acquire_timeout: Duration,
    /// Upper bound on one query, so a hung server cannot hang requests.
    pub query_timeout: Duration,
    /// Of `max_connections`, how many serve lookups and list pages (see `db::readers`).
    pub read_connections: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackgroundConfig {
    /// `BACKGROUND_IMAGE_URL`, as given (parsed by the background module).
    pub url: Option<String>,
    /// `BACKGROUND_IMAGE_URL_FILE`: a file holding the URL, followed while running.
    pub url_file: Option<PathBuf>,
    pub cache_dir: PathBuf,
    /// `None` turns the periodic re-check off.
    pub refresh: Option<Duration>,
    pub fetch_timeout: Duration,
    pub max_bytes: u64,
    pub aws_region: String,
    /// How often `url_file` is re-read.
    pub url_file_poll: Duration,
    /// `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`: an S3-compatible store.
    pub aws_endpoint_url: Option<String>,
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` when both are set. Read here
    /// rather than by the SDK from the process environment so that tests can run apps
    /// with different keys side by side; the SDK's default chain covers everything else.
    pub aws_keys: Option<AwsKeys>,
}

/// Static AWS keys: the first source of the SDK's default credential chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

/// How the HTTP server treats connections, and how it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSettings {
    /// How long a connection may wait for the first byte of a request.
    pub idle_timeout: Duration,
    /// How long the rest of a request head may take once its first byte has arrived.
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    /// After a stop signal: how long to keep serving with the readiness probe failing,
    /// so load balancers stop sending new requests first.
    pub shutdown_delay: Duration,
    /// Then: how long in-flight requests get to finish.
    pub shutdown_drain: Duration,
}

/// Where Prometheus scrapes `/metrics`: a listener of its own, never the public port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSettings {
    /// `None` (`METRICS_PORT=0`) turns metrics off: nothing is counted or served.
    pub listen: Option<SocketAddr>,
}

/// OpenTelemetry traces, on only when an OTLP endpoint is configured. The SDK reads the
/// other standard variables itself (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
/// `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`, `OTEL_EXPORTER_OTLP_HEADERS`,
/// `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_BSP_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracingSettings {
    /// The full URL spans are posted to (`.../v1/traces`); `None`: tracing off.
    pub traces_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TIMEOUT`: how long one export may take.
    pub export_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub listen: SocketAddr,
    pub server: ServerSettings,
    pub metrics: MetricsSettings,
    pub tracing: TracingSettings,
    pub db: DbSettings,
    pub colour: Colour,
    pub colour_source: ColourSource,
    pub group_name: String,
    pub group_slogan: String,
    pub static_dir: PathBuf,
    pub background: BackgroundConfig,
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {variable}={value:?}: {allowed}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub allowed: String,
}

/// The environment as text, as envy reads it (it lower-cases every name).
struct Env(HashMap<String, String>);

impl Env {
    /// A variable's value; an empty one counts as unset, since ConfigMaps often carry
    /// `KEY: ""`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(&name.to_ascii_lowercase())
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn text(&self, var: Text) -> String {
        self.get(var.name).unwrap_or(var.default).to_owned()
    }

    fn optional(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    fn number<T: FromStr + PartialOrd + fmt::Display + Copy>(
        &self,
        var: Number<T>,
    ) -> Result<T, ConfigError> {
        let Some(raw) = self.get(var.name) else {
            return Ok(var.default);
        };
        match raw.parse::<T>() {
            Ok(n) if n >= var.min && n <= var.max => Ok(n),
            _ => Err(ConfigError {
                variable: var.name,
                value: raw.to_owned(),
                allowed: format!("a whole number from {} to {}", var.min, var.max),
            }),
        }
    }
}

/// A numeric variable: its name, default and allowed range, written once.
#[derive(Clone, Copy)]
struct Number<T> {
    name: &'static str,
    default: T,
    min: T,
    max: T,
}

impl<T> Number<T> {
    const fn new(name: &'static str, default: T, min: T, max: T) -> Self {
        Number {
            name,
            default,
            min,
            max,
        }
    }
}

/// A text variable and its default.
#[derive(Clone, Copy)]
struct Text {
    name: &'static str,
    default: &'static str,
}

impl Text {
    const fn new(name: &'static str, default: &'static str) -> Self {
        Text { name, default }
    }
}

const PORT: Number<u16> = Number::new("PORT", 81, 0, u16::MAX);
/// 9090 is the Prometheus convention; 0 turns metrics off.
const METRICS_PORT: Number<u16> = Number::new("METRICS_PORT", 9090, 0, u16::MAX);
const DBPORT: Number<u16> = Number::new("DBPORT", 3306, 1, u16::MAX);
const DB_MAX_CONNECTIONS: Number<u32> = Number::new("DB_MAX_CONNECTIONS", 16, 2, 1000);
const DB_READ_CONNECTIONS: Number<u32> = Number::new("DB_READ_CONNECTIONS", 4, 1, 999);
const DB_ACQUIRE_TIMEOUT_MS: Number<u64> = Number::new("DB_ACQUIRE_TIMEOUT_MS", 1000, 10, 600_000);
const DB_QUERY_TIMEOUT_MS: Number<u64> = Number::new("DB_QUERY_TIMEOUT_MS", 5000, 10, 600_000);
const BACKGROUND_REFRESH_SECS: Number<u64> =
    Number::new("BACKGROUND_REFRESH_SECS", 300, 0, 86_400 * 7);
const BACKGROUND_FETCH_TIMEOUT_SECS: Number<u64> =
    Number::new("BACKGROUND_FETCH_TIMEOUT_SECS", 10, 1, 600);
const BACKGROUND_MAX_BYTES: Number<u64> = Number::new(
    "BACKGROUND_MAX_BYTES",
    10 * 1024 * 1024,
    1,
    1024 * 1024 * 1024,
);
const BACKGROUND_URL_FILE_POLL_MS: Number<u64> =
    Number::new("BACKGROUND_URL_FILE_POLL_MS", 5000, 10, 60_000);

const HTTP_IDLE_TIMEOUT_SECS: Number<u64> = Number::new("HTTP_IDLE_TIMEOUT_SECS", 75, 1, 3600);
const HTTP_HEADER_READ_TIMEOUT_SECS: Number<u64> =
    Number::new("HTTP_HEADER_READ_TIMEOUT_SECS", 10, 1, 600);
const HTTP_MAX_CONNECTIONS: Number<usize> = Number::new("HTTP_MAX_CONNECTIONS", 1024, 1, 65_536);
const SHUTDOWN_DELAY_SECS: Number<u64> = Number::new("SHUTDOWN_DELAY_SECS", 0, 0, 600);
const SHUTDOWN_DRAIN_SECS: Number<u64> = Number::new("SHUTDOWN_DRAIN_SECS", 10, 1, 600);
/// The OpenTelemetry default, in milliseconds as the specification has it.
const OTEL_EXPORTER_OTLP_TIMEOUT: Number<u64> =
    Number::new("OTEL_EXPORTER_OTLP_TIMEOUT", 10_000, 1, 600_000);

const DBUSER: Text = Text::new("DBUSER", "root");
const DBPWD: Text = Text::new("DBPWD", "password");
const DATABASE: Text = Text::new("DATABASE", "employees");
const SQLITE_PATH: Text = Text::new("SQLITE_PATH", "data/employees.db");
const GROUP_NAME: Text = Text::new("GROUP_NAME", "Default Group");
const GROUP_SLOGAN: Text = Text::new("GROUP_SLOGAN", "Default Slogan");
const STATIC_DIR: Text = Text::new("STATIC_DIR", "static");
const AWS_REGION: Text = Text::new("AWS_REGION", "us-east-1");
const DB_SSL_MODE: &str = "DB_SSL_MODE";
const DB_SSL_CA: &str = "DB_SSL_CA";
const DB_AUTH: &str = "DB_AUTH";

impl Config {
    /// Reads the process environment and command-line colour flag.
    pub fn from_env(colour_flag: Option<&str>) -> Result<Config, ConfigError> {
        Config::from_vars(std::env::vars(), colour_flag)
    }

    /// Builds the configuration from any set of variables, so tests need not touch the
    /// process environment.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
        colour_flag: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let env = Env(envy::from_iter(vars).map_err(|e| ConfigError {
            variable: "environment",
            value: String::new(),
            allowed: e.to_string(),
        })?);

        let bind = match env.get("BIND_ADDRESS") {
            None => IpAddr::from([0, 0, 0, 0]),
            Some(text) => text.parse().map_err(|_| ConfigError {
                variable: "BIND_ADDRESS",
                value: text.to_owned(),
                allowed: "an IP address such as 0.0.0.0 or 127.0.0.1".into(),
            })?,
        };

        let backend = match env.optional("DBHOST") {
            Some(host) => DatabaseConfig::MySql(MySqlConfig {
                host,
                port: env.number(DBPORT)?,
                user: env.text(DBUSER),
                auth: db_auth(&env)?,
                database: env.text(DATABASE),
                tls: db_tls(&env)?,
            }),
            None => DatabaseConfig::Sqlite {
                path: PathBuf::from(env.text(SQLITE_PATH)),
            },
        };
        if let DatabaseConfig::MySql(MySqlConfig {
            auth: DbAuth::Iam { .. },
            tls,
            ..
        }) = &backend
            && !tls.mode.requires_tls()
        {
            // The token travels as a clear-text password: never over an unencrypted link.
            return Err(ConfigError {
                variable: DB_SSL_MODE,
                value: tls.mode.name().to_owned(),
                allowed: "DB_AUTH=iam sends its token as a clear-text password, so it needs \
                          required, verify-ca or verify-identity (verify-identity for RDS)"
                    .into(),
            });
        }
        let db = DbSettings {
            backend,
            max_connections: env.number(DB_MAX_CONNECTIONS)?,
            acquire_timeout: Duration::from_millis(env.number(DB_ACQUIRE_TIMEOUT_MS)?),
            query_timeout: Duration::from_millis(env.number(DB_QUERY_TIMEOUT_MS)?),
            read_connections: env.number(DB_READ_CONNECTIONS)?,
        };
        if db.read_connections >= db.max_connections {
            return Err(ConfigError {
                variable: DB_READ_CONNECTIONS.name,
                value: db.read_connections.to_string(),
                allowed: format!(
                    "fewer than DB_MAX_CONNECTIONS ({}), which counts them too",
                    db.max_connections
                ),
            });
        }

        let colour_choice = |variable: &'static str, value: &str| {
            value.parse().map_err(|()| ConfigError {
                variable,
                value: value.to_owned(),
                allowed: format!("one of {}", Colour::allowed()),
            })
        };
        let (colour, colour_source) = match (colour_flag, env.get("APP_COLOR")) {
            (Some(flag), _) => (colour_choice("--color", flag)?, ColourSource::Flag),
            (None, Some(value)) => (
                colour_choice("APP_COLOR", value)?,
                ColourSource::Environment,
            ),
            (None, None) => (Colour::random(), ColourSource::Random),
        };

        let log_format = match env.get("LOG_FORMAT") {
            None => LogFormat::Text,
            Some(v) if v.eq_ignore_ascii_case("json") => LogFormat::Json,
            Some(v) if v.eq_ignore_ascii_case("text") => LogFormat::Text,
            Some(v) => {
                return Err(ConfigError {
                    variable: "LOG_FORMAT",
                    value: v.to_owned(),
                    allowed: "json or text".into(),
                });
            }
        };

        let refresh_secs = env.number(BACKGROUND_REFRESH_SECS)?;
        let background = BackgroundConfig {
            url: env.optional("BACKGROUND_IMAGE_URL"),
            url_file: env.optional("BACKGROUND_IMAGE_URL_FILE").map(PathBuf::from),
            cache_dir: env
                .optional("BACKGROUND_CACHE_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("employee-db-background")),
            refresh: (refresh_secs > 0).then(|| Duration::from_secs(refresh_secs)),
            fetch_timeout: Duration::from_secs(env.number(BACKGROUND_FETCH_TIMEOUT_SECS)?),
            max_bytes: env.number(BACKGROUND_MAX_BYTES)?,
            aws_region: env.text(AWS_REGION),
            url_file_poll: Duration::from_millis(env.number(BACKGROUND_URL_FILE_POLL_MS)?),
            aws_endpoint_url: env
                .optional("AWS_ENDPOINT_URL_S3")
                .or(env.optional("AWS_ENDPOINT_URL")),
            aws_keys: aws_keys(&env),
        };

        let server = ServerSettings {
            idle_timeout: Duration::from_secs(env.number(HTTP_IDLE_TIMEOUT_SECS)?),
            header_read_timeout: Duration::from_secs(env.number(HTTP_HEADER_READ_TIMEOUT_SECS)?),
            max_connections: env.number(HTTP_MAX_CONNECTIONS)?,
            shutdown_delay: Duration::from_secs(env.number(SHUTDOWN_DELAY_SECS)?),
            shutdown_drain: Duration::from_secs(env.number(SHUTDOWN_DRAIN_SECS)?),
        };

        let port = env.number(PORT)?;
        let metrics_port = env.number(METRICS_PORT)?;
        if metrics_port != 0 && metrics_port == port {
            return Err(ConfigError {
                variable: "METRICS_PORT",
                value: metrics_port.to_string(),
                allowed: "a port other than PORT (metrics are never served on the public port), \
                          or 0 to turn metrics off"
                    .into(),
            });
        }
        let metrics = MetricsSettings {
            listen: (metrics_port != 0).then(|| SocketAddr::new(bind, metrics_port)),
        };

        Ok(Config {
            listen: SocketAddr::new(bind, port),
            server,
            metrics,
            tracing: tracing_settings(&env)?,
            db,
            colour,
            colour_source,
            group_name: env.text(GROUP_NAME),
            group_slogan: env.text(GROUP_SLOGAN),
            static_dir: PathBuf::from(env.text(STATIC_DIR)),
            background,
            log_format,
        })
    }
}

/// The OTLP traces endpoint, resolved as the OpenTelemetry specification says: the
/// per-signal variable as given, else the base endpoint with `/v1/traces` appended.
/// `OTEL_SDK_DISABLED=true` turns tracing off whatever else is set.
fn tracing_settings(env: &Env) -> Result<TracingSettings, ConfigError> {
    const SIGNAL: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    const BASE: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    let export_timeout = Duration::from_millis(env.number(OTEL_EXPORTER_OTLP_TIMEOUT)?);
    if env
        .get("OTEL_SDK_DISABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Ok(TracingSettings {
            traces_endpoint: None,
            export_timeout,
        });
    }
    if let Some(protocol) = env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        && protocol != "http/protobuf"
    {
        return Err(ConfigError {
            variable: "OTEL_EXPORTER_OTLP_PROTOCOL",
            value: protocol.to_owned(),
            allowed: "http/protobuf (the only protocol this app sends)".into(),
        });
    }
    let endpoint = match (env.get(SIGNAL), env.get(BASE)) {
        (Some(url), _) => Some((SIGNAL, url.to_owned())),
        (None, Some(base)) => Some((BASE, format!("{}/v1/traces", base.trim_end_matches('/')))),
        (None, None) => None,
    };
    let Some((variable, url)) = endpoint else {
        return Ok(TracingSettings {
            traces_endpoint: None,
            export_timeout,
        });
    };
    // Plain HTTP only: spans go to a collector or agent next to the app (a sidecar, a
    // node agent, the cluster's collector), which forwards them over TLS if it must.
    match url::Url::parse(&url) {
        Ok(parsed) if parsed.scheme() == "http" && parsed.host().is_some() => Ok(TracingSettings {
            traces_endpoint: Some(url),
            export_timeout,
        }),
        _ => Err(ConfigError {
            variable,
            value: env.get(variable).unwrap_or_default().to_owned(),
            allowed: "an http:// URL of an OTLP/HTTP receiver, such as \
                      http://otel-collector:4318 (https is not supported: send to a \
                      collector next to the app)"
                .into(),
        }),
    }
}

/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), when both
/// of the first two are set.
fn aws_keys(env: &Env) -> Option<AwsKeys> {
    match (
        env.optional("AWS_ACCESS_KEY_ID"),
        env.optional("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(access_key_id), Some(secret)) => Some(AwsKeys {
            access_key_id,
            secret_access_key: Secret::new(secret),
            session_token: env.optional("AWS_SESSION_TOKEN").map(Secret::new),
        }),
        _ => None,
    }
}

fn db_tls(env: &Env) -> Result<DbTls, ConfigError> {
    let mode = match env.get(DB_SSL_MODE) {
        None => SslMode::Preferred,
        Some(value) => SslMode::ALL
            .into_iter()
            .find(|mode| mode.name().eq_ignore_ascii_case(value))
            .ok_or_else(|| ConfigError {
                variable: DB_SSL_MODE,
                value: value.to_owned(),
                allowed: format!("one of {}", SslMode::ALL.map(SslMode::name).join(", ")),
            })?,
    };
    let ca = env.optional(DB_SSL_CA).map(PathBuf::from);
    if let Some(path) = &ca
        && !matches!(mode, SslMode::VerifyCa | SslMode::VerifyIdentity)
    {
        // The other modes do not check certificates: a CA set with them would look like
        // protection that is not there.
        return Err(ConfigError {
            variable: DB_SSL_CA,
            value: path.display().to_string(),
            allowed: format!(
                "a CA bundle is used only with DB_SSL_MODE=verify-ca or verify-identity (it is {})",
                mode.name()
            ),
        });
    }
    Ok(DbTls { mode, ca })
}

fn db_auth(env: &Env) -> Result<DbAuth, ConfigError> {
    match env.get(DB_AUTH) {
        None => {}
        Some(v) if v.eq_ignore_ascii_case("password") => {}
        Some(v) if v.eq_ignore_ascii_case("iam") => {
            return Ok(DbAuth::Iam {
                region: env.text(AWS_REGION),
                keys: aws_keys(env),
            });
        }
        Some(v) => {
            return Err(ConfigError {
                variable: DB_AUTH,
                value: v.to_owned(),
                allowed: "password or iam".into(),
            });
        }
    }
    // An empty password is a password: only an unset variable takes the default.
    Ok(DbAuth::Password(Secret::new(
        env.0
            .get(&DBPWD.name.to_ascii_lowercase())
            .map_or(DBPWD.default, String::as_str),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_original_app() {
        let config = Config::from_vars(vars(&[]), None).unwrap();
        assert_eq!(config.listen.port(), 81);
        assert_eq!(config.group_name, "Default Group");
        assert_eq!(config.group_slogan, "Default Slogan");
        assert_eq!(config.colour_source, ColourSource::Random);
        assert_eq!(config.background.aws_region, "us-east-1");
        assert!(matches!(config.db.backend, DatabaseConfig::Sqlite { .. }));
    }

    #[test]
    fn dbhost_selects_mysql_with_original_defaults() {
        let config = Config::from_vars(vars(&[("DBHOST", "mysql")]), None).unwrap();
        let DatabaseConfig::MySql(MySqlConfig {
            host,
            port,
            user,
            auth,
            database,
            tls,
        }) = config.db.backend
        else {
            panic!("expected MySQL");
        };
        assert_eq!(
            (host.as_str(), port, user.as_str(), database.as_str()),
            ("mysql", 3306, "root", "employees")
        );
        assert_eq!(auth, DbAuth::Password(Secret::new("password")));
        assert_eq!(
            tls,
            DbTls {
                mode: SslMode::Preferred,
                ca: None
            }
        );
    }

    fn mysql(pairs: &[(&str, &str)]) -> Result<(DbAuth, DbTls), ConfigError> {
        let mut all = vec![("DBHOST", "db.example")];
        all.extend_from_slice(pairs);
        match Config::from_vars(vars(&all), None)?.db.backend {
            DatabaseConfig::MySql(MySqlConfig { auth, tls, .. }) => Ok((auth, tls)),
            DatabaseConfig::Sqlite { .. } => panic!("DBHOST selects MySQL"),
        }
    }

    #[test]
    fn ssl_mode_and_ca_are_read() {
        let (_, tls) = mysql(&[
            ("DB_SSL_MODE", "Verify-Identity"),
            ("DB_SSL_CA", "/etc/rds/ca.pem"),
        ])
        .unwrap();
        assert_eq!(tls.mode, SslMode::VerifyIdentity);
        assert_eq!(tls.ca, Some(PathBuf::from("/etc/rds/ca.pem")));
        let err = mysql(&[("DB_SSL_MODE", "required"), ("DB_SSL_CA", "/ca.pem")]).unwrap_err();
        assert_eq!(err.variable, "DB_SSL_CA");
        assert!(err.allowed.contains("it is required"), "{err}");
        let err = mysql(&[("DB_SSL_MODE", "on")]).unwrap_err();
        assert_eq!(err.variable, "DB_SSL_MODE");
        assert!(
            err.allowed
                .contains("disabled, preferred, required, verify-ca, verify-identity"),
            "{err}"
        );
    }

    #[test]
    fn iam_needs_tls_and_no_password() {
        for mode in ["disabled", "preferred"] {
            let err = mysql(&[("DB_AUTH", "iam"), ("DB_SSL_MODE", mode)]).unwrap_err();
            assert_eq!((err.variable, err.value.as_str()), ("DB_SSL_MODE", mode));
            assert!(err.to_string().contains("DB_AUTH=iam"), "{err}");
        }
        let err = mysql(&[("DB_AUTH", "iam")]).unwrap_err();
        assert_eq!(err.variable, "DB_SSL_MODE", "the default is preferred");
        let (auth, _) = mysql(&[
            ("DB_AUTH", "IAM"),
            ("DB_SSL_MODE", "verify-identity"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .unwrap();
        assert_eq!(
            auth,
            DbAuth::Iam {
                region: "eu-west-1".into(),
                keys: None
            }
        );
        let err = mysql(&[("DB_AUTH", "kerberos")]).unwrap_err();
        assert_eq!(err.variable, "DB_AUTH");
        assert_eq!(err.allowed, "password or iam");
    }

    #[test]
    fn flag_wins_over_environment() {
        let config = Config::from_vars(vars(&[("APP_COLOR", "red")]), Some("blue2")).unwrap();
        assert_eq!(
            (config.colour, config.colour_source),
            (Colour::Blue2, ColourSource::Flag)
        );
        let config = Config::from_vars(vars(&[("APP_COLOR", "Pink")]), None).unwrap();
        assert_eq!(config.colour, Colour::Pink);
    }

    #[test]
    fn unknown_colour_names_the_variable_and_the_choices() {
        let err = Config::from_vars(vars(&[("APP_COLOR", "purple")]), None).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("APP_COLOR"), "{message}");
        assert!(message.contains("purple"), "{message}");
        assert!(message.contains("red, green, blue, blue2, pink, darkblue, lime"));
    }

    #[test]
    fn non_numeric_port_is_rejected_with_the_range() {
        let err = Config::from_vars(vars(&[("PORT", "eighty")]), None).unwrap_err();
        assert_eq!(err.variable, "PORT");
        assert_eq!(err.value, "eighty");
        assert!(err.allowed.contains("0 to 65535"));
        let err = Config::from_vars(vars(&[("DBHOST", "x"), ("DBPORT", "0")]), None).unwrap_err();
        assert_eq!(err.variable, "DBPORT");
    }

    #[test]
    fn refresh_zero_turns_it_off() {
        let config = Config::from_vars(vars(&[("BACKGROUND_REFRESH_SECS", "0")]), None).unwrap();
        assert_eq!(config.background.refresh, None);
    }

    #[test]
    fn metrics_listen_on_their_own_port_or_not_at_all() {
        let config = Config::from_vars(vars(&[]), None).unwrap();
        assert_eq!(config.metrics.listen.map(|a| a.port()), Some(9090));
        let config = Config::from_vars(vars(&[("METRICS_PORT", "0")]), None).unwrap();
        assert_eq!(config.metrics.listen, None);
        let err = Config::from_vars(vars(&[("PORT", "8080"), ("METRICS_PORT", "8080")]), None)
            .unwrap_err();
        assert_eq!(err.variable, "METRICS_PORT");
    }

    #[test]
    fn traces_endpoint_follows_the_opentelemetry_variables() {
        let endpoint = |pairs: &[(&str, &str)]| {
            Config::from_vars(vars(pairs), None)
                .map(|c| c.tracing.traces_endpoint)
                .map_err(|e| e.variable)
        };
        assert_eq!(endpoint(&[]), Ok(None));
        assert_eq!(
            endpoint(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]),
            Ok(Some("http://collector:4318/v1/traces".into()))
        );
        assert_eq!(
            endpoint(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://other:4318/traces"
                ),
            ]),
            Ok(Some("http://other:4318/traces".into()))
        );
        assert_eq!(
            endpoint(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                ("OTEL_SDK_DISABLED", "true"),
            ]),
            Ok(None)
        );
        assert_eq!(
            endpoint(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318")]),
            Err("OTEL_EXPORTER_OTLP_ENDPOINT")
        );
        assert_eq!(
            endpoint(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ]),
            Err("OTEL_EXPORTER_OTLP_PROTOCOL")
        );
    }

    #[test]
    fn password_never_prints() {
        let config = Config::from_vars(
            vars(&[("DBHOST", "db"), ("DBPWD", "hunter2-very-secret")]),
            None,
        )
        .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }
}
