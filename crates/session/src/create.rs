//! Creating a session: [`create`] and [`create_cached`], one transaction in named phases.

use std::collections::BTreeMap;
use std::sync::Arc;

use cfgvault_store::{CommitOutcome, ObjectId, Store, StoreRead, WriteTxn};
use chrono::{DateTime, SubsecRound, Utc};

use crate::bases::Bases;
use crate::cache::{Ids, SessionCache};
use crate::counters::add_counters;
use crate::error::too_large;
use crate::keys::*;
use crate::labels::validate_label;
use crate::record::{ClosureInfo, SessionRecord, session_node};
use crate::records::{encode_with, record_strings};
use crate::strings;
use crate::versions::index::{Tally, versions_add};
use crate::versions::repeats::{self, MAX_REPEAT_FILES};
use crate::{Error, FileSet, Result, SessionId};

/// What to store as a new session. Build with [`NewSession::new`] and set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewSession {
    /// The id; generated from `id_prefix` and `created_at` when `None`. Default: `None`.
    pub id: Option<SessionId>,
    /// Prefix of a generated id. Default: `"s"`.
    pub id_prefix: String,
    /// Creation time, kept to the microsecond. Default: the current time.
    pub created_at: DateTime<Utc>,
    /// The config root the files were read from. Default: empty.
    pub source_root: String,
    /// The workflow file, relative to the config root. Default: `None`.
    pub workflow: Option<String>,
    /// The name of the strategy that chose the files. Default: empty.
    pub strategy: String,
    /// The dependency closure (shared, so that a caller backing up the same closure again
    /// passes the one it has). Default: empty.
    pub closure: Arc<ClosureInfo>,
    /// Free-form labels. Default: none.
    pub labels: BTreeMap<String, String>,
    /// Created pinned (retention never removes it). Default: `false`.
    pub pinned: bool,
    /// The files.
    pub files: FileSet,
}

impl NewSession {
    pub fn new(files: FileSet) -> NewSession {
        NewSession {
            id: None,
            id_prefix: "s".into(),
            created_at: Utc::now(),
            source_root: String::new(),
            workflow: None,
            strategy: String::new(),
            closure: Arc::default(),
            labels: BTreeMap::new(),
            pinned: false,
            files,
        }
    }
}

/// How one file of a new session was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutcome {
    pub path: String,
    pub id: ObjectId,
    pub size: u64,
    /// Whether the blob was new to the store.
    pub new: bool,
}

/// What [`create`] did.
#[derive(Debug, Clone)]
pub struct Created {
    pub record: SessionRecord,
    pub files: Vec<FileOutcome>,
    pub commit: CommitOutcome,
}

/// Stores a new session in one transaction: blobs, trees, its root, its record and every
/// index entry. The file reading happened before (in [`FileSet::read`]), so a session whose
/// files are all stored already costs lookups and one durable commit.
pub fn create(store: &Store, new: NewSession) -> Result<Created> {
    create_with(store, new, None)
}

/// [`create`] through `cache`: the ids of a session with the same files and closure as a
/// recent one are not computed again, and the record's strings are named without reading the
/// string table when the cache knows them all (it keeps them once this commit succeeds).
pub fn create_cached(store: &Store, new: NewSession, cache: &SessionCache) -> Result<Created> {
    create_with(store, new, Some(cache))
}

fn create_with(store: &Store, new: NewSession, cache: Option<&SessionCache>) -> Result<Created> {
    let created_at = new.created_at.trunc_subsecs(6);
    // Everything this session holds, by id, before anything is stored: the files, the trees
    // (bottom-up), the closure node and the session node. One lookup then says which exist;
    // in the usual backup every one does, and nothing is stored.
    let ids = match cache {
        Some(c) => c.ids(&new.files, &new.closure)?,
        None => Arc::new(Ids::compute(&new.files, &new.closure)?),
    };
    for (k, v) in &new.labels {
        validate_label(k, v)?;
    }
    let mut txn = store.write()?;
    let id = match new.id {
        // A session of this id is refused by `pin` (its root exists), which drops the
        // transaction before anything commits.
        Some(id) => id,
        None => generate_id(&txn, &new.id_prefix, created_at)?,
    };
    let stored = Stored::look_up(&txn, &new.files, &ids)?;
    // New contents are stored as deltas against what the newest earlier session had at the
    // same path (bases.rs).
    let mut bases = Bases::newest_before(created_at);
    let files = store_files(&mut txn, &new.files, &stored.files, &mut bases)?;
    store_trees(&mut txn, &ids, &stored.trees, &mut bases)?;
    store_nodes(&mut txn, &ids, &stored, &mut bases)?;

    let record = SessionRecord {
        id,
        created_at,
        root: ids.root,
        source_root: new.source_root,
        workflow: new.workflow,
        strategy: new.strategy,
        closure: Some(new.closure),
        labels: new.labels,
        files: new.files.len() as u64,
        logical_bytes: ids.logical,
        pinned: new.pinned,
    };
    let wanted = record_strings(&record);
    let numbers = match cache.and_then(|c| c.strings(&wanted)) {
        Some(numbers) => numbers,
        None => strings::intern_each(&mut txn, &wanted)?,
    };
    let meta = encode_with(&mut txn, &record, &wanted, &numbers)?;
    pin_session(&mut txn, &record.id, &ids.node_id, &meta)?;
    index_session(&mut txn, &record)?;
    count_session(&mut txn, &record, &new.files, &ids.node_id, stored.node)?;
    let commit = txn.commit()?;
    if let Some(c) = cache {
        c.keep_strings(&wanted, &numbers);
    }
    Ok(Created {
        record,
        files,
        commit,
    })
}

/// A generated id no session has.
fn generate_id(r: &impl StoreRead, prefix: &str, created_at: DateTime<Utc>) -> Result<SessionId> {
    loop {
        let id = SessionId::generate(prefix, created_at);
        if r.root(&root_name(&id))?.is_none() {
            return Ok(id);
        }
    }
}

/// Which of a new session's objects the store holds already.
struct Stored {
    /// Per file of the file set.
    files: Vec<bool>,
    /// Per tree of `Ids::trees`.
    trees: Vec<bool>,
    closure: bool,
    /// The session node.
    node: bool,
}

impl Stored {
    fn look_up(r: &impl StoreRead, files: &FileSet, ids: &Ids) -> Result<Stored> {
        let wanted: Vec<ObjectId> = (files.files().iter().map(|e| e.id))
            .chain(ids.trees.iter().map(|(_, _, id)| *id))
            .chain([ids.closure_id, ids.node_id])
            .collect();
        // An object exists only while something links to it (I1, I3), so it is reachable
        // from a root and everything below it exists too (I2): when the session node is
        // stored — the usual backup, the same files and closure as an earlier session — one
        // lookup answers for all of `wanted`.
        let present = if r.contains(&ids.node_id)? {
            vec![true; wanted.len()]
        } else {
            r.contains_each(&wanted)?
        };
        let (files, rest) = present.split_at(files.len());
        let (trees, rest) = rest.split_at(ids.trees.len());
        Ok(Stored {
            files: files.to_vec(),
            trees: trees.to_vec(),
            closure: matches!(rest, [true, _]),
            node: matches!(rest, [_, true]),
        })
    }
}

/// Stores the blobs of `files` that are not `stored`, each near the base `bases` chooses.
fn store_files<'f>(
    txn: &mut WriteTxn<'_>,
    files: &'f FileSet,
    stored: &[bool],
    bases: &mut Bases<'f>,
) -> Result<Vec<FileOutcome>> {
    let mut outcomes = Vec::with_capacity(files.len());
    for (i, (e, stored)) in files.files().iter().zip(stored).enumerate() {
        // The same content at two paths is stored once.
        let new_blob = !stored && !txn.contains(&e.id)?;
        if new_blob {
            let base = bases.file(txn, &e.path, e.size)?;
            txn.put_blob_near(&files.bytes(i)?, base.as_ref())
                .map_err(too_large(|| format!("file '{}'", e.path)))?;
        }
        bases.saw_file(&e.path, e.size, e.id);
        outcomes.push(FileOutcome {
            path: e.path.clone(),
            id: e.id,
            size: e.size,
            new: new_blob,
        });
    }
    Ok(outcomes)
}

/// Stores the trees that are not `stored`, children before parents, as built; a tree met
/// twice (two identical directories) is stored once.
fn store_trees(
    txn: &mut WriteTxn<'_>,
    ids: &Ids,
    stored: &[bool],
    bases: &mut Bases<'_>,
) -> Result<()> {
    for ((dir, t, id), stored) in ids.trees.iter().zip(stored) {
        if !stored && !txn.contains(id)? {
            let base = bases.dir(txn, dir)?;
            txn.put_node_near(&t.payload(), &t.links(), base.as_ref())
                .map_err(too_large(|| format!("the tree of folder '{dir}'")))?;
        }
    }
    Ok(())
}

/// Stores the closure node and the session node, if they are not stored.
fn store_nodes(
    txn: &mut WriteTxn<'_>,
    ids: &Ids,
    stored: &Stored,
    bases: &mut Bases<'_>,
) -> Result<()> {
    // A node without links, so blobs are config files alone (the store counts their bytes);
    // near the previous session's closure, which usually differs by a few paths.
    if !stored.closure {
        let base = bases.closure(txn)?;
        txn.put_node_near(&ids.closure_bytes, &[], base.as_ref())
            .map_err(too_large(|| "the session's closure metadata".to_owned()))?;
    }
    if !stored.node {
        let (payload, links) = session_node(&ids.root, &ids.closure_id);
        txn.put_node(payload, &links)
            .map_err(too_large(|| "the session node".to_owned()))?;
    }
    Ok(())
}

/// Pins the root `session/ID` on the session node, with the record `meta` as its metadata.
fn pin_session(txn: &mut WriteTxn<'_>, id: &SessionId, node: &ObjectId, meta: &[u8]) -> Result<()> {
    match txn.pin(&root_name(id), node, meta) {
        Err(cfgvault_store::Error::RootExists { .. }) => {
            Err(Error::SessionExists { id: id.to_string() })
        }
        r => Ok(r?),
    }
}

/// The session's by-time entry and label entries.
fn index_session(txn: &mut WriteTxn<'_>, rec: &SessionRecord) -> Result<()> {
    txn.index_insert(BY_TIME, &by_time_key(rec.created_at, &rec.id), b"")?;
    for (k, v) in &rec.labels {
        txn.index_insert(BY_LABEL, &label_key(k, v, rec.created_at, &rec.id), b"")?;
    }
    Ok(())
}

/// Counts the session in the totals and the version index. A session of a stored session
/// node (`node_stored`) is counted in the repeat tally (versions/repeats.rs), which costs one
/// entry however many files the session has (read and written with the totals); any other in
/// each file's version entry.
fn count_session(
    txn: &mut WriteTxn<'_>,
    rec: &SessionRecord,
    files: &FileSet,
    node: &ObjectId,
    node_stored: bool,
) -> Result<()> {
    let t = rec.created_at.timestamp_micros();
    let counters = [(C_SESSIONS, 1), (C_LOGICAL, rec.logical_bytes as i128)];
    if node_stored && files.len() <= MAX_REPEAT_FILES {
        repeats::count(txn, node, files.files(), t, &counters)
    } else {
        let files: Vec<(&str, ObjectId, u64)> = (files.files().iter())
            .map(|e| (e.path.as_str(), e.id, e.size))
            .collect();
        versions_add(txn, &files, Tally::one(t))?;
        add_counters(txn, &counters)
    }
}
