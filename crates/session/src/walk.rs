//! Reading stored trees: one tree ([`load_tree`]), every file below a root ([`walk`]), the
//! entry at one path ([`lookup`]), whether a blob is anywhere below ([`tree_contains`]).
//! Stored trees are not trusted: depth and size are bounded, and the walks are iterative.

use std::collections::HashMap;

use cfgvault_store::{ObjectId, StoreRead};

use crate::tree::{self, EntryKind, Tree};
use crate::{Error, Result};

/// A file of a stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    pub path: String,
    pub id: ObjectId,
    pub size: u64,
    pub kind: EntryKind,
    /// Permission bits.
    pub mode: u32,
}

pub(crate) fn load_tree(r: &impl StoreRead, id: &ObjectId) -> Result<Tree> {
    let bytes = r.get(id)?;
    Tree::decode(&bytes).map_err(|source| Error::CorruptTree { id: *id, source })
}

/// Trees are at most this deep (paths are at most 4096 bytes, so 2048 components).
const MAX_DEPTH: usize = 2048;

/// At most this many files are listed from one tree. Subtrees are shared by id, so a handful of
/// crafted objects can name 2^60 paths; walking them must end in an error, not run forever.
const MAX_LISTED_FILES: usize = 1 << 20;

fn too_big(id: &ObjectId, reason: &str) -> Error {
    Error::CorruptTree {
        id: *id,
        source: tree::DecodeError {
            entry: None,
            reason: reason.into(),
        },
    }
}

/// Every file below the tree `root`, in tree order (depth first, names by bytes). Iterative,
/// with each distinct subtree decoded once, and bounded by `MAX_DEPTH` and `MAX_LISTED_FILES`.
pub(crate) fn walk(r: &impl StoreRead, root: &ObjectId) -> Result<Vec<TreeFile>> {
    let mut out = Vec::new();
    let mut trees: HashMap<ObjectId, std::rc::Rc<Tree>> = HashMap::new();
    let mut load = |id: &ObjectId| -> Result<std::rc::Rc<Tree>> {
        if let Some(t) = trees.get(id) {
            return Ok(t.clone());
        }
        let t = std::rc::Rc::new(load_tree(r, id)?);
        trees.insert(*id, t.clone());
        Ok(t)
    };
    let mut stack: Vec<(std::rc::Rc<Tree>, String, usize)> = vec![(load(root)?, String::new(), 0)];
    while let Some((tree, prefix, next)) = stack.last_mut() {
        let Some(e) = tree.entries().get(*next).cloned() else {
            stack.pop();
            continue;
        };
        *next += 1;
        let path = join(prefix, &e.name);
        match e.kind {
            EntryKind::Dir => {
                if stack.len() > MAX_DEPTH {
                    return Err(too_big(&e.id, "nested too deep"));
                }
                let sub = load(&e.id)?;
                stack.push((sub, path, 0));
            }
            kind => {
                if out.len() >= MAX_LISTED_FILES {
                    return Err(too_big(root, "lists too many files"));
                }
                out.push(TreeFile {
                    path,
                    id: e.id,
                    size: e.size,
                    kind,
                    mode: e.mode,
                });
            }
        }
    }
    Ok(out)
}

pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// The entry at `path` below the tree `root`, found in O(depth).
pub(crate) fn lookup(
    r: &impl StoreRead,
    root: &ObjectId,
    path: &str,
) -> Result<Option<tree::TreeEntry>> {
    let mut cur = *root;
    let mut parts = path.split('/').peekable();
    while let Some(part) = parts.next() {
        let tree = load_tree(r, &cur)?;
        let Some(e) = tree.get(part) else {
            return Ok(None);
        };
        if parts.peek().is_none() {
            return Ok(Some(e.clone()));
        }
        if e.kind != EntryKind::Dir {
            return Ok(None);
        }
        cur = e.id;
    }
    Ok(None)
}

/// Whether `blob` is a file anywhere below `tree`, memoized per subtree. Iterative: the
/// depth of a stored tree is not trusted.
pub(crate) fn tree_contains(
    r: &impl StoreRead,
    tree: &ObjectId,
    blob: &ObjectId,
    memo: &mut HashMap<ObjectId, bool>,
) -> Result<bool> {
    // Post-order over subtrees: a tree is decided once all its subtrees are.
    let mut stack: Vec<(ObjectId, bool)> = vec![(*tree, false)];
    while let Some((id, children_done)) = stack.pop() {
        if memo.contains_key(&id) {
            continue;
        }
        let t = load_tree(r, &id)?;
        if children_done {
            let found = t.entries().iter().any(|e| match e.kind {
                EntryKind::Dir => memo.get(&e.id).copied().unwrap_or(false),
                _ => e.id == *blob,
            });
            memo.insert(id, found);
        } else {
            stack.push((id, true));
            for e in t.entries() {
                if e.kind == EntryKind::Dir && !memo.contains_key(&e.id) {
                    stack.push((e.id, false));
                }
            }
        }
    }
    Ok(memo.get(tree).copied().unwrap_or(false))
}
