//! Progress reporting and cancellation, passed in by the caller.

/// Receives progress of long operations (`verify`, `gc`) and may ask them to stop.
///
/// The store never draws anything itself; a command-line front end implements this with a
/// progress bar, a service with a log line or a metric. Every method has a no-op default.
pub trait Progress: Sync {
    /// A new phase starts, with `total` units of work if known.
    fn start(&self, _phase: &'static str, _total: Option<u64>) {}
    /// `n` more units of the current phase are done.
    fn inc(&self, _n: u64) {}
    /// Polled between units of work: returning `true` stops the operation with
    /// [`crate::Error::Cancelled`], without committing anything.
    fn should_cancel(&self) -> bool {
        false
    }
}

/// A [`Progress`] that reports nothing and never cancels.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// A [`Progress`] that only cancels, when the flag is set (e.g. from a signal handler).
impl Progress for std::sync::atomic::AtomicBool {
    fn should_cancel(&self) -> bool {
        self.load(std::sync::atomic::Ordering::Relaxed)
    }
}
