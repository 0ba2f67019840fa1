//! Differences between sessions, and between a session and a directory on disk.
//!
//! A file is *modified* when its content or its executable bit differs (other permission bits
//! are not compared: umasks differ between machines). Session-to-session diffs walk both trees
//! by id and skip every subtree whose id is the same on both sides. A path removed while
//! another was added with the same or similar content is *renamed* (`renames.rs`), and each
//! modified or renamed YAML or JSON file that parses on both sides gets its changed key paths
//! (`cfgvault_closure::semantic`, which marks a change of comments or formatting only).

mod renames;

use std::collections::BTreeMap;
use std::path::Path;

use cfgvault_closure::semantic::{self, KeyChange};
use cfgvault_store::{ObjectId, Store, StoreRead};
use serde::Serialize;

pub use renames::{DEFAULT_SIMILARITY, Rename};

use crate::records::RecordReader;
use crate::tree::EntryKind;
use crate::walk::{join, load_tree, lookup, walk};
use crate::{Error, FileSet, Result, Selection, SessionId, validate_path};

/// Paths added, removed, modified and renamed going from the old side to the new one. Each
/// list is sorted; a renamed file is in `renamed` only, not in `added` and `removed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub modified: Vec<String>,
    pub renamed: Vec<Rename>,
    /// For each modified file, and each renamed one whose content changed, that is YAML or
    /// JSON parsing on both sides: its changed key paths. Sorted by path (the new path of a
    /// renamed file).
    pub changes: Vec<FileChange>,
}

/// The changed key paths of one YAML or JSON file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: String,
    /// Sorted by key path.
    pub keys: Vec<KeyChange>,
    /// Only comments or formatting changed: `keys` is empty.
    pub formatting_only: bool,
    /// More key paths changed than are listed.
    pub truncated: bool,
}

impl Diff {
    /// Whether both sides hold the same files.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.modified.is_empty()
            && self.renamed.is_empty()
    }

    fn sort(&mut self) {
        self.added.sort();
        self.removed.sort();
        self.modified.sort();
        self.renamed.sort();
        self.changes.sort_by(|a, b| a.path.cmp(&b.path));
    }
}

/// Contents of both sides as the comparison met them, by path.
#[derive(Default)]
struct Sides {
    removed: Vec<(String, ObjectId)>,
    added: Vec<(String, ObjectId)>,
    modified: Vec<(String, ObjectId, ObjectId)>,
}

/// Whether `path` is compared key by key.
fn structured(path: &str) -> bool {
    [".yaml", ".yml", ".json"].iter().any(|s| path.ends_with(s))
}

/// The key changes of one file between two contents, if it is structured and parses.
fn file_change(path: &str, old: &[u8], new: &[u8]) -> Option<FileChange> {
    if !structured(path) {
        return None;
    }
    let s = semantic::compare(old, new)?;
    Some(FileChange {
        path: path.to_owned(),
        keys: s.keys,
        formatting_only: s.formatting_only,
        truncated: s.truncated,
    })
}

/// Fills `d` from `sides`: renames out of the added and removed paths, then key changes of the
/// modified and renamed files. `load` reads a content by id from either side.
fn finish(
    d: &mut Diff,
    sides: Sides,
    mut load: impl FnMut(&ObjectId) -> Result<Vec<u8>>,
) -> Result<()> {
    d.renamed = renames::detect(&sides.removed, &sides.added, DEFAULT_SIMILARITY, &mut load)?;
    let renamed_from: std::collections::HashSet<&str> =
        d.renamed.iter().map(|r| r.from.as_str()).collect();
    let renamed_to: std::collections::HashSet<&str> =
        d.renamed.iter().map(|r| r.to.as_str()).collect();
    d.removed = sides
        .removed
        .iter()
        .filter(|(p, _)| !renamed_from.contains(p.as_str()))
        .map(|(p, _)| p.clone())
        .collect();
    d.added = sides
        .added
        .iter()
        .filter(|(p, _)| !renamed_to.contains(p.as_str()))
        .map(|(p, _)| p.clone())
        .collect();
    d.modified = sides.modified.iter().map(|(p, _, _)| p.clone()).collect();
    let id_of = |list: &[(String, ObjectId)], path: &str| {
        list.iter().find(|(p, _)| p == path).map(|(_, id)| *id)
    };
    let mut pairs: Vec<(String, ObjectId, ObjectId)> = sides
        .modified
        .iter()
        .filter(|(p, a, b)| a != b && structured(p))
        .cloned()
        .collect();
    for r in d.renamed.iter().filter(|r| r.similarity < 100) {
        if let (Some(a), Some(b)) = (id_of(&sides.removed, &r.from), id_of(&sides.added, &r.to)) {
            pairs.push((r.to.clone(), a, b));
        }
    }
    for (path, a, b) in pairs.into_iter().filter(|(p, _, _)| structured(p)) {
        let (old, new) = (load(&a)?, load(&b)?);
        if let Some(c) = file_change(&path, &old, &new) {
            d.changes.push(c);
        }
    }
    d.sort();
    Ok(())
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
    let ra = RecordReader::with_closure().require(&r, a)?;
    let rb = RecordReader::with_closure().require(&r, b)?;
    let mut sides = Sides::default();
    diff_trees(&r, Some(&ra.root), Some(&rb.root), "", &mut sides)?;
    let mut d = Diff::default();
    finish(&mut d, sides, |id| Ok(r.get(id)?))?;
    Ok(d)
}

/// What the directory changed relative to the session (the session is the old side).
pub fn diff_dir(store: &Store, id: &SessionId, dir: &Path, scope: Scope) -> Result<Diff> {
    let r = store.read()?;
    let rec = RecordReader::with_closure().require(&r, id)?;
    let files = walk(&r, &rec.root)?;
    let mut sides = Sides::default();
    // Disk contents met on the way, by their id, so that renames and key changes need not
    // read them again.
    let mut disk_bytes: BTreeMap<ObjectId, Vec<u8>> = BTreeMap::new();
    match scope {
        Scope::All => {
            let set = FileSet::read(dir, &Selection::All)?;
            let mut disk: BTreeMap<&str, (usize, ObjectId, bool)> = set
                .files()
                .iter()
                .enumerate()
                .map(|(i, e)| (e.path.as_str(), (i, e.id, e.executable())))
                .collect();
            let mut keep = |i: usize, id: ObjectId| -> Result<()> {
                if let std::collections::btree_map::Entry::Vacant(v) = disk_bytes.entry(id) {
                    v.insert(set.bytes(i)?.into_owned());
                }
                Ok(())
            };
            for f in &files {
                match disk.remove(f.path.as_str()) {
                    None => sides.removed.push((f.path.clone(), f.id)),
                    Some((i, id, exec)) => {
                        if id != f.id || exec != (f.kind == EntryKind::Executable) {
                            if id != f.id && structured(&f.path) {
                                keep(i, id)?;
                            }
                            sides.modified.push((f.path.clone(), f.id, id));
                        }
                    }
                }
            }
            for (path, (i, id, _)) in disk {
                keep(i, id)?;
                sides.added.push((path.to_owned(), id));
            }
        }
        Scope::Session => {
            for f in &files {
                match read_disk(dir, &f.path)? {
                    None => sides.removed.push((f.path.clone(), f.id)),
                    Some((bytes, exec)) => {
                        let id = ObjectId::for_blob(&bytes);
                        if id != f.id || exec != (f.kind == EntryKind::Executable) {
                            disk_bytes.insert(id, bytes);
                            sides.modified.push((f.path.clone(), f.id, id));
                        }
                    }
                }
            }
        }
    }
    let mut d = Diff::default();
    finish(&mut d, sides, |id| match disk_bytes.get(id) {
        Some(b) => Ok(b.clone()),
        None => Ok(r.get(id)?),
    })?;
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
    d: &mut Sides,
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
                                d.modified.push((path, x.id, y.id));
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
    out: &mut Vec<(String, ObjectId)>,
) -> Result<()> {
    let path = join(prefix, &e.name);
    if e.kind == EntryKind::Dir {
        out.extend(
            walk(r, &e.id)?
                .into_iter()
                .map(|f| (join(&path, &f.path), f.id)),
        );
    } else {
        out.push((path, e.id));
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

/// The changed key paths of `path` between two sides (the semantic counterpart of
/// [`unified`]): `None` when it is not YAML or JSON, a side lacks it, or a side does not parse.
pub fn file_changes(
    store: &Store,
    old: Side<'_>,
    new: Side<'_>,
    path: &str,
) -> Result<Option<FileChange>> {
    validate_path(path)?;
    let (Some(a), Some(b)) = (side_bytes(store, old, path)?, side_bytes(store, new, path)?) else {
        return Ok(None);
    };
    if a == b {
        return Ok(None);
    }
    Ok(file_change(path, &a, &b))
}

/// The content of `path` on one side, if that side has it.
fn side_bytes(store: &Store, side: Side<'_>, path: &str) -> Result<Option<Vec<u8>>> {
    match side {
        Side::Session(id) => {
            let r = store.read()?;
            let rec = RecordReader::with_closure().require(&r, id)?;
            match lookup(&r, &rec.root, path)? {
                Some(e) if e.kind != EntryKind::Dir => Ok(Some(r.get(&e.id)?)),
                _ => Ok(None),
            }
        }
        Side::Dir(dir) => Ok(read_disk(dir, path)?.map(|(b, _)| b)),
    }
}

/// A unified text diff of `path` between two sides (empty when they are equal). A side that
/// lacks the file counts as empty and is labelled `/dev/null`.
pub fn unified(store: &Store, old: Side<'_>, new: Side<'_>, path: &str) -> Result<String> {
    validate_path(path)?;
    let load = |side: Side<'_>| -> Result<(Option<Vec<u8>>, String)> {
        match side {
            Side::Session(id) => {
                let r = store.read()?;
                let rec = RecordReader::with_closure().require(&r, id)?;
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
