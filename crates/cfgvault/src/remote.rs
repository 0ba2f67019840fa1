//! Shared remotes on object storage (`s3://BUCKET/PREFIX`, `file:///PATH`): push sessions
//! to one, pull them from it, and resume a session the local store does not hold. The
//! remote's own operations (listing, verify, cleanup, gc) are the functions re-exported
//! here; docs/REMOTE.md describes the layout, the consistency model and key handling.

use std::path::Path;

use cfgvault_session::{self as session, SessionId};

pub use cfgvault_remote::{
    CleanupReport, GcReport, Key, Problem, PullReport, PushReport, Remote, RemoteOptions,
    VerifyReport,
};

/// What opening a remote can fail with; it converts into [`crate::Error`] (with its
/// [`crate::ErrorKind`]) through `?`.
pub use cfgvault_remote::Error as RemoteError;

use crate::{DateTime, EnsureOptions, EnsureReport, Error, RetentionPolicy, Utc, Vault};

/// Removes the remote's sessions that `policy` selects (as of `now`); their packs go at a
/// later [`gc`].
pub fn cleanup(
    remote: &Remote,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> Result<CleanupReport, Error> {
    Ok(cfgvault_remote::cleanup(remote, &policy.session(), now)?)
}

/// Deletes the remote's packs no session names, once they have stayed unnamed for the
/// remote's grace period (docs/REMOTE.md).
pub fn gc(remote: &Remote) -> Result<GcReport, Error> {
    Ok(cfgvault_remote::gc(remote)?)
}

/// Checks that every object every manifest names exists, authenticates and hashes right.
pub fn verify(remote: &Remote) -> Result<VerifyReport, Error> {
    Ok(cfgvault_remote::verify(remote)?)
}

impl Vault {
    /// Pushes `ids` (every local session when empty) to `remote`. A session the remote holds
    /// under the same id with other content is refused (`AlreadyExists`), nothing written;
    /// with the same content it is a no-op.
    pub fn push(&self, remote: &Remote, ids: &[SessionId]) -> Result<PushReport, Error> {
        Ok(cfgvault_remote::push(&self.store, remote, ids)?)
    }

    /// Pulls `ids` (every remote session when empty) from `remote`, downloading only the
    /// packs that hold files the local store lacks.
    pub fn pull(&self, remote: &Remote, ids: &[SessionId]) -> Result<PullReport, Error> {
        Ok(cfgvault_remote::pull(&self.store, remote, ids)?)
    }

    /// [`Vault::ensure`], pulling the session from `remote` first when the local store does
    /// not hold it.
    pub fn ensure_from(
        &self,
        remote: &Remote,
        id: &SessionId,
        config_root: Option<impl AsRef<Path>>,
        options: &EnsureOptions,
    ) -> Result<EnsureReport, Error> {
        match session::get(&self.store, id) {
            Ok(_) => {}
            Err(session::Error::SessionNotFound { .. }) => {
                self.pull(remote, std::slice::from_ref(id))?;
            }
            Err(e) => return Err(e.into()),
        }
        self.ensure(id, config_root, options)
    }
}
