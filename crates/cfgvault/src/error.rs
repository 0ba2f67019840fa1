//! The one error type of the embedding API, classified by [`ErrorKind`].

use std::fmt;
use std::path::{Path, PathBuf};

use cfgvault_closure as closure;
use cfgvault_remote as remote;
use cfgvault_session as session;
use cfgvault_store as store;

use crate::ObjectId;

/// What kind of failure an [`Error`] is: the part of an error a program branches on. The
/// names are a contract shared with the command line's `--json` errors and exit codes and the
/// Python package (docs/CLI.md); new kinds may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// A session, a path in a session, an object, a workflow, a config root or the store file
    /// does not exist.
    NotFound,
    /// A session id, or a store file to create, is already taken.
    AlreadyExists,
    /// An argument cannot be used: a malformed id, path, label, glob, profile or strategy, a
    /// file over the size limit, an ambiguous prefix.
    InvalidInput,
    /// The file is not a cfgvault store.
    NotAStore,
    /// The store (or a stored object) is damaged.
    Damaged,
    /// The store was written in a format this build does not read.
    UnsupportedFormat,
    /// Another process holds the store.
    Busy,
    /// A file-system operation failed.
    Io,
    /// The caller's [`crate::Progress`] asked the operation to stop; nothing was committed.
    Cancelled,
}

impl ErrorKind {
    /// The snake_case name used in JSON (`not_found`, `invalid_input`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotAStore => "not_a_store",
            ErrorKind::Damaged => "damaged",
            ErrorKind::UnsupportedFormat => "unsupported_format",
            ErrorKind::Busy => "busy",
            ErrorKind::Io => "io",
            ErrorKind::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong in a [`crate::Vault`] operation.
///
/// Branch on [`Error::kind`]; [`Error::session`], [`Error::path`] and [`Error::object`] name
/// what the failure concerns. Whichever layer found the failure, it arrives this one way; its
/// `Display` is the one-line message, and `source()` the underlying cause (an I/O error).
///
/// ```
/// use cfgvault::{ErrorKind, SessionId, Vault};
/// # let dir = tempfile::tempdir().expect("temp dir");
/// let vault = Vault::create(dir.path().join("store.redb"), &Default::default())?;
/// let id: SessionId = "no-such-session".parse()?;
/// let err = vault.session(&id).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert_eq!(err.session(), Some("no-such-session"));
/// # Ok::<(), cfgvault::Error>(())
/// ```
pub struct Error(Box<Repr>);

struct Repr {
    kind: ErrorKind,
    session: Option<String>,
    /// The store file a damaged-metadata error of the session layer was met in: the message
    /// names it (the layer's own error names only the table and entry).
    store: Option<PathBuf>,
    path: Option<PathBuf>,
    object: Option<ObjectId>,
    inner: Inner,
}

/// The layer's error the failure was found as, kept for its message and its source.
enum Inner {
    Store(store::Error),
    Session(session::Error),
    Closure(closure::Error),
    Remote(remote::Error),
    Vault(VaultError),
}

/// Failures the embedding layer itself detects.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VaultError {
    #[error("a backup without a workflow needs the 'tree' strategy, not '{strategy}'")]
    WorkflowRequired { strategy: String },
    #[error("config root '{}' is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("config root '{}' does not exist", path.display())]
    RootMissing { path: PathBuf },
    #[error("{what} prefix '{prefix}' is ambiguous: it matches {}", candidates.join(", "))]
    Ambiguous {
        what: &'static str,
        prefix: String,
        candidates: Vec<String>,
    },
    #[error("{what} prefix '{prefix}' is too short: give at least {min} characters")]
    PrefixTooShort {
        what: &'static str,
        prefix: String,
        min: usize,
    },
    #[error("no {what} matches '{prefix}'")]
    NoMatch { what: &'static str, prefix: String },
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The session the failure concerns (a missing or existing session, an invalid id).
    pub fn session(&self) -> Option<&str> {
        self.0.session.as_deref()
    }

    /// The file the failure concerns: a path on disk, the store file, or a path inside a
    /// session.
    pub fn path(&self) -> Option<&Path> {
        self.0.path.as_deref()
    }

    /// The stored object the failure concerns.
    pub fn object(&self) -> Option<ObjectId> {
        self.0.object
    }

    /// Candidates of an ambiguous prefix (see [`crate::Vault::resolve_session`]).
    pub fn candidates(&self) -> &[String] {
        match &self.0.inner {
            Inner::Vault(VaultError::Ambiguous { candidates, .. }) => candidates,
            _ => &[],
        }
    }

    /// Whether the store's device was full ([`store::Error::NoSpace`]).
    pub(crate) fn is_no_space(&self) -> bool {
        matches!(&self.0.inner, Inner::Store(e) if e.is_no_space())
    }

    /// Names the store file `path` in an error of the session layer about damaged metadata (a
    /// record, the string table, an index entry, a tree), which knows only the table and
    /// entry: the message starts `store 'PATH' is damaged: ` and [`Error::path`] is the store.
    pub(crate) fn in_store(mut self, path: &Path) -> Error {
        if let Inner::Session(
            session::Error::CorruptIndex { .. } | session::Error::CorruptTree { .. },
        ) = &self.0.inner
            && self.0.store.is_none()
        {
            self.0.store = Some(path.to_path_buf());
            self.0.path = Some(path.to_path_buf());
        }
        self
    }

    fn new(kind: ErrorKind, inner: Inner) -> Error {
        Error(Box::new(Repr {
            kind,
            session: None,
            store: None,
            path: None,
            object: None,
            inner,
        }))
    }

    pub(crate) fn vault(e: VaultError) -> Error {
        let (kind, path) = match &e {
            VaultError::WorkflowRequired { .. } => (ErrorKind::InvalidInput, None),
            VaultError::NotADirectory { path } => (ErrorKind::InvalidInput, Some(path.clone())),
            VaultError::RootMissing { path } => (ErrorKind::NotFound, Some(path.clone())),
            VaultError::Ambiguous { .. } | VaultError::PrefixTooShort { .. } => {
                (ErrorKind::InvalidInput, None)
            }
            VaultError::NoMatch { .. } => (ErrorKind::NotFound, None),
        };
        let session = match &e {
            VaultError::Ambiguous {
                what: "session",
                prefix,
                ..
            }
            | VaultError::NoMatch {
                what: "session",
                prefix,
            } => Some(prefix.clone()),
            _ => None,
        };
        let mut err = Error::new(kind, Inner::Vault(e));
        err.0.path = path;
        err.0.session = session;
        err
    }
}

/// `NotFound` for a missing file, `Io` for every other file-system failure.
fn io_kind(e: &std::io::Error) -> ErrorKind {
    match e.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        _ => ErrorKind::Io,
    }
}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Error {
        use store::Error as E;
        let kind = match &e {
            E::Io { source, .. } => io_kind(source),
            E::NotFound { .. } | E::ObjectMissing { .. } => ErrorKind::NotFound,
            E::AlreadyExists { .. } | E::RootExists { .. } => ErrorKind::AlreadyExists,
            E::NotAStore { .. } => ErrorKind::NotAStore,
            E::UnsupportedFormat { .. } => ErrorKind::UnsupportedFormat,
            E::AlreadyOpen { .. } => ErrorKind::Busy,
            E::TooLarge { .. } | E::InvalidName { .. } | E::InvalidId { .. } => {
                ErrorKind::InvalidInput
            }
            E::Cancelled => ErrorKind::Cancelled,
            E::Database { source, .. } if source.is_io() => ErrorKind::Io,
            E::NoSpace { .. } => ErrorKind::Io,
            E::Pack { .. } => ErrorKind::Io,
            _ => ErrorKind::Damaged,
        };
        let path = match &e {
            E::Io { path, .. }
            | E::NotFound { path }
            | E::AlreadyExists { path }
            | E::NotAStore { path, .. }
            | E::UnsupportedFormat { path, .. }
            | E::AlreadyOpen { path }
            | E::Damaged { path, .. }
            | E::NoSpace { path, .. }
            | E::Database { path, .. } => Some(path.clone()),
            _ => None,
        };
        let object = match &e {
            E::ObjectMissing { id } | E::Corrupt { id, .. } => Some(*id),
            _ => None,
        };
        let mut err = Error::new(kind, Inner::Store(e));
        err.0.path = path;
        err.0.object = object;
        err
    }
}

impl From<session::Error> for Error {
    fn from(e: session::Error) -> Error {
        use session::Error as E;
        let e = match e {
            // A store failure reaches the embedder as one, whichever layer met it.
            E::Store(s) => return s.into(),
            e => e,
        };
        let kind = match &e {
            E::Io { source, .. } => io_kind(source),
            E::SessionExists { .. } => ErrorKind::AlreadyExists,
            E::SessionNotFound { .. } | E::FileNotInSession { .. } => ErrorKind::NotFound,
            E::CorruptTree { .. } | E::CorruptIndex { .. } => ErrorKind::Damaged,
            E::InvalidPath { .. }
            | E::NonUtf8Path { .. }
            | E::OutsideRoot { .. }
            | E::NotAFile { .. }
            | E::NotADirectory { .. }
            | E::NotFollowed { .. }
            | E::PathConflict { .. }
            | E::InvalidSessionId { .. }
            | E::InvalidOverwrite { .. }
            | E::InvalidLabel { .. } => ErrorKind::InvalidInput,
            // A file that changed while it was read, and whatever the layer adds later.
            _ => ErrorKind::Io,
        };
        let path = match &e {
            E::Io { path, .. }
            | E::NonUtf8Path { path }
            | E::OutsideRoot { path }
            | E::FileChanged { path }
            | E::NotAFile { path }
            | E::NotFollowed { path }
            | E::NotADirectory { path } => Some(path.clone()),
            E::InvalidPath { path, .. }
            | E::PathConflict { path }
            | E::FileNotInSession { path, .. } => Some(PathBuf::from(path)),
            _ => None,
        };
        let session = match &e {
            E::InvalidSessionId { input: id, .. }
            | E::SessionExists { id }
            | E::SessionNotFound { id }
            | E::FileNotInSession { id, .. } => Some(id.clone()),
            _ => None,
        };
        let object = match &e {
            E::CorruptTree { id, .. } => Some(*id),
            _ => None,
        };
        let mut err = Error::new(kind, Inner::Session(e));
        err.0.path = path;
        err.0.session = session;
        err.0.object = object;
        err
    }
}

impl From<closure::Error> for Error {
    fn from(e: closure::Error) -> Error {
        use closure::Error as E;
        let kind = match &e {
            E::Io { source, .. } => io_kind(source),
            E::WorkflowMissing { .. } => ErrorKind::NotFound,
            _ => ErrorKind::InvalidInput,
        };
        let path = match &e {
            E::Io { path, .. } | E::RootNotDirectory { path } => Some(path.clone()),
            E::WorkflowMissing { path, .. }
            | E::WorkflowNotFile { path }
            | E::WorkflowOutsideRoot { path }
            | E::WorkflowExcluded { path, .. } => Some(PathBuf::from(path)),
            _ => None,
        };
        let mut err = Error::new(kind, Inner::Closure(e));
        err.0.path = path;
        err
    }
}

impl From<remote::Error> for Error {
    fn from(e: remote::Error) -> Error {
        use remote::Error as E;
        let e = match e {
            // A store or session failure reaches the embedder as one, whichever layer met it.
            E::Store(s) => return s.into(),
            E::Session(s) => return s.into(),
            e => e,
        };
        let kind = match &e {
            E::AlreadyExists { .. } | E::LocalConflict { .. } => ErrorKind::AlreadyExists,
            E::SessionNotFound { .. } => ErrorKind::NotFound,
            E::Corrupt { .. } => ErrorKind::Damaged,
            E::InvalidUrl { .. }
            | E::KeyMissing { .. }
            | E::KeyWrong { .. }
            | E::KeyUnexpected { .. } => ErrorKind::InvalidInput,
            E::KeyFile { source, .. } => io_kind(source),
            // An unreachable or refusing server, a push too slow for the grace period.
            _ => ErrorKind::Io,
        };
        let path = match &e {
            E::KeyFile { path, .. } => Some(path.clone()),
            _ => None,
        };
        let session = match &e {
            E::AlreadyExists { id } | E::LocalConflict { id } | E::SessionNotFound { id } => {
                Some(id.clone())
            }
            _ => None,
        };
        let mut err = Error::new(kind, Inner::Remote(e));
        err.0.path = path;
        err.0.session = session;
        err
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(store) = &self.0.store {
            write!(f, "store '{}' is damaged: ", store.display())?;
        }
        match &self.0.inner {
            Inner::Store(e) => fmt::Display::fmt(e, f),
            Inner::Session(e) => fmt::Display::fmt(e, f),
            Inner::Closure(e) => fmt::Display::fmt(e, f),
            Inner::Remote(e) => fmt::Display::fmt(e, f),
            Inner::Vault(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.0.kind);
        if let Some(s) = &self.0.session {
            d.field("session", s);
        }
        if let Some(p) = &self.0.path {
            d.field("path", p);
        }
        if let Some(o) = &self.0.object {
            d.field("object", o);
        }
        d.field("message", &self.to_string()).finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The layer's error is this error's message, not a cause of it: its source is.
        match &self.0.inner {
            Inner::Store(e) => std::error::Error::source(e),
            Inner::Session(e) => std::error::Error::source(e),
            Inner::Closure(e) => std::error::Error::source(e),
            Inner::Remote(e) => std::error::Error::source(e),
            Inner::Vault(e) => std::error::Error::source(e),
        }
    }
}
