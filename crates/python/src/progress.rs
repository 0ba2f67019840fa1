//! A Python `progress=` callable as the library's [`Progress`].

use std::sync::Mutex;

use cfgvault::Progress;
use pyo3::prelude::*;

/// Calls `callback(phase, done, total)` when a phase starts and as units of work complete
/// (`total` is `None` when unknown). The library calls it with the GIL released; each call
/// attaches to the interpreter. An exception raised by the callback is kept and makes
/// [`Progress::should_cancel`] true, so the operation stops at its next check without
/// committing; [`PyProgress::finish`] then raises it.
pub(crate) struct PyProgress {
    callback: Option<Py<PyAny>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    phase: &'static str,
    done: u64,
    total: Option<u64>,
    raised: Option<PyErr>,
}

impl PyProgress {
    pub(crate) fn new(callback: Option<Py<PyAny>>) -> PyProgress {
        PyProgress {
            callback,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn report(&self, update: impl FnOnce(&mut State)) {
        let Some(callback) = &self.callback else {
            return;
        };
        let (phase, done, total) = {
            let mut s = self.state();
            if s.raised.is_some() {
                return;
            }
            update(&mut s);
            (s.phase, s.done, s.total)
        };
        let raised = Python::attach(|py| callback.call1(py, (phase, done, total)).err());
        if let Some(e) = raised {
            self.state().raised = Some(e);
        }
    }

    /// The operation's result, unless the callback raised: then its exception.
    pub(crate) fn finish<T>(self, result: Result<T, cfgvault::Error>) -> PyResult<T> {
        let raised = self
            .state
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .raised;
        match raised {
            Some(e) => Err(e),
            None => result.map_err(crate::errors::to_py),
        }
    }
}

impl Progress for PyProgress {
    fn start(&self, phase: &'static str, total: Option<u64>) {
        self.report(|s| {
            s.phase = phase;
            s.done = 0;
            s.total = total;
        });
    }

    fn inc(&self, n: u64) {
        self.report(|s| s.done += n);
    }

    fn should_cancel(&self) -> bool {
        self.state().raised.is_some()
    }
}
