//! Reading files from disk, before any store transaction is opened.
//!
//! Every file is opened relative to a handle on its folder, itself opened from the root one
//! name at a time without following a symlink (`beneath.rs`): a folder or file swapped for a
//! symlink while a backup reads makes that read fail, it never reads outside the root.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use cfgvault_store::{NoProgress, ObjectId, Progress};

use crate::beneath::{self, Dir, Kind};
use crate::error::io;
use crate::storefiles::StoreFiles;
use crate::tree::EntryKind;
use crate::{Error, Result, validate_path};

/// Which files of a config root to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These paths, relative to the root; a directory stands for every file below it.
    Paths(Vec<String>),
    /// Every file under the root.
    All,
}

/// One file of a [`FileSet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative, `/`-separated path.
    pub path: String,
    /// BLAKE3 of the contents (the blob id).
    pub id: ObjectId,
    pub size: u64,
    /// Permission bits (at most `0o777`).
    pub mode: u32,
}

impl FileEntry {
    /// Whether any execute bit is set.
    pub fn executable(&self) -> bool {
        self.mode & 0o111 != 0
    }

    /// The tree entry kind of this file.
    pub fn kind(&self) -> EntryKind {
        EntryKind::for_mode(self.mode)
    }
}

/// Something [`FileSet::read`] passed over under [`Selection::All`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub reason: &'static str,
}

/// Files read and hashed, ready for [`crate::create`]. Sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSet {
    entries: Vec<FileEntry>,
    data: Vec<Data>,
    skipped: Vec<Skipped>,
}

/// A file's contents: read, or (known from [`StampCache`]) left on disk until needed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Data {
    Read(Vec<u8>),
    /// The root's handle, the path below it (through real folders), and the path shown.
    OnDisk(Dir, String, PathBuf),
}

/// A file's size, modification and change times, inode and device: what says, without reading
/// it, that it holds what it held.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    ino: u64,
    #[cfg(unix)]
    dev: u64,
    #[cfg(unix)]
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: m.len(),
            modified: m.modified().ok(),
            #[cfg(unix)]
            ino: m.ino(),
            #[cfg(unix)]
            dev: m.dev(),
            #[cfg(unix)]
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// A file modified this recently when read may change again without its stamp changing (git's
/// "racily clean" files): its id is not kept.
const RACY: Duration = Duration::from_secs(2);

/// Most files a [`StampCache`] keeps; it starts over when full.
const STAMP_CACHE_FILES: usize = 1 << 16;

/// The ids of files read before, for [`FileSet::read_cached`]: a file whose stamp (size,
/// modification and change times, inode, device) is the one it had when read, and which was
/// then unmodified for 2 s, is not opened, read or hashed again. Its contents are read only if
/// they must be stored ([`FileSet::bytes`]), and checked against the id then. On systems
/// without inodes and change times nothing is kept.
#[derive(Debug, Default)]
pub struct StampCache {
    /// By the path's bytes (`OsString` hashes them as they are; `Path` hashes component by
    /// component, several times slower). A path spelled two ways is only a miss.
    known: Mutex<HashMap<std::ffi::OsString, (Stamp, ObjectId, u32)>>,
}

impl StampCache {
    fn get(&self, path: &Path, m: &fs::Metadata) -> Option<(ObjectId, u32)> {
        if !cfg!(unix) {
            return None;
        }
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        match known.get(path.as_os_str()) {
            Some((stamp, id, mode)) if *stamp == Stamp::of(m) => Some((*id, *mode)),
            _ => None,
        }
    }

    fn keep(&self, path: &Path, m: &fs::Metadata, read_at: SystemTime, entry: &FileEntry) {
        let settled = m
            .modified()
            .ok()
            .and_then(|t| read_at.duration_since(t).ok())
            .is_some_and(|age| age >= RACY);
        if !cfg!(unix) || !settled {
            return;
        }
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= STAMP_CACHE_FILES {
            known.clear();
        }
        known.insert(
            path.as_os_str().to_os_string(),
            (Stamp::of(m), entry.id, entry.mode),
        );
    }
}

/// What was seen of a config root moments before its files are read, by whoever has just
/// checked them (a backup's dependency analysis), so that [`FileSet::read_seen`] need not
/// look again. It is trusted as the present state: make one for one read, from metadata taken
/// during the same operation.
#[derive(Debug, Default)]
pub struct Seen {
    canonical_root: Option<PathBuf>,
    folders_real: bool,
    files: Vec<(String, fs::Metadata)>,
}

impl Seen {
    /// Nothing seen: [`FileSet::read_seen`] then does what [`FileSet::read_cached`] does.
    pub fn nothing() -> Seen {
        Seen::default()
    }

    /// `canonical_root`: the root, canonical (and a folder); `folders_real`: every folder on
    /// the way to each path that will be selected is a real folder, no symlink; `files`:
    /// `lstat` metadata of files, by path relative to the root.
    pub fn new(
        canonical_root: PathBuf,
        folders_real: bool,
        mut files: Vec<(String, fs::Metadata)>,
    ) -> Seen {
        if !files.is_sorted_by(|a, b| a.0 <= b.0) {
            files.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Seen {
            canonical_root: Some(canonical_root),
            folders_real,
            files,
        }
    }

    /// The canonical root, when given.
    pub fn canonical_root(&self) -> Option<&Path> {
        self.canonical_root.as_deref()
    }

    fn file(&self, rel: &str) -> Option<&fs::Metadata> {
        let i = self
            .files
            .binary_search_by(|(p, _)| p.as_str().cmp(rel))
            .ok()?;
        Some(&self.files[i].1)
    }
}

#[cfg(unix)]
fn mode_of(m: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn mode_of(m: &fs::Metadata) -> u32 {
    if m.permissions().readonly() {
        0o444
    } else {
        0o644
    }
}

struct Reader<'c> {
    /// The root as given, for the paths errors and the stamp cache name.
    root: PathBuf,
    canon_root: PathBuf,
    /// The root, open: every file is read relative to it, through real folders only.
    root_dir: Dir,
    seen: &'c Seen,
    own: &'c StoreFiles,
    /// Folders under the root (relative) opened without following a symlink, and whether
    /// each is the folder holding the store; `None` for a path that is not a chain of real
    /// folders.
    dirs: HashMap<String, Option<(Dir, bool)>>,
    cache: Option<&'c StampCache>,
    /// When reading began: files modified since, or less than [`RACY`] before, are not cached.
    read_at: SystemTime,
    /// In the order read; sorted (and a path read twice kept once) when the set is made.
    files: Vec<(FileEntry, Data)>,
    skipped: Vec<Skipped>,
}

impl FileSet {
    /// Reads, hashes and keeps the bytes of the selected files under `root`.
    ///
    /// A symlink is followed only when it resolves to a file inside the root; under
    /// [`Selection::All`] other symlinks, symlinked directories and special files are passed
    /// over and listed in [`FileSet::skipped`], while a selected path that leads outside the
    /// root is an error. A file that vanishes or cannot be read is an error naming it; so is
    /// a name that is not UTF-8, and a path that turned into a symlink while it was being
    /// read ([`Error::NotFollowed`]; under [`Selection::All`] such a folder is skipped).
    pub fn read(root: &Path, selection: &Selection) -> Result<FileSet> {
        FileSet::read_with(
            root,
            selection,
            None,
            &Seen::nothing(),
            &StoreFiles::none(),
            &NoProgress,
        )
    }

    /// [`FileSet::read`], except that a selected regular file whose stamp `cache` knows (and
    /// which is reached through real folders) is not read: its id comes from the cache and its
    /// contents stay on disk until [`FileSet::bytes`] asks for them. Files read are added to
    /// `cache`.
    pub fn read_cached(root: &Path, selection: &Selection, cache: &StampCache) -> Result<FileSet> {
        FileSet::read_with(
            root,
            selection,
            Some(cache),
            &Seen::nothing(),
            &StoreFiles::none(),
            &NoProgress,
        )
    }

    /// [`FileSet::read_cached`], taking what `seen` holds as the present state instead of
    /// looking again: its canonical root, its folders' being real ones, its files' metadata.
    /// The files of `own` (the store being written) are passed over, listed in
    /// [`FileSet::skipped`], whatever path reaches them.
    pub fn read_seen(
        root: &Path,
        selection: &Selection,
        cache: &StampCache,
        seen: &Seen,
        own: &StoreFiles,
    ) -> Result<FileSet> {
        FileSet::read_with(root, selection, Some(cache), seen, own, &NoProgress)
    }

    /// [`FileSet::read_seen`], telling `progress` of each selected path read (one unit per
    /// path of [`Selection::Paths`]; none under [`Selection::All`]) and asking it before each
    /// one whether to stop: a cancelled read is [`cfgvault_store::Error::Cancelled`].
    pub fn read_seen_with(
        root: &Path,
        selection: &Selection,
        cache: &StampCache,
        seen: &Seen,
        own: &StoreFiles,
        progress: &dyn Progress,
    ) -> Result<FileSet> {
        FileSet::read_with(root, selection, Some(cache), seen, own, progress)
    }

    fn read_with(
        root: &Path,
        selection: &Selection,
        cache: Option<&StampCache>,
        seen: &Seen,
        own: &StoreFiles,
        progress: &dyn Progress,
    ) -> Result<FileSet> {
        let canon_root = match &seen.canonical_root {
            Some(c) => c.clone(),
            None => {
                let c = root.canonicalize().map_err(io("open config root", root))?;
                if !c.is_dir() {
                    return Err(Error::NotADirectory {
                        path: root.to_path_buf(),
                    });
                }
                c
            }
        };
        let root_dir = Dir::open(&canon_root).map_err(io("open config root", root))?;
        let mut r = Reader {
            root: root.to_path_buf(),
            canon_root,
            root_dir,
            seen,
            own,
            dirs: HashMap::new(),
            cache,
            read_at: SystemTime::now(),
            files: Vec::new(),
            skipped: Vec::new(),
        };
        match selection {
            Selection::All => {
                let (dir, store_dir) = r.dir("").ok_or_else(|| Error::NotFollowed {
                    path: root.to_path_buf(),
                })?;
                r.walk(&dir, store_dir, "", "")?
            }
            Selection::Paths(paths) => {
                for p in paths {
                    if progress.should_cancel() {
                        return Err(cfgvault_store::Error::Cancelled.into());
                    }
                    validate_path(p)?;
                    r.select(p)?;
                    progress.inc(1);
                }
            }
        }
        let mut set = FileSet {
            skipped: r.skipped,
            ..FileSet::default()
        };
        let mut files = r.files;
        // Stable: of a path selected twice (a folder and a file below it), the later read is
        // kept, as in `from_memory`.
        files.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        for (e, d) in files {
            if set.entries.last().is_some_and(|l| l.path == e.path) {
                set.entries.pop();
                set.data.pop();
            }
            set.entries.push(e);
            set.data.push(d);
        }
        set.check_conflicts()?;
        Ok(set)
    }

    /// A file set from bytes in memory: `(path, contents, permission bits)`. Later duplicates
    /// of a path replace earlier ones.
    pub fn from_memory<P: Into<String>>(
        files: impl IntoIterator<Item = (P, Vec<u8>, u32)>,
    ) -> Result<FileSet> {
        let mut map = BTreeMap::new();
        for (path, data, mode) in files {
            let path = path.into();
            validate_path(&path)?;
            let e = FileEntry {
                path: path.clone(),
                id: ObjectId::for_blob(&data),
                size: data.len() as u64,
                mode: mode & 0o777,
            };
            map.insert(path, (e, Data::Read(data)));
        }
        let mut set = FileSet::default();
        for (_, (e, d)) in map {
            set.entries.push(e);
            set.data.push(d);
        }
        set.check_conflicts()?;
        Ok(set)
    }

    /// The files, sorted by path.
    pub fn files(&self) -> &[FileEntry] {
        &self.entries
    }

    /// The contents of the `i`-th file (in [`FileSet::files`] order): as read, or read now
    /// for a file [`FileSet::read_cached`] left on disk, which must still hash to its id.
    ///
    /// # Panics
    /// When `i` is not below [`FileSet::len`].
    pub fn bytes(&self, i: usize) -> Result<Cow<'_, [u8]>> {
        match &self.data[i] {
            Data::Read(d) => Ok(Cow::Borrowed(d)),
            Data::OnDisk(root, rel, path) => {
                let (dir, name) = split_parent(rel);
                let mut f = root
                    .dir_at(dir)
                    .and_then(|d| d.open_file(name))
                    .map_err(not_followed_or(io("read", path)))?;
                let mut d = Vec::new();
                f.read_to_end(&mut d).map_err(io("read", path))?;
                if ObjectId::for_blob(&d) != self.entries[i].id {
                    return Err(Error::FileChanged { path: path.clone() });
                }
                Ok(Cow::Owned(d))
            }
        }
    }

    /// What [`Selection::All`] passed over.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Sum of the file sizes.
    pub fn logical_bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sorted paths make a file followed by a path below it adjacent-ish: `a` then `a/…`
    /// with only names sorting between `a` and `a/` (like `a-b`, `a.c`) in between.
    fn check_conflicts(&self) -> Result<()> {
        let paths: std::collections::BTreeSet<&str> =
            self.entries.iter().map(|e| e.path.as_str()).collect();
        for e in &self.entries {
            let mut p = e.path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                if paths.contains(parent) {
                    return Err(Error::PathConflict {
                        path: parent.to_string(),
                    });
                }
                p = parent;
            }
        }
        Ok(())
    }
}

impl Reader<'_> {
    /// The folder at `rel` (relative, real folders only), opened once per file set; `None`
    /// when some folder on the way is a symlink, is not a folder or cannot be opened.
    fn dir(&mut self, rel: &str) -> Option<(Dir, bool)> {
        if let Some(d) = self.dirs.get(rel) {
            return d.clone();
        }
        let opened = if rel.is_empty() {
            Some(self.root_dir.clone())
        } else {
            let (parent, name) = split_parent(rel);
            self.dir(parent).and_then(|(p, _)| p.dir(name).ok())
        };
        let found = opened.map(|d| {
            let store_dir = !self.own.is_empty() && d.id().is_ok_and(|id| self.own.in_dir(id));
            (d, store_dir)
        });
        self.dirs.insert(rel.to_string(), found.clone());
        found
    }

    fn select(&mut self, rel: &str) -> Result<()> {
        let full = self.root.join(rel);
        // The common case, a regular file under real folders, costs one `open` per folder
        // (once per file set) and none per file for what `seen` holds or `cache` knows; a
        // symlink on the way is judged on its canonical path. Either way the file is read
        // through folder handles that never follow a symlink.
        let seen = self.seen.file(rel).cloned();
        if (self.seen.folders_real || self.dir(split_parent(rel).0).is_some())
            && let Some(m) = seen.or_else(|| fs::symlink_metadata(&full).ok())
            && m.is_file()
        {
            if let Some((id, mode)) = self.cache.and_then(|c| c.get(&full, &m)) {
                let e = FileEntry {
                    path: rel.to_string(),
                    id,
                    size: m.len(),
                    mode,
                };
                let data = Data::OnDisk(self.root_dir.clone(), rel.to_string(), full);
                self.files.push((e, data));
                return Ok(());
            }
            return self.read_file(rel, rel, &full);
        }
        let canon = full.canonicalize().map_err(io("read", &full))?;
        let canon_rel = self.beneath_root(&canon, &full)?;
        let meta = fs::metadata(&canon).map_err(io("read", &full))?;
        if meta.is_dir() {
            // Walk the real directory, so symlinks below it are judged one by one.
            if fs::symlink_metadata(&full)
                .map_err(io("read", &full))?
                .is_symlink()
            {
                return Err(Error::NotAFile { path: full });
            }
            let (dir, store_dir) = self
                .dir(&canon_rel)
                .ok_or(Error::NotFollowed { path: full })?;
            self.walk(&dir, store_dir, rel, &canon_rel)
        } else if meta.is_file() {
            self.read_file(&canon_rel, rel, &full)
        } else {
            Err(Error::NotAFile { path: full })
        }
    }

    /// `canon` relative to the canonical root, `/`-separated; an error when it is outside.
    fn beneath_root(&self, canon: &Path, shown: &Path) -> Result<String> {
        let rel = canon
            .strip_prefix(&self.canon_root)
            .map_err(|_| Error::OutsideRoot {
                path: shown.to_path_buf(),
            })?;
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        parts
            .map(|p| p.join("/"))
            .ok_or_else(|| Error::NonUtf8Path {
                path: shown.to_path_buf(),
            })
    }

    /// Walks the open folder `dir`, which is `rel` as the set names it and `real` below the
    /// canonical root.
    fn walk(&mut self, dir: &Dir, store_dir: bool, rel: &str, real: &str) -> Result<()> {
        let shown_dir = self.root.join(rel);
        let mut names = Vec::new();
        for (name, kind) in dir.list().map_err(io("read directory", &shown_dir))? {
            let name = name.map_err(|bytes| Error::NonUtf8Path {
                path: shown_dir.join(String::from_utf8_lossy(&bytes).as_ref()),
            })?;
            names.push((name, kind));
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let dir_id = if store_dir { dir.id().ok() } else { None };
        for (name, kind) in names {
            let child_rel = join(rel, &name);
            let child_real = join(real, &name);
            validate_path(&child_rel)?;
            let full = self.root.join(&child_rel);
            let skip = |r: &mut Self, reason| {
                r.skipped.push(Skipped {
                    path: child_rel.clone(),
                    reason,
                })
            };
            if store_dir && self.own.holds(dir_id, &name, None) {
                skip(self, OWN_FILE);
                continue;
            }
            match kind {
                Kind::Dir => match dir.dir(&name) {
                    Ok(child) => {
                        let child_store_dir =
                            !self.own.is_empty() && child.id().is_ok_and(|id| self.own.in_dir(id));
                        self.walk(&child, child_store_dir, &child_rel, &child_real)?
                    }
                    Err(e) if beneath::is_not_followed(&e) => skip(self, SWAPPED),
                    Err(e) => return Err(io("read directory", full)(e)),
                },
                Kind::File => self.read_file(&child_real, &child_rel, &full)?,
                Kind::Symlink => {
                    let link = self.canon_root.join(&child_real);
                    match link.canonicalize() {
                        Ok(c) if !c.starts_with(&self.canon_root) => {
                            skip(self, "symlink leads outside the root")
                        }
                        Ok(c) if c.is_file() => {
                            let target = self.beneath_root(&c, &full)?;
                            self.read_file(&target, &child_rel, &full)?
                        }
                        Ok(_) => skip(self, "symlink to a directory or special file"),
                        Err(_) => skip(self, "dangling symlink"),
                    }
                }
                Kind::Other => skip(self, "not a regular file"),
            }
        }
        Ok(())
    }

    /// Reads the file at `real` (below the canonical root, through real folders only) as
    /// the set's `rel`; `shown` names it in errors. A store's own file is skipped.
    fn read_file(&mut self, real: &str, rel: &str, shown: &Path) -> Result<()> {
        let (dir_rel, name) = split_parent(real);
        let (dir, store_dir) = self.dir(dir_rel).ok_or_else(|| Error::NotFollowed {
            path: shown.to_path_buf(),
        })?;
        let f = dir
            .open_file(name)
            .map_err(not_followed_or(io("read", shown)))?;
        let meta = f.metadata().map_err(io("read", shown))?;
        if !meta.is_file() {
            return Err(Error::NotAFile {
                path: shown.to_path_buf(),
            });
        }
        if !self.own.is_empty() {
            let dir_id = if store_dir { dir.id().ok() } else { None };
            if self
                .own
                .holds(dir_id, name, Some(beneath::FileId::of(&meta)))
            {
                self.skipped.push(Skipped {
                    path: rel.to_string(),
                    reason: OWN_FILE,
                });
                return Ok(());
            }
        }
        // Sized from the metadata just taken: `File::read_to_end` would stat and seek the file
        // again for its own size hint, which `Take` does not.
        let mut data = Vec::with_capacity(meta.len() as usize);
        f.take(u64::MAX)
            .read_to_end(&mut data)
            .map_err(io("read", shown))?;
        let e = FileEntry {
            path: rel.to_string(),
            id: ObjectId::for_blob(&data),
            size: data.len() as u64,
            mode: mode_of(&meta),
        };
        if let Some(cache) = self.cache
            && data.len() as u64 == meta.len()
        {
            cache.keep(&self.root.join(real), &meta, self.read_at, &e);
        }
        self.files.push((e, Data::Read(data)));
        Ok(())
    }
}

/// Why a store's own file was passed over.
const OWN_FILE: &str = "the store's own file";

/// Why a folder was passed over that was one when listed and a symlink when opened.
const SWAPPED: &str = "replaced by a symlink while being read";

/// `rel`'s parent folder (`""` for the root) and its last name.
fn split_parent(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

/// Maps an open that refused a symlink to [`Error::NotFollowed`], any other error by `other`.
fn not_followed_or(
    other: impl FnOnce(std::io::Error) -> Error,
) -> impl FnOnce(std::io::Error) -> Error {
    move |e| {
        if beneath::is_not_followed(&e) {
            match other(e) {
                Error::Io { path, .. } => Error::NotFollowed { path },
                e => e,
            }
        } else {
            other(e)
        }
    }
}
