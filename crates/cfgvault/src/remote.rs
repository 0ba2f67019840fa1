//! Shared remotes on object storage (`s3://BUCKET/PREFIX`, `file:///PATH`): push sessions
//! to one, pull them from it, and resume a session the local store does not hold. The
//! remote's own operations (listing, verify, cleanup, gc) are the functions re-exported
//! here; docs/REMOTE.md describes the layout, the consistency model and key handling.

use std::path::Path;

use cfgvault_session::{self as session, SessionId};

pub use cfgvault_remote::{
    CleanupReport, GcReport, Key, Problem, PullReport, PushReport, Remote, RemoteOptions,
    VerifyReport, cleanup, gc, verify,
};

use crate::{EnsureOptions, EnsureReport, Error, Vault};

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
        config_root: Option<&Path>,
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
