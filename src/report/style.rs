//! Terminal styles: plain unless colour was asked for (`--color always`, or `auto` on a terminal
//! without `NO_COLOR`).

use owo_colors::{OwoColorize, Style};

use super::Status;
use super::doctor::ItemStatus;
use crate::checks::Severity;

#[derive(Debug, Clone, Copy)]
pub struct Styles {
    pub enabled: bool,
    pub heading: Style,
    pub dim: Style,
    pub ok: Style,
    pub warn: Style,
    pub bad: Style,
    pub unknown: Style,
    pub command: Style,
}

impl Styles {
    pub fn plain() -> Self {
        let s = Style::new();
        Styles { enabled: false, heading: s, dim: s, ok: s, warn: s, bad: s, unknown: s, command: s }
    }

    pub fn colored() -> Self {
        Styles {
            enabled: true,
            heading: Style::new().bold(),
            dim: Style::new().dimmed(),
            ok: Style::new().green().bold(),
            warn: Style::new().yellow().bold(),
            bad: Style::new().red().bold(),
            unknown: Style::new().magenta(),
            command: Style::new().cyan(),
        }
    }

    pub fn paint(&self, style: Style, text: &str) -> String {
        if self.enabled { text.style(style).to_string() } else { text.to_string() }
    }

    pub fn status(&self, s: Status) -> Style {
        match s {
            Status::Ok => self.ok,
            Status::Warning => self.warn,
            Status::Critical => self.bad,
            Status::Unknown => self.unknown,
        }
    }

    pub fn item(&self, s: ItemStatus) -> Style {
        match s {
            ItemStatus::Pass => self.ok,
            ItemStatus::Warn => self.warn,
            ItemStatus::Fail => self.bad,
            ItemStatus::Unknown => self.unknown,
            ItemStatus::NotApplicable => self.dim,
        }
    }

    pub fn severity(&self, s: Severity) -> Style {
        match s {
            Severity::Critical | Severity::Error => self.bad,
            Severity::Warning => self.warn,
            Severity::Info => self.dim,
        }
    }
}

/// The checklist symbols of SPEC 4.
pub fn item_symbol(s: ItemStatus) -> &'static str {
    match s {
        ItemStatus::Pass => "✓",
        ItemStatus::Warn => "!",
        ItemStatus::Fail => "✗",
        ItemStatus::Unknown => "?",
        ItemStatus::NotApplicable => "–",
    }
}
