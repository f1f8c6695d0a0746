//! The console's tabs: a leaf both the views and the key map read (the digit keys and the
//! help line follow [`Tab::ALL`]).

/// The console's tabs, in the order of the tab bar and of the `1`…`4` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    /// Sessions, by keyset pages.
    #[default]
    Sessions,
    /// The live audit tail.
    Audit,
    /// Open and acknowledged alerts.
    Alerts,
    /// Scheduled jobs and their runs.
    Jobs,
}

impl Tab {
    /// Every tab, in order.
    pub const ALL: [Tab; 4] = [Tab::Sessions, Tab::Audit, Tab::Alerts, Tab::Jobs];

    /// Its name in the tab bar.
    pub const fn title(self) -> &'static str {
        match self {
            Tab::Sessions => "Sessions",
            Tab::Audit => "Audit",
            Tab::Alerts => "Alerts",
            Tab::Jobs => "Jobs",
        }
    }

    /// The tab at `index` (the `1`…`4` keys count from 0 here), if there is one.
    pub fn at(index: usize) -> Option<Tab> {
        Self::ALL.get(index).copied()
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    /// The tab to the right, wrapping.
    pub fn next(self) -> Tab {
        Self::ALL[(self.index() + 1) % Self::ALL.len()]
    }

    /// The tab to the left, wrapping.
    pub fn prev(self) -> Tab {
        Self::ALL[(self.index() + Self::ALL.len() - 1) % Self::ALL.len()]
    }
}
