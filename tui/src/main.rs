//! `sessionctl` (stub until the console lands): connects to the configured database and prints
//! the session counts by status.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sessiond_core::Settings;
use sessiond_core::config::SecretUrl;

#[derive(Parser)]
#[command(name = "sessionctl", version, about = "Admin console for sessiond")]
struct Cli {
    /// Config file (default: ./config/sessiond.toml when it exists).
    #[arg(long, env = "SESSIOND_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL (overrides database.url).
    #[arg(long)]
    database_url: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sessionctl: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(url) = cli.database_url {
        settings.database.url = SecretUrl::new(url);
    }
    let store = match sessiond_core::store::connect(&settings.database).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sessionctl: cannot open {}: {e}", settings.database.url);
            return ExitCode::FAILURE;
        }
    };
    match store.count_sessions().await {
        Ok(c) => {
            println!(
                "{}: active {} · revoked {} · expired {}",
                store.describe(),
                c.active,
                c.revoked,
                c.expired
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sessionctl: {e}");
            ExitCode::FAILURE
        }
    }
}
