//! The one configuration struct, read from the original app's environment variables
//! (filled by a Kubernetes ConfigMap and Secrets) plus the command line.
//!
//! Every variable is read as text by envy and checked here, so a bad value stops the
//! program before it binds with one message naming the variable, the value and what is
//! allowed, instead of a serde error or a silent default.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

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

    pub fn hex(self) -> &'static str {
        match self {
            Colour::Red => "#e74c3c",
            Colour::Green => "#16a085",
            Colour::Blue => "#89CFF0",
            Colour::Blue2 => "#30336b",
            Colour::Pink => "#f4c2c2",
            Colour::Darkblue => "#130f40",
            Colour::Lime => "#C1FF9C",
        }
    }

    /// Dark backgrounds need light text to stay readable.
    pub fn is_dark(self) -> bool {
        matches!(self, Colour::Blue2 | Colour::Darkblue)
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
    MySql {
        host: String,
        port: u16,
        user: String,
        password: Secret,
        database: String,
    },
    Sqlite {
        path: PathBuf,
    },
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub listen: SocketAddr,
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

/// The environment as text; names are the upper-cased field names (envy's convention).
#[derive(Debug, Default, Deserialize)]
struct RawEnv {
    port: Option<String>,
    bind_address: Option<String>,
    dbhost: Option<String>,
    dbport: Option<String>,
    dbuser: Option<String>,
    dbpwd: Option<String>,
    database: Option<String>,
    sqlite_path: Option<String>,
    db_max_connections: Option<String>,
    db_acquire_timeout_ms: Option<String>,
    db_query_timeout_ms: Option<String>,
    app_color: Option<String>,
    group_name: Option<String>,
    group_slogan: Option<String>,
    static_dir: Option<String>,
    background_image_url: Option<String>,
    background_image_url_file: Option<String>,
    background_cache_dir: Option<String>,
    background_refresh_secs: Option<String>,
    background_fetch_timeout_secs: Option<String>,
    background_max_bytes: Option<String>,
    aws_region: Option<String>,
    background_url_file_poll_ms: Option<String>,
    aws_endpoint_url: Option<String>,
    aws_endpoint_url_s3: Option<String>,
    aws_access_key_id: Option<String>,
    aws_secret_access_key: Option<String>,
    aws_session_token: Option<String>,
    log_format: Option<String>,
}

/// Treats an empty variable like an unset one: ConfigMaps often carry `KEY: ""`.
fn present(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

fn number<T: FromStr + PartialOrd + fmt::Display + Copy>(
    variable: &'static str,
    value: Option<String>,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    let Some(raw) = present(value) else {
        return Ok(default);
    };
    match raw.trim().parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(ConfigError {
            variable,
            value: raw,
            allowed: format!("a whole number from {min} to {max}"),
        }),
    }
}

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
        let raw: RawEnv = envy::from_iter(vars).map_err(|e| ConfigError {
            variable: "environment",
            value: String::new(),
            allowed: e.to_string(),
        })?;

        let port = number("PORT", raw.port, 81u16, 0, u16::MAX)?;
        let bind = match present(raw.bind_address) {
            None => IpAddr::from([0, 0, 0, 0]),
            Some(text) => text.trim().parse().map_err(|_| ConfigError {
                variable: "BIND_ADDRESS",
                value: text,
                allowed: "an IP address such as 0.0.0.0 or 127.0.0.1".into(),
            })?,
        };

        let backend = match present(raw.dbhost) {
            Some(host) => DatabaseConfig::MySql {
                host: host.trim().to_owned(),
                port: number("DBPORT", raw.dbport, 3306u16, 1, u16::MAX)?,
                user: present(raw.dbuser).unwrap_or_else(|| "root".into()),
                password: Secret::new(raw.dbpwd.unwrap_or_else(|| "password".into())),
                database: present(raw.database).unwrap_or_else(|| "employees".into()),
            },
            None => DatabaseConfig::Sqlite {
                path: present(raw.sqlite_path)
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("data/employees.db")),
            },
        };
        let db = DbSettings {
            backend,
            max_connections: number("DB_MAX_CONNECTIONS", raw.db_max_connections, 16u32, 1, 1000)?,
            acquire_timeout: Duration::from_millis(number(
                "DB_ACQUIRE_TIMEOUT_MS",
                raw.db_acquire_timeout_ms,
                1000u64,
                10,
                600_000,
            )?),
            query_timeout: Duration::from_millis(number(
                "DB_QUERY_TIMEOUT_MS",
                raw.db_query_timeout_ms,
                5000u64,
                10,
                600_000,
            )?),
        };

        let (colour, colour_source) = match (colour_flag, present(raw.app_color)) {
            (Some(flag), _) => (
                flag.parse().map_err(|()| ConfigError {
                    variable: "--color",
                    value: flag.to_owned(),
                    allowed: format!("one of {}", Colour::allowed()),
                })?,
                ColourSource::Flag,
            ),
            (None, Some(env)) => (
                env.parse().map_err(|()| ConfigError {
                    variable: "APP_COLOR",
                    value: env.clone(),
                    allowed: format!("one of {}", Colour::allowed()),
                })?,
                ColourSource::Environment,
            ),
            (None, None) => (Colour::random(), ColourSource::Random),
        };

        let log_format = match present(raw.log_format) {
            None => LogFormat::Text,
            Some(v) if v.trim().eq_ignore_ascii_case("json") => LogFormat::Json,
            Some(v) if v.trim().eq_ignore_ascii_case("text") => LogFormat::Text,
            Some(v) => {
                return Err(ConfigError {
                    variable: "LOG_FORMAT",
                    value: v,
                    allowed: "json or text".into(),
                });
            }
        };

        let refresh_secs = number(
            "BACKGROUND_REFRESH_SECS",
            raw.background_refresh_secs,
            300u64,
            0,
            86_400 * 7,
        )?;
        let background = BackgroundConfig {
            url: present(raw.background_image_url).map(|u| u.trim().to_owned()),
            url_file: present(raw.background_image_url_file).map(PathBuf::from),
            cache_dir: present(raw.background_cache_dir)
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("employee-db-background")),
            refresh: (refresh_secs > 0).then(|| Duration::from_secs(refresh_secs)),
            fetch_timeout: Duration::from_secs(number(
                "BACKGROUND_FETCH_TIMEOUT_SECS",
                raw.background_fetch_timeout_secs,
                10u64,
                1,
                600,
            )?),
            max_bytes: number(
                "BACKGROUND_MAX_BYTES",
                raw.background_max_bytes,
                10 * 1024 * 1024u64,
                1,
                1024 * 1024 * 1024,
            )?,
            aws_region: present(raw.aws_region)
                .map(|r| r.trim().to_owned())
                .unwrap_or_else(|| "us-east-1".into()),
            url_file_poll: Duration::from_millis(number(
                "BACKGROUND_URL_FILE_POLL_MS",
                raw.background_url_file_poll_ms,
                5000u64,
                10,
                60_000,
            )?),
            aws_endpoint_url: present(raw.aws_endpoint_url_s3)
                .or(present(raw.aws_endpoint_url))
                .map(|u| u.trim().to_owned()),
            aws_keys: match (
                present(raw.aws_access_key_id),
                present(raw.aws_secret_access_key),
            ) {
                (Some(id), Some(secret)) => Some(AwsKeys {
                    access_key_id: id.trim().to_owned(),
                    secret_access_key: Secret::new(secret.trim()),
                    session_token: present(raw.aws_session_token).map(|t| Secret::new(t.trim())),
                }),
                _ => None,
            },
        };

        Ok(Config {
            listen: SocketAddr::new(bind, port),
            db,
            colour,
            colour_source,
            group_name: present(raw.group_name).unwrap_or_else(|| "Default Group".into()),
            group_slogan: present(raw.group_slogan).unwrap_or_else(|| "Default Slogan".into()),
            static_dir: present(raw.static_dir)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("static")),
            background,
            log_format,
        })
    }
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
        let DatabaseConfig::MySql {
            host,
            port,
            user,
            password,
            database,
        } = config.db.backend
        else {
            panic!("expected MySQL");
        };
        assert_eq!(
            (host.as_str(), port, user.as_str(), database.as_str()),
            ("mysql", 3306, "root", "employees")
        );
        assert_eq!(password.expose(), "password");
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
