//! Logging: readable lines for people, JSON (one object per line) for CloudWatch.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

const SIGNER_QUIET: &str = "aws_sigv4=debug";

/// Installs the global subscriber. `RUST_LOG` refines the default `info` level.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // Whatever RUST_LOG says: at trace level the AWS signer logs the canonical
        // request, which for a presigned RDS IAM token includes the session token
        // (aws-sigv4 1.6 redacts it only in headers).
        .add_directive(SIGNER_QUIET.parse().expect("a valid directive"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colour codes only for a person at a terminal, never in collected logs.
        .with_ansi(std::io::stdout().is_terminal());
    // `try_init` fails only when a subscriber is already installed, and then that one
    // keeps logging: nothing to report.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
