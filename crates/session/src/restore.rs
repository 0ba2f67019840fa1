//! Writing a session's files back to disk, safely.
//!
//! Each file is written to a temporary file in its directory and given its mode bits and an mtime
//! equal to the session's `created_at` (trees record no mtimes, so that equal file sets keep equal
//! ids); its writeback is started at once. The temporary files are synced in batches of up to 64,
//! on several threads at once (the file system then makes them durable in a few journal commits
//! instead of one per file), and only once a file is synced is it renamed over its destination;
//! each directory touched is synced at the end (those syncs too run together). A crash therefore
//! never leaves a partly written file under a final name: at worst a temporary file, never renamed.
//! Nothing is written outside the target: stored names are validated by the tree decoder, requested
//! paths by [`crate::validate_path`], and every folder below the target is opened relative to its
//! parent's handle without following a symlink (`O_NOFOLLOW | O_DIRECTORY`), the temporary file is
//! created and renamed in that handle, and an existing file is opened with `O_NOFOLLOW`. A symlink
//! on the way fails that file, even one swapped in during the restore; a symlink at a file's own
//! place is a changed file (with `always` it is replaced, never written through). The store's own
//! files (the store file, whatever name reaches it, and its temporary files) are never written:
//! such a file fails.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

use cfgvault_store::{NoProgress, ObjectId, Progress, Store, StoreRead};
use chrono::{DateTime, Utc};

use crate::beneath::{Dir, Kind};
use crate::error::io;
use crate::records::RecordReader;
use crate::walk::{TreeFile, walk};
use crate::{Error, Result, SessionId, StoreFiles, validate_path};

/// What to do with a file that exists at the destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Overwrite {
    /// Write only missing files; never touch an existing one.
    Never,
    /// Write missing files; an existing file with the session's content is left (its mode
    /// bits are corrected), a changed one is skipped.
    #[default]
    IfUnchanged,
    /// Write missing and changed files.
    Always,
}

impl Overwrite {
    pub fn as_str(self) -> &'static str {
        match self {
            Overwrite::Never => "never",
            Overwrite::IfUnchanged => "if-unchanged",
            Overwrite::Always => "always",
        }
    }
}

impl fmt::Display for Overwrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Overwrite {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "never" => Ok(Overwrite::Never),
            "if-unchanged" => Ok(Overwrite::IfUnchanged),
            "always" => Ok(Overwrite::Always),
            _ => Err(Error::InvalidOverwrite {
                input: s.chars().take(40).collect(),
            }),
        }
    }
}

/// How to restore. Construct with `Options::default()` and set fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Only these paths (a directory stands for the files below it). Default: `None` (all).
    pub paths: Option<Vec<String>>,
    /// What to do with existing files. Default: [`Overwrite::IfUnchanged`].
    pub overwrite: Overwrite,
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Written.
    Restored,
    /// Already had the session's content.
    Unchanged,
    /// Exists with other content and the policy forbade overwriting it.
    SkippedChanged,
    /// Could not be restored, with the reason.
    Failed(String),
}

/// One file's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub path: String,
    pub action: Action,
}

/// The outcome of a restore, one entry per file (and per requested path that matched none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub files: Vec<FileReport>,
}

impl Report {
    /// Number of files with this action (`Failed` matches any reason).
    pub fn count(&self, action: &Action) -> usize {
        self.files
            .iter()
            .filter(|f| match (action, &f.action) {
                (Action::Failed(_), Action::Failed(_)) => true,
                (a, b) => a == b,
            })
            .count()
    }

    /// Whether any file failed.
    pub fn has_failures(&self) -> bool {
        self.count(&Action::Failed(String::new())) > 0
    }
}

/// Restores a session (or some of its paths) into `target`, created if missing.
pub fn restore(store: &Store, id: &SessionId, target: &Path, options: &Options) -> Result<Report> {
    restore_with(store, id, target, options, &NoProgress)
}

/// [`restore`], telling `progress` of each file (phase `write`, one unit per file) and asking
/// it before each one whether to stop. A cancelled restore is
/// [`cfgvault_store::Error::Cancelled`]: the files written before it are whole (each is
/// renamed into place complete, and its folder synced), the rest are not touched, and no
/// temporary file is left.
pub fn restore_with(
    store: &Store,
    id: &SessionId,
    target: &Path,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Report> {
    let r = store.read()?;
    let rec = RecordReader::with_closure().require(&r, id)?;
    let own = StoreFiles::of(store.path());
    write_tree(
        &r,
        &rec.root,
        target,
        options,
        Some(rec.created_at),
        &own,
        progress,
    )
}

/// Restores the files below any tree object, with `mtime` when given.
pub fn restore_tree(
    store: &Store,
    root: &ObjectId,
    target: &Path,
    options: &Options,
    mtime: Option<DateTime<Utc>>,
) -> Result<Report> {
    let r = store.read()?;
    let own = StoreFiles::of(store.path());
    write_tree(&r, root, target, options, mtime, &own, &NoProgress)
}

fn write_tree(
    r: &impl StoreRead,
    root: &ObjectId,
    target: &Path,
    options: &Options,
    mtime: Option<DateTime<Utc>>,
    own: &StoreFiles,
    progress: &dyn Progress,
) -> Result<Report> {
    let all = walk(r, root)?;
    let mut report = Report::default();
    let selected: Vec<&TreeFile> = match &options.paths {
        None => all.iter().collect(),
        Some(paths) => {
            for p in paths {
                validate_path(p)?;
            }
            let mut hit = vec![false; paths.len()];
            let sel = all
                .iter()
                .filter(|f| {
                    let mut any = false;
                    for (i, p) in paths.iter().enumerate() {
                        if f.path == *p
                            || (f.path.starts_with(p.as_str())
                                && f.path.as_bytes().get(p.len()) == Some(&b'/'))
                        {
                            hit[i] = true;
                            any = true;
                        }
                    }
                    any
                })
                .collect();
            for (p, hit) in paths.iter().zip(hit) {
                if !hit {
                    report.files.push(FileReport {
                        path: p.clone(),
                        action: Action::Failed("not in the session".into()),
                    });
                }
            }
            sel
        }
    };
    fs::create_dir_all(target).map_err(io("create directory", target))?;
    let top = Dir::open(target).map_err(|source| {
        if rustix::io::Errno::from_io_error(&source) == Some(rustix::io::Errno::NOTDIR) {
            Error::NotADirectory {
                path: target.to_path_buf(),
            }
        } else {
            Error::Io {
                action: "open",
                path: target.to_path_buf(),
                source,
            }
        }
    })?;
    let mut w = Writer {
        r,
        own,
        policy: options.overwrite,
        mtime: mtime.map(std::time::SystemTime::from),
        dirs: HashMap::from([(String::new(), top)]),
        dirty: BTreeMap::new(),
        pending: Vec::new(),
    };
    progress.start("write", Some(selected.len() as u64));
    let mut cancelled = false;
    for f in selected {
        if progress.should_cancel() {
            cancelled = true;
            break;
        }
        let idx = report.files.len();
        let action = match w.restore_one(f, idx) {
            Ok(a) => a,
            Err(reason) => Action::Failed(reason),
        };
        report.files.push(FileReport {
            path: f.path.clone(),
            action,
        });
        progress.inc(1);
        if w.pending.len() >= BATCH {
            w.finish_pending(&mut report);
        }
    }
    // Files written before a cancel are finished too: synced, then renamed into place.
    w.finish_pending(&mut report);
    // The folders of what was written are synced even when the restore stops early, all at
    // once (as the files are).
    let dirty: Vec<(String, Vec<usize>, Option<Dir>)> = (w.dirty.into_iter())
        .map(|(rel, idxs)| {
            let dir = w.dirs.get(&rel).cloned();
            (rel, idxs, dir)
        })
        .collect();
    let synced = in_parallel(&dirty, |(_, _, dir)| dir.as_ref().map_or(Ok(()), Dir::sync));
    for ((rel, idxs, _), synced) in dirty.into_iter().zip(synced) {
        if let Err(e) = synced {
            let shown = target.join(&rel);
            for i in idxs {
                if let Some(f) = report.files.get_mut(i) {
                    f.action = Action::Failed(format!(
                        "could not sync directory '{}': {e}",
                        shown.display()
                    ));
                }
            }
        }
    }
    if cancelled {
        return Err(cfgvault_store::Error::Cancelled.into());
    }
    Ok(report)
}

/// Most temporary files written before they are synced and renamed together (each holds an
/// open file until then).
const BATCH: usize = 64;
/// Most threads syncing one batch.
const SYNC_THREADS: usize = 8;

/// A file written under a temporary name in its folder, not yet synced nor renamed.
struct Pending {
    dir: Dir,
    dir_rel: String,
    tmp: String,
    name: String,
    file: fs::File,
    /// Its entry in the report.
    idx: usize,
}

/// One restore's writing state: the folders opened under the target (each reached without
/// following a symlink), those whose entries changed, and the files written but not yet in
/// place.
struct Writer<'a, R> {
    r: &'a R,
    own: &'a StoreFiles,
    policy: Overwrite,
    mtime: Option<std::time::SystemTime>,
    /// Folders by path relative to the target (`""` is the target).
    dirs: HashMap<String, Dir>,
    /// Folders (relative) whose entries changed → the reports of the files written there.
    dirty: BTreeMap<String, Vec<usize>>,
    /// Written under a temporary name, waiting for [`Writer::finish_pending`].
    pending: Vec<Pending>,
}

impl<R: StoreRead> Writer<'_, R> {
    /// The folder `rel` under the target, created where missing; an error (as a reason)
    /// when a folder on the way is a symlink or not a folder.
    fn dir(&mut self, rel: &str, idx: usize) -> Result<Dir, String> {
        if let Some(d) = self.dirs.get(rel) {
            return Ok(d.clone());
        }
        let (parent_rel, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let parent = self.dir(parent_rel, idx)?;
        let opened = match parent.dir(name) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match parent.mkdir(name) {
                    Ok(()) => self
                        .dirty
                        .entry(parent_rel.to_string())
                        .or_default()
                        .push(idx),
                    // Made by someone else meanwhile: open what is there.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(format!("could not create '{rel}': {e}")),
                }
                parent.dir(name)
            }
            other => other,
        };
        // `O_NOFOLLOW | O_DIRECTORY` on a symlink fails with `ENOTDIR` or `ELOOP`: say which.
        let d = opened.map_err(|e| {
            if !crate::beneath::is_not_followed(&e) {
                format!("could not open '{rel}': {e}")
            } else if matches!(parent.entry(name), Ok(Some(m)) if m.kind == Kind::Symlink) {
                format!("'{rel}' is a symlink; not following it")
            } else {
                format!("'{rel}' is not a directory")
            }
        })?;
        self.dirs.insert(rel.to_string(), d.clone());
        Ok(d)
    }

    fn restore_one(&mut self, f: &TreeFile, idx: usize) -> Result<Action, String> {
        // Stored names are validated on decode; check again so nothing can leave the target.
        validate_path(&f.path).map_err(|e| e.to_string())?;
        let (dir_rel, name) = f.path.rsplit_once('/').unwrap_or(("", &f.path));
        let dir = self.dir(dir_rel, idx)?;
        let dir_id = if self.own.is_empty() {
            None
        } else {
            dir.id().ok()
        };
        let existing = dir
            .entry(name)
            .map_err(|e| format!("could not inspect the destination: {e}"))?;
        if self.own.holds(dir_id, name, existing.map(|e| e.id)) {
            return Err("is the store's own file; not writing it".into());
        }
        if let Some(m) = existing {
            match m.kind {
                Kind::Dir => return Err("a directory is in the way".into()),
                Kind::File => {
                    if let Some(a) = self.check_existing(&dir, name, f)? {
                        return Ok(a);
                    }
                }
                // A symlink or special file is a changed file: replaced, never written through.
                Kind::Symlink | Kind::Other => {}
            }
            if self.policy != Overwrite::Always {
                return Ok(Action::SkippedChanged);
            }
        }
        let bytes = self.r.get(&f.id).map_err(|e| e.to_string())?;
        let (tmp, mut file) = dir
            .create_temp(".cfgvault-restore.")
            .map_err(|e| format!("could not create a temporary file: {e}"))?;
        if let Err(e) = write_temp(&mut file, &bytes, f.mode, self.mtime) {
            let _ = dir.remove_file(&tmp);
            return Err(e);
        }
        start_writeback(&file);
        // Synced and renamed into place by `finish_pending`, which may still fail it.
        self.pending.push(Pending {
            dir,
            dir_rel: dir_rel.to_string(),
            tmp,
            name: name.to_string(),
            file,
            idx,
        });
        Ok(Action::Restored)
    }

    /// Syncs the pending temporary files (several threads at a time), then renames each one
    /// synced into place; a file that fails either step is removed and its report says why.
    fn finish_pending(&mut self, report: &mut Report) {
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            return;
        }
        let synced = in_parallel(&pending, |p| p.file.sync_all());
        for (p, synced) in pending.into_iter().zip(synced) {
            let placed = synced
                .map_err(|e| format!("could not sync: {e}"))
                .and_then(|()| {
                    p.dir
                        .rename(&p.tmp, &p.name)
                        .map_err(|e| format!("could not rename into place: {e}"))
                });
            drop(p.file);
            match placed {
                Ok(()) => self.dirty.entry(p.dir_rel).or_default().push(p.idx),
                Err(reason) => {
                    let _ = p.dir.remove_file(&p.tmp);
                    if let Some(f) = report.files.get_mut(p.idx) {
                        f.action = Action::Failed(reason);
                    }
                }
            }
        }
    }

    /// For an existing regular file: `Unchanged` (its mode bits corrected unless the policy
    /// is `never`) when it holds the session's content, else `None`.
    fn check_existing(
        &self,
        dir: &Dir,
        name: &str,
        f: &TreeFile,
    ) -> Result<Option<Action>, String> {
        let fix_mode = self.policy != Overwrite::Never;
        // Mode bits are set through this read-only handle (`fchmod`), never by path.
        let mut file = match dir.open_file(name) {
            Ok(file) => file,
            // Replaced by a symlink since it was looked at: a changed file.
            Err(e) if crate::beneath::is_not_followed(&e) => return Ok(None),
            Err(e) => return Err(format!("could not read the existing file: {e}")),
        };
        let m = file
            .metadata()
            .map_err(|e| format!("could not read the existing file: {e}"))?;
        if !m.is_file() || m.len() != f.size {
            return Ok(None);
        }
        let mut b = Vec::with_capacity(f.size as usize);
        file.read_to_end(&mut b)
            .map_err(|e| format!("could not read the existing file: {e}"))?;
        if ObjectId::for_blob(&b) != f.id {
            return Ok(None);
        }
        if fix_mode && current_mode(&m) != f.mode {
            set_file_mode(&file, f.mode).map_err(|e| format!("could not set mode bits: {e}"))?;
        }
        Ok(Some(Action::Unchanged))
    }
}

/// Writes a new file's contents, mode bits and mtime (not synced: see `sync_all`).
fn write_temp(
    file: &mut fs::File,
    bytes: &[u8],
    mode: u32,
    mtime: Option<std::time::SystemTime>,
) -> Result<(), String> {
    file.write_all(bytes)
        .map_err(|e| format!("could not write: {e}"))?;
    set_file_mode(file, mode).map_err(|e| format!("could not set mode bits: {e}"))?;
    if let Some(t) = mtime {
        file.set_modified(t)
            .map_err(|e| format!("could not set mtime: {e}"))?;
    }
    Ok(())
}

/// `sync(item)` for every item (an `fsync`), on up to [`SYNC_THREADS`] threads at once; each
/// item's outcome, in order. Syncs in flight together share the file system's journal commits.
fn in_parallel<T: Sync>(
    items: &[T],
    sync: impl Fn(&T) -> std::io::Result<()> + Sync,
) -> Vec<std::io::Result<()>> {
    if items.len() <= 1 || SYNC_THREADS <= 1 {
        return items.iter().map(&sync).collect();
    }
    let per_thread = items.len().div_ceil(SYNC_THREADS);
    let sync = &sync;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(per_thread)
            .map(|chunk| scope.spawn(move || chunk.iter().map(sync).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .zip(items.chunks(per_thread))
            .flat_map(|(w, chunk)| {
                w.join().unwrap_or_else(|_| {
                    chunk
                        .iter()
                        .map(|_| Err(std::io::Error::other("the syncing thread panicked")))
                        .collect()
                })
            })
            .collect()
    })
}

/// Starts writing a new file's contents to disk without waiting (Linux: `posix_fadvise`
/// `DONTNEED` queues the dirty pages for writeback, and so allocates their blocks now), so
/// that the batch's first `fsync` commits the allocations of all of them in one journal
/// commit and the later ones find theirs committed. A hint only: durability comes from the
/// `fsync`.
fn start_writeback(file: &fs::File) {
    #[cfg(target_os = "linux")]
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

#[cfg(unix)]
fn current_mode(m: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn current_mode(_: &fs::Metadata) -> u32 {
    0
}

#[cfg(unix)]
fn set_file_mode(file: &fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_file_mode(_: &fs::File, _: u32) -> std::io::Result<()> {
    Ok(())
}
