//! Every colour the console uses, for dark and light terminals. Only foreground colours and
//! modifiers are set (the terminal keeps its own background), and each severity colour is
//! picked to stay readable on its background: yellow on dark, dark orange on light.

use ratatui::style::{Color, Modifier, Style};

/// Which palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ThemeKind {
    /// Light text on a dark background.
    #[default]
    Dark,
    /// Dark text on a light background.
    Light,
}

/// The styles of one palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Which palette this is.
    pub kind: ThemeKind,
    /// Normal text.
    pub text: Style,
    /// Secondary text (hints, labels).
    pub dim: Style,
    /// Titles and the active tab.
    pub accent: Style,
    /// The selected row.
    pub selected: Style,
    /// Table headers.
    pub header: Style,
    /// Severity `info` / status `active`.
    pub info: Style,
    /// Severity `warning`.
    pub warning: Style,
    /// Severity `critical`, errors.
    pub critical: Style,
    /// Success toasts, `succeeded` runs.
    pub ok: Style,
    /// Key names in the footer and help.
    pub key: Style,
}

impl Theme {
    /// The palette of `kind`.
    pub fn new(kind: ThemeKind) -> Self {
        match kind {
            ThemeKind::Dark => Self::dark(),
            ThemeKind::Light => Self::light(),
        }
    }

    /// For dark terminals.
    pub fn dark() -> Self {
        Self {
            kind: ThemeKind::Dark,
            text: Style::new().fg(Color::Gray),
            dim: Style::new().fg(Color::DarkGray),
            accent: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            header: Style::new().fg(Color::White).add_modifier(Modifier::BOLD),
            info: Style::new().fg(Color::Gray),
            warning: Style::new().fg(Color::Yellow),
            critical: Style::new().fg(Color::LightRed).add_modifier(Modifier::BOLD),
            ok: Style::new().fg(Color::LightGreen),
            key: Style::new().fg(Color::Cyan),
        }
    }

    /// For light terminals.
    pub fn light() -> Self {
        Self {
            kind: ThemeKind::Light,
            text: Style::new().fg(Color::Black),
            dim: Style::new().fg(Color::Indexed(242)),
            accent: Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            header: Style::new().fg(Color::Black).add_modifier(Modifier::BOLD),
            info: Style::new().fg(Color::Black),
            warning: Style::new().fg(Color::Indexed(130)),
            critical: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ok: Style::new().fg(Color::Green),
            key: Style::new().fg(Color::Blue),
        }
    }

    /// The other palette.
    pub fn toggled(self) -> Self {
        match self.kind {
            ThemeKind::Dark => Self::light(),
            ThemeKind::Light => Self::dark(),
        }
    }

    /// Style of a severity name.
    pub fn severity(&self, severity: &str) -> Style {
        match severity {
            "critical" => self.critical,
            "warning" => self.warning,
            _ => self.info,
        }
    }

    /// Style of a session, alert or job status.
    pub fn status(&self, status: &str) -> Style {
        match status {
            "revoked" | "failed" | "open" => self.critical,
            "expired" | "acknowledged" | "running" => self.warning,
            "active" | "succeeded" | "resolved" => self.ok,
            _ => self.text,
        }
    }
}

impl Default for Theme {
    fn default() -> Self {
        Self::dark()
    }
}
