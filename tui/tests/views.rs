//! Every view rendered into an 80-column buffer with fixed data and compared with a snapshot
//! (insta; `cargo insta review` after an intended change). Rendering takes no clock, so the
//! output is deterministic.

use std::collections::VecDeque;

use chrono::{TimeZone, Utc};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use serde_json::json;
use sessionctl::app::buffer_text;
use sessionctl::keymap::Scope;
use sessionctl::ops::{FilesState, JobOverview, ScheduleSource};
use sessionctl::theme::Theme;
use sessionctl::views::alerts::AlertsView;
use sessionctl::views::audit::AuditView;
use sessionctl::views::confirm::ConfirmView;
use sessionctl::views::header::HeaderView;
use sessionctl::views::help::HelpView;
use sessionctl::views::jobs::JobsView;
use sessionctl::views::sessions::{SessionDetail, SessionsView};
use sessionctl::views::{Draw, Themed, View};
use sessiond_core::audit::AuditEvent;
use sessiond_core::audit::Severity;
use sessiond_core::domain::from_millis;
use sessiond_core::domain::{Session, SessionStatus};
use sessiond_core::store::StatusCounts;
use sessiond_core::store::alerts::{Alert, AlertStatus};
use sessiond_core::store::console::{JobLease, SessionSummary, UploadSummary};
use sessiond_core::store::jobs::{JobRun, RunStatus};
use uuid::Uuid;

const T0: i64 = 1_767_867_330_000; // 2026-01-08 10:15:30 UTC

fn render(view: &impl Draw, width: u16, height: u16) -> String {
    let mut buf = Buffer::empty(Rect::new(0, 0, width, height));
    Themed(view, &Theme::dark()).render(buf.area, &mut buf);
    buffer_text(&buf)
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x1b4e28ba_2fa1_41d2_883f_0016d3cc0000 + n)
}

fn summaries() -> Vec<SessionSummary> {
    (0..5)
        .map(|i| SessionSummary {
            id: id(i),
            status: SessionStatus::ALL[i as usize % 3],
            created_at: T0 - i as i64 * 3_600_000,
            last_seen_at: T0 - i as i64 * 60_000,
            uploads: i as i64,
            last_ip: Some(format!("203.0.113.{}", i + 1)),
        })
        .collect()
}

fn event(n: i64, event_type: &str, severity: &str) -> AuditEvent {
    AuditEvent {
        id: n,
        occurred_at: Utc.timestamp_millis_opt(T0 + n * 1000).single().expect("time"),
        event_type: event_type.into(),
        severity: severity.into(),
        session_id: Some(id(n as u128)),
        ip: Some("203.0.113.9".into()),
        user_agent: Some("curl/8".into()),
        request_id: Some(format!("req-{n}")),
        actor: "client".into(),
        metadata: json!({ "reason": "not_found" }),
    }
}

#[test]
fn sessions_table() {
    let view = SessionsView {
        rows: summaries(),
        selected: 1,
        page_size: 18,
        ..Default::default()
    };
    insta::assert_snapshot!(render(&view, 80, 10));
}

#[test]
fn sessions_table_wide_shows_full_uuids() {
    let view = SessionsView {
        rows: summaries(),
        page_size: 18,
        ..Default::default()
    };
    insta::assert_snapshot!(render(&view, 120, 8));
}

#[test]
fn sessions_empty_and_filtered_empty() {
    let empty = SessionsView::default();
    let mut filtered = SessionsView::default();
    filtered.apply_filter("1b4e");
    filtered.loading = false;
    insta::assert_snapshot!(format!("{}---\n{}", render(&empty, 80, 3), render(&filtered, 80, 4)));
}

#[test]
fn session_detail() {
    let s = &summaries()[1];
    let view = SessionsView {
        detail: Some(SessionDetail {
            session: Session {
                id: s.id,
                status: SessionStatus::Revoked,
                created_at: Utc.timestamp_millis_opt(s.created_at).single().expect("t"),
                last_seen_at: Utc.timestamp_millis_opt(s.last_seen_at).single().expect("t"),
                ended_at: Utc.timestamp_millis_opt(T0).single(),
                ended_by: Some("admin:alice".into()),
                user_info: Some(json!({ "lang": "fr" })),
                created_ip: Some("203.0.113.2".into()),
                last_ip: Some("203.0.113.2".into()),
            },
            uploads: vec![UploadSummary {
                id: id(99),
                filename: "invoice.pdf".into(),
                size: 48_213,
                sha256: "ab".repeat(32),
                created_at: T0 - 1000,
            }],
            files: FilesState::Deleted,
            events: vec![event(3, "session.reset", "info"), event(2, "session.validated", "info")],
            scroll: 0,
        }),
        ..Default::default()
    };
    insta::assert_snapshot!(render(&view, 80, 18));
}

#[test]
fn audit_live_and_paused() {
    let rows: VecDeque<AuditEvent> = vec![
        event(3, "request.error", "critical"),
        event(2, "session.validation_failed", "warning"),
        event(1, "session.generated", "info"),
    ]
    .into();
    let live = AuditView {
        rows: rows.clone(),
        loaded: true,
        ..Default::default()
    };
    let paused = AuditView {
        rows,
        loaded: true,
        paused: true,
        filter_text: "warning".into(),
        selected: 1,
        ..Default::default()
    };
    insta::assert_snapshot!(format!("{}---\n{}", render(&live, 80, 5), render(&paused, 80, 5)));
}

#[test]
fn audit_event_metadata() {
    let view = AuditView {
        detail: Some((event(2, "session.validation_failed", "warning"), 0)),
        ..Default::default()
    };
    insta::assert_snapshot!(render(&view, 80, 14));
}

#[test]
fn audit_empty() {
    let view = AuditView {
        loaded: true,
        ..Default::default()
    };
    insta::assert_snapshot!(render(&view, 80, 3));
}

fn alert(n: i64, status: AlertStatus) -> Alert {
    Alert {
        id: n,
        rule: "uuid_probing".into(),
        subject: format!("198.51.100.{n}"),
        severity: Severity::Warning,
        status,
        count: 20 + n,
        first_seen_at: from_millis(T0 - 300_000),
        last_seen_at: from_millis(T0),
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        last_emailed_at: None,
        sample_event_ids: vec![1, 2],
    }
}

#[test]
fn alerts_list_detail_and_empty() {
    let list = AlertsView {
        rows: vec![alert(1, AlertStatus::Open), alert(2, AlertStatus::Acknowledged)],
        loaded: true,
        ..Default::default()
    };
    let detail = AlertsView {
        detail: Some((
            alert(1, AlertStatus::Open),
            vec![event(1, "session.validation_failed", "warning")],
            0,
        )),
        ..Default::default()
    };
    let empty = AlertsView {
        loaded: true,
        ..Default::default()
    };
    insta::assert_snapshot!(format!(
        "{}---\n{}---\n{}",
        render(&list, 80, 4),
        render(&detail, 80, 10),
        render(&empty, 80, 4)
    ));
}

#[test]
fn the_selection_follows_the_alert_when_the_list_reorders() {
    // Acknowledging alert 2 sorts it below the open ones: the cursor must stay on alert 2.
    let mut view = AlertsView {
        rows: vec![
            alert(1, AlertStatus::Open),
            alert(2, AlertStatus::Open),
            alert(3, AlertStatus::Open),
        ],
        loaded: true,
        selected: 1,
        ..Default::default()
    };
    view.set_rows(vec![
        alert(1, AlertStatus::Open),
        alert(3, AlertStatus::Open),
        alert(2, AlertStatus::Acknowledged),
    ]);
    assert_eq!(view.visible()[view.selected].id, 2);
    // Gone (resolved and hidden): the cursor keeps its position, within the list.
    view.set_rows(vec![alert(1, AlertStatus::Open), alert(3, AlertStatus::Open)]);
    assert_eq!(view.selected, 1);
    view.set_rows(vec![alert(1, AlertStatus::Open)]);
    assert_eq!(view.selected, 0);
}

#[test]
fn jobs_table_and_runs() {
    let run = |n: i64, status: RunStatus| JobRun {
        id: n,
        job: "session_expiry".into(),
        holder: "host-a:1234".into(),
        started_at: from_millis(T0 - n * 300_000),
        finished_at: Some(from_millis(T0 - n * 300_000 + 42)),
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
            holder: "host-a:1234".into(),
            expires_at: T0 + 60_000,
        }),
        runs,
    };
    let view = JobsView {
        rows: vec![
            job(
                "session_expiry",
                vec![run(1, RunStatus::Succeeded), run(2, RunStatus::Failed)],
            ),
            job("retention", vec![]),
        ],
        loaded: true,
        // By name, session_expiry is the second row.
        selected: 1,
        ..Default::default()
    };
    insta::assert_snapshot!(render(&view, 80, 8));

    // The title line carries the webhook outbox and the audit chain's state.
    let view = JobsView {
        health: Some(sessionctl::ops::AuditHealth {
            webhooks: "webhooks 1 pending, 2 dead".into(),
            webhooks_failing: true,
            chain: "audit chain broken at event 7".into(),
            chain_broken: true,
        }),
        ..view
    };
    let text = render(&view, 120, 8);
    let title = text.lines().next().unwrap_or_default();
    assert!(
        title.contains("webhooks 1 pending, 2 dead · audit chain broken at event 7"),
        "{title}"
    );
}

#[test]
fn header_help_and_confirm() {
    let header = HeaderView {
        database: "postgres://sessiond:***@db.internal/sessiond".into(),
        read_only: true,
        counts: Some(StatusCounts {
            active: 999_123,
            revoked: 12,
            expired: 3_456,
        }),
        per_minute: vec![0, 1, 3, 7, 12, 9, 4, 2, 30, 18],
        open_alerts: Some(2),
        ..Default::default()
    };
    let help = HelpView { scope: Scope::Sessions };
    let confirm = ConfirmView::reset(id(1), "active", 3);
    insta::assert_snapshot!(format!(
        "{}---\n{}---\n{}",
        render(&header, 80, 2),
        render(&help, 80, 24),
        render(&confirm, 80, 9)
    ));
}

#[test]
fn severity_colours_differ_and_light_theme_avoids_yellow() {
    for theme in [Theme::dark(), Theme::light()] {
        let (i, w, c) = (
            theme.severity("info"),
            theme.severity("warning"),
            theme.severity("critical"),
        );
        assert!(i != w && w != c && i != c);
    }
    assert_ne!(Theme::light().warning.fg, Some(ratatui::style::Color::Yellow));
}

/// Issue 19: the paused tail counts what arrived ("+N new") without showing it, and a sorted
/// table marks its column.
#[test]
fn audit_paused_counts_new_events_and_sorted_header() {
    let rows: VecDeque<AuditEvent> = vec![
        event(3, "request.error", "critical"),
        event(2, "session.validation_failed", "warning"),
        event(1, "session.generated", "info"),
    ]
    .into();
    let mut view = AuditView {
        rows,
        loaded: true,
        ..Default::default()
    };
    view.handle(sessionctl::keymap::Command::Pause);
    view.tail(
        0,
        vec![event(4, "session.validated", "info"), event(5, "session.read", "info")],
        5,
    );
    // Sorted by severity (the third column), critical first.
    view.handle(sessionctl::keymap::Command::CycleSort);
    view.handle(sessionctl::keymap::Command::CycleSort);
    insta::assert_snapshot!(render(&view, 80, 6));
}

/// Issue 19: a job's detail (Enter): schedule, lease, the run request and its runs with the
/// whole error; the list shows a waiting request under the table.
#[test]
fn job_detail_and_run_request() {
    use sessiond_core::store::jobs::RunRequest;
    let run = |n: i64, status: RunStatus| JobRun {
        id: n,
        job: "retention".into(),
        holder: "host-a:1234".into(),
        started_at: from_millis(T0 - n * 300_000),
        finished_at: Some(from_millis(T0 - n * 300_000 + 1_500)),
        status,
        counts: json!({ "events_deleted": n }),
        error: (status == RunStatus::Failed)
            .then(|| "database unavailable: pool timed out while waiting for an open connection".into()),
        scheduled_for: None,
    };
    let job = JobOverview {
        name: "retention",
        schedule: "0 15 3 * * *".into(),
        schedule_source: ScheduleSource::Daemon,
        next_run: Some(T0 + 3_600_000),
        enabled: true,
        lease: None,
        runs: vec![run(1, RunStatus::Succeeded), run(2, RunStatus::Failed)],
    };
    let request = RunRequest {
        id: 7,
        job: "retention".into(),
        requested_by: "admin:alice".into(),
        requested_at: from_millis(T0 - 2_000),
        claimed_by: None,
        claimed_at: None,
        finished_at: None,
        run_id: None,
    };
    let mut view = JobsView {
        rows: vec![job],
        loaded: true,
        requests: vec![request],
        ..Default::default()
    };
    let list = render(&view, 80, 7);
    view.handle(sessionctl::keymap::Command::Open);
    assert_eq!(view.scope(), Scope::JobDetail);
    insta::assert_snapshot!(format!("{list}---\n{}", render(&view, 80, 12)));
}

/// Issue 19: the run-now dialog, and the help of the panes that gained keys.
#[test]
fn run_job_dialog_and_detail_help() {
    let confirm = ConfirmView::run_job(sessiond_core::jobs::JobName::Retention);
    insta::assert_snapshot!(format!(
        "{}---\n{}---\n{}",
        render(&confirm, 80, 10),
        render(&HelpView { scope: Scope::Alerts }, 80, 20),
        render(&HelpView { scope: Scope::Detail }, 80, 16),
    ));
}

/// Issue 19 point 9: with the database lost, the header keeps the last figures behind a
/// DISCONNECTED mark, and the reason above the footer wraps at 80 columns instead of being
/// cut.
#[test]
fn header_disconnected_marks_the_figures_stale_and_wraps_the_reason() {
    let reason = "database \"sessiond_e930431964344ef28d607b1d91fd1067\" does not exist on 127.0.0.1:5432";
    let header = HeaderView {
        database: "postgres://sessiond:***@127.0.0.1:5432/sessiond_e930431964344ef28d607b1d91fd1067".into(),
        counts: Some(StatusCounts {
            active: 24,
            revoked: 1,
            expired: 2,
        }),
        per_minute: vec![0, 1, 3],
        open_alerts: Some(0),
        disconnected: Some(reason.into()),
        ..Default::default()
    };
    let lines = sessionctl::views::header::disconnected_lines(reason, 80, &Theme::dark());
    assert_eq!(lines.len(), 2);
    let mut banner = Buffer::empty(Rect::new(0, 0, 80, 2));
    ratatui::widgets::Paragraph::new(lines).render(banner.area, &mut banner);
    let audit = AuditView {
        rows: VecDeque::from(vec![event(1, "session.generated", "info")]),
        loaded: true,
        stale: true,
        ..Default::default()
    };
    insta::assert_snapshot!(format!(
        "{}---\n{}---\n{}",
        render(&header, 80, 2),
        buffer_text(&banner),
        render(&audit, 80, 3)
    ));
}
