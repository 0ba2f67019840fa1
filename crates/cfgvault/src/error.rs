use std::path::PathBuf;

/// Everything that can go wrong in a [`crate::Vault`] operation. The variants of the layers
/// below pass through unchanged, so a caller can match on, say, a missing session or a
/// corrupt object without knowing which layer found it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From the object store (opening the file, objects, transactions).
    #[error(transparent)]
    Store(#[from] cfgvault_store::Error),
    /// From the session layer (session ids, trees, restore, retention).
    #[error(transparent)]
    Session(#[from] cfgvault_session::Error),
    /// From the dependency analysis (missing workflow, bad profile or glob).
    #[error(transparent)]
    Closure(#[from] cfgvault_closure::Error),
    /// From a shared remote (object storage, keys, remote objects).
    #[error(transparent)]
    Remote(#[from] cfgvault_remote::Error),
    /// A backup without a workflow must use the `tree` strategy.
    #[error("a backup without a workflow needs the 'tree' strategy, not '{strategy}'")]
    WorkflowRequired { strategy: String },
    /// The config root to back up or restore into is not a directory.
    #[error("config root '{path}' is not a directory")]
    NotADirectory { path: PathBuf },
    /// A file-system operation failed.
    #[error("could not {action} '{path}'")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
