//! Every key of the console, as data. Views receive a [`Command`], never a raw key; the help
//! overlay and the footer are generated from [`BINDINGS`], so they cannot drift from what the
//! keys do.

use std::sync::LazyLock;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::tab::Tab;

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everywhere (unless a view binds the same key).
    Global,
    /// The Sessions tab.
    Sessions,
    /// A session's detail.
    SessionDetail,
    /// The Audit tab.
    Audit,
    /// The Alerts tab.
    Alerts,
    /// The Jobs tab.
    Jobs,
    /// An open audit event.
    Detail,
    /// An open alert.
    AlertDetail,
    /// An open job.
    JobDetail,
    /// Moving in a list or a pane: every scope above has these keys (a scope may bind one of
    /// them to something else).
    Navigation,
}

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Leave the console.
    Quit,
    /// Show or hide the help overlay.
    Help,
    /// Next tab.
    NextTab,
    /// Previous tab.
    PrevTab,
    /// Go to tab n (0-based).
    Tab(u8),
    /// Switch light/dark.
    ToggleTheme,
    /// Reload the current view.
    Refresh,
    /// Selection down.
    Down,
    /// Selection up.
    Up,
    /// Next page.
    PageDown,
    /// Previous page.
    PageUp,
    /// First row (page, line).
    Top,
    /// Last row (page, line).
    Bottom,
    /// Open the selected row.
    Open,
    /// Close a pane or overlay.
    Back,
    /// Type a filter.
    Filter,
    /// Drop the view's filter.
    ClearFilter,
    /// Cycle the status filter.
    CycleStatus,
    /// Sort by the next column.
    CycleSort,
    /// Reverse the sort order.
    ReverseSort,
    /// Copy the selected UUID to the clipboard.
    Copy,
    /// Show the selected item's audit events in the Audit tab.
    Events,
    /// Open the selected event's session.
    OpenSession,
    /// Reset the selected session.
    Reset,
    /// Pause or resume the live tail.
    Pause,
    /// Acknowledge the selected alert.
    Acknowledge,
    /// Put the selected acknowledged alert back to open.
    Unacknowledge,
    /// Ask a daemon to run the selected job now.
    RunJob,
    /// Show resolved alerts too.
    ToggleResolved,
    /// Hide or show routine system events (Audit).
    ToggleSystem,
}

/// One key binding.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Where it applies.
    pub scope: Scope,
    /// The keys.
    pub keys: &'static [KeyCode],
    /// What it does, for the help overlay and the footer.
    pub label: &'static str,
    /// The command.
    pub command: Command,
    /// Short text for the footer (`""`: not in the footer).
    pub hint: &'static str,
}

const fn b(
    scope: Scope,
    keys: &'static [KeyCode],
    label: &'static str,
    command: Command,
    hint: &'static str,
) -> Binding {
    Binding {
        scope,
        keys,
        label,
        command,
        hint,
    }
}

use Command as C;
use KeyCode as K;
use Scope as S;

/// The keymap. View bindings come before the navigation and global ones so a view may take
/// over a key.
pub const BINDINGS: &[Binding] = &[
    b(S::Sessions, &[K::Enter], "details", C::Open, "open"),
    b(S::Sessions, &[K::Char('e')], "its audit events", C::Events, ""),
    b(S::Sessions, &[K::Char('y')], "copy the UUID", C::Copy, ""),
    b(
        S::Sessions,
        &[K::Char('/')],
        "filter: UUID prefix or IP",
        C::Filter,
        "filter",
    ),
    b(S::Sessions, &[K::Esc], "clear the filter", C::ClearFilter, ""),
    b(
        S::Sessions,
        &[K::Char('f')],
        "cycle status filter",
        C::CycleStatus,
        "status",
    ),
    b(S::Sessions, &[K::Char('s')], "sort column", C::CycleSort, "sort"),
    b(S::Sessions, &[K::Char('S')], "reverse", C::ReverseSort, ""),
    b(S::Sessions, &[K::Char('r')], "reset session", C::Reset, "reset"),
    b(S::SessionDetail, &[K::Esc, K::Backspace], "back", C::Back, "back"),
    b(
        S::SessionDetail,
        &[K::Char('e')],
        "its audit events",
        C::Events,
        "events",
    ),
    b(S::SessionDetail, &[K::Char('y')], "copy the UUID", C::Copy, ""),
    b(S::SessionDetail, &[K::Char('r')], "reset session", C::Reset, "reset"),
    b(S::Audit, &[K::Enter], "event metadata", C::Open, "metadata"),
    b(S::Audit, &[K::Char('o')], "open its session", C::OpenSession, ""),
    b(S::Audit, &[K::Char('y')], "copy its session UUID", C::Copy, ""),
    b(S::Audit, &[K::Char('p')], "pause / resume", C::Pause, "pause"),
    b(
        S::Audit,
        &[K::Char('/')],
        "filter: type, severity, session UUID, IP (space-separated)",
        C::Filter,
        "filter",
    ),
    b(S::Audit, &[K::Esc], "clear the filter", C::ClearFilter, ""),
    b(S::Audit, &[K::Char('s')], "sort column", C::CycleSort, ""),
    b(S::Audit, &[K::Char('S')], "reverse", C::ReverseSort, ""),
    b(
        S::Audit,
        &[K::Char('.')],
        "hide / show routine system events (job.completed …)",
        C::ToggleSystem,
        "system",
    ),
    b(S::Alerts, &[K::Enter], "sample events", C::Open, "samples"),
    b(S::Alerts, &[K::Char('a')], "acknowledge", C::Acknowledge, "ack"),
    b(S::Alerts, &[K::Char('u')], "un-acknowledge", C::Unacknowledge, ""),
    b(
        S::Alerts,
        &[K::Char('e')],
        "the subject's audit events",
        C::Events,
        "events",
    ),
    b(
        S::Alerts,
        &[K::Char('/')],
        "filter: rule or subject",
        C::Filter,
        "filter",
    ),
    b(S::Alerts, &[K::Esc], "clear the filter", C::ClearFilter, ""),
    b(S::Alerts, &[K::Char('v')], "show resolved too", C::ToggleResolved, ""),
    b(S::Alerts, &[K::Char('s')], "sort column", C::CycleSort, ""),
    b(S::Alerts, &[K::Char('S')], "reverse", C::ReverseSort, ""),
    b(S::Jobs, &[K::Enter], "details and runs", C::Open, "open"),
    b(S::Jobs, &[K::Char('r')], "run now (asks first)", C::RunJob, "run"),
    b(S::Jobs, &[K::Char('/')], "filter: job name", C::Filter, "filter"),
    b(S::Jobs, &[K::Esc], "clear the filter", C::ClearFilter, ""),
    b(S::Jobs, &[K::Char('s')], "sort column", C::CycleSort, ""),
    b(S::Jobs, &[K::Char('S')], "reverse", C::ReverseSort, ""),
    b(S::Detail, &[K::Esc, K::Backspace, K::Enter], "close", C::Back, "close"),
    b(
        S::Detail,
        &[K::Char('o')],
        "open its session",
        C::OpenSession,
        "session",
    ),
    b(S::Detail, &[K::Char('y')], "copy its session UUID", C::Copy, ""),
    b(
        S::AlertDetail,
        &[K::Esc, K::Backspace, K::Enter],
        "close",
        C::Back,
        "close",
    ),
    b(S::AlertDetail, &[K::Char('a')], "acknowledge", C::Acknowledge, "ack"),
    b(S::AlertDetail, &[K::Char('u')], "un-acknowledge", C::Unacknowledge, ""),
    b(
        S::AlertDetail,
        &[K::Char('e')],
        "the subject's audit events",
        C::Events,
        "events",
    ),
    b(
        S::JobDetail,
        &[K::Esc, K::Backspace, K::Enter],
        "close",
        C::Back,
        "close",
    ),
    b(S::JobDetail, &[K::Char('r')], "run now (asks first)", C::RunJob, "run"),
    b(S::Navigation, &[K::Down, K::Char('j')], "down", C::Down, ""),
    b(S::Navigation, &[K::Up, K::Char('k')], "up", C::Up, ""),
    b(
        S::Navigation,
        &[K::PageDown, K::Char(' ')],
        "page down",
        C::PageDown,
        "",
    ),
    b(S::Navigation, &[K::PageUp, K::Char('b')], "page up", C::PageUp, ""),
    b(S::Navigation, &[K::Home, K::Char('g')], "first", C::Top, ""),
    b(S::Navigation, &[K::End, K::Char('G')], "last", C::Bottom, ""),
    b(S::Global, &[K::Tab], "next tab", C::NextTab, ""),
    b(S::Global, &[K::BackTab], "previous tab", C::PrevTab, ""),
    b(S::Global, &[K::Char('R')], "reload", C::Refresh, ""),
    b(S::Global, &[K::Char('t')], "light / dark theme", C::ToggleTheme, ""),
    b(S::Global, &[K::Char('?')], "help", C::Help, "help"),
    b(S::Global, &[K::Char('q')], "quit", C::Quit, "quit"),
];

/// The command `key` means in `scope` (view bindings first, then global). Ctrl-C always quits.
pub fn command_for(scope: Scope, key: KeyEvent) -> Option<Command> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return matches!(key.code, K::Char('c')).then_some(C::Quit);
    }
    let find = |s: Scope| {
        BINDINGS
            .iter()
            .find(|b| b.scope == s && b.keys.contains(&key.code))
            .map(|b| b.command)
    };
    find(scope)
        .or_else(|| find(S::Navigation))
        .or_else(|| find(S::Global))
        .or_else(|| tab_key(key.code))
}

/// `1`, `2`, … switch to the tabs of [`Tab::ALL`] in order (any view, unless it binds the digit).
fn tab_key(code: KeyCode) -> Option<Command> {
    let K::Char(c) = code else { return None };
    let index = c.to_digit(10)?.checked_sub(1)? as usize;
    Tab::at(index).and(u8::try_from(index).ok()).map(C::Tab)
}

/// The help line of the digit keys: `1-4` and the tab titles, from [`Tab::ALL`].
fn tab_help() -> (String, &'static str) {
    static TITLES: LazyLock<String> = LazyLock::new(|| Tab::ALL.map(Tab::title).join(" / "));
    (format!("1-{}", Tab::ALL.len()), TITLES.as_str())
}

/// A key's name as shown to people.
pub fn key_name(code: &KeyCode) -> String {
    match code {
        K::Char(' ') => "Space".into(),
        K::Char(c) => c.to_string(),
        K::Enter => "Enter".into(),
        K::Esc => "Esc".into(),
        K::Tab => "Tab".into(),
        K::BackTab => "S-Tab".into(),
        K::Backspace => "Bksp".into(),
        K::Up => "↑".into(),
        K::Down => "↓".into(),
        K::PageUp => "PgUp".into(),
        K::PageDown => "PgDn".into(),
        K::Home => "Home".into(),
        K::End => "End".into(),
        other => format!("{other:?}"),
    }
}

/// Two bindings the help shows on one line (`↓/j ↑/k  down / up`), so it fits 80×24.
fn paired(first: Command, second: Command) -> bool {
    matches!(
        (first, second),
        (C::Down, C::Up)
            | (C::PageDown, C::PageUp)
            | (C::Top, C::Bottom)
            | (C::NextTab, C::PrevTab)
            | (C::CycleSort, C::ReverseSort)
    )
}

/// The help lines of `scope`'s bindings, pairs on one line.
fn scope_help(scope: Scope, entries: &mut Vec<(String, String)>) {
    let keys = |b: &Binding| b.keys.iter().map(key_name).collect::<Vec<_>>().join("/");
    let bindings: Vec<&Binding> = BINDINGS.iter().filter(|b| b.scope == scope).collect();
    let mut i = 0;
    while let Some(b) = bindings.get(i) {
        match bindings.get(i + 1).filter(|next| paired(b.command, next.command)) {
            Some(next) => {
                entries.push((
                    format!("{} {}", keys(b), keys(next)),
                    format!("{} / {}", b.label, next.label),
                ));
                i += 2;
            }
            None => {
                entries.push((keys(b), b.label.to_owned()));
                i += 1;
            }
        }
        if entries.last().is_some_and(|(_, label)| label.ends_with("previous tab")) {
            let (keys, titles) = tab_help();
            entries.push((keys, titles.to_owned()));
        }
    }
}

/// `(keys, label)` of every binding of `scope`, then the navigation and global ones, for the
/// help overlay. Pairs (down / up, …) and the tab keys share a line so it fits 80×24.
pub fn help_entries(scope: Scope) -> Vec<(String, String)> {
    let mut entries = Vec::new();
    scope_help(scope, &mut entries);
    if scope != S::Global && scope != S::Navigation {
        scope_help(S::Navigation, &mut entries);
    }
    scope_help(S::Global, &mut entries);
    entries
}

/// `(first key, hint)` of the footer bindings of `scope`, then the global ones.
pub fn footer_entries(scope: Scope) -> Vec<(String, &'static str)> {
    BINDINGS
        .iter()
        .filter(|b| !b.hint.is_empty() && (b.scope == scope || b.scope == S::Global))
        .filter_map(|b| b.keys.first().map(|k| (key_name(k), b.hint)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_keys_follow_the_tabs() {
        let key = |c| KeyEvent::new(K::Char(c), KeyModifiers::NONE);
        for (i, _) in Tab::ALL.iter().enumerate() {
            let digit = char::from_digit(i as u32 + 1, 10).expect("digit");
            assert_eq!(command_for(S::Global, key(digit)), Some(C::Tab(i as u8)));
        }
        let past = char::from_digit(Tab::ALL.len() as u32 + 1, 10).expect("digit");
        assert_eq!(command_for(S::Global, key(past)), None);
        assert_eq!(command_for(S::Global, key('0')), None);
        let help = help_entries(S::Global);
        assert!(help.contains(&(
            format!("1-{}", Tab::ALL.len()),
            "Sessions / Audit / Alerts / Jobs".to_owned()
        )));
    }

    #[test]
    fn help_fits_the_body_of_an_80x24_terminal() {
        // 24 rows minus header (2), tabs (1) and footer (1); the overlay has a border.
        for scope in [
            S::Sessions,
            S::SessionDetail,
            S::Audit,
            S::Alerts,
            S::Jobs,
            S::Detail,
            S::AlertDetail,
            S::JobDetail,
        ] {
            let help = help_entries(scope);
            assert!(help.len() + 2 <= 20, "{scope:?}: {} lines", help.len());
            let width = help.iter().map(|(k, l)| k.chars().count() + l.chars().count()).max();
            // " keys  label" plus the border and a margin.
            assert!(width.unwrap_or(0) + 6 <= 80, "{scope:?} too wide");
        }
    }

    #[test]
    fn view_bindings_win_over_global_ones_and_every_key_is_bound_once_per_scope() {
        let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
        assert_eq!(command_for(Scope::Sessions, key(K::Char('r'))), Some(C::Reset));
        assert_eq!(command_for(Scope::Audit, key(K::Char('r'))), None);
        assert_eq!(command_for(Scope::Audit, key(K::Char('q'))), Some(C::Quit));
        // Every view moves with the same keys, and a detail may take one over (Enter closes).
        for scope in [
            S::Sessions,
            S::SessionDetail,
            S::Audit,
            S::Alerts,
            S::Jobs,
            S::Detail,
            S::AlertDetail,
            S::JobDetail,
        ] {
            for (code, command) in [
                (K::Char('j'), C::Down),
                (K::Char('k'), C::Up),
                (K::PageDown, C::PageDown),
                (K::PageUp, C::PageUp),
                (K::Char('g'), C::Top),
                (K::Home, C::Top),
                (K::Char('G'), C::Bottom),
                (K::End, C::Bottom),
            ] {
                assert_eq!(command_for(scope, key(code)), Some(command), "{scope:?} {code:?}");
            }
            let help = help_entries(scope);
            assert!(
                help.iter().any(|(k, l)| k == "Home/g End/G" && l == "first / last"),
                "{scope:?}"
            );
        }
        assert_eq!(
            command_for(Scope::Jobs, KeyEvent::new(K::Char('c'), KeyModifiers::CONTROL)),
            Some(C::Quit)
        );
        for (i, a) in BINDINGS.iter().enumerate() {
            for b2 in &BINDINGS[i + 1..] {
                if a.scope == b2.scope {
                    assert!(
                        !a.keys.iter().any(|k| b2.keys.contains(k)),
                        "{:?} bound twice in {:?}",
                        a.keys,
                        a.scope
                    );
                }
            }
        }
    }
}
