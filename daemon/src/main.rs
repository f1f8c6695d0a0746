//! `sessiond`: serve the API (default), apply migrations, or check the configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sessiond_core::Settings;

#[derive(Parser)]
#[command(name = "sessiond", version, about = "Session service for anonymous web apps")]
struct Cli {
    /// Config file (default: ./config/sessiond.toml when it exists, else built-in defaults).
    #[arg(long, global = true, env = "SESSIOND_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load and validate the configuration, print it (secrets redacted) and exit.
    CheckConfig,
    /// Run one scheduled job now (taking its lease like the scheduler does) and exit:
    /// session_expiry, retention, alert_detection, alert_digest, notification_sender, upload_gc,
    /// object_deletion.
    RunJob {
        /// Job name.
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sessiond: {e}");
            return ExitCode::from(2);
        }
    };
    sessiond::logging::init(&settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sessiond: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli.command.unwrap_or(Command::Serve), settings))
}

async fn run(command: Command, settings: Settings) -> ExitCode {
    match command {
        Command::CheckConfig => {
            println!("{settings:#?}");
            ExitCode::SUCCESS
        }
        Command::Migrate => match sessiond::open_store(&settings).await {
            Ok(store) => {
                println!("migrations applied to {}", store.describe());
                store.close().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!(error = %e, "migration failed");
                ExitCode::FAILURE
            }
        },
        Command::RunJob { name } => run_job(&name, settings).await,
        Command::Serve => {
            let listener = match tokio::net::TcpListener::bind(settings.server.listen).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, listen = %settings.server.listen, "cannot listen (server.listen)");
                    return ExitCode::FAILURE;
                }
            };
            match sessiond::serve(settings, listener, sessiond::shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "sessiond could not start");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Exit codes: 0 ran and succeeded, 1 failed, 2 unknown job, 3 another instance holds the lease.
async fn run_job(name: &str, settings: Settings) -> ExitCode {
    let Some(job) = sessiond_core::jobs::find(name) else {
        let names: Vec<&str> = sessiond_core::jobs::registry().iter().map(|j| j.name).collect();
        eprintln!("sessiond: unknown job `{name}`; jobs are: {}", names.join(", "));
        return ExitCode::from(2);
    };
    let store = match sessiond::open_store(&settings).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sessiond: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ctx = match sessiond::jobs::job_context(std::sync::Arc::new(settings), store.clone()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sessiond: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match sessiond_core::jobs::run_job(&ctx, job).await {
        Ok(sessiond_core::jobs::RunOutcome::Succeeded { run_id, counts }) => {
            println!(
                "{}",
                serde_json::json!({ "job": name, "run_id": run_id, "status": "succeeded", "counts": counts })
            );
            ExitCode::SUCCESS
        }
        Ok(sessiond_core::jobs::RunOutcome::Failed { run_id, error }) => {
            println!(
                "{}",
                serde_json::json!({ "job": name, "run_id": run_id, "status": "failed", "error": error })
            );
            ExitCode::FAILURE
        }
        Ok(sessiond_core::jobs::RunOutcome::Skipped | sessiond_core::jobs::RunOutcome::TickTaken) => {
            eprintln!("sessiond: `{name}` is running on another instance (its lease is held); nothing done");
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("sessiond: {e}");
            ExitCode::FAILURE
        }
    };
    store.close().await;
    code
}
