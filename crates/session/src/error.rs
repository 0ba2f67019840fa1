use std::path::PathBuf;

use cfgvault_store::ObjectId;

/// Names what a store write was storing when the store refused it as too large.
pub(crate) fn too_large(
    what: impl FnOnce() -> String,
) -> impl FnOnce(cfgvault_store::Error) -> Error {
    move |e| match e {
        cfgvault_store::Error::TooLarge { size, limit } => Error::TooLarge {
            what: what(),
            size,
            limit,
        },
        other => Error::Store(other),
    }
}

/// Everything that can go wrong in the session layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object store reported an error.
    #[error(transparent)]
    Store(#[from] cfgvault_store::Error),
    /// Something a backup would store is larger than the store accepts as one object: `what`
    /// names it (a file's path, a folder's tree, the closure's metadata, the session node).
    #[error("{what} is {size} bytes, over the store's object size limit of {limit} bytes")]
    TooLarge { what: String, size: u64, limit: u64 },
    /// A file-system operation failed.
    #[error("could not {action} '{path}'")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A stored path (relative to a config root) that cfgvault cannot hold.
    #[error("invalid path '{path}': {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// A file name on disk that is not UTF-8.
    #[error("'{}' has a name that is not UTF-8", path.display())]
    NonUtf8Path { path: PathBuf },
    /// A selected path resolves (through a symlink) to a place outside the config root.
    #[error("'{}' leads outside the config root", path.display())]
    OutsideRoot { path: PathBuf },
    /// A file's contents no longer hash to the id read for it: it changed during the backup.
    #[error("'{}' changed while it was being backed up", path.display())]
    FileChanged { path: PathBuf },
    /// A selected path is neither a regular file nor a directory.
    #[error("'{}' is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    /// A path that leads through a symlink (or is one) where only real folders and files
    /// are accepted: it was swapped in while the path was being read or written.
    #[error("'{}' is or passes through a symlink; not following it", path.display())]
    NotFollowed { path: PathBuf },
    /// A directory was expected.
    #[error("'{}' is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    /// The same path is both a file and a directory in one file set.
    #[error("'{path}' is both a file and a directory")]
    PathConflict { path: String },
    /// A string that is not a session id.
    #[error("invalid session id '{input}': {reason}")]
    InvalidSessionId { input: String, reason: &'static str },
    /// `create` was given the id of a session that exists.
    #[error("session '{id}' already exists")]
    SessionExists { id: String },
    /// No session with this id.
    #[error("session '{id}' not found")]
    SessionNotFound { id: String },
    /// The session holds no file at this path.
    #[error("session '{id}' has no file '{path}'")]
    FileNotInSession { id: String, path: String },
    /// A tree object that is not canonical (or not a tree at all).
    #[error("tree {id} is invalid")]
    CorruptTree {
        id: ObjectId,
        #[source]
        source: DecodeError,
    },
    /// A session record or index entry that cannot be decoded.
    #[error("session index entry '{key}' is corrupt: {detail}")]
    CorruptIndex { key: String, detail: String },
    /// A label key or value that cfgvault cannot hold.
    #[error("invalid label '{key}': {reason}")]
    InvalidLabel { key: String, reason: &'static str },
    /// A string that is not an overwrite policy.
    #[error("invalid overwrite policy '{input}': expected never, if-unchanged or always")]
    InvalidOverwrite { input: String },
}

/// Why bytes are not a canonical tree (`tree::Tree::decode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Index of the offending entry, if the problem is in one.
    pub entry: Option<usize>,
    pub reason: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.entry {
            Some(i) => write!(f, "entry {i}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}
