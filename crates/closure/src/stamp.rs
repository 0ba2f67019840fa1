//! What identifies one version of a file, or of a folder's list of entries, on disk: the
//! stamps the cache validates kept parses, walks and results by.

use std::fs::Metadata;
use std::time::{Duration, SystemTime};

/// A file modified less than this before it was read may be modified again within the same
/// timestamp tick without its metadata changing (git's "racily clean" problem): what was read
/// of it is never reused.
const RACY: Duration = Duration::from_secs(2);

/// What identifies one version of a file (or of a folder's list of entries) on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    ino: u64,
    #[cfg(unix)]
    ctime: (i64, i64),
}

impl Stamp {
    pub(crate) fn of(m: &Metadata) -> Stamp {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: m.len(),
            modified: m.modified().ok(),
            #[cfg(unix)]
            ino: m.ino(),
            #[cfg(unix)]
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// Whether this stamp, taken at `at`, identifies what it stamps: not modified in the two
    /// seconds before (it could change again within the same timestamp tick).
    pub(crate) fn settled(&self, at: SystemTime) -> bool {
        self.modified
            .and_then(|m| at.duration_since(m).ok())
            .is_some_and(|age| age >= RACY)
    }
}
