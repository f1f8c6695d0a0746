//! Cron expressions as the configuration checks them and the scheduler runs them: never a
//! panic, and an accepted expression has a next run (or says it has none) without hanging.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use sessiond_fuzz::config::parse_cron;

fuzz_target!(|data: &[u8]| {
    let Ok(expr) = std::str::from_utf8(data) else {
        return;
    };
    if expr.len() > 256 {
        return;
    }
    if let Ok(cron) = parse_cron(expr) {
        let start = Utc
            .with_ymd_and_hms(2026, 12, 1, 12, 0, 0)
            .single()
            .expect("a valid time");
        if let Ok(next) = cron.find_next_occurrence(&start, false) {
            assert!(next > start);
        }
    }
});
