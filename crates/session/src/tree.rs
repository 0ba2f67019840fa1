//! The canonical tree encoding: one directory level, stored as a node object that links to
//! its entries, so reference counts cascade from a session's root to every blob.
//!
//! Byte layout (format version 1, all integers unsigned LEB128, minimal length):
//!
//! ```text
//! tree  := 0x01 count entry{count}
//! entry := kind:u8 mode name_len name:[u8; name_len] id:[u8; 32] size
//! kind  := 0x01 file | 0x02 executable file | 0x03 directory
//! ```
//!
//! `mode` is the permission bits (`0o777` at most; 0 for a directory; a file has no execute
//! bit, an executable file has at least one). `size` is the file's length, or for a directory
//! the sum of the sizes of the files below it. Entries are sorted by name bytes, names unique,
//! UTF-8, non-empty, never `.`/`..`, without `/` or NUL. A tree's id is the store's node id of
//! these bytes (BLAKE3 `derive_key`), so it can never equal a blob id.

use std::collections::BTreeMap;
use std::fmt;

use cfgvault_store::ObjectId;
use cfgvault_store::varint::{self, VarintError};

pub use crate::error::DecodeError;
use crate::path::name_problem;
use crate::{Error, Result};

/// The format version byte every tree starts with.
pub const TREE_VERSION: u8 = 1;

/// The kind of a tree entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    /// A regular file without execute bits.
    File,
    /// A regular file with at least one execute bit.
    Executable,
    /// A subtree.
    Dir,
}

impl EntryKind {
    fn tag(self) -> u8 {
        match self {
            EntryKind::File => 1,
            EntryKind::Executable => 2,
            EntryKind::Dir => 3,
        }
    }

    fn from_tag(tag: u8) -> Option<EntryKind> {
        match tag {
            1 => Some(EntryKind::File),
            2 => Some(EntryKind::Executable),
            3 => Some(EntryKind::Dir),
            _ => None,
        }
    }

    /// The kind of a file with these permission bits.
    pub fn for_mode(mode: u32) -> EntryKind {
        if mode & 0o111 != 0 {
            EntryKind::Executable
        } else {
            EntryKind::File
        }
    }

    /// A stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Executable => "executable",
            EntryKind::Dir => "dir",
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TreeEntry {
    pub name: String,
    pub kind: EntryKind,
    /// Permission bits (at most `0o777`), 0 for a directory.
    pub mode: u32,
    pub id: ObjectId,
    /// File length, or the total size of the files below a directory.
    pub size: u64,
}

fn err(entry: Option<usize>, reason: impl Into<String>) -> DecodeError {
    DecodeError {
        entry,
        reason: reason.into(),
    }
}

/// One directory level: canonical by construction (sorted, unique, valid entries).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Tree {
    entries: Vec<TreeEntry>,
}

fn check_entry(i: usize, e: &TreeEntry) -> Result<(), DecodeError> {
    if let Some(reason) = name_problem(&e.name) {
        return Err(err(Some(i), format!("invalid name {:?}: {reason}", e.name)));
    }
    let ok = match e.kind {
        EntryKind::Dir => e.mode == 0,
        EntryKind::File => e.mode <= 0o777 && e.mode & 0o111 == 0,
        EntryKind::Executable => e.mode <= 0o777 && e.mode & 0o111 != 0,
    };
    if !ok {
        return Err(err(
            Some(i),
            format!("mode {:o} does not fit kind {}", e.mode, e.kind),
        ));
    }
    Ok(())
}

impl Tree {
    /// Builds a tree from entries in any order; rejects invalid entries and duplicate names.
    pub fn new(mut entries: Vec<TreeEntry>) -> Result<Tree, DecodeError> {
        entries.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        for (i, e) in entries.iter().enumerate() {
            check_entry(i, e)?;
            if i > 0 && entries[i - 1].name == e.name {
                return Err(err(Some(i), format!("duplicate name {:?}", e.name)));
            }
        }
        Ok(Tree { entries })
    }

    /// The entries, sorted by name bytes.
    pub fn entries(&self) -> &[TreeEntry] {
        &self.entries
    }

    /// The entry with this name.
    pub fn get(&self, name: &str) -> Option<&TreeEntry> {
        self.entries
            .binary_search_by(|e| e.name.as_bytes().cmp(name.as_bytes()))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The objects this tree links to, one per entry, in entry order.
    pub fn links(&self) -> Vec<ObjectId> {
        self.entries.iter().map(|e| e.id).collect()
    }

    /// The payload stored with [`Tree::links`] as a store node: the entries without their
    /// ids, which the node's links carry in entry order.
    pub fn payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.entries.len() * 16);
        out.push(TREE_VERSION);
        put_varint(&mut out, self.entries.len() as u64);
        for e in &self.entries {
            out.push(e.kind.tag());
            put_varint(&mut out, u64::from(e.mode));
            put_varint(&mut out, e.name.len() as u64);
            out.extend_from_slice(e.name.as_bytes());
            put_varint(&mut out, e.size);
        }
        out
    }

    /// The canonical bytes: the store's node encoding of links and payload.
    pub fn encode(&self) -> Vec<u8> {
        cfgvault_store::node_bytes(&self.links(), &self.payload())
    }

    /// The tree's object id (the store's node id of [`Tree::encode`]).
    pub fn id(&self) -> ObjectId {
        ObjectId::for_node(&self.encode())
    }

    /// Decodes canonical bytes (as [`Tree::encode`] writes and the store returns); anything
    /// else (another version, a link count unequal to the entry count, unsorted or duplicate
    /// names, invalid names, non-minimal integers, trailing bytes) is an error.
    pub fn decode(bytes: &[u8]) -> Result<Tree, DecodeError> {
        let (links, payload) =
            cfgvault_store::split_node(bytes).ok_or_else(|| err(None, "malformed node links"))?;
        let mut r = Reader {
            bytes: payload,
            pos: 0,
        };
        let version = r.byte().ok_or_else(|| err(None, "empty"))?;
        if version != TREE_VERSION {
            return Err(err(None, format!("unknown tree version {version}")));
        }
        let count = r.varint().map_err(|e| err(None, e))?;
        if count != links.len() as u64 {
            return Err(err(
                None,
                format!("{count} entries but {} links", links.len()),
            ));
        }
        let mut entries: Vec<TreeEntry> = Vec::with_capacity(links.len());
        for (i, id) in links.into_iter().enumerate() {
            let e = r.entry(id).map_err(|reason| err(Some(i), reason))?;
            check_entry(i, &e)?;
            if let Some(prev) = entries.last()
                && prev.name.as_bytes() >= e.name.as_bytes()
            {
                return Err(err(Some(i), "names not strictly sorted"));
            }
            entries.push(e);
        }
        if r.pos != payload.len() {
            return Err(err(None, "trailing bytes"));
        }
        Ok(Tree { entries })
    }
}

fn put_varint(out: &mut Vec<u8>, v: u64) {
    varint::write(out, v);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: u64) -> Result<&[u8], &'static str> {
        let n = usize::try_from(n).map_err(|_| "length too large")?;
        let end = self.pos.checked_add(n).ok_or("length too large")?;
        let s = self.bytes.get(self.pos..end).ok_or("truncated")?;
        self.pos = end;
        Ok(s)
    }

    fn varint(&mut self) -> Result<u64, &'static str> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let (v, used) = varint::decode(rest).map_err(VarintError::as_str)?;
        self.pos += used;
        Ok(v)
    }

    fn entry(&mut self, id: ObjectId) -> Result<TreeEntry, String> {
        let tag = self.byte().ok_or("truncated")?;
        let kind = EntryKind::from_tag(tag).ok_or_else(|| format!("unknown kind {tag}"))?;
        let mode = self.varint()?;
        let mode = u32::try_from(mode).map_err(|_| "mode too large")?;
        let len = self.varint()?;
        let name = std::str::from_utf8(self.take(len)?)
            .map_err(|_| "name is not UTF-8")?
            .to_string();
        let size = self.varint()?;
        Ok(TreeEntry {
            name,
            kind,
            mode,
            id,
            size,
        })
    }
}

/// A file to place in a tree: a validated relative path with its blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafFile<'a> {
    pub path: &'a str,
    pub id: ObjectId,
    pub size: u64,
    pub mode: u32,
}

enum Node<'a> {
    File(LeafFile<'a>),
    Dir(BTreeMap<&'a str, Node<'a>>),
}

/// Builds the trees of a set of files, bottom-up, handing each tree to `put` (which stores it
/// and returns its id). Returns the root tree's id and the total size. Paths must be valid
/// (see [`crate::validate_path`]); a path that is both a file and a directory is an error.
pub fn build(
    files: &[LeafFile<'_>],
    put: &mut dyn FnMut(&str, &Tree) -> Result<ObjectId>,
) -> Result<(ObjectId, u64)> {
    let mut root: BTreeMap<&str, Node<'_>> = BTreeMap::new();
    for f in files {
        crate::validate_path(f.path)?;
        let conflict = || Error::PathConflict {
            path: f.path.to_string(),
        };
        let mut parts = f.path.split('/').peekable();
        let mut dir = &mut root;
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                if dir.insert(part, Node::File(f.clone())).is_some() {
                    return Err(conflict());
                }
            } else {
                let node = dir
                    .entry(part)
                    .or_insert_with(|| Node::Dir(BTreeMap::new()));
                dir = match node {
                    Node::Dir(d) => d,
                    Node::File(_) => return Err(conflict()),
                };
            }
        }
    }
    build_dir(&root, put)
}

/// Builds every directory bottom-up, calling `put(dir_path, tree)` for each (the root's path
/// is empty). Iterative: a path of thousands of components must not exhaust the stack.
fn build_dir(
    root: &BTreeMap<&str, Node<'_>>,
    put: &mut dyn FnMut(&str, &Tree) -> Result<ObjectId>,
) -> Result<(ObjectId, u64)> {
    struct Frame<'m, 'a> {
        path: String,
        iter: std::collections::btree_map::Iter<'m, &'a str, Node<'a>>,
        entries: Vec<TreeEntry>,
        total: u64,
        /// The name of the subdirectory being built below this one.
        pending: Option<&'a str>,
    }
    fn frame<'m, 'a>(path: String, dir: &'m BTreeMap<&'a str, Node<'a>>) -> Frame<'m, 'a> {
        Frame {
            path,
            iter: dir.iter(),
            entries: Vec::with_capacity(dir.len()),
            total: 0,
            pending: None,
        }
    }
    let mut stack = vec![frame(String::new(), root)];
    loop {
        let Some(top) = stack.last_mut() else {
            // The root frame always returns below before the stack empties.
            return Err(Error::InvalidPath {
                path: String::new(),
                reason: "empty tree",
            });
        };
        match top.iter.next() {
            Some((name, Node::File(f))) => {
                top.total = top.total.saturating_add(f.size);
                top.entries.push(TreeEntry {
                    name: (*name).to_string(),
                    kind: EntryKind::for_mode(f.mode),
                    mode: f.mode & 0o777,
                    id: f.id,
                    size: f.size,
                });
            }
            Some((name, Node::Dir(d))) => {
                top.pending = Some(name);
                let path = if top.path.is_empty() {
                    (*name).to_string()
                } else {
                    format!("{}/{name}", top.path)
                };
                stack.push(frame(path, d));
            }
            None => {
                let done = stack.pop().ok_or_else(|| Error::InvalidPath {
                    path: String::new(),
                    reason: "empty tree",
                })?;
                let tree = Tree::new(done.entries).map_err(|e| Error::InvalidPath {
                    path: e.to_string(),
                    reason: "cannot be placed in a tree",
                })?;
                let id = put(&done.path, &tree)?;
                match stack.last_mut() {
                    Some(parent) => {
                        let name = parent.pending.take().unwrap_or_default();
                        parent.total = parent.total.saturating_add(done.total);
                        parent.entries.push(TreeEntry {
                            name: name.to_string(),
                            kind: EntryKind::Dir,
                            mode: 0,
                            id,
                            size: done.total,
                        });
                    }
                    None => return Ok((id, done.total)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(name: &str, kind: EntryKind, mode: u32) -> TreeEntry {
        TreeEntry {
            name: name.into(),
            kind,
            mode,
            id: ObjectId::for_blob(name.as_bytes()),
            size: 7,
        }
    }

    /// Encodes entries verbatim (no sorting or checks), to craft non-canonical input.
    fn raw(entries: &[TreeEntry]) -> Vec<u8> {
        Tree {
            entries: entries.to_vec(),
        }
        .encode()
    }

    fn rejects(entries: &[TreeEntry], why: &str) {
        let r = Tree::decode(&raw(entries));
        let e = r.expect_err("must be rejected");
        assert!(e.reason.contains(why), "{e} should mention {why:?}");
    }

    #[test]
    fn decoder_rejects_non_canonical_names() {
        use EntryKind::*;
        rejects(
            &[entry("b", File, 0o644), entry("a", File, 0o644)],
            "sorted",
        );
        rejects(
            &[entry("a", File, 0o644), entry("a", File, 0o644)],
            "sorted",
        );
        rejects(&[entry("", File, 0o644)], "empty");
        rejects(&[entry(".", File, 0o644)], "'..'");
        rejects(&[entry("..", Dir, 0)], "'..'");
        rejects(&[entry("a/b", File, 0o644)], "'/'");
        rejects(&[entry("a\0", File, 0o644)], "NUL");
        rejects(&[entry("x", File, 0o755)], "mode");
        rejects(&[entry("x", Executable, 0o644)], "mode");
        rejects(&[entry("x", Dir, 0o755)], "mode");
        rejects(&[entry("x", File, 0o7644)], "mode");
    }

    #[test]
    fn decoder_rejects_malformed_bytes() {
        let good = raw(&[entry("a", EntryKind::File, 0o644)]);
        assert!(Tree::decode(&good).is_ok());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(Tree::decode(&trailing).is_err());
        assert!(Tree::decode(&good[..good.len() - 1]).is_err());
        assert!(Tree::decode(&[]).is_err());
        assert!(Tree::decode(&[0]).is_err());
        assert!(Tree::decode(&[0, 2, 0]).is_err());
        // A non-minimal count (0 written as 0x80 0x00).
        assert!(Tree::decode(&[0, 1, 0x80, 0x00]).is_err());
        // A huge count does not allocate.
        assert!(Tree::decode(&[0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        assert!(Tree::decode(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 0]).is_err());
        // Entry count and link count disagree.
        let mut one_link = cfgvault_store::node_bytes(&[ObjectId::for_blob(b"")], &[]);
        one_link.extend_from_slice(&[1, 0]);
        assert!(Tree::decode(&one_link).is_err());
        assert_eq!(Tree::decode(&[0, 1, 0]).unwrap(), Tree::default());
    }

    #[test]
    fn tree_id_is_not_a_blob_id() {
        let t = Tree::new(vec![entry("a", EntryKind::File, 0o644)]).unwrap();
        assert_ne!(t.id(), ObjectId::for_blob(&t.encode()));
        assert_eq!(Tree::decode(&t.encode()).unwrap(), t);
    }

    #[test]
    fn build_rejects_file_and_dir_at_one_path() {
        let id = ObjectId::for_blob(b"");
        let f = |path| LeafFile {
            path,
            id,
            size: 0,
            mode: 0o644,
        };
        let r = build(&[f("a"), f("a/b")], &mut |_, t| Ok(t.id()));
        assert!(matches!(r, Err(Error::PathConflict { .. })));
        let r = build(&[f("a/b"), f("a")], &mut |_, t| Ok(t.id()));
        assert!(matches!(r, Err(Error::PathConflict { .. })));
    }
}
