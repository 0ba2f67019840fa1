//! Progress bars on stderr (only for a terminal, never with `--json` or `--quiet`) and
//! Ctrl-C: a long command stops at its next unit of work through its `Progress`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Set by the first Ctrl-C; polled by [`Reporter::should_cancel`].
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// What a long command reports to: its bar (if any), and Ctrl-C as a request to stop. The
/// first Ctrl-C asks the operation to stop at its next unit of work (it then commits
/// nothing and the command exits 130); a second one ends the process at once.
pub struct Reporter {
    bar: Option<Bar>,
}

impl Reporter {
    /// Installs the Ctrl-C handler (once per process) and a bar when output is for people.
    pub fn new(json: bool, quiet: bool) -> Reporter {
        // Failing to install the handler leaves Ctrl-C's default: the process ends.
        let _ = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                std::process::exit(i32::from(crate::EXIT_CANCELLED));
            }
        });
        Reporter {
            bar: Bar::new(json, quiet),
        }
    }
}

impl Progress for Reporter {
    fn start(&self, phase: &'static str, total: Option<u64>) {
        if let Some(b) = &self.bar {
            b.start(phase, total);
        }
    }

    fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    fn should_cancel(&self) -> bool {
        INTERRUPTED.load(Ordering::SeqCst)
    }
}
