//! The command line: `--color NAME` (wins over APP_COLOR, as in the original), a
//! `healthcheck` subcommand for container images that have no shell or curl, and
//! `backup` / `restore`, which use the same configuration as the server.

use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const USAGE: &str = "\
Usage: employee-db [--color NAME]     serve the app (configuration from the environment)
       employee-db healthcheck        exit 0 when the local server answers /healthz
       employee-db backup --to DEST   write every employee to DEST
       employee-db restore --from SRC [--merge]
                                      load a backup into the database (empty, unless --merge)
       employee-db --help | --version

DEST and SRC are a file path or s3://BUCKET/KEY; a DEST ending in / is a folder or key
prefix, and the backup is named by its UTC time in it (20261128T020000Z.jsonl).

Colours: red, green, blue, blue2, pink, darkblue, lime. See README.md for the variables.";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve { colour: Option<String> },
    Healthcheck,
    Backup { to: String },
    Restore { from: String, merge: bool },
    Help,
    Version,
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let mut colour = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "healthcheck" => return Ok(Command::Healthcheck),
            "backup" => return backup_args(args),
            "restore" => return restore_args(args),
            "--color" | "--colour" => {
                colour = Some(args.next().ok_or("--color needs a colour name")?);
            }
            other => match other.strip_prefix("--color=") {
                Some(value) => colour = Some(value.to_owned()),
                None => return Err(format!("unknown argument {other:?}")),
            },
        }
    }
    Ok(Command::Serve { colour })
}

fn backup_args(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut to = None;
    for (name, value) in options(args, &[])? {
        match name.as_str() {
            "--to" => to = value,
            _ => unreachable!("options() accepts only the names given"),
        }
    }
    Ok(Command::Backup {
        to: to.ok_or("backup needs --to DEST (a file path or s3://BUCKET/KEY)")?,
    })
}

fn restore_args(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut from = None;
    let mut merge = false;
    for (name, value) in options(args, &["--merge"])? {
        match name.as_str() {
            "--from" => from = value,
            "--merge" => merge = true,
            _ => unreachable!("options() accepts only the names given"),
        }
    }
    Ok(Command::Restore {
        from: from.ok_or("restore needs --from SRC (a file path or s3://BUCKET/KEY)")?,
        merge,
    })
}

/// `--name VALUE` or `--name=VALUE` for `--to` and `--from`, and the bare `flags`.
fn options(
    mut args: impl Iterator<Item = String>,
    flags: &[&str],
) -> Result<Vec<(String, Option<String>)>, String> {
    let mut found = Vec::new();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        if flags.contains(&name.as_str()) && inline.is_none() {
            found.push((name, None));
        } else if name == "--to" || name == "--from" {
            let value = match inline {
                Some(value) => value,
                None => args.next().ok_or(format!("{name} needs a value"))?,
            };
            found.push((name, Some(value)));
        } else {
            return Err(format!("unknown argument {name:?}"));
        }
    }
    Ok(found)
}

/// Runs `backup`: one line on stdout when it worked, one on stderr when not.
pub async fn backup(to: &str) -> ExitCode {
    let Some(config) = config() else {
        return ExitCode::from(2);
    };
    match crate::backup::backup(&config, to).await {
        Ok(written) => {
            println!(
                "backup: {} employees, {} bytes, sha256 {}, written to {}",
                written.rows, written.bytes, written.sha256, written.location
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("employee-db: backup failed, no backup was written: {err}");
            exit_code(&err)
        }
    }
}

/// Runs `restore`: a summary on stdout when it committed, one line on stderr when not.
pub async fn restore(from: &str, merge: bool) -> ExitCode {
    let Some(config) = config() else {
        return ExitCode::from(2);
    };
    match crate::backup::restore(&config, from, merge).await {
        Ok(summary) => {
            let done = summary.restored;
            println!(
                "restore: {} rows read, {} written, {} skipped (already stored identically), \
                 from a backup of {} employees taken {} on {}",
                done.read,
                done.written,
                done.skipped,
                summary.header.rows,
                summary.header.created_at,
                summary.header.backend
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("employee-db: restore failed, nothing was written: {err}");
            exit_code(&err)
        }
    }
}

/// 2 for what the command line got wrong (as for an unknown argument), 1 for the rest.
fn exit_code(err: &crate::backup::BackupError) -> ExitCode {
    match err {
        crate::backup::BackupError::Location(_) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}

/// The server's configuration (the colour does not matter to a one-off command).
fn config() -> Option<crate::config::Config> {
    crate::config::Config::from_env(None)
        .map_err(|err| eprintln!("employee-db: {err}"))
        .ok()
}

/// Asks the server on this machine for `/healthz` over plain HTTP/1.0.
pub async fn healthcheck() -> ExitCode {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.trim().parse::<u16>().ok())
        .unwrap_or(81);
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<bool, std::io::Error>(
            head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"),
        )
    };
    match tokio::time::timeout(Duration::from_secs(3), probe).await {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => {
            eprintln!("healthcheck: /healthz on port {port} did not answer 200");
            ExitCode::FAILURE
        }
        Ok(Err(err)) => {
            eprintln!("healthcheck: port {port}: {err}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("healthcheck: port {port}: no answer within 3 s");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_colour_flag_both_ways() {
        assert_eq!(
            parse(args(&["--color", "red"])),
            Ok(Command::Serve {
                colour: Some("red".into())
            })
        );
        assert_eq!(
            parse(args(&["--color=blue"])),
            Ok(Command::Serve {
                colour: Some("blue".into())
            })
        );
        assert_eq!(parse(args(&[])), Ok(Command::Serve { colour: None }));
        assert_eq!(parse(args(&["healthcheck"])), Ok(Command::Healthcheck));
        assert!(parse(args(&["--color"])).is_err());
        assert!(parse(args(&["--bogus"])).is_err());
    }

    #[test]
    fn parses_backup_and_restore() {
        assert_eq!(
            parse(args(&["backup", "--to", "s3://b/k/"])),
            Ok(Command::Backup {
                to: "s3://b/k/".into()
            })
        );
        assert_eq!(
            parse(args(&["restore", "--merge", "--from=/tmp/b.jsonl"])),
            Ok(Command::Restore {
                from: "/tmp/b.jsonl".into(),
                merge: true
            })
        );
        assert_eq!(
            parse(args(&["restore", "--from", "x"])),
            Ok(Command::Restore {
                from: "x".into(),
                merge: false
            })
        );
        assert!(parse(args(&["backup"])).is_err());
        assert!(parse(args(&["backup", "--to"])).is_err());
        assert!(parse(args(&["backup", "--to", "x", "--merge"])).is_err());
        assert!(parse(args(&["restore", "--merge"])).is_err());
        assert!(parse(args(&["restore", "--merge=yes", "--from", "x"])).is_err());
    }
}
