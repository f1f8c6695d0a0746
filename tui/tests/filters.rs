//! Issue 19 point 3 in the console: the `/` filter of the Audit and Sessions tabs refuses
//! unknown values with an error in the footer (not an empty "0 events" list), accepts the
//! abbreviations the tables show (`WARN`) in any case, and the same parser
//! (`sessionctl::filter`) serves the subcommands' flags (tui/tests/cli.rs). The real loop on a
//! `TestBackend`, on both databases.

mod support;
use support::Screen;

use std::sync::Arc;

use ratatui::crossterm::event::KeyCode;
use sessionctl::ops::Console;
use sessionctl::views::audit::AuditView;
use sessionctl::views::sessions::SessionsView;
use sessionctl::views::{Action, View};
use sessiond_core::audit::{Actor, EventType, NewEvent, Origin, Severity};
use sessiond_core::domain::now_millis;
use sessiond_core::store::WriteOp;
use sessiond_tests::{DbKind, TestDb, on_both_backends};

on_both_backends!(console_filters_refuse_unknown_values);

async fn console_filters_refuse_unknown_values(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let origin = Origin {
        request_id: "filters".into(),
        ip: Some("192.0.2.7".into()),
        user_agent: None,
        actor: Actor::Client,
    };
    let ops: Vec<WriteOp> = [
        (EventType::SessionReset, Severity::Info),
        (EventType::RateLimitExceeded, Severity::Warning),
    ]
    .into_iter()
    .map(|(t, s)| WriteOp::Event(NewEvent::new(&origin, now_millis(), t, s, None, serde_json::json!({}))))
    .collect();
    store.commit_batch(&ops).await.expect("events");
    let console = Arc::new(Console::open(db.settings(), true).await.expect("console"));
    let mut s = Screen::start(console, 160, 24);

    s.key(KeyCode::Char('2'));
    s.wait("both events", |scr| {
        scr.contains("session.reset") && scr.contains("rate_limit.exceeded")
    })
    .await;

    for (text, error) in [
        ("severity=foo", "`foo` is not a severity"),
        ("type=foo.bar", "`foo.bar` is not an event type"),
        ("session.resett", "did you mean `session.reset`?"),
        ("ip=notanip", "`notanip` is not an IP address"),
    ] {
        s.filter(text);
        let scr = s.wait(error, |scr| scr.contains(error)).await;
        // The list keeps its events and no filter was taken.
        assert!(scr.contains("2 events") && !scr.contains("filter "), "{text}:\n{scr}");
    }

    // WARN, as the severity column shows it, in any case.
    for text in ["WARN", "sev=Warning"] {
        s.filter(text);
        let scr = s
            .wait(text, |scr| {
                scr.contains(&format!("filter {text}")) && scr.contains("rate_limit.exceeded")
            })
            .await;
        assert!(!scr.contains("session.reset"), "{text}:\n{scr}");
        assert!(scr.contains("1 events"), "{text}:\n{scr}");
    }

    // Sessions: `1.2.3` is a mistyped address, not an empty list.
    s.key(KeyCode::Char('1'));
    s.filter("1.2.3");
    let scr = s
        .wait("the sessions error", |scr| scr.contains("`1.2.3` is not an IP address"))
        .await;
    assert!(!scr.contains("filter 1.2.3"), "{scr}");
}

/// The views alone: a refused filter is a toast and leaves the view's filter as it was.
#[test]
fn views_turn_refused_filters_into_toasts() {
    let mut audit = AuditView::default();
    assert_eq!(audit.apply_filter("crit"), Some(Action::ReloadAudit));
    for text in ["severity=foo", "type=foo.bar", "ip=notanip", "WARNING=1"] {
        match audit.apply_filter(text) {
            Some(Action::Toast(_)) => {}
            other => panic!("{text}: {other:?}"),
        }
        assert_eq!(audit.filter_text, "crit", "{text}");
        assert_eq!(audit.filter.severity, Some(Severity::Critical), "{text}");
    }
    let mut sessions = SessionsView::default();
    for text in ["1.2.3", "ip=10.0.0", "prefix=xyz", "not-hex"] {
        match sessions.apply_filter(text) {
            Some(Action::Toast(_)) => {}
            other => panic!("{text}: {other:?}"),
        }
        assert_eq!(sessions.filter, Default::default(), "{text}");
    }
    assert!(sessions.apply_filter("ip=::ffff:10.0.0.1").is_some());
    assert_eq!(sessions.filter.last_ip.as_deref(), Some("10.0.0.1"));
}
