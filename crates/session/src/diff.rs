//! Differences between sessions, and between a session and a directory on disk.
//!
//! A file is *modified* when its content or its executable bit differs (other permission bits
//! are not compared: umasks differ between machines). Session-to-session diffs walk both trees
//! by id and skip every subtree whose id is the same on both sides.

use std::collections::BTreeMap;
use std::path::Path;

use cfgvault_store::{ObjectId, Store, StoreRead};

use crate::session::{join, load_tree, lookup, require_record, walk};
use crate::tree::EntryKind;
use crate::{Error, FileSet, Result, Selection, SessionId, validate_path};

/// Paths added, removed and modified going from the old side to the new one. Each list is
/// sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub modified: Vec<String>,
}

impl Diff {
    /// Whether both sides hold the same files.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.modified.is_empty()
    }

    fn sort(&mut self) {
        self.added.sort();
        self.removed.sort();
        self.modified.sort();
    }
}

/// Which files of a directory [`diff_dir`] compares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scope {
    /// Only the session's paths: files missing on disk are removed, differing ones modified;
    /// nothing is ever added. Reads only those files.
    #[default]
    Session,
    /// Every file under the directory: files only on disk are added.
    All,
}

/// What session `b` changed relative to session `a`.
pub fn diff_sessions(store: &Store, a: &SessionId, b: &SessionId) -> Result<Diff> {
    let r = store.read()?;
    let ra = require_record(&r, a)?;
    let rb = require_record(&r, b)?;
    let mut d = Diff::default();
    diff_trees(&r, Some(&ra.root), Some(&rb.root), "", &mut d)?;
    d.sort();
    Ok(d)
}

/// What the directory changed relative to the session (the session is the old side).
pub fn diff_dir(store: &Store, id: &SessionId, dir: &Path, scope: Scope) -> Result<Diff> {
    let r = store.read()?;
    let rec = require_record(&r, id)?;
    let files = walk(&r, &rec.root)?;
    drop(r);
    let mut d = Diff::default();
    match scope {
        Scope::All => {
            let disk = FileSet::read(dir, &Selection::All)?;
            let mut disk: BTreeMap<&str, (ObjectId, bool)> = disk
                .files()
                .iter()
                .map(|e| (e.path.as_str(), (e.id, e.executable())))
                .collect();
            for f in &files {
                match disk.remove(f.path.as_str()) {
                    None => d.removed.push(f.path.clone()),
                    Some((id, exec)) => {
                        if id != f.id || exec != (f.kind == EntryKind::Executable) {
                            d.modified.push(f.path.clone());
                        }
                    }
                }
            }
            d.added = disk.into_keys().map(str::to_string).collect();
        }
        Scope::Session => {
            for f in &files {
                match read_disk(dir, &f.path)? {
                    None => d.removed.push(f.path.clone()),
                    Some((bytes, exec)) => {
                        if ObjectId::for_blob(&bytes) != f.id
                            || exec != (f.kind == EntryKind::Executable)
                        {
                            d.modified.push(f.path.clone());
                        }
                    }
                }
            }
        }
    }
    d.sort();
    Ok(d)
}

/// Reads `rel` below `dir` without following symlinks out of it: `None` when it is missing
/// (or not a regular file inside the directory).
fn read_disk(dir: &Path, rel: &str) -> Result<Option<(Vec<u8>, bool)>> {
    validate_path(rel)?;
    match FileSet::read(dir, &Selection::Paths(vec![rel.to_string()])) {
        Ok(set) => match set.files().first() {
            Some(e) if e.path == rel => Ok(Some((set.bytes(0)?.into_owned(), e.executable()))),
            _ => Ok(None),
        },
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(Error::OutsideRoot { .. } | Error::NotAFile { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Walks two trees side by side, skipping identical subtrees by id. Iterative: stored trees
/// are not trusted to be shallow.
fn diff_trees(
    r: &impl StoreRead,
    a: Option<&ObjectId>,
    b: Option<&ObjectId>,
    prefix: &str,
    d: &mut Diff,
) -> Result<()> {
    let mut stack: Vec<(Option<ObjectId>, Option<ObjectId>, String)> =
        vec![(a.copied(), b.copied(), prefix.to_string())];
    while let Some((a, b, prefix)) = stack.pop() {
        if a == b {
            continue;
        }
        if prefix.len() > 4096 {
            return Err(Error::InvalidPath {
                path: prefix.chars().take(200).collect(),
                reason: "nested too deep",
            });
        }
        let ta = a
            .map(|id| load_tree(r, &id))
            .transpose()?
            .unwrap_or_default();
        let tb = b
            .map(|id| load_tree(r, &id))
            .transpose()?
            .unwrap_or_default();
        let mut ea = ta.entries().iter().peekable();
        let mut eb = tb.entries().iter().peekable();
        loop {
            let order = match (ea.peek(), eb.peek()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(x), Some(y)) => x.name.as_bytes().cmp(y.name.as_bytes()),
            };
            match order {
                std::cmp::Ordering::Less => {
                    if let Some(x) = ea.next() {
                        one_side(r, x, &prefix, &mut d.removed)?;
                    }
                }
                std::cmp::Ordering::Greater => {
                    if let Some(y) = eb.next() {
                        one_side(r, y, &prefix, &mut d.added)?;
                    }
                }
                std::cmp::Ordering::Equal => {
                    let (Some(x), Some(y)) = (ea.next(), eb.next()) else {
                        break;
                    };
                    let path = join(&prefix, &x.name);
                    match (x.kind == EntryKind::Dir, y.kind == EntryKind::Dir) {
                        (true, true) => stack.push((Some(x.id), Some(y.id), path)),
                        (false, false) => {
                            if x.id != y.id || x.kind != y.kind {
                                d.modified.push(path);
                            }
                        }
                        _ => {
                            one_side(r, x, &prefix, &mut d.removed)?;
                            one_side(r, y, &prefix, &mut d.added)?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn one_side(
    r: &impl StoreRead,
    e: &crate::tree::TreeEntry,
    prefix: &str,
    out: &mut Vec<String>,
) -> Result<()> {
    let path = join(prefix, &e.name);
    if e.kind == EntryKind::Dir {
        out.extend(walk(r, &e.id)?.into_iter().map(|f| join(&path, &f.path)));
    } else {
        out.push(path);
    }
    Ok(())
}

/// One side of a unified diff.
#[derive(Debug, Clone, Copy)]
pub enum Side<'a> {
    /// The file in a stored session.
    Session(&'a SessionId),
    /// The file below a directory on disk.
    Dir(&'a Path),
}

/// A unified text diff of `path` between two sides (empty when they are equal). A side that
/// lacks the file counts as empty and is labelled `/dev/null`.
pub fn unified(store: &Store, old: Side<'_>, new: Side<'_>, path: &str) -> Result<String> {
    validate_path(path)?;
    let load = |side: Side<'_>| -> Result<(Option<Vec<u8>>, String)> {
        match side {
            Side::Session(id) => {
                let r = store.read()?;
                let rec = require_record(&r, id)?;
                let bytes = match lookup(&r, &rec.root, path)? {
                    Some(e) if e.kind != EntryKind::Dir => Some(r.get(&e.id)?),
                    _ => None,
                };
                Ok((bytes, format!("{id}:{path}")))
            }
            Side::Dir(dir) => Ok((
                read_disk(dir, path)?.map(|(b, _)| b),
                dir.join(path).display().to_string(),
            )),
        }
    };
    let (a, la) = load(old)?;
    let (b, lb) = load(new)?;
    Ok(unified_bytes(
        a.as_deref(),
        b.as_deref(),
        if a.is_some() { &la } else { "/dev/null" },
        if b.is_some() { &lb } else { "/dev/null" },
    ))
}

/// A unified diff of two byte strings (read as UTF-8, invalid sequences replaced), with
/// three lines of context; empty when equal.
pub fn unified_bytes(
    old: Option<&[u8]>,
    new: Option<&[u8]>,
    old_label: &str,
    new_label: &str,
) -> String {
    if old == new {
        return String::new();
    }
    let a = String::from_utf8_lossy(old.unwrap_or_default());
    let b = String::from_utf8_lossy(new.unwrap_or_default());
    similar::TextDiff::from_lines(a.as_ref(), b.as_ref())
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string()
}
