//! Colour for people: states in green, yellow or red, on a terminal only. `--color auto`
//! (the default) colours when stdout is a terminal and `NO_COLOR` is not set; `always` and
//! `never` decide alone. `--json` is never coloured: its strings are not painted.

use crate::table::Cell;
use std::io::IsTerminal;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set
    Auto,
    /// Also when piped, and with NO_COLOR
    Always,
    /// Never
    Never,
}

/// What a word says about the thing it describes, which picks its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Healthy, running, ready: green.
    Good,
    /// At work (a busy session): cyan.
    Busy,
    /// Needs a look (paused, degraded, backoff): yellow.
    Warn,
    /// Broken (failed, stalled, unhealthy, error): red.
    Bad,
    /// Over (stopped, ended): dim.
    Quiet,
}

impl Tone {
    fn code(self) -> &'static str {
        match self {
            Self::Good => "32",
            Self::Busy => "36",
            Self::Warn => "33",
            Self::Bad => "31",
            Self::Quiet => "2",
        }
    }
}

/// Whether to colour, decided once from `--color`, the terminal and `NO_COLOR`.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    on: bool,
}

impl Paint {
    pub fn new(when: ColorWhen) -> Self {
        let on = match when {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            // no-color.org: set and not empty means no colour.
            ColorWhen::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        Self { on }
    }

    /// `text` in its tone's colour, or as it is when colour is off.
    pub fn tone(self, tone: Tone, text: &str) -> String {
        if self.on {
            format!("\x1b[{}m{text}\x1b[0m", tone.code())
        } else {
            text.to_string()
        }
    }

    /// A table cell holding `text` in its tone's colour.
    pub fn cell(self, tone: Tone, text: &str) -> Cell {
        Cell::painted(text, self.tone(tone, text))
    }
}
