//! Parsed files and walks of the config root kept between analyses, so that resolving the same
//! workflow again (every new session of an agent framework does) costs a `stat` per file and
//! per folder instead of a parse per file and a directory listing per folder.

use std::collections::HashMap;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::index::{Index, walk};
use crate::load::Doc;
use crate::stamp::Stamp;
use crate::{Closure, Error, Options};

/// At most this many parsed files are kept; past it the cache starts over.
const MAX_ENTRIES: usize = 16_384;
/// At most this many config roots' walks are kept; past it they start over.
const MAX_WALKS: usize = 64;
/// At most this many (root, workflow) results are kept; past it they start over.
const MAX_RESULTS: usize = 256;

/// Files checked on disk: path relative to the root, metadata as found.
pub(crate) type CheckedFiles = Vec<(String, Metadata)>;

/// A walk of a config root: valid while every folder it listed has the stamp it had then
/// (adding, removing or renaming an entry changes its folder's modification time).
pub(crate) struct Walk {
    pub(crate) dirs: Vec<(PathBuf, Stamp)>,
    pub(crate) index: Arc<Index>,
    /// When the walk began (before any folder was stamped).
    pub(crate) started: SystemTime,
}

/// A finished analysis, valid while every folder whose list of files it consulted, and every
/// ancestor of those, has the stamp it had in the walk it was made over, and every file it
/// parsed has the stamp it had when parsed.
struct Memo {
    options: Options,
    /// Each folder it depends on, by path, with its stamp.
    dirs: Vec<(PathBuf, Stamp)>,
    /// Each parsed file: its path, its path relative to the root, its stamp when parsed.
    parsed: Vec<(PathBuf, String, Stamp)>,
    closure: Arc<Closure>,
}

/// Whether folder `a` is `b` or holds it (relative paths, `""` for the root).
fn holds(a: &str, b: &str) -> bool {
    a.is_empty() || a == b || (b.starts_with(a) && b.as_bytes().get(a.len()) == Some(&b'/'))
}

struct Entry {
    stamp: Stamp,
    /// Whether the file was old enough when read for its stamp to identify its content.
    trusted: bool,
    doc: Arc<Doc>,
}

/// A cache of parsed files and of walks of the config root for [`crate::resolve_cached`], safe
/// to share between threads.
///
/// A parse is reused only when the file's size, modification and change times and inode are
/// those it had when parsed, and it had not been modified in the two seconds before it was
/// read. A walk (the list of every file under the root) is reused only when every folder it
/// listed has the same stamp, none had been modified in the two seconds before the walk, and
/// it met no symlink and no unreadable folder. A whole result is reused when it was computed
/// with the same options over such a walk, every folder whose list of files it consulted (and
/// every folder above those) has the same stamp, none had been modified in the two seconds
/// before the walk, and every file it parsed has its stamp: the analysis would find and read
/// exactly what it did. So a folder the workflow does not look into is not looked at either.
/// None of this changes a result, only its cost; the bytes backed up are always read afresh.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<(PathBuf, String), Entry>>,
    walks: Mutex<HashMap<PathBuf, Arc<Walk>>>,
    walks_reused: AtomicU64,
    results: Mutex<HashMap<(PathBuf, String), Arc<Memo>>>,
    results_reused: AtomicU64,
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

    /// How many analyses reused a walk of their config root instead of listing its folders.
    pub fn walks_reused(&self) -> u64 {
        self.walks_reused.load(Ordering::Relaxed)
    }

    /// How many analyses returned a kept result (after checking its walk and parsed files).
    pub fn results_reused(&self) -> u64 {
        self.results_reused.load(Ordering::Relaxed)
    }

    /// The kept result for `workflow` under `root`, when it was computed with `options` and
    /// every folder it depends on and every file it parsed is unchanged; with the metadata of
    /// each of those files, taken to check it.
    ///
    /// The walk it was made over met no symlink, so each parsed file is a regular file reached
    /// through real folders: it is checked with `lstat`, and one that became a symlink is
    /// changed (as is a folder that did).
    pub(crate) fn result(
        &self,
        root: &Path,
        workflow: &str,
        options: &Options,
    ) -> Option<(Arc<Closure>, CheckedFiles)> {
        let memo = {
            let results = self.results.lock().unwrap_or_else(|p| p.into_inner());
            results
                .get(&(root.to_path_buf(), workflow.to_owned()))?
                .clone()
        };
        if memo.options != *options {
            return None;
        }
        for (dir, stamp) in &memo.dirs {
            match std::fs::symlink_metadata(dir) {
                Ok(m) if m.is_dir() && Stamp::of(&m) == *stamp => {}
                _ => return None,
            }
        }
        let mut seen = Vec::with_capacity(memo.parsed.len());
        for (abs, rel, stamp) in &memo.parsed {
            match std::fs::symlink_metadata(abs) {
                Ok(m) if m.is_file() && Stamp::of(&m) == *stamp => seen.push((rel.clone(), m)),
                _ => return None,
            }
        }
        self.results_reused.fetch_add(1, Ordering::Relaxed);
        Some((memo.closure.clone(), seen))
    }

    /// Keeps `closure`, the result for `workflow` under `root` with `options` over `walk`
    /// (which met no symlink), when every folder it depends on (`watched`: the folders whose
    /// lists it consulted, each with whether the folders below count too; and their ancestors)
    /// was settled when walked, and every file it parsed (`parsed`: path, path relative to the
    /// root, parse) is in the cache with that very parse and a trusted stamp.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn keep_result(
        &self,
        root: &Path,
        workflow: &str,
        options: &Options,
        walk: &Walk,
        watched: &[(String, bool)],
        parsed: &[(PathBuf, String, Arc<Doc>)],
        closure: &Arc<Closure>,
    ) {
        let mut watched = watched.to_vec();
        watched.sort();
        watched.dedup();
        let mut dirs = Vec::new();
        for (abs, stamp) in &walk.dirs {
            let Some(rel) = abs.strip_prefix(root).ok().and_then(|p| p.to_str()) else {
                return;
            };
            let rel = rel.replace(std::path::MAIN_SEPARATOR, "/");
            let depends = watched
                .iter()
                .any(|(w, below)| holds(&rel, w) || (*below && holds(w, &rel)));
            if depends {
                if !stamp.settled(walk.started) {
                    return;
                }
                dirs.push((abs.clone(), stamp.clone()));
            }
        }
        let mut stamps = Vec::with_capacity(parsed.len());
        {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            for (abs, rel, doc) in parsed {
                match entries.get(&(abs.clone(), rel.clone())) {
                    Some(e) if e.trusted && Arc::ptr_eq(&e.doc, doc) => {
                        stamps.push((abs.clone(), rel.clone(), e.stamp.clone()));
                    }
                    _ => return,
                }
            }
        }
        // Sorted, so `Checked::files` is.
        stamps.sort_by(|a, b| a.1.cmp(&b.1));
        let mut results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        if results.len() >= MAX_RESULTS {
            results.clear();
        }
        results.insert(
            (root.to_path_buf(), workflow.to_owned()),
            Arc::new(Memo {
                options: options.clone(),
                dirs,
                parsed: stamps,
                closure: closure.clone(),
            }),
        );
    }

    /// The kept walk of `root`, when every folder it listed is unchanged.
    pub(crate) fn walk(&self, root: &Path) -> Option<Arc<Walk>> {
        let walk = {
            let walks = self.walks.lock().unwrap_or_else(|p| p.into_inner());
            walks.get(root)?.clone()
        };
        for (dir, stamp) in &walk.dirs {
            match std::fs::symlink_metadata(dir) {
                Ok(m) if m.is_dir() && Stamp::of(&m) == *stamp => {}
                _ => return None,
            }
        }
        self.walks_reused.fetch_add(1, Ordering::Relaxed);
        Some(walk)
    }

    /// Keeps a walk of `root`, unless a folder it listed had been modified less than two
    /// seconds before it began (it could change again without its stamp changing).
    pub(crate) fn keep_walk(&self, root: &Path, walk: Arc<Walk>) {
        if !walk.dirs.iter().all(|(_, s)| s.settled(walk.started)) {
            return;
        }
        let mut walks = self.walks.lock().unwrap_or_else(|p| p.into_inner());
        if walks.len() >= MAX_WALKS {
            walks.clear();
        }
        walks.insert(root.to_path_buf(), walk);
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
            let trusted = stamp.settled(read_at);
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

/// The walk of `root` ([`walk`]), reused from `cache` while no folder under the root has changed; with the walk
/// and every folder's stamp when it met no symlink and no problem.
pub(crate) fn walk_cached(
    root: &Path,
    canon_root: &Path,
    cache: Option<&Cache>,
) -> Result<(Arc<Index>, Option<Arc<Walk>>), Error> {
    let Some(cache) = cache else {
        return walk(root, canon_root, &mut None).map(|i| (Arc::new(i), None));
    };
    if let Some(kept) = cache.walk(root) {
        return Ok((kept.index.clone(), Some(kept)));
    }
    let started = SystemTime::now();
    let mut dirs = Some(Vec::new());
    let index = Arc::new(walk(root, canon_root, &mut dirs)?);
    // Symlinks (whose targets can change without their folder changing) and problems make a
    // walk not worth keeping.
    let plain = match dirs {
        Some(dirs) if index.problems.is_empty() => {
            let w = Arc::new(Walk {
                dirs,
                index: index.clone(),
                started,
            });
            cache.keep_walk(root, w.clone());
            Some(w)
        }
        _ => None,
    };
    Ok((index, plain))
}
