use std::path::PathBuf;

/// Everything that can go wrong talking to a remote. Each variant names the remote object,
/// session or file it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The remote URL is not `s3://BUCKET[/PREFIX]` or `file:///PATH`.
    #[error("invalid remote URL '{url}': {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    /// The object store answered with an error (unreachable server, denied access …).
    #[error("remote {op} of '{object}' failed")]
    Backend {
        op: &'static str,
        object: String,
        #[source]
        source: object_store::Error,
    },
    /// The remote is encrypted and no key was given.
    #[error("remote '{url}' is encrypted: set CFGVAULT_REMOTE_KEY_FILE or CFGVAULT_REMOTE_KEY")]
    KeyMissing { url: String },
    /// The key given is not the remote's key.
    #[error("the key given is not the key of remote '{url}'")]
    KeyWrong { url: String },
    /// A key was given for a remote that stores objects unencrypted.
    #[error("remote '{url}' is not encrypted, but a key was given")]
    KeyUnexpected { url: String },
    /// The key file could not be read, or the key is empty.
    #[error("could not read the remote key from '{path}'")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A remote object is damaged: it fails authentication, does not decode, or holds bytes
    /// that do not hash to the id it is stored under.
    #[error("remote object '{object}' is corrupt: {detail}")]
    Corrupt { object: String, detail: String },
    /// A session with this id is on the remote with other content; nothing was overwritten.
    #[error("session '{id}' already exists on the remote with different content")]
    AlreadyExists { id: String },
    /// A session with this id is in the local store with other content; nothing was written.
    #[error("session '{id}' already exists in the local store with different content")]
    LocalConflict { id: String },
    /// The remote holds no session with this id.
    #[error("session '{id}' not found on the remote")]
    SessionNotFound { id: String },
    /// A push took longer than half the remote's grace period between reading the remote and
    /// writing its manifests, so a concurrent gc might have removed a pack it reuses. Nothing
    /// is visible; run the push again.
    #[error("push took {elapsed_secs} s, longer than half the remote's grace period; run it again")]
    PushTooSlow { elapsed_secs: u64 },
    /// The private runtime for the object store client could not start.
    #[error("could not start the remote client's runtime")]
    Runtime(#[source] std::io::Error),
    /// From the local session layer.
    #[error(transparent)]
    Session(#[from] cfgvault_session::Error),
    /// From the local object store.
    #[error(transparent)]
    Store(#[from] cfgvault_store::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
