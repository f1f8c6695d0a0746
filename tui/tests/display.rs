//! What the console shows on terminals of every size and in every zone (issue 19 points 5, 6,
//! 13, 19): whole screens (header, tab bar, view, footer, composed as the app draws them) at
//! 30×8, 60×20, 80×24 and 200×50, snapshotted, and checked for the rules the snapshots must
//! keep: no number cut into another number, no time cut mid-value, low-value columns dropped
//! first. Rendering takes no clock and the zone is set explicitly, so the output is
//! deterministic.

use std::collections::VecDeque;

use chrono::{TimeZone, Utc};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::Widget;
use serde_json::json;
use sessionctl::app::buffer_text;
use sessionctl::fmt::Zone;
use sessionctl::keymap::{Command, Scope};
use sessionctl::ops::{FilesState, JobOverview, ResetFacts, ScheduleSource};
use sessionctl::theme::Theme;
use sessionctl::views::alerts::AlertsView;
use sessionctl::views::audit::AuditView;
use sessionctl::views::confirm::ConfirmView;
use sessionctl::views::header::{HeaderView, footer_line, tabs_line};
use sessionctl::views::jobs::JobsView;
use sessionctl::views::sessions::{SessionDetail, SessionsView};
use sessionctl::views::{Action, Draw, Tab, Themed, View};
use sessiond_core::audit::{AuditEvent, Severity};
use sessiond_core::domain::{Session, SessionStatus, from_millis};
use sessiond_core::store::StatusCounts;
use sessiond_core::store::alerts::{Alert, AlertStatus};
use sessiond_core::store::console::{JobLease, SessionSummary, UploadSummary};
use sessiond_core::store::deletions::DeletionBacklog;
use sessiond_core::store::jobs::{JobRun, RunStatus};
use uuid::Uuid;

const T0: i64 = 1_767_867_330_000; // 2026-01-08 10:15:30 UTC
const SIZES: [(u16, u16); 4] = [(30, 8), (60, 20), (80, 24), (200, 50)];

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x1b4e28ba_2fa1_41d2_883f_0016d3cc0000 + n)
}

fn header(zone: Zone) -> HeaderView {
    HeaderView {
        database: "postgres://sessiond:***@db.internal/sessiond".into(),
        read_only: false,
        counts: Some(StatusCounts {
            active: 999_123,
            revoked: 12,
            expired: 24,
        }),
        per_minute: vec![0, 1, 3, 7, 12, 9, 4, 2, 30, 18],
        open_alerts: Some(2),
        pending_deletions: Some(DeletionBacklog {
            pending: 3,
            failing: 1,
            oldest: None,
        }),
        zone,
        disconnected: None,
    }
}

/// The whole screen as `App::draw` lays it out, with `view` in the body.
fn screen(view: &dyn View, tab: Tab, zone: Zone, width: u16, height: u16) -> String {
    let t = Theme::dark();
    let mut buf = Buffer::empty(Rect::new(0, 0, width, height));
    let [h, tabs, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(buf.area);
    Themed(&header(zone), &t).render(h, &mut buf);
    tabs_line(tab, &t).render(tabs, &mut buf);
    Themed(view, &t).render(body, &mut buf);
    footer_line(view.scope(), &t).render(footer, &mut buf);
    buffer_text(&buf)
}

fn render(view: &impl Draw, width: u16, height: u16) -> String {
    let mut buf = Buffer::empty(Rect::new(0, 0, width, height));
    Themed(view, &Theme::dark()).render(buf.area, &mut buf);
    buffer_text(&buf)
}

fn sessions(zone: Zone) -> SessionsView {
    let rows = (0..5)
        .map(|i| SessionSummary {
            id: id(i),
            status: SessionStatus::ALL[i as usize % 3],
            created_at: T0 - i as i64 * 3_600_000,
            last_seen_at: T0 - i as i64 * 60_000,
            uploads: [0, 1, 12, 3, 1_234][i as usize],
            last_ip: Some(if i == 4 {
                "2001:db8:abcd:12::1".into()
            } else {
                format!("203.0.113.{}", i + 1)
            }),
        })
        .collect();
    SessionsView {
        rows,
        selected: 1,
        page_size: 18,
        zone,
        ..Default::default()
    }
}

fn event(n: i64, event_type: &str, severity: &str, actor: &str, session: bool) -> AuditEvent {
    AuditEvent {
        id: n,
        occurred_at: Utc.timestamp_millis_opt(T0 + (n % 1000) * 1000).single().expect("time"),
        event_type: event_type.into(),
        severity: severity.into(),
        session_id: session.then(|| id(n as u128)),
        ip: session.then(|| "203.0.113.9".into()),
        user_agent: None,
        request_id: None,
        actor: actor.into(),
        metadata: json!({}),
    }
}

fn audit(zone: Zone) -> AuditView {
    let rows: VecDeque<AuditEvent> = vec![
        event(1_234_567, "request.error", "critical", "client", true),
        event(1_234_566, "job.completed", "info", "system", false),
        event(1_234_565, "session.validation_failed", "warning", "client", true),
        event(9, "alert.acknowledged", "info", "admin:alice", false),
    ]
    .into();
    AuditView {
        rows,
        loaded: true,
        zone,
        ..Default::default()
    }
}

fn alert(n: i64, status: AlertStatus, count: i64) -> Alert {
    Alert {
        id: n,
        rule: if n % 2 == 0 { "rate_limit_abuse" } else { "uuid_probing" }.into(),
        subject: format!("198.51.100.{n}"),
        severity: if n % 2 == 0 {
            Severity::Critical
        } else {
            Severity::Warning
        },
        status,
        count,
        first_seen_at: from_millis(T0 - 300_000),
        last_seen_at: from_millis(T0 - n * 60_000),
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        last_emailed_at: None,
        sample_event_ids: vec![],
    }
}

fn alerts(zone: Zone) -> AlertsView {
    AlertsView {
        rows: vec![
            alert(1, AlertStatus::Open, 21),
            alert(12, AlertStatus::Acknowledged, 1_048_576),
            alert(123, AlertStatus::Resolved, 7),
        ],
        loaded: true,
        show_resolved: true,
        zone,
        ..Default::default()
    }
}

fn jobs(zone: Zone) -> JobsView {
    let run = |n: i64, status: RunStatus| JobRun {
        id: n,
        job: "session_expiry".into(),
        holder: "host-a:1234:0badc0de".into(),
        started_at: from_millis(T0 - n * 300_000),
        finished_at: Some(from_millis(T0 - n * 300_000 + 1_500)),
        status,
        counts: json!({ "expired": n }),
        error: (status == RunStatus::Failed).then(|| "database unavailable".into()),
        scheduled_for: None,
    };
    let job = |name: &'static str, runs: Vec<JobRun>| JobOverview {
        name,
        schedule: "0 */5 * * * *".into(),
        schedule_source: ScheduleSource::Daemon,
        next_run: Some(T0 + 270_000),
        enabled: true,
        lease: Some(JobLease {
            job: name.into(),
            holder: "host-a:1234:0badc0de".into(),
            expires_at: T0 + 60_000,
        }),
        runs,
    };
    JobsView {
        rows: vec![
            job(
                "session_expiry",
                vec![run(1, RunStatus::Succeeded), run(2, RunStatus::Failed)],
            ),
            job("notification_sender", vec![]),
        ],
        loaded: true,
        // Listed by name: session_expiry, with its runs, is the second row.
        selected: 1,
        zone,
        ..Default::default()
    }
}

/// A time `HH:MM:` must be followed by its seconds: a cut time reads as another time.
fn assert_no_cut_time(text: &str, what: &str) {
    for line in text.lines() {
        let c: Vec<char> = line.chars().collect();
        for i in 0..c.len().saturating_sub(5) {
            let digits = |a: usize, b: usize| (a..b).all(|k| c.get(k).is_some_and(char::is_ascii_digit));
            if digits(i, i + 2) && c[i + 2] == ':' && digits(i + 3, i + 5) && c.get(i + 5) == Some(&':') {
                assert!(digits(i + 6, i + 8), "{what}: a time is cut in `{line}`");
            }
        }
    }
}

/// Every number the header shows is one of the true figures, whole.
fn assert_header_numbers_whole(text: &str, what: &str) {
    let line = text.lines().nth(1).unwrap_or_default();
    for (label, value) in [
        ("active ", "999,123"),
        ("revoked ", "12"),
        ("expired ", "24"),
        ("alerts ", "2 open"),
        ("deletions ", "3 pending, 1 failing"),
    ] {
        if let Some(i) = line.find(label) {
            let rest = &line[i + label.len()..];
            assert!(rest.starts_with(value), "{what}: `{label}` shows `{rest}`, not {value}");
        }
    }
}

#[test]
fn every_tab_fits_every_terminal_size_without_cut_values() {
    let zone = Zone::UTC;
    let views: [(Tab, Box<dyn View>); 4] = [
        (Tab::Sessions, Box::new(sessions(zone))),
        (Tab::Audit, Box::new(audit(zone))),
        (Tab::Alerts, Box::new(alerts(zone))),
        (Tab::Jobs, Box::new(jobs(zone))),
    ];
    let mut all = String::new();
    for (tab, view) in &views {
        for (w, h) in SIZES {
            let text = screen(view.as_ref(), *tab, zone, w, h);
            let what = format!("{} at {w}x{h}", tab.title());
            assert_no_cut_time(&text, &what);
            assert_header_numbers_whole(&text, &what);
            all.push_str(&format!("=== {what}\n{text}"));
        }
    }
    insta::assert_snapshot!(all);

    // The rules the snapshots show, checked on their own too.
    let at = |tab: usize, w: u16, h: u16| screen(views[tab].1.as_ref(), views[tab].0, zone, w, h);
    // Audit ids are whole (7 digits), at every width that shows the id column.
    for (w, h) in SIZES {
        let text = at(1, w, h);
        if text.contains("id ") {
            assert!(text.contains("1234567"), "{w}x{h}:\n{text}");
        }
    }
    // Alerts at 60 columns: the subject stays; the status shortens (no `acknowled`).
    let text = at(2, 60, 20);
    assert!(text.contains("198.51.100.12"), "{text}");
    assert!(!text.contains("acknowled"), "{text}");
    assert!(text.contains("1,048,576"), "{text}");
    // Sessions at 30 and 60 columns: the upload counts are whole, `del` marks ended sessions.
    assert!(at(0, 30, 8).contains("    1 del"), "{}", at(0, 30, 8));
    let text = at(0, 60, 20);
    assert!(text.contains(" 1,234 del") && text.contains("    12 del"), "{text}");
    // The IPv6 address is cut visibly, never into another address.
    let text = at(0, 80, 24);
    assert!(!text.contains("2001:db8:abcd:12 "), "{text}");
}

#[test]
fn times_follow_the_zone_and_are_labelled() {
    let paris = Zone::named("Europe/Paris").expect("zone");
    let mut text = String::new();
    for (tab, view) in [
        (Tab::Sessions, &sessions(paris) as &dyn View),
        (Tab::Audit, &audit(paris)),
        (Tab::Alerts, &alerts(paris)),
        (Tab::Jobs, &jobs(paris)),
    ] {
        text.push_str(&screen(view, tab, paris, 120, 12));
    }
    // 10:15:30 UTC is 11:15:30 in Paris in January (CET).
    assert!(text.contains("times Europe/Paris"), "{text}");
    assert!(
        text.contains("created (CET)") && text.contains("2026-01-08 11:15:30"),
        "{text}"
    );
    assert!(text.contains("time (CET)") && text.contains("11:15:"), "{text}");
    assert!(!text.contains("(UTC)"), "{text}");
    // Cron schedules run in UTC whatever the console's zone.
    assert!(text.contains("`0 */5 * * * *` UTC"), "{text}");
    insta::assert_snapshot!(text);

    // UTC is labelled too, and a detail pane's every time carries its zone.
    let utc = screen(&sessions(Zone::UTC), Tab::Sessions, Zone::UTC, 120, 12);
    assert!(utc.contains("times UTC") && utc.contains("created (UTC)"), "{utc}");
    let summer = Utc.with_ymd_and_hms(2026, 7, 8, 10, 15, 30).single().expect("time");
    let detail = SessionsView {
        detail: Some(detail(summer, FilesState::Stored)),
        zone: paris,
        ..Default::default()
    };
    let text = render(&detail, 80, 16);
    assert!(text.contains("created     2026-07-08 12:15:30 CEST"), "{text}");
}

fn detail(at: chrono::DateTime<Utc>, files: FilesState) -> SessionDetail {
    SessionDetail {
        session: Session {
            id: id(1),
            status: if files == FilesState::Stored {
                SessionStatus::Active
            } else {
                SessionStatus::Revoked
            },
            created_at: at,
            last_seen_at: at,
            ended_at: (files != FilesState::Stored).then_some(at),
            ended_by: (files != FilesState::Stored).then(|| "admin:alice".into()),
            user_info: None,
            created_ip: None,
            last_ip: None,
        },
        uploads: vec![
            UploadSummary {
                id: id(98),
                filename: "invoice.pdf".into(),
                size: 48_213,
                sha256: "ab".repeat(32),
                created_at: at.timestamp_millis(),
            },
            UploadSummary {
                id: id(99),
                filename: "scan.pdf".into(),
                size: 1_048_576,
                sha256: "cd".repeat(32),
                created_at: at.timestamp_millis(),
            },
        ],
        files,
        events: vec![],
        scroll: 0,
    }
}

#[test]
fn reset_dialogs_and_upload_records_say_what_happened() {
    let at = from_millis(T0);
    let zone = Zone::UTC;
    let revoked = ResetFacts {
        id: id(1),
        status: SessionStatus::Revoked,
        ended_at: Some(at),
        ended_by: Some("admin:alice".into()),
        uploads: 2,
    };
    let dialog = ConfirmView::already_revoked(&revoked, zone);
    // Only informs: no key runs anything.
    assert_eq!(dialog.pending, None);
    assert_eq!(dialog.answer(ratatui::crossterm::event::KeyCode::Char('y')), None);
    let expired = ConfirmView::reset(id(2), "expired", 1);
    assert!(expired.pending.is_some());
    let queued = SessionsView {
        detail: Some(detail(
            at,
            FilesState::Queued {
                since: at,
                attempts: 2,
                last_error: Some("s3: connection refused".into()),
            },
        )),
        zone,
        ..Default::default()
    };
    let deleted = SessionsView {
        detail: Some(detail(at, FilesState::Deleted)),
        zone,
        ..Default::default()
    };
    let text = format!(
        "{}---\n{}---\n{}---\n{}",
        render(&dialog, 80, 9),
        render(&expired, 80, 9),
        render(&queued, 80, 14),
        render(&deleted, 80, 14)
    );
    assert!(text.contains("A reset would change nothing"), "{text}");
    assert!(
        text.contains("files queued for deletion since 2026-01-08 10:15:30 UTC"),
        "{text}"
    );
    assert!(text.contains("invoice.pdf  deletion queued"), "{text}");
    assert!(
        text.contains("files deleted; the records stay") && text.contains("scan.pdf  deleted"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn the_dot_hides_routine_system_events_in_the_query_and_says_so() {
    let mut view = audit(Zone::UTC);
    assert!(!view.query().hide_routine_system);
    let generation = view.generation;
    // `.` is the Audit tab's key for it (and so listed by `?` and the footer).
    let key = ratatui::crossterm::event::KeyEvent::new(
        ratatui::crossterm::event::KeyCode::Char('.'),
        ratatui::crossterm::event::KeyModifiers::NONE,
    );
    assert_eq!(
        sessionctl::keymap::command_for(Scope::Audit, key),
        Some(Command::ToggleSystem)
    );
    assert!(
        sessionctl::keymap::help_entries(Scope::Audit)
            .iter()
            .any(|(k, label)| k == "." && label.contains("system events"))
    );
    // The view reloads from the database with the filter in the query (so pages stay full).
    assert_eq!(view.handle(Command::ToggleSystem), Some(Action::ReloadAudit));
    assert!(view.query().hide_routine_system);
    assert!(view.generation > generation && !view.loaded && view.rows.is_empty());
    // A filter typed later keeps it.
    assert_eq!(view.apply_filter("warning"), Some(Action::ReloadAudit));
    assert!(view.query().hide_routine_system);
    view.loaded = true;
    let hidden = screen(&view, Tab::Audit, Zone::UTC, 80, 6);
    assert!(hidden.contains("system events hidden (. shows)"), "{hidden}");
    assert!(hidden.contains(". system"), "footer: {hidden}");
    assert_eq!(view.handle(Command::ToggleSystem), Some(Action::ReloadAudit));
    assert!(!view.query().hide_routine_system);
    view.loaded = true;
    let shown = screen(&view, Tab::Audit, Zone::UTC, 80, 6);
    assert!(!shown.contains("hidden"), "{shown}");
}

#[test]
fn utc_is_a_console_flag() {
    use clap::Parser;
    let cli = sessionctl::cli::Cli::try_parse_from(["sessionctl", "--utc"]).expect("--utc parses");
    assert!(cli.utc);
    let cli = sessionctl::cli::Cli::try_parse_from(["sessionctl"]).expect("no flag");
    assert!(!cli.utc);
    // With --utc the zone is UTC whatever TZ says.
    let tokyo = Some(std::ffi::OsStr::new("Asia/Tokyo"));
    assert_eq!(Zone::resolve(true, tokyo, || None), (Zone::UTC, None));
    assert_eq!(Zone::resolve(false, tokyo, || None).0.name(), "Asia/Tokyo");
}
