//! Progress on a terminal (stderr), never under --json or in a pipe.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::ops::Progress;
use crate::vim::TaskProgress;

pub struct TermProgress {
    bar: Option<ProgressBar>,
}

impl TermProgress {
    pub fn new(json: bool) -> Self {
        let show = !json && std::io::stderr().is_terminal();
        let bar = show.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self { bar }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for TermProgress {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Progress for TermProgress {
    fn step(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{message}..."));
        }
    }

    fn task(&self, task: &TaskProgress) {
        if let Some(bar) = &self.bar {
            let percent = task.percent.map(|p| format!(" ({p}%)")).unwrap_or_default();
            bar.set_message(format!("{} {}{percent}", task.name, task.entity));
        }
    }

    fn bytes(&self, done: u64, total: u64) {
        if let Some(bar) = &self.bar {
            if bar.length() != Some(total) {
                bar.set_length(total);
                bar.set_style(
                    ProgressStyle::with_template(
                        "[{elapsed}] {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
            }
            bar.set_position(done);
        }
    }

    fn note(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }
}
