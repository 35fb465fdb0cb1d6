//! Progress on stderr while sources are collected: one spinner per backend, only on a terminal and
//! only for table output, so pipes and machine-readable output stay clean.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    source: &'static str,
}

impl Progress {
    /// A spinner for `source`, or nothing when `enabled` is false.
    pub fn new(enabled: bool, source: &'static str) -> Progress {
        let bar = enabled.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix}: {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(source);
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Progress { bar, source }
    }

    /// No output at all.
    pub fn hidden() -> Progress {
        Progress { bar: None, source: "" }
    }

    pub fn set(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_string());
        }
    }

    pub fn source(&self) -> &'static str {
        self.source
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
