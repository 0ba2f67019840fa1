//! Reading files from disk, before any store transaction is opened.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use cfgvault_store::ObjectId;

use crate::error::io;
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
    OnDisk(PathBuf),
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
    known: Mutex<HashMap<PathBuf, (Stamp, ObjectId, u32)>>,
}

impl StampCache {
    fn get(&self, path: &Path, m: &fs::Metadata) -> Option<(ObjectId, u32)> {
        if !cfg!(unix) {
            return None;
        }
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        match known.get(path) {
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
        known.insert(path.to_path_buf(), (Stamp::of(m), entry.id, entry.mode));
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
    root: PathBuf,
    canon_root: PathBuf,
    seen: &'c Seen,
    /// Folders under the root (relative) found to be real folders, not symlinks.
    plain_dirs: std::collections::HashSet<String>,
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
    /// a name that is not UTF-8.
    pub fn read(root: &Path, selection: &Selection) -> Result<FileSet> {
        FileSet::read_with(root, selection, None, &Seen::nothing())
    }

    /// [`FileSet::read`], except that a selected regular file whose stamp `cache` knows (and
    /// which is reached through real folders) is not read: its id comes from the cache and its
    /// contents stay on disk until [`FileSet::bytes`] asks for them. Files read are added to
    /// `cache`.
    pub fn read_cached(root: &Path, selection: &Selection, cache: &StampCache) -> Result<FileSet> {
        FileSet::read_with(root, selection, Some(cache), &Seen::nothing())
    }

    /// [`FileSet::read_cached`], taking what `seen` holds as the present state instead of
    /// looking again: its canonical root, its folders' being real ones, its files' metadata.
    pub fn read_seen(
        root: &Path,
        selection: &Selection,
        cache: &StampCache,
        seen: &Seen,
    ) -> Result<FileSet> {
        FileSet::read_with(root, selection, Some(cache), seen)
    }

    fn read_with(
        root: &Path,
        selection: &Selection,
        cache: Option<&StampCache>,
        seen: &Seen,
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
        let mut r = Reader {
            root: root.to_path_buf(),
            canon_root,
            seen,
            plain_dirs: Default::default(),
            cache,
            read_at: SystemTime::now(),
            files: Vec::new(),
            skipped: Vec::new(),
        };
        match selection {
            Selection::All => r.walk(root, "")?,
            Selection::Paths(paths) => {
                for p in paths {
                    validate_path(p)?;
                    r.select(p)?;
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
            Data::OnDisk(path) => {
                let d = fs::read(path).map_err(io("read", path))?;
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
    /// Whether every folder on the way to `rel` is a real folder (no symlink), checking each
    /// folder once per file set: then `rel` cannot lead outside the root (validated paths hold
    /// no `..`), whatever it is itself.
    fn plain_parents(&mut self, rel: &str) -> bool {
        let mut end = 0;
        while let Some(i) = rel[end..].find('/') {
            end += i;
            let dir = &rel[..end];
            if !self.plain_dirs.contains(dir) {
                match fs::symlink_metadata(self.root.join(dir)) {
                    Ok(m) if m.is_dir() => {
                        self.plain_dirs.insert(dir.to_string());
                    }
                    _ => return false,
                }
            }
            end += 1;
        }
        true
    }

    fn select(&mut self, rel: &str) -> Result<()> {
        let full = self.root.join(rel);
        // The common case, a regular file under real folders, costs one `lstat` per file and
        // per folder (none for what `seen` holds); anything else (a symlink on the way) is
        // judged on its canonical path.
        let seen = self.seen.file(rel).cloned();
        if (self.seen.folders_real || self.plain_parents(rel))
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
                self.files.push((e, Data::OnDisk(full)));
                return Ok(());
            }
            return self.read_file(&full, rel, &full);
        }
        let canon = full.canonicalize().map_err(io("read", &full))?;
        if !canon.starts_with(&self.canon_root) {
            return Err(Error::OutsideRoot { path: full });
        }
        let meta = fs::metadata(&canon).map_err(io("read", &full))?;
        if meta.is_dir() {
            // Walk the real directory, so symlinks below it are judged one by one.
            if fs::symlink_metadata(&full)
                .map_err(io("read", &full))?
                .is_symlink()
            {
                return Err(Error::NotAFile { path: full });
            }
            self.walk(&full, rel)
        } else if meta.is_file() {
            self.read_file(&canon, rel, &full)
        } else {
            Err(Error::NotAFile { path: full })
        }
    }

    fn walk(&mut self, dir: &Path, rel: &str) -> Result<()> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(io("read directory", dir))? {
            let entry = entry.map_err(io("read directory", dir))?;
            let name = entry
                .file_name()
                .into_string()
                .map_err(|_| Error::NonUtf8Path { path: entry.path() })?;
            let ft = entry.file_type().map_err(io("read", entry.path()))?;
            names.push((name, ft));
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, ft) in names {
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let full = dir.join(&name);
            validate_path(&child_rel)?;
            let mut skip = |reason| {
                self.skipped.push(Skipped {
                    path: child_rel.clone(),
                    reason,
                })
            };
            if ft.is_dir() {
                self.walk(&full, &child_rel)?;
            } else if ft.is_file() {
                self.read_file(&full, &child_rel, &full)?;
            } else if ft.is_symlink() {
                match full.canonicalize() {
                    Ok(c) if !c.starts_with(&self.canon_root) => {
                        skip("symlink leads outside the root")
                    }
                    Ok(c) if c.is_file() => self.read_file(&c, &child_rel, &full)?,
                    Ok(_) => skip("symlink to a directory or special file"),
                    Err(_) => skip("dangling symlink"),
                }
            } else {
                skip("not a regular file");
            }
        }
        Ok(())
    }

    fn read_file(&mut self, real: &Path, rel: &str, shown: &Path) -> Result<()> {
        let mut f = fs::File::open(real).map_err(io("read", shown))?;
        let meta = f.metadata().map_err(io("read", shown))?;
        if !meta.is_file() {
            return Err(Error::NotAFile {
                path: shown.to_path_buf(),
            });
        }
        let mut data = Vec::with_capacity(meta.len() as usize);
        f.read_to_end(&mut data).map_err(io("read", shown))?;
        let e = FileEntry {
            path: rel.to_string(),
            id: ObjectId::for_blob(&data),
            size: data.len() as u64,
            mode: mode_of(&meta),
        };
        if let Some(cache) = self.cache
            && data.len() as u64 == meta.len()
        {
            cache.keep(real, &meta, self.read_at, &e);
        }
        self.files.push((e, Data::Read(data)));
        Ok(())
    }
}
