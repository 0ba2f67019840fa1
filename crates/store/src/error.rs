use std::fmt;
use std::path::{Path, PathBuf};

use crate::ObjectId;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation on the store file or its directory failed.
    #[error("could not {action} '{path}'")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `open` was given a path where no file exists.
    #[error("no store at '{path}'")]
    NotFound { path: PathBuf },
    /// `create` was given a path where a file already exists.
    #[error("a file already exists at '{path}'")]
    AlreadyExists { path: PathBuf },
    /// The file is not a cfgvault store (another redb database, another kind of file, or one
    /// damaged beyond opening).
    #[error("'{path}' is not a cfgvault store: {detail}")]
    NotAStore { path: PathBuf, detail: String },
    /// The store is not in the one format this build reads (docs/FORMAT.md): `found` is the
    /// file's `meta.schema_version` mark, `supported` the format this build reads. Nothing is
    /// written to such a file.
    #[error(
        "store '{path}' is in another format (meta.schema_version {found}); this build reads only format {supported}"
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// Another process holds the store exclusively.
    #[error("store '{path}' is already open elsewhere")]
    AlreadyOpen { path: PathBuf },
    /// An object that should exist does not.
    #[error("object {id} is missing from the store")]
    ObjectMissing { id: ObjectId },
    /// An object's stored bytes do not decode to bytes whose hash is its id (invariant I4).
    #[error("object {id} is corrupt: {detail}")]
    Corrupt { id: ObjectId, detail: String },
    /// A pack does not decode, or a member is not what the pack index says it is.
    #[error("pack {pack} is corrupt: {detail}")]
    CorruptPack { pack: u64, detail: String },
    /// The cold entries (roots and index entries a gc moved into blocks) are inconsistent.
    #[error("cold entries are corrupt: {detail}")]
    CorruptCold { detail: String },
    /// A value of the pack index does not parse.
    #[error("pack index entry {key:016x} is corrupt: {detail}")]
    CorruptPackIndex { key: u64, detail: String },
    /// An object larger than [`crate::StoreOptions::max_object_size`].
    #[error("object of {size} bytes exceeds the size limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    /// `pin` was given a root name that is already taken.
    #[error("root '{name}' already exists")]
    RootExists { name: String },
    /// A root or index-space name that the store cannot hold.
    #[error("invalid name '{name}': {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// A string that is not an object id.
    #[error("invalid object id '{input}': {reason}")]
    InvalidId { input: String, reason: &'static str },
    /// The storage engine failed on a damaged file (it panicked instead of returning an
    /// error). The store refuses writes from then on; `verify` names what it can still read.
    #[error("store '{path}' is damaged: {detail}")]
    Damaged { path: PathBuf, detail: String },
    /// gc could not build a pack (compression failed, or the store ran out of pack numbers).
    #[error("could not write a pack: {detail}")]
    Pack { detail: String },
    /// The caller's progress handle asked to stop; nothing was committed.
    #[error("operation cancelled")]
    Cancelled,
    /// The device holding the store is full (or the user's quota is used up): the operation
    /// wrote nothing. `reserve_released` says whether the store's reserve (docs/FORMAT.md,
    /// "The reserve") was already given up for it, which only the operations that free
    /// space do.
    #[error("no space left on the device holding store '{path}'; nothing was written: {}", no_space_advice(*reserve_released))]
    NoSpace {
        path: PathBuf,
        reserve_released: bool,
    },
    /// The embedded database reported an error.
    #[error("database error in '{path}'")]
    Database {
        path: PathBuf,
        #[source]
        source: DatabaseError,
    },
}

/// An error of the embedded database engine, kept opaque so that its types stay out of
/// cfgvault's public API.
pub struct DatabaseError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl Error {
    /// Whether this is [`Error::NoSpace`].
    pub fn is_no_space(&self) -> bool {
        matches!(self, Error::NoSpace { .. })
    }
}

impl DatabaseError {
    pub(crate) fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        DatabaseError(Box::new(e))
    }

    /// Whether the engine ran out of space or hit another I/O failure underneath.
    pub fn is_io(&self) -> bool {
        self.io_error().is_some()
            || matches!(
                self.0.downcast_ref::<redb::Error>(),
                Some(redb::Error::PreviousIo)
            )
    }

    fn io_error(&self) -> Option<&std::io::Error> {
        io_error_in(self.0.as_ref())
    }
}

/// The I/O error under `e`, if any. redb's top-level error gives no `source()` for its `Io`
/// variant, so that one is looked into by name; redb also reports a file that is not a
/// database, or is cut short, as an `Io` error (`InvalidData`, `UnexpectedEof`), which is a
/// damaged file, not a failing device.
fn io_error_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        if let Some(redb::Error::Io(io)) = e.downcast_ref::<redb::Error>() {
            use std::io::ErrorKind::{InvalidData, UnexpectedEof};
            return (!matches!(io.kind(), InvalidData | UnexpectedEof)).then_some(io);
        }
        cur = e.source();
    }
    None
}

/// Whether an I/O error says the device (or the user's quota) is full.
pub(crate) fn is_no_space(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// What to do about [`Error::NoSpace`].
fn no_space_advice(reserve_released: bool) -> &'static str {
    if reserve_released {
        "the store's reserve was given up for this and it still did not fit; free space on \
         that device (or delete fewer sessions at once), then run `cfgvault gc`"
    } else {
        "free space on that device, or delete sessions (`cfgvault rm`, `cfgvault cleanup`: \
         they may use the store's reserve) and run `cfgvault gc`"
    }
}

impl fmt::Debug for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.to_string();
        // redb's messages start with a capital and sometimes end with a period; ours do not.
        let s = s.trim_end_matches('.');
        // Lowercase a leading capital of a word ("Database …"), not of an acronym ("I/O …").
        let mut chars = s.chars();
        match (chars.next(), chars.clone().next()) {
            (Some(c), Some(n)) if n.is_lowercase() => {
                write!(f, "{}{}", c.to_lowercase(), chars.as_str())
            }
            _ => f.write_str(s),
        }
    }
}

impl std::error::Error for DatabaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Turns a redb error into [`Error`], naming the store file.
pub(crate) trait DbResult<T> {
    fn db(self, path: &Path) -> Result<T, Error>;
}

impl<T, E: Into<redb::Error>> DbResult<T> for Result<T, E> {
    fn db(self, path: &Path) -> Result<T, Error> {
        self.map_err(|e| map_db_error(e.into(), path))
    }
}

pub(crate) fn map_db_error(e: redb::Error, path: &Path) -> Error {
    match e {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
            Error::AlreadyOpen {
                path: path.to_path_buf(),
            }
        }
        redb::Error::Io(io) if is_no_space(&io) => Error::NoSpace {
            path: path.to_path_buf(),
            reserve_released: false,
        },
        other => Error::Database {
            path: path.to_path_buf(),
            source: crate::error::DatabaseError::new(other),
        },
    }
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

#[cfg(test)]
mod tests {
    use super::DatabaseError;

    #[test]
    fn messages_are_lowercased_but_acronyms_kept() {
        let e = |m: &str| DatabaseError::new(std::io::Error::other(m.to_string())).to_string();
        assert_eq!(e("Database already open."), "database already open");
        assert_eq!(e("I/O error: disk full"), "I/O error: disk full");
        assert_eq!(e(""), "");
    }
}
