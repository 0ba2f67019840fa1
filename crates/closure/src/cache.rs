//! Parsed files kept between analyses, so that resolving the same workflow again (every new
//! session of an agent framework does) costs a `stat` per file instead of a parse.

use std::collections::HashMap;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::resolve::Doc;

/// At most this many parsed files are kept; past it the cache starts over.
const MAX_ENTRIES: usize = 16_384;

/// A file modified less than this before it was read may be modified again within the same
/// timestamp tick without its metadata changing (git's "racily clean" problem): such a parse
/// is never reused.
const RACY: Duration = Duration::from_secs(2);

/// What identifies one version of a file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    ino: u64,
    #[cfg(unix)]
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &Metadata) -> Stamp {
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
}

struct Entry {
    stamp: Stamp,
    /// Whether the file was old enough when read for its stamp to identify its content.
    trusted: bool,
    doc: Arc<Doc>,
}

/// A cache of parsed files for [`crate::resolve_cached`], safe to share between threads.
///
/// An entry is reused only when the file's size, modification and change times and inode are
/// those it had when parsed, and it had not been modified in the two seconds before it was
/// read. It only saves parsing: which files a closure holds never depends on anything but
/// their current contents, and the bytes backed up are always read afresh.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<(PathBuf, String), Entry>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.entries.lock().map(|e| e.len()).unwrap_or(0);
        f.debug_struct("Cache").field("entries", &n).finish()
    }
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Cache {
        Cache::default()
    }

    /// The parse of `abs` (shown as `rel`), from the cache when still valid, else from `load`.
    pub(crate) fn get_or_load(
        &self,
        abs: &Path,
        rel: &str,
        load: impl FnOnce() -> Doc,
    ) -> Arc<Doc> {
        let before = std::fs::metadata(abs).ok().map(|m| Stamp::of(&m));
        let key = (abs.to_path_buf(), rel.to_owned());
        if let Some(stamp) = &before {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = entries.get(&key)
                && e.trusted
                && e.stamp == *stamp
            {
                return e.doc.clone();
            }
        }
        let read_at = SystemTime::now();
        let doc = Arc::new(load());
        // Keep it only if the file did not change while it was read, and say whether its stamp
        // can be trusted next time.
        if let (Some(stamp), Some(after)) =
            (before, std::fs::metadata(abs).ok().map(|m| Stamp::of(&m)))
            && stamp == after
        {
            let trusted = stamp
                .modified
                .and_then(|m| read_at.duration_since(m).ok())
                .is_some_and(|age| age >= RACY);
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(
                key,
                Entry {
                    stamp,
                    trusted,
                    doc: doc.clone(),
                },
            );
        }
        doc
    }
}
