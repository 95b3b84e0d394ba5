//! The command line: `--color NAME` (wins over APP_COLOR, as in the original) and a
//! `healthcheck` subcommand for container images that have no shell or curl.

use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const USAGE: &str = "\
Usage: employee-db [--color NAME]     serve the app (configuration from the environment)
       employee-db healthcheck        exit 0 when the local server answers /healthz
       employee-db --help | --version

Colours: red, green, blue, blue2, pink, darkblue, lime. See README.md for the variables.";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve { colour: Option<String> },
    Healthcheck,
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
}
