use std::io;
use std::path::PathBuf;

/// Everything that stops an analysis before it starts.
///
/// Problems found *during* an analysis (dangling references, files that do not parse, cycles,
/// references leaving the root) are data in the [`Closure`](crate::Closure), never an `Error`.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the config root (or a profile / strategy file) failed.
    #[error("could not {action} '{path}'")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The config root exists but is not a directory.
    #[error("config root '{path}' is not a directory")]
    RootNotDirectory { path: PathBuf },
    /// The workflow file does not exist under the root.
    #[error("workflow '{path}' does not exist under '{root}'")]
    WorkflowMissing { path: String, root: PathBuf },
    /// The workflow path names a directory or something else that is not a regular file.
    #[error("workflow '{path}' is not a regular file")]
    WorkflowNotFile { path: String },
    /// The workflow path (relative, or absolute) lies outside the root, climbs out of it, or is
    /// a symlink leading out of it.
    #[error("workflow '{path}' is outside the config root")]
    WorkflowOutsideRoot { path: String },
    /// An exclude pattern would leave the workflow itself out of its closure: invalid input,
    /// since a session without its workflow could not start.
    #[error("exclude pattern '{pattern}' excludes the workflow '{path}' itself")]
    WorkflowExcluded { path: String, pattern: String },
    /// A profile could not be read or is malformed; `origin` names the file or says it was a string.
    #[error("invalid profile ({origin}): {message}")]
    Profile { origin: String, message: String },
    /// A strategy could not be read or is malformed; `origin` names the file or says it was a string.
    #[error("invalid strategy ({origin}): {message}")]
    Strategy { origin: String, message: String },
    /// A strategy name that is none of the built-in ones.
    #[error("unknown strategy '{name}' (expected minimal, standard, comprehensive or tree)")]
    UnknownStrategy { name: String },
    /// An unknown file kind name.
    #[error("unknown file kind '{name}'")]
    UnknownKind { name: String },
    /// An exclude glob that does not compile.
    #[error("invalid exclude glob '{pattern}': {message}")]
    Glob { pattern: String, message: String },
}
