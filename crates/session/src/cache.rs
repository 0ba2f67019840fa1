//! What [`create_cached`](crate::create_cached) remembers between sessions of one store, so
//! that the usual backup — the same files and closure as the one before — neither recomputes
//! its tree ids nor reads the string table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cfgvault_store::{ObjectId, node_bytes};

use crate::record::{ClosureInfo, session_node};
use crate::tree::{self, LeafFile, Tree};
use crate::{FileSet, Result};

/// Most strings a [`SessionCache`] keeps; it starts over when full.
const MAX_STRINGS: usize = 1 << 12;
/// Most sessions' ids a [`SessionCache`] keeps, the most recently used first.
const MAX_IDS: usize = 8;

/// What [`create_cached`](crate::create_cached) remembers between sessions of one store:
/// - the numbers of strings that the store's string table held at an earlier commit, so a
///   record whose strings are all known names them without reading the table — sound because
///   the table's entries are never removed or renumbered, and numbers are kept only once the
///   transaction that used them has committed;
/// - the ids computed for the latest few sessions' files and closures (their trees, closure
///   nodes and session nodes), reused when a session has the same files and closure as one of
///   them; ids depend on nothing else.
///
/// Use one cache per store.
#[derive(Debug, Default)]
pub struct SessionCache {
    strings: Mutex<HashMap<String, u64>>,
    ids: Mutex<Vec<Arc<Ids>>>,
}

/// The ids of a session's contents, computed from its files and closure alone.
#[derive(Debug)]
pub(crate) struct Ids {
    /// The files (path, id, size, mode) and closure these were computed from.
    files: Vec<(String, ObjectId, u64, u32)>,
    closure: Arc<ClosureInfo>,
    /// Every directory's tree, children before parents: (directory, tree, id).
    pub trees: Vec<(String, Tree, ObjectId)>,
    pub root: ObjectId,
    pub logical: u64,
    /// The closure node's payload and id.
    pub closure_bytes: Vec<u8>,
    pub closure_id: ObjectId,
    pub node_id: ObjectId,
}

impl Ids {
    pub(crate) fn compute(files: &FileSet, closure: &Arc<ClosureInfo>) -> Result<Ids> {
        let leaves: Vec<LeafFile<'_>> = files
            .files()
            .iter()
            .map(|e| LeafFile {
                path: &e.path,
                id: e.id,
                size: e.size,
                mode: e.mode,
            })
            .collect();
        let mut trees: Vec<(String, Tree, ObjectId)> = Vec::new();
        let (root, logical) = tree::build(&leaves, &mut |dir: &str, t: &Tree| {
            let id = t.id();
            trees.push((dir.to_string(), t.clone(), id));
            Ok(id)
        })?;
        let closure_bytes = closure.encode();
        let closure_id = ObjectId::for_node(&node_bytes(&[], &closure_bytes));
        let (payload, links) = session_node(&root, &closure_id);
        let node_id = ObjectId::for_node(&node_bytes(&links, payload));
        Ok(Ids {
            files: (files.files().iter())
                .map(|e| (e.path.clone(), e.id, e.size, e.mode))
                .collect(),
            closure: closure.clone(),
            trees,
            root,
            logical,
            closure_bytes,
            closure_id,
            node_id,
        })
    }

    fn matches(&self, files: &FileSet, closure: &Arc<ClosureInfo>) -> bool {
        self.files.len() == files.len()
            && (self.files.iter().zip(files.files()))
                .all(|(k, e)| k.0 == e.path && k.1 == e.id && k.2 == e.size && k.3 == e.mode)
            && (Arc::ptr_eq(&self.closure, closure) || self.closure == *closure)
    }
}

impl SessionCache {
    /// The ids of a session of `files` and `closure`: kept ones when they match, else
    /// computed (and kept).
    pub(crate) fn ids(&self, files: &FileSet, closure: &Arc<ClosureInfo>) -> Result<Arc<Ids>> {
        {
            let mut kept = self.ids.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(i) = kept.iter().position(|ids| ids.matches(files, closure)) {
                let ids = kept.remove(i);
                kept.insert(0, ids.clone());
                return Ok(ids);
            }
        }
        let ids = Arc::new(Ids::compute(files, closure)?);
        let mut kept = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        kept.truncate(MAX_IDS - 1);
        kept.insert(0, ids.clone());
        Ok(ids)
    }

    /// The numbers of `strings`, if every one is known.
    pub(crate) fn strings(&self, strings: &[&str]) -> Option<Vec<u64>> {
        let known = self.strings.lock().unwrap_or_else(|p| p.into_inner());
        strings.iter().map(|s| known.get(*s).copied()).collect()
    }

    /// Keeps numbers that a committed transaction found or gave.
    pub(crate) fn keep_strings(&self, strings: &[&str], numbers: &[u64]) {
        let mut known = self.strings.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() + strings.len() > MAX_STRINGS {
            known.clear();
        }
        for (s, n) in strings.iter().zip(numbers) {
            known.insert((*s).to_string(), *n);
        }
    }
}
