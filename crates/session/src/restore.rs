//! Writing a session's files back to disk, safely.
//!
//! Each file is written to a temporary file in its directory, synced, given its mode bits
//! and an mtime equal to the session's `created_at` (trees record no mtimes, so that equal
//! file sets keep equal ids), then renamed over the destination; each directory touched is
//! synced at the end. Nothing is written outside the target: stored names are validated by
//! the tree decoder, requested paths by [`crate::validate_path`], and every directory on the
//! way is checked with `symlink_metadata` — a symlink there fails that file, it is never
//! followed. A symlink at a file's own place is treated as a changed file (with `always` it is
//! replaced, not written through). The check and the write are not atomic: a process racing
//! to put a symlink in the target between them is outside what this defends against.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cfgvault_store::{ObjectId, Store, StoreRead};
use chrono::{DateTime, Utc};

use crate::error::io;
use crate::session::{TreeFile, require_record, walk};
use crate::{Error, Result, SessionId, validate_path};

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
    let r = store.read()?;
    let rec = require_record(&r, id)?;
    restore_with(&r, &rec.root, target, options, Some(rec.created_at))
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
    restore_with(&r, root, target, options, mtime)
}

fn restore_with(
    r: &impl StoreRead,
    root: &ObjectId,
    target: &Path,
    options: &Options,
    mtime: Option<DateTime<Utc>>,
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
    if !fs::metadata(target).map_err(io("open", target))?.is_dir() {
        return Err(Error::NotADirectory {
            path: target.to_path_buf(),
        });
    }
    // Directory → indexes of the reports of files written into it, for the final sync.
    let mut dirty: BTreeMap<PathBuf, Vec<usize>> = BTreeMap::new();
    let mtime = mtime.map(std::time::SystemTime::from);
    for f in selected {
        let (action, wrote_in) = restore_one(r, target, f, options.overwrite, mtime);
        let idx = report.files.len();
        report.files.push(FileReport {
            path: f.path.clone(),
            action,
        });
        for d in wrote_in {
            dirty.entry(d).or_default().push(idx);
        }
    }
    for (dir, idxs) in dirty {
        if let Err(e) = fs::File::open(&dir).and_then(|d| d.sync_all()) {
            for i in idxs {
                if let Some(f) = report.files.get_mut(i) {
                    f.action = Action::Failed(format!(
                        "could not sync directory '{}': {e}",
                        dir.display()
                    ));
                }
            }
        }
    }
    Ok(report)
}

/// Restores one file; returns the action and the directories whose entries it changed.
fn restore_one(
    r: &impl StoreRead,
    target: &Path,
    f: &TreeFile,
    policy: Overwrite,
    mtime: Option<std::time::SystemTime>,
) -> (Action, Vec<PathBuf>) {
    let mut touched = Vec::new();
    match restore_inner(r, target, f, policy, mtime, &mut touched) {
        Ok(a) => (a, touched),
        Err(reason) => (Action::Failed(reason), touched),
    }
}

fn restore_inner(
    r: &impl StoreRead,
    target: &Path,
    f: &TreeFile,
    policy: Overwrite,
    mtime: Option<std::time::SystemTime>,
    touched: &mut Vec<PathBuf>,
) -> Result<Action, String> {
    // Stored names are validated on decode; check again so nothing can leave the target.
    validate_path(&f.path).map_err(|e| e.to_string())?;
    let parts: Vec<&str> = f.path.split('/').collect();
    let (name, dirs) = parts.split_last().ok_or("empty path")?;
    let mut dir = target.to_path_buf();
    let mut rel = String::new();
    for d in dirs {
        dir.push(d);
        rel = crate::session::join(&rel, d);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!("'{rel}' is a symlink; not following it"));
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("'{rel}' is not a directory")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir(&dir).map_err(|e| format!("could not create '{rel}': {e}"))?;
                if let Some(parent) = dir.parent() {
                    touched.push(parent.to_path_buf());
                }
            }
            Err(e) => return Err(format!("could not inspect '{rel}': {e}")),
        }
    }
    let dest = dir.join(name);
    let existing = match fs::symlink_metadata(&dest) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("could not inspect the destination: {e}")),
    };
    if let Some(m) = existing {
        if m.is_dir() {
            return Err("a directory is in the way".into());
        }
        let same = m.is_file()
            && fs::read(&dest)
                .map(|b| b.len() as u64 == f.size && ObjectId::for_blob(&b) == f.id)
                .map_err(|e| format!("could not read the existing file: {e}"))?;
        if same {
            if policy != Overwrite::Never && current_mode(&m) != f.mode {
                set_mode(&dest, f.mode).map_err(|e| format!("could not set mode bits: {e}"))?;
            }
            return Ok(Action::Unchanged);
        }
        if policy != Overwrite::Always {
            return Ok(Action::SkippedChanged);
        }
    }
    let bytes = r.get(&f.id).map_err(|e| e.to_string())?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".cfgvault-restore.")
        .tempfile_in(&dir)
        .map_err(|e| format!("could not create a temporary file: {e}"))?;
    tmp.write_all(&bytes)
        .map_err(|e| format!("could not write: {e}"))?;
    let file = tmp.as_file();
    set_file_mode(file, f.mode).map_err(|e| format!("could not set mode bits: {e}"))?;
    if let Some(t) = mtime {
        file.set_modified(t)
            .map_err(|e| format!("could not set mtime: {e}"))?;
    }
    file.sync_all()
        .map_err(|e| format!("could not sync: {e}"))?;
    tmp.persist(&dest)
        .map_err(|e| format!("could not rename into place: {}", e.error))?;
    touched.push(dir);
    Ok(Action::Restored)
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
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
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
