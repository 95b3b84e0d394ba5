use std::process::ExitCode;

use employee_db::cli::{self, Command};
use employee_db::config::Config;
use employee_db::startup::Application;
use employee_db::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("employee-db: {message}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let colour = match command {
        Command::Help => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("employee-db {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Healthcheck => return cli::healthcheck().await,
        Command::Backup { to } => return cli::backup(&to).await,
        Command::Restore { from, merge } => return cli::restore(&from, merge).await,
        Command::Serve { colour } => colour,
    };
    let config = match Config::from_env(colour.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("employee-db: {err}");
            return ExitCode::from(2);
        }
    };
    let telemetry = telemetry::init(config.log_format, &config.tracing);
    let code = match Application::build(config).await {
        Ok(app) => match app.run_until_stopped().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("employee-db: server error: {err}");
                ExitCode::FAILURE
            }
        },
        Err(err) => {
            eprintln!("employee-db: {err}");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown().await;
    code
}
