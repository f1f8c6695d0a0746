//! `sessiond`: serve the API (default), apply migrations, or check the configuration.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use sessiond_core::Settings;
use sessiond_core::listen_addr::ListenAddr;
use tokio::net::TcpListener;

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
    /// Load and validate the configuration, print it as TOML that can be saved and used
    /// (secrets left out or redacted), with the file and variables it came from, and exit.
    CheckConfig,
    /// Run one scheduled job now (taking its lease like the scheduler does) and exit. The jobs
    /// are listed below (from `JobName::ALL`).
    RunJob {
        /// Job name.
        name: String,
    },
}

fn main() -> ExitCode {
    let jobs: Vec<&str> = sessiond_core::jobs::JobName::ALL.iter().map(|j| j.as_str()).collect();
    let matches = Cli::command()
        .mut_subcommand("run-job", |c| {
            c.after_help(format!(
                "Jobs: {}.\nExit codes: 0 ran and succeeded, 1 failed, 2 unknown job, 3 another instance holds the lease.",
                jobs.join(", ")
            ))
        })
        .get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let config_from_env = matches.value_source("config") == Some(ValueSource::EnvVariable);
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(mut e) => {
            // The loader only knows a path was given; say where it came from.
            if e.key == "--config" && config_from_env {
                e.key = "SESSIOND_CONFIG".into();
            }
            eprintln!("sessiond: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = sessiond::logging::init(&settings.log) {
        eprintln!("sessiond: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sessiond: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let source = ConfigSource {
        path: cli.config.clone(),
        from_env: config_from_env,
    };
    runtime.block_on(run(cli.command.unwrap_or(Command::Serve), settings, source))
}

/// Where the configuration came from, for `check-config`.
struct ConfigSource {
    path: Option<PathBuf>,
    from_env: bool,
}

impl ConfigSource {
    /// The header of `check-config`'s output: the file, how it was chosen, and the names (not
    /// the values) of the environment variables that override it.
    fn describe(&self) -> String {
        let default = Path::new(sessiond_core::config::DEFAULT_CONFIG_PATH);
        let file = match &self.path {
            Some(p) if self.from_env => format!("{} (from SESSIOND_CONFIG)", p.display()),
            Some(p) => format!("{} (from --config)", p.display()),
            None if default.is_file() => format!("{} (the default path)", default.display()),
            None => "none (built-in defaults)".to_owned(),
        };
        let mut vars: Vec<String> = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .filter(|name| {
                name.strip_prefix(sessiond_core::config::ENV_PREFIX)
                    .is_some_and(|rest| rest.contains("__"))
            })
            .collect();
        vars.sort();
        let env = if vars.is_empty() {
            "none".to_owned()
        } else {
            vars.join(", ")
        };
        format!(
            "# sessiond effective configuration (save it and use it with --config)\n\
             # file: {file}\n\
             # environment overrides: {env}\n"
        )
    }
}

async fn run(command: Command, settings: Settings, source: ConfigSource) -> ExitCode {
    match command {
        Command::CheckConfig => match sessiond_core::effective_config::to_toml(&settings) {
            Ok(text) => {
                println!("{}\n{text}", source.describe());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sessiond: {e}");
                ExitCode::FAILURE
            }
        },
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
            let Some(listener) = bind(&settings.server.listen).await else {
                return ExitCode::FAILURE;
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

/// Listen on `server.listen`. A host name is resolved; the daemon listens on the first
/// address that binds and says which when the name stood for several (`localhost` is
/// usually both 127.0.0.1 and ::1): write an IP to choose.
async fn bind(listen: &ListenAddr) -> Option<TcpListener> {
    let addrs: Vec<SocketAddr> = match listen.host() {
        None => listen.ip().into_iter().collect(),
        Some(host_port) => match tokio::net::lookup_host(host_port).await {
            Ok(found) => found.collect(),
            Err(e) => {
                tracing::error!(error = %e, listen = %listen, "cannot resolve server.listen");
                return None;
            }
        },
    };
    bind_first(listen, &addrs).await
}

/// Listen on the first of `addrs` that binds; say which when there were several.
async fn bind_first(listen: &ListenAddr, addrs: &[SocketAddr]) -> Option<TcpListener> {
    let mut last_error = None;
    for addr in addrs {
        match TcpListener::bind(addr).await {
            Ok(l) => {
                if addrs.len() > 1 {
                    let all: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                    tracing::warn!(
                        listen = %listen,
                        resolved = %all.join(", "),
                        bound = %addr,
                        "server.listen names several addresses; listening on one only (write an IP to choose)"
                    );
                }
                return Some(l);
            }
            Err(e) => last_error = Some((addr, e)),
        }
    }
    match last_error {
        Some((addr, e)) => {
            tracing::error!(error = %e, listen = %listen, addr = %addr, "cannot listen (server.listen)")
        }
        None => tracing::error!(listen = %listen, "server.listen resolves to no address"),
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_address_that_binds_is_taken() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let busy = taken.local_addr().expect("addr");
        let free = SocketAddr::from(([127, 0, 0, 1], 0));
        let listen: ListenAddr = "localhost:0".parse().expect("parse");
        let bound = bind_first(&listen, &[busy, free]).await.expect("the second binds");
        assert_ne!(bound.local_addr().expect("addr"), busy);
        assert!(bind_first(&listen, &[busy]).await.is_none());
        assert!(bind_first(&listen, &[]).await.is_none());
    }
}
