//! The Jobs tab shows the schedule the daemons run (issue 19 point 8), on both backends: the
//! one recorded with the last tick a daemon claimed, not the console's own config, and a next
//! run after that tick; a job no daemon has scheduled falls back to the console's config, said so.

use chrono::{TimeZone, Utc};
use sessionctl::ops::{Console, ScheduleSource};
use sessiond_tests::{DbKind, TestDb, on_both_backends};

on_both_backends!(the_jobs_tab_shows_the_schedule_the_daemons_run);

async fn the_jobs_tab_shows_the_schedule_the_daemons_run(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    // The daemon runs session_expiry every 10 s; this console's config says every 30 s.
    let tick = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 10).single().expect("time");
    assert!(
        store
            .claim_tick("session_expiry", tick, "host-a:1", tick, "*/10 * * * * *")
            .await
            .expect("claim")
    );
    let mut settings = db.settings();
    settings.jobs.session_expiry.schedule = "*/30 * * * * *".into();
    let console = Console::open(settings, true).await.expect("console");

    // Asked at a time before the last claimed tick (a console clock behind the daemon's): the
    // next run is still after that tick.
    let now = tick - chrono::Duration::seconds(25);
    let jobs = console.jobs(now, 5).await.expect("jobs");
    let expiry = jobs
        .iter()
        .find(|j| j.name == "session_expiry")
        .expect("session_expiry");
    assert_eq!(expiry.schedule, "*/10 * * * * *");
    assert_eq!(expiry.schedule_source, ScheduleSource::Daemon);
    assert_eq!(
        expiry.next_run,
        Some((tick + chrono::Duration::seconds(10)).timestamp_millis())
    );

    let retention = jobs.iter().find(|j| j.name == "retention").expect("retention");
    assert_eq!(retention.schedule_source, ScheduleSource::ConsoleConfig);
    assert_eq!(retention.schedule, db.settings().jobs.retention.schedule);
    console.close().await;
}
