//! Creating, listing, reading and deleting sessions, and the indexes kept with them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use cfgvault_store::{CommitOutcome, IndexEntry, KeyRange, ObjectId, Store, StoreRead, WriteTxn};
use chrono::{DateTime, SubsecRound, Utc};

use crate::cache::{Ids, SessionCache};
use crate::error::too_large;
use crate::hot::{self, Tally};
use crate::keys::{self, *};
use crate::record::{ClosureInfo, SESSION_NODE_MAGIC, SessionRecord, session_node};
use crate::strings::{self, Strings};
use crate::tree::{self, EntryKind, Tree};
use crate::{Error, FileSet, Result, SessionId, validate_path};

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

/// One distinct content a path had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub id: ObjectId,
    pub size: u64,
    /// Earliest `created_at` of a session that held this version.
    pub first_seen: DateTime<Utc>,
    /// Latest `created_at` of a session that held this version.
    pub last_seen: DateTime<Utc>,
    /// Number of sessions holding it now.
    pub sessions: u64,
}

/// Which sessions [`list`] returns. Construct with `ListOptions::default()` and set fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// At most this many, newest first. Default: `None` (all).
    pub limit: Option<usize>,
    /// Only sessions with this label key and value. Default: `None`.
    pub label: Option<(String, String)>,
    /// Only sessions created strictly after this time. Default: `None`.
    pub newer_than: Option<DateTime<Utc>>,
    /// Only sessions created strictly before this time. Default: `None`.
    pub older_than: Option<DateTime<Utc>>,
}

/// Totals of the session layer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionStats {
    pub sessions: u64,
    /// Sum of file sizes over all sessions (a running total).
    pub logical_bytes: u64,
    /// Sum of the sizes of the distinct blobs the sessions hold (a running total kept exact by
    /// create and delete; trees are not counted).
    pub unique_bytes: u64,
    /// Stored (compressed) bytes of all objects, trees included.
    pub stored_bytes: u64,
    /// Size of the store file.
    pub file_bytes: u64,
    /// Objects in the store.
    pub objects: u64,
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
    /// `logical_bytes / unique_bytes` (0 when undefined).
    pub dedup_ratio: f64,
    /// `unique_bytes / stored_bytes` (0 when undefined).
    pub compression_ratio: f64,
    /// `logical_bytes / file_bytes` (0 when undefined).
    pub overall_ratio: f64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
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
    let Ids {
        trees,
        root,
        logical,
        closure_bytes: closure,
        closure_id,
        node_id,
        ..
    } = &*ids;
    let (root, logical, closure_id, node_id) = (*root, *logical, *closure_id, *node_id);
    for (k, v) in &new.labels {
        validate_label(k, v)?;
    }
    let (payload, links) = session_node(&root, &closure_id);
    let mut txn = store.write()?;
    let id = match new.id {
        // A session of this id is refused by `pin` below (its root exists), which drops the
        // transaction before anything commits.
        Some(id) => id,
        None => {
            let mut id = SessionId::generate(&new.id_prefix, created_at);
            while exists(&txn, &id)? {
                id = SessionId::generate(&new.id_prefix, created_at);
            }
            id
        }
    };
    let wanted: Vec<ObjectId> = (new.files.files().iter().map(|e| e.id))
        .chain(trees.iter().map(|(_, _, id)| *id))
        .chain([closure_id, node_id])
        .collect();
    // An object exists only while something links to it (I1, I3), so it is reachable from a
    // root and everything below it exists too (I2): when the session node is stored — the
    // usual backup, the same files and closure as an earlier session — one lookup answers for
    // all of `wanted`.
    let present = if txn.contains(&node_id)? {
        vec![true; wanted.len()]
    } else {
        txn.contains_each(&wanted)?
    };
    let (files_present, rest) = present.split_at(new.files.len());
    let (trees_present, rest) = rest.split_at(trees.len());
    let (closure_stored, node_stored) = (matches!(rest, [true, _]), matches!(rest, [_, true]));

    // New contents are stored as deltas against what the newest earlier session had at the
    // same path (the previous version of a file, the previous tree of a directory).
    let mut previous = Previous::newest_before(created_at);
    let mut outcomes = Vec::with_capacity(new.files.len());
    // Files of this session by directory: the base of last resort for a new file (the first
    // session of a store has no previous one).
    let mut siblings: HashMap<&str, Vec<(u64, ObjectId)>> = HashMap::new();
    for (i, (e, stored)) in new.files.files().iter().zip(files_present).enumerate() {
        let dir = e.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        // The same content at two paths is stored once.
        let new_blob = !stored && !txn.contains(&e.id)?;
        if new_blob {
            let base = match previous.file_at(&txn, &e.path, e.size)? {
                Some(b) => Some(b),
                None => siblings
                    .get(dir)
                    .and_then(|v| v.iter().min_by_key(|(size, _)| size.abs_diff(e.size)))
                    .map(|(_, id)| *id),
            };
            txn.put_blob_near(&new.files.bytes(i)?, base.as_ref())
                .map_err(too_large(|| format!("file '{}'", e.path)))?;
        }
        siblings.entry(dir).or_default().push((e.size, e.id));
        outcomes.push(FileOutcome {
            path: e.path.clone(),
            id: e.id,
            size: e.size,
            new: new_blob,
        });
    }
    // Children before parents, as built; a tree met twice (two identical directories) is
    // stored once.
    for ((dir, t, id), stored) in trees.iter().zip(trees_present) {
        if !stored && !txn.contains(id)? {
            let base = previous.dir_at(&txn, dir)?;
            txn.put_node_near(&t.payload(), &t.links(), base.as_ref())
                .map_err(too_large(|| format!("the tree of folder '{dir}'")))?;
        }
    }
    // A node without links, so blobs are config files alone (the store counts their bytes);
    // near the previous session's closure, which usually differs by a few paths.
    if !closure_stored {
        let base = previous.closure(&txn)?;
        txn.put_node_near(closure, &[], base.as_ref())
            .map_err(too_large(|| "the session's closure metadata".to_owned()))?;
    }
    if !node_stored {
        txn.put_node(payload, &links)
            .map_err(too_large(|| "the session node".to_owned()))?;
    }

    let record = SessionRecord {
        id: id.clone(),
        created_at,
        root,
        source_root: new.source_root,
        workflow: new.workflow,
        strategy: new.strategy,
        closure: Some(new.closure),
        labels: new.labels,
        files: new.files.len() as u64,
        logical_bytes: logical,
        pinned: new.pinned,
    };
    let wanted = record_strings(&record);
    let numbers = match cache.and_then(|c| c.strings(&wanted)) {
        Some(numbers) => numbers,
        None => strings::intern_each(&mut txn, &wanted)?,
    };
    let meta = encode_with(&mut txn, &record, &wanted, &numbers)?;
    match txn.pin(&root_name(&id), &node_id, &meta) {
        Err(cfgvault_store::Error::RootExists { .. }) => {
            return Err(Error::SessionExists { id: id.to_string() });
        }
        r => r?,
    }
    txn.index_insert(BY_TIME, &by_time_key(created_at, &id), b"")?;
    for (k, v) in &record.labels {
        txn.index_insert(BY_LABEL, &label_key(k, v, created_at, &id), b"")?;
    }
    // A session of a stored node is counted in the hot tally (hot.rs), which costs one
    // entry however many files the session has (read and written with the counters); any
    // other in each file's version entry.
    let t = created_at.timestamp_micros();
    let counters = [(C_SESSIONS, 1), (C_LOGICAL, logical as i128)];
    if node_stored && new.files.len() <= hot::MAX_HOT_FILES {
        hot::count(&mut txn, &node_id, new.files.files(), t, &counters)?;
    } else {
        let files: Vec<(&str, ObjectId, u64)> = (new.files.files().iter())
            .map(|e| (e.path.as_str(), e.id, e.size))
            .collect();
        versions_add(&mut txn, &files, Tally::one(t))?;
        add_counters(&mut txn, &counters)?;
    }
    let commit = txn.commit()?;
    if let Some(c) = cache {
        c.keep_strings(&wanted, &numbers);
    }
    Ok(Created {
        record,
        files: outcomes,
        commit,
    })
}

pub(crate) fn label_key(k: &str, v: &str, t: DateTime<Utc>, id: &SessionId) -> Vec<u8> {
    let mut key = label_prefix(k, v);
    key.extend_from_slice(&by_time_key(t, id));
    key
}

fn exists(r: &impl StoreRead, id: &SessionId) -> Result<bool> {
    Ok(r.root(&root_name(id))?.is_some())
}

fn add_counter(txn: &mut WriteTxn<'_>, key: &[u8], delta: i128) -> Result<()> {
    add_counters(txn, &[(key, delta)])
}

/// Adds each delta to its counter (kept within `0..=u64::MAX`): one read and one write for all.
fn add_counters(txn: &mut WriteTxn<'_>, deltas: &[(&[u8], i128)]) -> Result<()> {
    let current = read_counters(txn, deltas.iter().map(|(k, _)| *k))?;
    let values = counter_values(deltas, current);
    let entries: Vec<(&[u8], &[u8])> = deltas
        .iter()
        .zip(&values)
        .map(|((k, _), v)| (*k, &v[..]))
        .collect();
    txn.index_insert_each(BY_TIME, &entries)?;
    Ok(())
}

/// The values of the tally keys `keys`, in one range read.
pub(crate) fn read_counters<'k>(
    r: &impl StoreRead,
    keys: impl Iterator<Item = &'k [u8]>,
) -> Result<Vec<Option<Vec<u8>>>> {
    read_keys(r, BY_TIME, keys)
}

fn read_keys<'k>(
    r: &impl StoreRead,
    space: &str,
    keys: impl Iterator<Item = &'k [u8]>,
) -> Result<Vec<Option<Vec<u8>>>> {
    let ranges: Vec<KeyRange<'_>> = keys
        .map(|k| (Bound::Included(k), Bound::Included(k)))
        .collect();
    Ok(r.index_ranges(space, &ranges, false, 1)?
        .into_iter()
        .map(|rows| rows.into_iter().next().map(|(_, v)| v))
        .collect())
}

/// The counters' values after adding `deltas` to their `current` values.
pub(crate) fn counter_values(
    deltas: &[(&[u8], i128)],
    current: impl IntoIterator<Item = Option<Vec<u8>>>,
) -> Vec<[u8; 8]> {
    deltas
        .iter()
        .zip(current)
        .map(|((_, delta), cur)| {
            let cur = u64_value(cur);
            ((i128::from(cur) + delta).clamp(0, i128::from(u64::MAX)) as u64).to_be_bytes()
        })
        .collect()
}

/// A version found in the index: its key and value.
type Found = (Vec<u8>, VersionValue);

/// How many of a path's newest versions are read first: the version a session holds is almost
/// always the newest.
const NEWEST: usize = 4;

/// Versions a search for an older version scans before the path gets `session.path_blobs`
/// entries; from then on such a search costs two lookups, however many versions the path has.
const SCAN_AT_MOST: usize = 64;

/// The version of `path` holding `blob` (its key and value): among the path's newest few (one
/// short range read), else through [`find_older`].
fn find_version(txn: &mut WriteTxn<'_>, path: &str, blob: &ObjectId) -> Result<Option<Found>> {
    let rows = newest_versions(txn, path, NEWEST)?;
    match find_in(&rows, blob)? {
        Some(found) => Ok(Some(found)),
        None if rows.len() < NEWEST => Ok(None),
        None => find_older(txn, path, blob),
    }
}

/// The version of `path` holding `blob`, when it is not among the path's newest few: through
/// `session.path_blobs` when the path has its entries there, else by scanning the path's
/// versions — and then, if there were more than [`SCAN_AT_MOST`], giving the path its entries
/// (so a path edited thousands of times is scanned once, not on every backup or delete).
fn find_older(txn: &mut WriteTxn<'_>, path: &str, blob: &ObjectId) -> Result<Option<Found>> {
    let corrupt = |detail: &str| Error::CorruptIndex {
        key: path.to_string(),
        detail: format!("session.path_blobs: {detail}"),
    };
    if has_blob_entries(txn, path)? {
        let Some(v) = txn.index_get(PATH_BLOBS, &path_blob_key(path, blob))? else {
            return Ok(None);
        };
        let seq = <[u8; 4]>::try_from(v.as_slice())
            .map(u32::from_be_bytes)
            .map_err(|_| corrupt("bad sequence number"))?;
        let key = path_version_key(path, seq);
        let value = txn
            .index_get(PATH_VERSIONS, &key)?
            .ok_or_else(|| corrupt("names a missing version"))?;
        let v = VersionValue::decode(&key, &value)?;
        if v.blob != *blob {
            return Err(corrupt("names the version of another blob"));
        }
        return Ok(Some((key, v)));
    }
    let prefix = path_prefix(path);
    let rows = newest_versions(txn, path, usize::MAX)?;
    let found = find_in(&rows, blob)?;
    if rows.len() > SCAN_AT_MOST {
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(rows.len() + 1);
        entries.push((prefix.clone(), Vec::new()));
        for (k, v) in &rows {
            let seq = k
                .get(prefix.len()..)
                .filter(|s| s.len() == 4)
                .ok_or_else(|| corrupt("bad version key"))?;
            let v = VersionValue::decode(k, v)?;
            entries.push((path_blob_key(path, &v.blob), seq.to_vec()));
        }
        let entries: Vec<(&[u8], &[u8])> = entries
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        txn.index_insert_each(PATH_BLOBS, &entries)?;
    }
    Ok(found)
}

/// The versions of `path`, newest first, at most `limit`.
fn newest_versions(r: &impl StoreRead, path: &str, limit: usize) -> Result<Vec<IndexEntry>> {
    let prefix = path_prefix(path);
    let end = prefix_end(&prefix);
    Ok(r.index_range(
        PATH_VERSIONS,
        Bound::Included(&prefix),
        end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
        true,
        limit,
    )?)
}

/// Whether every version of `path` has its `session.path_blobs` entry.
fn has_blob_entries(r: &impl StoreRead, path: &str) -> Result<bool> {
    Ok(r.index_get(PATH_BLOBS, &path_prefix(path))?.is_some())
}

/// The sequence number of the first of `rows` (versions of `path`, newest first).
fn last_seq(path: &str, rows: &[IndexEntry]) -> Option<u32> {
    let prefix_len = path_prefix(path).len();
    rows.first().and_then(|(k, _)| {
        k.get(prefix_len..)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(u32::from_be_bytes)
    })
}

/// The version among `rows` that holds `blob`.
fn find_in(rows: &[IndexEntry], blob: &ObjectId) -> Result<Option<Found>> {
    for (k, v) in rows {
        let v = VersionValue::decode(k, v)?;
        if v.blob == *blob {
            return Ok(Some((k.clone(), v)));
        }
    }
    Ok(None)
}

/// Records that the sessions of `tally` hold `files` (path, blob, size): each file's version
/// counts them, or a new version is added after the path's newest. One index read and one
/// index write for all files; a path whose version is not among its newest few is looked up
/// on its own ([`find_older`]).
pub(crate) fn versions_add(
    txn: &mut WriteTxn<'_>,
    files: &[(&str, ObjectId, u64)],
    tally: Tally,
) -> Result<()> {
    let prefixes: Vec<(Vec<u8>, Option<Vec<u8>>)> = files
        .iter()
        .map(|(path, _, _)| {
            let p = path_prefix(path);
            let end = prefix_end(&p);
            (p, end)
        })
        .collect();
    let ranges: Vec<KeyRange<'_>> = prefixes
        .iter()
        .map(|(p, end)| {
            (
                Bound::Included(p.as_slice()),
                end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
            )
        })
        .collect();
    let newest = txn.index_ranges(PATH_VERSIONS, &ranges, true, NEWEST)?;
    let mut writes: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(files.len());
    for (&(path, blob, size), rows) in files.iter().zip(&newest) {
        let found = match find_in(rows, &blob)? {
            Some(found) => (Some(found), None),
            None if rows.len() < NEWEST => (None, last_seq(path, rows)),
            None => (find_older(txn, path, &blob)?, last_seq(path, rows)),
        };
        writes.push(match found {
            (Some((k, mut v)), _) => {
                v.sessions = v.sessions.saturating_add(tally.sessions);
                v.first = v.first.min(tally.first);
                v.last = v.last.max(tally.last);
                (k, v.encode())
            }
            (None, last) => {
                let seq = match last {
                    None => 0,
                    Some(s) => s.checked_add(1).ok_or_else(|| Error::CorruptIndex {
                        key: path.to_string(),
                        detail: "too many versions".into(),
                    })?,
                };
                let v = VersionValue {
                    blob,
                    size,
                    first: tally.first,
                    last: tally.last,
                    sessions: tally.sessions,
                };
                if has_blob_entries(txn, path)? {
                    txn.index_insert(PATH_BLOBS, &path_blob_key(path, &blob), &seq.to_be_bytes())?;
                }
                (path_version_key(path, seq), v.encode())
            }
        });
    }
    let writes: Vec<(&[u8], &[u8])> = writes
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    txn.index_insert_each(PATH_VERSIONS, &writes)?;
    Ok(())
}

fn version_remove(txn: &mut WriteTxn<'_>, path: &str, blob: &ObjectId) -> Result<()> {
    let Some((k, mut v)) = find_version(txn, path, blob)? else {
        return Ok(());
    };
    v.sessions = v.sessions.saturating_sub(1);
    if v.sessions == 0 {
        txn.index_remove(PATH_VERSIONS, &k)?;
        if has_blob_entries(txn, path)? {
            txn.index_remove(PATH_BLOBS, &path_blob_key(path, blob))?;
        }
    } else {
        txn.index_insert(PATH_VERSIONS, &k, &v.encode())?;
    }
    Ok(())
}

/// The strings a record names through the string table, in the order it names them.
fn record_strings(rec: &SessionRecord) -> Vec<&str> {
    let mut wanted: Vec<&str> = vec![rec.source_root.as_str()];
    wanted.extend(rec.workflow.as_deref());
    wanted.push(rec.strategy.as_str());
    wanted
}

/// A session's record as stored (its strings through the string table).
fn encode_record(txn: &mut WriteTxn<'_>, rec: &SessionRecord) -> Result<Vec<u8>> {
    let wanted = record_strings(rec);
    let numbers = strings::intern_each(txn, &wanted)?;
    encode_with(txn, rec, &wanted, &numbers)
}

/// A record whose strings `wanted` have `numbers`.
fn encode_with(
    txn: &mut WriteTxn<'_>,
    rec: &SessionRecord,
    wanted: &[&str],
    numbers: &[u64],
) -> Result<Vec<u8>> {
    rec.encode(&mut |s| match wanted.iter().position(|w| *w == s) {
        Some(i) => Ok(numbers[i]),
        None => strings::intern(txn, s),
    })
}

/// A record without its closure details (enough for everything but showing them).
pub(crate) fn load_record_bare(
    r: &impl StoreRead,
    id: &SessionId,
) -> Result<Option<SessionRecord>> {
    load_record_with(r, id, &mut Strings::default())
}

/// [`load_record_bare`], resolving strings through `strings` (shared by a listing).
pub(crate) fn load_record_with(
    r: &impl StoreRead,
    id: &SessionId,
    strings: &mut Strings,
) -> Result<Option<SessionRecord>> {
    // The record is the root's metadata.
    let Some(root) = r.root(&root_name(id))? else {
        return Ok(None);
    };
    let bytes = root.meta;
    SessionRecord::decode(id.as_str(), &bytes, &mut |n| strings.resolve(r, n)).map(Some)
}

/// The root tree and closure node a session's store root holds (through its session node).
pub(crate) fn session_links(r: &impl StoreRead, id: &SessionId) -> Result<(ObjectId, ObjectId)> {
    let name = root_name(id);
    let corrupt = |detail: String| Error::CorruptIndex {
        key: name.clone(),
        detail,
    };
    let node = r
        .root(&name)?
        .ok_or_else(|| corrupt("the session has a record but no root".into()))?
        .id;
    let bytes = r.get(&node)?;
    match cfgvault_store::split_node(&bytes) {
        Some((links, SESSION_NODE_MAGIC)) if links.len() == 2 => Ok((links[0], links[1])),
        _ => Err(corrupt(format!("{node} is not a session node"))),
    }
}

/// A record with its closure details, read from the closure node (through `cache`, since
/// sessions of one workflow usually share one closure node).
pub(crate) fn with_closure(
    r: &impl StoreRead,
    mut rec: SessionRecord,
    cache: &mut HashMap<ObjectId, Arc<ClosureInfo>>,
) -> Result<SessionRecord> {
    let (_, closure_id) = session_links(r, &rec.id)?;
    rec.closure = Some(match cache.get(&closure_id) {
        Some(c) => c.clone(),
        None => {
            let bytes = r.get(&closure_id)?;
            let payload = cfgvault_store::split_node(&bytes)
                .map(|(_, p)| p)
                .unwrap_or_default();
            let c = Arc::new(ClosureInfo::decode(&closure_id, payload)?);
            cache.insert(closure_id, c.clone());
            c
        }
    });
    Ok(rec)
}

pub(crate) fn load_record(r: &impl StoreRead, id: &SessionId) -> Result<Option<SessionRecord>> {
    match load_record_bare(r, id)? {
        Some(rec) => with_closure(r, rec, &mut HashMap::new()).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn require_record(r: &impl StoreRead, id: &SessionId) -> Result<SessionRecord> {
    load_record(r, id)?.ok_or_else(|| Error::SessionNotFound { id: id.to_string() })
}

/// One session's record.
pub fn get(store: &Store, id: &SessionId) -> Result<SessionRecord> {
    require_record(&store.read()?, id)
}

/// Sessions newest first, without their closure details (`get` has them). Without a label the
/// cost is O(returned sessions); with a label, O(returned) as well, through the label index.
pub fn list(store: &Store, options: &ListOptions) -> Result<Vec<SessionRecord>> {
    let r = store.read()?;
    let (space, prefix) = match &options.label {
        Some((k, v)) => (BY_LABEL, label_prefix(k, v)),
        None => (BY_TIME, Vec::new()),
    };
    let start = match options.newer_than {
        Some(t) => {
            let mut k = prefix.clone();
            let Some(next) = t
                .trunc_subsecs(6)
                .checked_add_signed(chrono::Duration::microseconds(1))
            else {
                return Ok(Vec::new());
            };
            k.extend_from_slice(&time_key(next));
            k
        }
        None => prefix.clone(),
    };
    let end = match options.older_than {
        Some(t) => {
            let mut k = prefix.clone();
            // Sessions are kept to the microsecond: "before t" is "before t rounded up".
            let up = t.trunc_subsecs(6);
            let up = if up < t {
                up.checked_add_signed(chrono::Duration::microseconds(1))
                    .unwrap_or(up)
            } else {
                up
            };
            k.extend_from_slice(&time_key(up));
            Some(k)
        }
        // The by-time space ends where the tally begins.
        None if prefix.is_empty() => Some(TALLY_START.to_vec()),
        None => prefix_end(&prefix),
    };
    let rows = r.index_range(
        space,
        Bound::Included(&start),
        end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
        true,
        options.limit.unwrap_or(usize::MAX),
    )?;
    let mut out = Vec::with_capacity(rows.len());
    let mut strings = Strings::default();
    for (k, _) in rows {
        let id_bytes = k.get(prefix.len() + 8..).unwrap_or_default();
        let id: SessionId = std::str::from_utf8(id_bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::CorruptIndex {
                key: String::from_utf8_lossy(&k).into_owned(),
                detail: "not a session id".into(),
            })?;
        let rec = load_record_with(&r, &id, &mut strings)?.ok_or_else(|| Error::CorruptIndex {
            key: id.to_string(),
            detail: "listed by time but has no record".into(),
        })?;
        out.push(rec);
    }
    Ok(out)
}

pub(crate) fn load_tree(r: &impl StoreRead, id: &ObjectId) -> Result<Tree> {
    let bytes = r.get(id)?;
    Tree::decode(&bytes).map_err(|source| Error::CorruptTree { id: *id, source })
}

/// Trees are at most this deep (paths are at most 4096 bytes, so 2048 components).
const MAX_DEPTH: usize = 2048;

/// At most this many files are listed from one tree. Subtrees are shared by id, so a handful of
/// crafted objects can name 2^60 paths; walking them must end in an error, not run forever.
pub(crate) const MAX_LISTED_FILES: usize = 1 << 20;

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

/// The files of a session, in tree order.
pub fn files(store: &Store, id: &SessionId) -> Result<Vec<TreeFile>> {
    let r = store.read()?;
    let rec = require_record(&r, id)?;
    walk(&r, &rec.root)
}

/// The contents of one file of a session.
pub fn read_file(store: &Store, id: &SessionId, path: &str) -> Result<Vec<u8>> {
    validate_path(path)?;
    let r = store.read()?;
    let rec = require_record(&r, id)?;
    match lookup(&r, &rec.root, path)? {
        Some(e) if e.kind != EntryKind::Dir => Ok(r.get(&e.id)?),
        _ => Err(Error::FileNotInSession {
            id: id.to_string(),
            path: path.to_string(),
        }),
    }
}

/// Deletes sessions in one transaction; objects nobody else holds go with them. Every id
/// must exist (pinned sessions included: pinning only protects from retention).
pub fn delete(store: &Store, ids: &[SessionId]) -> Result<CommitOutcome> {
    let mut txn = store.write()?;
    delete_in(&mut txn, ids, true)?;
    Ok(txn.commit()?)
}

/// Deletes within `txn`. When `strict` is false, missing and pinned sessions are passed over
/// (retention applying a plan made earlier). Returns the ids deleted.
pub(crate) fn delete_in(
    txn: &mut WriteTxn<'_>,
    ids: &[SessionId],
    strict: bool,
) -> Result<Vec<SessionId>> {
    let unique: BTreeSet<&SessionId> = ids.iter().collect();
    let mut records = Vec::with_capacity(unique.len());
    for id in unique {
        match load_record_bare(txn, id)? {
            Some(rec) if strict || !rec.pinned => records.push(rec),
            Some(_) => {}
            None if strict => return Err(Error::SessionNotFound { id: id.to_string() }),
            None => {}
        }
    }
    let mut roots = Vec::with_capacity(records.len());
    for rec in &records {
        if let Some(root) = txn.root(&root_name(&rec.id))? {
            roots.push(root.id);
        }
    }
    // The sessions deleted must be counted in the version entries they are removed from.
    hot::fold_if_held(txn, &roots)?;
    for rec in &records {
        let id = &rec.id;
        for f in walk(txn, &rec.root)? {
            version_remove(txn, &f.path, &f.id)?;
        }
        txn.index_remove(BY_TIME, &by_time_key(rec.created_at, id))?;
        for (k, v) in &rec.labels {
            txn.index_remove(BY_LABEL, &label_key(k, v, rec.created_at, id))?;
        }
        add_counter(txn, C_SESSIONS, -1)?;
        add_counter(txn, C_LOGICAL, -(rec.logical_bytes as i128))?;
        txn.unpin(&root_name(id))?;
    }
    Ok(records.into_iter().map(|r| r.id).collect())
}

/// Sets or clears a session's pinned flag (retention never removes a pinned session).
pub fn set_pinned(store: &Store, id: &SessionId, pinned: bool) -> Result<()> {
    let mut txn = store.write()?;
    let mut rec =
        load_record_bare(&txn, id)?.ok_or_else(|| Error::SessionNotFound { id: id.to_string() })?;
    if rec.pinned != pinned {
        rec.pinned = pinned;
        let bytes = encode_record(&mut txn, &rec)?;
        // Re-pinned with the new record: the session node's count goes down and up again
        // within the transaction, and objects are swept only at commit.
        let name = root_name(id);
        let root = txn
            .unpin(&name)?
            .ok_or_else(|| Error::SessionNotFound { id: id.to_string() })?;
        txn.pin(&name, &root.id, &bytes)?;
        txn.commit()?;
    }
    Ok(())
}

/// Replaces a session's labels with what `edit` makes of them, in one transaction, and
/// returns the new labels. The labels are checked with [`validate_label`].
pub fn set_labels(
    store: &Store,
    id: &SessionId,
    edit: impl FnOnce(&mut BTreeMap<String, String>),
) -> Result<BTreeMap<String, String>> {
    let mut txn = store.write()?;
    let mut rec =
        load_record_bare(&txn, id)?.ok_or_else(|| Error::SessionNotFound { id: id.to_string() })?;
    let old = rec.labels.clone();
    edit(&mut rec.labels);
    for (k, v) in &rec.labels {
        validate_label(k, v)?;
    }
    if rec.labels == old {
        return Ok(old);
    }
    for (k, v) in &old {
        txn.index_remove(BY_LABEL, &label_key(k, v, rec.created_at, id))?;
    }
    for (k, v) in &rec.labels {
        txn.index_insert(BY_LABEL, &label_key(k, v, rec.created_at, id), b"")?;
    }
    let bytes = encode_record(&mut txn, &rec)?;
    // Re-pinned with the new record, as `set_pinned` does.
    let name = root_name(id);
    let root = txn
        .unpin(&name)?
        .ok_or_else(|| Error::SessionNotFound { id: id.to_string() })?;
    txn.pin(&name, &root.id, &bytes)?;
    txn.commit()?;
    Ok(rec.labels)
}

/// The longest label key, in characters.
pub const MAX_LABEL_KEY: usize = 128;
/// The longest label value, in characters.
pub const MAX_LABEL_VALUE: usize = 1024;

/// Checks one label: a non-empty key of at most [`MAX_LABEL_KEY`] characters without `=`, a
/// value of at most [`MAX_LABEL_VALUE`], neither holding control characters.
pub fn validate_label(key: &str, value: &str) -> Result<()> {
    let bad = |reason| Error::InvalidLabel {
        key: key
            .chars()
            .take(MAX_LABEL_KEY)
            .flat_map(char::escape_debug)
            .collect(),
        reason,
    };
    if key.is_empty() {
        return Err(bad("empty key"));
    }
    if key.chars().count() > MAX_LABEL_KEY {
        return Err(bad("key longer than 128 characters"));
    }
    if key.contains('=') {
        return Err(bad("key holds '='"));
    }
    if key.chars().any(char::is_control) {
        return Err(bad("key holds a control character"));
    }
    if value.chars().count() > MAX_LABEL_VALUE {
        return Err(bad("value longer than 1024 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(bad("value holds a control character"));
    }
    Ok(())
}

/// The distinct contents `path` had, in the order they first appeared, in O(versions).
pub fn versions(store: &Store, path: &str) -> Result<Vec<Version>> {
    validate_path(path)?;
    let r = store.read()?;
    let rows = r.index_prefix(PATH_VERSIONS, &path_prefix(path), usize::MAX)?;
    let mut out = rows
        .iter()
        .map(|(k, v)| {
            let v = VersionValue::decode(k, v)?;
            Ok(Version {
                id: v.blob,
                size: v.size,
                first_seen: time(v.first),
                last_seen: time(v.last),
                sessions: v.sessions,
            })
        })
        .collect::<Result<Vec<Version>>>()?;
    hot::merge(&r, path, &mut out)?;
    Ok(out)
}

/// A time kept in microseconds since the epoch.
pub(crate) fn time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// The sessions holding a blob, oldest first. There is no index for this (it would cost an
/// entry per file per session on the backup path): every session's tree is searched, each
/// distinct subtree once, so the cost is O(sessions + distinct trees).
pub fn sessions_with_blob(store: &Store, blob: &ObjectId) -> Result<Vec<SessionId>> {
    let r = store.read()?;
    let mut memo: HashMap<ObjectId, bool> = HashMap::new();
    let mut out = Vec::new();
    for rec in all_records_bare(&r)?.into_iter().rev() {
        if tree_contains(&r, &rec.root, blob, &mut memo)? {
            out.push(rec.id);
        }
    }
    Ok(out)
}

/// Whether `blob` is a file anywhere below `tree`, memoized per subtree. Iterative: the
/// depth of a stored tree is not trusted.
fn tree_contains(
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

/// Totals of the session layer, in O(1).
pub fn stats(store: &Store) -> Result<SessionStats> {
    let st = store.stats()?;
    let r = store.read()?;
    let mut totals = read_counters(&r, [C_SESSIONS, C_LOGICAL].into_iter())?.into_iter();
    let sessions = u64_value(totals.next().flatten());
    let logical_bytes = u64_value(totals.next().flatten());
    let unique_bytes = st.blob_raw_bytes;
    let edge = |reverse| -> Result<Option<DateTime<Utc>>> {
        let end = Bound::Excluded(TALLY_START);
        let rows = r.index_range(BY_TIME, Bound::Unbounded, end, reverse, 1)?;
        Ok(rows.first().and_then(|(k, _)| keys::time_from_key(k)))
    };
    Ok(SessionStats {
        sessions,
        logical_bytes,
        unique_bytes,
        stored_bytes: st.stored_bytes,
        file_bytes: st.file_bytes,
        objects: st.objects,
        oldest: edge(false)?,
        newest: edge(true)?,
        dedup_ratio: ratio(logical_bytes, unique_bytes),
        compression_ratio: ratio(unique_bytes, st.stored_bytes),
        overall_ratio: ratio(logical_bytes, st.file_bytes),
    })
}

/// All sessions, newest first, without closure details (for retention and searches).
pub(crate) fn all_records_bare(r: &impl StoreRead) -> Result<Vec<SessionRecord>> {
    let rows = r.index_range(
        BY_TIME,
        Bound::Unbounded,
        Bound::Excluded(TALLY_START),
        true,
        usize::MAX,
    )?;
    let mut out = Vec::with_capacity(rows.len());
    let mut strings = Strings::default();
    for (k, _) in rows {
        let id = std::str::from_utf8(k.get(8..).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse::<SessionId>().ok());
        if let Some(rec) = match id {
            Some(id) => load_record_with(r, &id, &mut strings)?,
            None => None,
        } {
            out.push(rec);
        }
    }
    Ok(out)
}

/// The newest session created before a new one, whose files and directories serve as delta
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
        let id = rows.first().and_then(|(k, _)| {
            std::str::from_utf8(k.get(8..).unwrap_or_default())
                .ok()
                .and_then(|s| s.parse::<SessionId>().ok())
        });
        let rec = match id {
            Some(id) => load_record_bare(r, &id)?.map(|rec| (id, rec.root)),
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
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let Some((EntryKind::Dir, dir_id)) = self.entry_at(r, dir)? else {
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
