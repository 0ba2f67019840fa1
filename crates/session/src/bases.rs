//! The choice of delta base for a new session's objects: a new file, tree or closure node is
//! stored as a delta against what the newest earlier session had at the same place (the
//! previous version of a file, the previous tree of a directory, the previous closure), else
//! against a similar object nearby. The store keeps a delta only when it is smaller, and
//! bounds chain depth itself (`WriteTxn::put_blob_near`); what is chosen here decides only how
//! small the store gets, never what it reads back.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use cfgvault_store::{ObjectId, StoreRead};
use chrono::{DateTime, Utc};

use crate::keys::{BY_TIME, session_id_at, time_key};
use crate::records::{RecordReader, session_links};
use crate::tree::{self, EntryKind, Tree};
use crate::walk::load_tree;
use crate::{Error, Result, SessionId};

/// The bases for one new session's objects.
pub(crate) struct Bases<'a> {
    previous: Previous,
    /// Files of the new session so far, by directory: the base of last resort for a new file
    /// (the first session of a store has no previous one).
    siblings: HashMap<&'a str, Vec<(u64, ObjectId)>>,
}

impl<'a> Bases<'a> {
    /// Bases for a session created at `before`, from the newest session created before it.
    pub(crate) fn newest_before(before: DateTime<Utc>) -> Bases<'a> {
        Bases {
            previous: Previous::newest_before(before),
            siblings: HashMap::new(),
        }
    }

    /// The base for a new file at `path` of `size` bytes: the previous session's choice
    /// ([`Previous::file_at`]), else the file of this session seen so far in the same
    /// directory closest in size.
    pub(crate) fn file(
        &mut self,
        r: &impl StoreRead,
        path: &str,
        size: u64,
    ) -> Result<Option<ObjectId>> {
        if let Some(b) = self.previous.file_at(r, path, size)? {
            return Ok(Some(b));
        }
        Ok(self
            .siblings
            .get(dir_of(path))
            .and_then(|v| v.iter().min_by_key(|(s, _)| s.abs_diff(size)))
            .map(|(_, id)| *id))
    }

    /// Notes a file of the new session (stored now or before), a base for later new files of
    /// its directory.
    pub(crate) fn saw_file(&mut self, path: &'a str, size: u64, id: ObjectId) {
        self.siblings
            .entry(dir_of(path))
            .or_default()
            .push((size, id));
    }

    /// The base for the tree of directory `path` (`""` is the root).
    pub(crate) fn dir(&mut self, r: &impl StoreRead, path: &str) -> Result<Option<ObjectId>> {
        self.previous.dir_at(r, path)
    }

    /// The base for the closure node: the previous session's, which usually differs by a few
    /// paths.
    pub(crate) fn closure(&mut self, r: &impl StoreRead) -> Result<Option<ObjectId>> {
        self.previous.closure(r)
    }
}

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// bases for the new one's. Read only when a new object needs a base (a backup of stored files
/// never does), and its trees kept for the duration of one `create`.
struct Previous {
    before: DateTime<Utc>,
    /// `None` until read; then its id and root tree, if there is such a session.
    record: Option<Option<(SessionId, ObjectId)>>,
    trees: HashMap<ObjectId, Tree>,
    /// File and directory ids of the previous session by entry name, for contents that moved
    /// (built on first need).
    by_name: Option<HashMap<(bool, String), ObjectId>>,
}

impl Previous {
    fn newest_before(before: DateTime<Utc>) -> Previous {
        Previous {
            before,
            record: None,
            trees: HashMap::new(),
            by_name: None,
        }
    }

    /// The previous session's id and root tree, read on first use.
    fn record(&mut self, r: &impl StoreRead) -> Result<Option<(SessionId, ObjectId)>> {
        if let Some(rec) = &self.record {
            return Ok(rec.clone());
        }
        let end = time_key(self.before);
        let rows = r.index_range(BY_TIME, Bound::Unbounded, Bound::Excluded(&end), true, 1)?;
        let id = rows.first().and_then(|(k, _)| session_id_at(k, 8));
        let rec = match id {
            Some(id) => RecordReader::without_closure()
                .find(r, &id)?
                .map(|rec| (id, rec.root)),
            None => None,
        };
        self.record = Some(rec.clone());
        Ok(rec)
    }

    fn root(&mut self, r: &impl StoreRead) -> Result<Option<ObjectId>> {
        Ok(self.record(r)?.map(|(_, root)| root))
    }

    fn closure(&mut self, r: &impl StoreRead) -> Result<Option<ObjectId>> {
        match self.record(r)? {
            Some((id, _)) => Ok(Some(session_links(r, &id)?.1)),
            None => Ok(None),
        }
    }

    fn tree(&mut self, r: &impl StoreRead, id: &ObjectId) -> Result<&Tree> {
        if !self.trees.contains_key(id) {
            let t = load_tree(r, id)?;
            self.trees.insert(*id, t);
        }
        self.trees.get(id).ok_or_else(|| Error::CorruptTree {
            id: *id,
            source: tree::DecodeError {
                entry: None,
                reason: "vanished from the cache".into(),
            },
        })
    }

    /// The entry at `path` in the previous session (`""` is its root tree).
    fn entry_at(
        &mut self,
        r: &impl StoreRead,
        path: &str,
    ) -> Result<Option<(EntryKind, ObjectId)>> {
        let Some(mut cur) = self.root(r)? else {
            return Ok(None);
        };
        if path.is_empty() {
            return Ok(Some((EntryKind::Dir, cur)));
        }
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            let Some(e) = self.tree(r, &cur)?.get(part).map(|e| (e.kind, e.id)) else {
                return Ok(None);
            };
            if parts.peek().is_none() {
                return Ok(Some(e));
            }
            if e.0 != EntryKind::Dir {
                return Ok(None);
            }
            cur = e.1;
        }
        Ok(None)
    }

    /// The previous session's file at `path`, else one with the same file name elsewhere,
    /// else the sibling in the same directory closest in size (config files of one folder
    /// tend to share most of their text, like git's delta search by size).
    fn file_at(&mut self, r: &impl StoreRead, path: &str, size: u64) -> Result<Option<ObjectId>> {
        if let Some((k, id)) = self.entry_at(r, path)?
            && k != EntryKind::Dir
        {
            return Ok(Some(id));
        }
        if let Some(id) = self.named(r, false, path)? {
            return Ok(Some(id));
        }
        let Some((EntryKind::Dir, dir_id)) = self.entry_at(r, dir_of(path))? else {
            return Ok(None);
        };
        Ok(self
            .tree(r, &dir_id)?
            .entries()
            .iter()
            .filter(|e| e.kind != EntryKind::Dir)
            .min_by_key(|e| e.size.abs_diff(size))
            .map(|e| e.id))
    }

    /// The previous session's directory at `path`, else one with the same name elsewhere.
    fn dir_at(&mut self, r: &impl StoreRead, path: &str) -> Result<Option<ObjectId>> {
        match self.entry_at(r, path)? {
            Some((EntryKind::Dir, id)) => Ok(Some(id)),
            _ if path.is_empty() => Ok(None),
            _ => self.named(r, true, path),
        }
    }

    fn named(&mut self, r: &impl StoreRead, dir: bool, path: &str) -> Result<Option<ObjectId>> {
        let Some(root) = self.root(r)? else {
            return Ok(None);
        };
        if self.by_name.is_none() {
            // Breadth-first over the previous session's distinct subtrees; the first entry of
            // a name (the shallowest) wins.
            let mut names: HashMap<(bool, String), ObjectId> = HashMap::new();
            let mut queue = std::collections::VecDeque::from([root]);
            let mut seen = BTreeSet::new();
            while let Some(id) = queue.pop_front() {
                if !seen.insert(id) {
                    continue;
                }
                for e in self.tree(r, &id)?.entries() {
                    let is_dir = e.kind == EntryKind::Dir;
                    names.entry((is_dir, e.name.clone())).or_insert(e.id);
                    if is_dir {
                        queue.push_back(e.id);
                    }
                }
            }
            self.by_name = Some(names);
        }
        let name = path.rsplit('/').next().unwrap_or(path).to_string();
        Ok(self
            .by_name
            .as_ref()
            .and_then(|m| m.get(&(dir, name)).copied()))
    }
}
