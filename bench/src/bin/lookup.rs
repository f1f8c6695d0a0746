//! Server-side session look-up latency: opens the database through the store, as the daemon
//! does, and times `Store::get_session` (the statement the daemon's look-ups run) for every id
//! of a sample file, in shuffled order, one at a time. Prints p50, p99 and max in ms.
//!
//!   lookup --database-url sqlite://bench.db --ids uuids.txt [--rounds 2]
//!
//! Round 1 reads pages the OS may not have cached since seeding; later rounds find them warm.

use std::time::{Duration, Instant};

use clap::Parser;
use rand::seq::SliceRandom;
use sessiond_core::config::{DatabaseSettings, SecretUrl};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    database_url: String,
    /// One UUID per line (the seeder's `--out` file).
    #[arg(long)]
    ids: std::path::PathBuf,
    #[arg(long, default_value_t = 2)]
    rounds: u32,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut ids = Vec::new();
    for line in std::fs::read_to_string(&args.ids)?.lines() {
        let line = line.trim();
        if !line.is_empty() {
            ids.push(uuid::Uuid::parse_str(line).map_err(|e| format!("{}: `{line}`: {e}", args.ids.display()))?);
        }
    }
    if ids.is_empty() {
        return Err(format!("no ids in {}", args.ids.display()).into());
    }
    let settings = DatabaseSettings {
        url: SecretUrl::new(args.database_url.clone()),
        max_connections: 1,
        ..Default::default()
    };
    let store = sessiond_core::store::connect(&settings).await?;
    for round in 1..=args.rounds {
        ids.shuffle(&mut rand::rng());
        let mut times = Vec::with_capacity(ids.len());
        let mut missing = 0usize;
        for id in &ids {
            let started = Instant::now();
            let found = store.get_session(*id).await?;
            times.push(started.elapsed());
            missing += usize::from(found.is_none());
        }
        times.sort_unstable();
        println!(
            "RESULT round={round} lookups={} missing={missing} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
            times.len(),
            percentile(&times, 50.0),
            percentile(&times, 99.0),
            percentile(&times, 100.0),
        );
        if missing > 0 {
            return Err(format!("{missing} sampled ids were not found: wrong database for this file?").into());
        }
    }
    store.close().await;
    Ok(())
}
