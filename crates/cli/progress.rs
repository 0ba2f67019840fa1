//! Progress bars on stderr, only for a terminal and never with `--json` or `--quiet`.

use std::io::IsTerminal;
use std::sync::Mutex;

use cfgvault::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// A `Progress` drawing one bar per phase.
pub struct Bar {
    bar: Mutex<Option<ProgressBar>>,
}

impl Bar {
    /// A bar when stderr is a terminal and output is for people; otherwise `None`.
    pub fn new(json: bool, quiet: bool) -> Option<Bar> {
        (!json && !quiet && std::io::stderr().is_terminal()).then(|| Bar {
            bar: Mutex::new(None),
        })
    }
}

impl Progress for Bar {
    fn start(&self, phase: &'static str, total: Option<u64>) {
        let mut slot = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = slot.take() {
            old.finish_and_clear();
        }
        let bar = match total {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template("{msg:>8} [{bar:30}] {pos}/{len}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => {
                let spinner = ProgressBar::new_spinner();
                spinner.enable_steady_tick(std::time::Duration::from_millis(100));
                spinner
            }
        };
        bar.set_message(phase);
        *slot = Some(bar);
    }

    fn inc(&self, n: u64) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            b.inc(n);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            b.finish_and_clear();
        }
    }
}
