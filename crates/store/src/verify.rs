//! Integrity check: re-hash every object and recompute every reference count from the roots.

use std::collections::{HashMap, HashSet};
use std::fmt;

use redb::ReadableTable;

use crate::codec;
use crate::cold::COLD;
use crate::entries;
use crate::error::DbResult;
use crate::pack::{self, Loc, PACKS};
use crate::schema::{K_BLOB_RAW, K_OBJECTS, K_RAW, K_STORED, META, OBJECTS, ROOTS, read_counter};
use crate::txn::{BaseCache, ReadPath, Src, decode_root, item_id_of, load_cached};
use crate::{Error, ObjectId, Progress, Store};

/// How to verify. Construct with `Options::default()` and set fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Rebuild reference counts and totals from the roots, and remove objects no root reaches.
    /// Corrupt and missing objects cannot be repaired and stay reported. Default: `false`.
    pub repair: bool,
}

/// The kind of a problem `verify` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The stored frame does not decode to bytes hashing to the id (invariant I4).
    Corrupt,
    /// A root or a link names an object that does not exist (invariant I2).
    Missing,
    /// The stored reference count differs from the count recomputed from the roots (I1).
    RefcountMismatch,
    /// An object that no root reaches survived a commit (I3).
    Unreachable,
    /// A stored frame no object id names (left by a damaged index).
    RefcountOrphan,
    /// The stored totals (objects, raw bytes, stored bytes) differ from the sums.
    Totals,
    /// Metadata of a layer above (a session record, an index entry, a string) that is
    /// unreadable or disagrees with what it is derived from; reported by that layer's check.
    Metadata,
}

impl ProblemKind {
    /// A stable kebab-case name, used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Corrupt => "corrupt",
            ProblemKind::Missing => "missing",
            ProblemKind::RefcountMismatch => "refcount-mismatch",
            ProblemKind::Unreachable => "unreachable",
            ProblemKind::RefcountOrphan => "refcount-orphan",
            ProblemKind::Totals => "totals",
            ProblemKind::Metadata => "metadata",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One discrepancy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The object concerned, when there is one.
    pub id: Option<ObjectId>,
    pub detail: String,
}

/// What `verify` found (and, with `repair`, fixed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub objects_checked: u64,
    /// Uncompressed bytes re-hashed.
    pub bytes_checked: u64,
    pub roots_checked: u64,
    pub problems: Vec<Problem>,
    /// Whether a repair was committed.
    pub repaired: bool,
}

impl Outcome {
    /// Whether no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

#[derive(Default)]
struct Scan {
    outcome: Outcome,
    expected: HashMap<ObjectId, u64>,
    reachable: HashSet<ObjectId>,
    /// Objects with an entry that could be read.
    stored: HashSet<ObjectId>,
    unreachable: Vec<ObjectId>,
    orphan_frames: Vec<u64>,
    /// (objects, raw bytes, stored bytes, blob raw bytes)
    totals: (u64, u64, u64, u64),
    /// Raw size and whether it is a blob, of every object whose size could be read.
    sizes: HashMap<ObjectId, (u64, bool)>,
}

/// Every chunk of every pack: its key, its length, and the header of a first chunk.
type Chunks = Vec<((u64, u32), u64, Option<pack::PackHeader>)>;

/// The chunks of the `packs` table (none when it does not exist yet).
fn chunks<T: ReadableTable<(u64, u32), &'static [u8]>>(
    t: Result<T, redb::TableError>,
    path: &std::path::Path,
) -> Result<Chunks, Error> {
    let t = match t {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e).db(path),
    };
    let mut out = Vec::new();
    for item in t.iter().db(path)? {
        let (k, v) = item.db(path)?;
        let key = k.value();
        let header = if key.1 == 0 {
            pack::parse_header(v.value())
        } else {
            None
        };
        out.push((key, v.value().len() as u64, header));
    }
    Ok(out)
}

fn scan<I, O>(
    src: &Src<'_, I, O>,
    items: Result<Vec<(u64, entries::Item)>, Error>,
    roots: Vec<(String, Vec<u8>)>,
    stored: (u64, u64, u64, u64),
    packs: &Chunks,
    progress: &dyn Progress,
) -> Result<Scan, Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    let (path, ids, objects) = (src.path, src.ids, (src.objects)()?);
    let mut s = Scan::default();

    // 1. Every object's frame exists, decodes and hashes to its id; nodes' links are read.
    // The entries: `ids`, then the pack index, whose items give their ids by hashing the
    // members they name.
    let mut entries: Vec<(ObjectId, Loc, u64)> = Vec::new();
    // Pack index keys whose items could not be read, with why: an object found missing under
    // one of them is in a damaged pack, not absent.
    let mut unreadable: HashMap<u64, String> = HashMap::new();
    let mut reported: HashSet<String> = HashSet::new();
    for item in ids.iter().db(path)? {
        let (k, v) = item.db(path)?;
        let (seq, count) = v.value();
        entries.push((ObjectId::from_bytes(k.value()), Loc::Loose(seq), count));
    }
    match items {
        Ok(items) => {
            for (key, item) in items {
                match item_id_of(src, key, &item) {
                    Ok(id) => {
                        let loc = Loc::Packed {
                            pack: item.pack,
                            member: item.member,
                        };
                        entries.push((id, loc, item.count));
                    }
                    Err(e @ (Error::CorruptPack { .. } | Error::CorruptPackIndex { .. })) => {
                        let detail = e.to_string();
                        // One problem per damaged pack, however many items name it.
                        if reported.insert(detail.clone()) {
                            problem(&mut s, ProblemKind::Corrupt, None, detail.clone());
                        }
                        unreadable.insert(key, detail);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Err(e @ (Error::CorruptPackIndex { .. } | Error::CorruptCold { .. })) => {
            problem(&mut s, ProblemKind::Corrupt, None, e.to_string());
        }
        Err(e) => return Err(e),
    }
    progress.start("hash", Some(entries.len() as u64));
    let mut stored_counts: HashMap<ObjectId, u64> = HashMap::new();
    let mut links: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
    let mut used_seqs: HashSet<u64> = HashSet::new();
    let mut bases = BaseCache::default();
    if let Some((h, _)) = src.hot.hot
        && !entries.iter().any(|(id, ..)| *id == h)
    {
        problem(
            &mut s,
            ProblemKind::RefcountMismatch,
            Some(h),
            "the hot pin counts references to it, but it is not stored".into(),
        );
    }
    for (id, loc, count) in entries {
        if progress.should_cancel() {
            return Err(Error::Cancelled);
        }
        // An object's count: its entry's, plus the hot pin's for the hot object.
        let count = count.saturating_add(src.hot.count_of(&id));
        if stored_counts.insert(id, count).is_some() {
            problem(
                &mut s,
                ProblemKind::Corrupt,
                Some(id),
                "it has two entries".into(),
            );
            continue;
        }
        s.outcome.objects_checked += 1;
        s.totals.0 += 1;
        // A loose object's frame (a pack's bytes are counted once, below).
        let frame = match loc {
            Loc::Loose(seq) => {
                used_seqs.insert(seq);
                let Some(frame) = objects.get(seq).db(path)? else {
                    problem(
                        &mut s,
                        ProblemKind::Missing,
                        Some(id),
                        format!("its frame {seq} is missing"),
                    );
                    continue;
                };
                let frame = frame.value().to_vec();
                s.totals.2 += frame.len() as u64;
                Some(frame)
            }
            Loc::Packed { .. } => None,
        };
        let header = frame.as_ref().and_then(|f| codec::header(&id, f).ok());
        let base = header.and_then(|h| h.base());
        let mut refs: Vec<ObjectId> = Vec::new();
        // Objects that are bases of others get decoded as part of their dependents' chains;
        // caching them makes the whole scan O(objects) decompressions, not O(objects × depth).
        let loaded = load_cached(src, &id, Some(&mut bases));
        if let Ok((kind, bytes)) = &loaded
            && base.is_none()
        {
            bases.put(id, *kind, std::sync::Arc::new(bytes.clone()));
        }
        match loaded {
            Ok((kind, bytes)) => {
                s.outcome.bytes_checked += bytes.len() as u64;
                s.totals.1 += bytes.len() as u64;
                let blob = kind == codec::ObjectKind::Blob;
                if blob {
                    s.totals.3 += bytes.len() as u64;
                }
                s.sizes.insert(id, (bytes.len() as u64, blob));
                if kind == codec::ObjectKind::Node {
                    match codec::split_node(&bytes) {
                        Some((l, _)) => refs = l,
                        None => problem(
                            &mut s,
                            ProblemKind::Corrupt,
                            Some(id),
                            "malformed node links".into(),
                        ),
                    }
                }
            }
            Err(e @ (Error::Corrupt { .. } | Error::ObjectMissing { .. })) => {
                // Count the size the header claims, if it is readable, so totals stay comparable.
                if let Some(h) = header {
                    let blob = h.kind == codec::ObjectKind::Blob;
                    s.totals.1 += h.raw_len;
                    if blob {
                        s.totals.3 += h.raw_len;
                    }
                    s.sizes.insert(id, (h.raw_len, blob));
                }
                let kind = match e {
                    Error::ObjectMissing { .. } => ProblemKind::Missing,
                    _ => ProblemKind::Corrupt,
                };
                problem(&mut s, kind, Some(id), e.to_string());
            }
            Err(e) => return Err(e),
        }
        refs.extend(base);
        if !refs.is_empty() {
            links.insert(id, refs);
        }
        progress.inc(1);
    }
    for item in objects.iter().db(path)? {
        let (k, v) = item.db(path)?;
        if !used_seqs.contains(&k.value()) {
            s.orphan_frames.push(k.value());
            s.totals.2 += 0;
            let _ = v;
            problem(
                &mut s,
                ProblemKind::RefcountOrphan,
                None,
                format!("frame {} belongs to no object", k.value()),
            );
        }
    }

    // 2. Packs: complete (every chunk its header counts, no more), and counted in the totals.
    check_packs(&mut s, packs);

    // 3. Walk from the roots, counting every link of every reachable object.
    progress.start("walk", None);
    walk_roots(&mut s, roots, &stored_counts, &links, &unreadable);

    s.stored = stored_counts.keys().copied().collect();
    // 4. Compare stored counts with recomputed ones.
    compare_counts(&mut s, &stored_counts);

    // 5. Totals.
    // Objects in a damaged pack have sizes nobody can read: totals cannot be recomputed then
    // (and a repair must not overwrite them with a partial sum).
    if stored != s.totals && unreadable.is_empty() {
        let detail = format!(
            "stored (objects, raw, stored, blob raw) = {stored:?}, recomputed {:?}",
            s.totals
        );
        problem(&mut s, ProblemKind::Totals, None, detail);
    }
    s.outcome.problems.sort_by_key(|p| (p.kind, p.id));
    Ok(s)
}

fn problem(s: &mut Scan, kind: ProblemKind, id: Option<ObjectId>, detail: String) {
    s.outcome.problems.push(Problem { kind, id, detail });
}

/// Packs must be complete: every chunk their header counts, no more. Their chunks count in the
/// stored-bytes total.
fn check_packs(s: &mut Scan, packs: &Chunks) {
    let mut declared: HashMap<u64, u32> = HashMap::new();
    let mut present: HashMap<u64, Vec<u32>> = HashMap::new();
    for ((p, i), len, header) in packs {
        s.totals.2 += len;
        present.entry(*p).or_default().push(*i);
        if let Some(h) = header {
            declared.insert(*p, h.chunks);
        }
    }
    let mut numbers: Vec<&u64> = present.keys().collect();
    numbers.sort();
    for p in numbers {
        let have = &present[p];
        let detail = match declared.get(p) {
            None => "its first chunk is missing or unreadable".to_string(),
            Some(&n) if have.len() != n as usize || have.iter().any(|&i| i >= n) => {
                format!("has {} chunks, its header says {n}", have.len())
            }
            Some(_) => continue,
        };
        problem(s, ProblemKind::Corrupt, None, format!("pack {p} {detail}"));
    }
}

/// Walks from every root, counting each link of every reachable object in `s.expected`; an
/// object reached but not stored is missing (or, under an unreadable pack index key, in a
/// damaged pack).
fn walk_roots(
    s: &mut Scan,
    roots: Vec<(String, Vec<u8>)>,
    stored_counts: &HashMap<ObjectId, u64>,
    links: &HashMap<ObjectId, Vec<ObjectId>>,
    unreadable: &HashMap<u64, String>,
) {
    let mut stack: Vec<ObjectId> = Vec::new();
    for (name, value) in roots {
        s.outcome.roots_checked += 1;
        match decode_root(&name, &value) {
            Some(root) => {
                *s.expected.entry(root.id).or_insert(0) += 1;
                stack.push(root.id);
            }
            None => problem(
                s,
                ProblemKind::Missing,
                None,
                format!("root '{name}' has an unreadable value"),
            ),
        }
    }
    let mut missing_reported: HashSet<ObjectId> = HashSet::new();
    while let Some(id) = stack.pop() {
        if !s.reachable.insert(id) {
            continue;
        }
        if !stored_counts.contains_key(&id) {
            if missing_reported.insert(id) {
                match unreadable.get(&entries::key(&id)) {
                    Some(why) => problem(s, ProblemKind::Corrupt, Some(id), why.clone()),
                    None => problem(
                        s,
                        ProblemKind::Missing,
                        Some(id),
                        "referenced but absent".into(),
                    ),
                }
            }
            continue;
        }
        for child in links.get(&id).into_iter().flatten() {
            *s.expected.entry(*child).or_insert(0) += 1;
            stack.push(*child);
        }
    }
}

/// Compares every stored count with the recomputed one; an object no root reaches is
/// unreachable.
fn compare_counts(s: &mut Scan, stored_counts: &HashMap<ObjectId, u64>) {
    let mut ids_sorted: Vec<(&ObjectId, &u64)> = stored_counts.iter().collect();
    ids_sorted.sort();
    for (id, stored) in ids_sorted {
        if !s.reachable.contains(id) {
            s.unreachable.push(*id);
            problem(
                s,
                ProblemKind::Unreachable,
                Some(*id),
                format!("no root reaches it (stored count {stored})"),
            );
            continue;
        }
        let expected = s.expected.get(id).copied().unwrap_or(0);
        if *stored != expected {
            problem(
                s,
                ProblemKind::RefcountMismatch,
                Some(*id),
                format!("stored {stored}, recomputed {expected}"),
            );
        }
    }
}

/// A root's name and stored value.
type NamedRoot = (String, Vec<u8>);

/// Every root: live and cold when the cold side reads, else the live ones and a problem
/// saying why the cold ones could not be read.
fn roots_of(
    all: Result<Vec<NamedRoot>, Error>,
    live: impl FnOnce() -> Result<Vec<NamedRoot>, Error>,
) -> Result<(Vec<NamedRoot>, Option<Problem>), Error> {
    match all {
        Ok(roots) => Ok((roots, None)),
        Err(
            e @ (Error::Corrupt { .. } | Error::ObjectMissing { .. } | Error::CorruptCold { .. }),
        ) => {
            let id = match &e {
                Error::Corrupt { id, .. } | Error::ObjectMissing { id } => Some(*id),
                _ => None,
            };
            let problem = Problem {
                kind: ProblemKind::Corrupt,
                id,
                detail: format!("the cold roots and index entries do not read: {e}"),
            };
            Ok((live()?, Some(problem)))
        }
        Err(e) => Err(e),
    }
}

/// Problems of the cold side: a block that does not read or sits out of order, and blocks
/// the directory does not list.
fn check_cold(
    r: &crate::ReadTxn<'_>,
    t: &redb::ReadTransaction,
    path: &std::path::Path,
) -> Result<Vec<Problem>, Error> {
    let mut out = Vec::new();
    let listed = match r.merged().with_cold(|c| match c {
        None => Ok(None),
        Some(c) => c.check().map(|()| Some(c.dir.numbers.clone())),
    }) {
        Ok(listed) => listed.unwrap_or_default(),
        Err(e @ Error::CorruptCold { .. }) => {
            out.push(Problem {
                kind: ProblemKind::Corrupt,
                id: None,
                detail: e.to_string(),
            });
            return Ok(out);
        }
        Err(e) => return Err(e),
    };
    let table = match t.open_table(COLD) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(out),
        Err(e) => return Err(e).db(path),
    };
    let mut seen = HashSet::new();
    for item in table.iter().db(path)? {
        let ((number, _), _) = {
            let (k, v) = item.db(path)?;
            (k.value(), v.value().len())
        };
        if !listed.contains(&number) && seen.insert(number) {
            out.push(Problem {
                kind: ProblemKind::RefcountOrphan,
                id: None,
                detail: format!("cold block {number} is in no directory"),
            });
        }
    }
    Ok(out)
}

/// The stored totals: objects, raw bytes, stored bytes, blob raw bytes.
fn totals(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    path: &std::path::Path,
) -> Result<(u64, u64, u64, u64), Error> {
    Ok((
        read_counter(meta, K_OBJECTS, path)?,
        read_counter(meta, K_RAW, path)?,
        read_counter(meta, K_STORED, path)?,
        read_counter(meta, K_BLOB_RAW, path)?,
    ))
}

fn live_roots(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    path: &std::path::Path,
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut out = Vec::new();
    for item in t.iter().db(path)? {
        let (k, v) = item.db(path)?;
        out.push((k.value().to_string(), v.value().to_vec()));
    }
    Ok(out)
}

impl Store {
    /// Re-hashes every object and recomputes every reference count from the roots, reporting
    /// each discrepancy. With `options.repair`, rebuilds counts and totals and removes
    /// unreachable objects and orphan frames in one transaction.
    pub fn verify(&self, options: &Options, progress: &dyn Progress) -> Result<Outcome, Error> {
        match self.guarded(|| self.verify_unguarded(options, progress)) {
            Err(Error::Damaged { detail, .. }) => Ok(Outcome {
                problems: vec![Problem {
                    kind: ProblemKind::Corrupt,
                    id: None,
                    detail: format!("the storage engine failed reading the file: {detail}"),
                }],
                ..Outcome::default()
            }),
            other => other,
        }
    }

    fn verify_unguarded(
        &self,
        options: &Options,
        progress: &dyn Progress,
    ) -> Result<Outcome, Error> {
        let path = self.path().to_path_buf();
        let r = self.read()?;
        let t = r.raw();
        let packs = chunks(t.open_table(PACKS), &path)?;
        let (roots, cold_problem) = roots_of(r.all_roots(), || {
            live_roots(&t.open_table(ROOTS).db(&path)?, &path)
        })?;
        let stored = totals(&t.open_table(META).db(&path)?, &path)?;
        let items = r.pack_items();
        let numbers = match &items {
            Ok(items) => crate::numbers::check(t, items, &path)?,
            Err(_) => Vec::new(),
        };
        let mut s = r.with_src(|src| scan(src, items, roots, stored, &packs, progress))?;
        s.outcome.problems.extend(numbers);
        s.outcome.problems.extend(cold_problem);
        s.outcome.problems.extend(check_cold(&r, t, &path)?);
        s.outcome.problems.sort_by_key(|p| (p.kind, p.id));
        s.outcome.problems.dedup();
        drop(r);
        let repairable = s
            .outcome
            .problems
            .iter()
            .any(|p| !matches!(p.kind, ProblemKind::Corrupt | ProblemKind::Missing));
        if !options.repair || !repairable {
            return Ok(s.outcome);
        }
        self.repair(progress)
    }

    fn repair(&self, progress: &dyn Progress) -> Result<Outcome, Error> {
        let path = self.path().to_path_buf();
        let mut txn = self.write()?;
        // Scan again inside the write transaction, so the repair matches what it changes.
        let s = {
            let t = txn.raw_ref();
            let packs = chunks(t.open_table(PACKS), &path)?;
            let (roots, _) = roots_of(txn.all_roots(), || {
                live_roots(&t.open_table(ROOTS).db(&path)?, &path)
            })?;
            let stored = totals(&t.open_table(META).db(&path)?, &path)?;
            let items = txn.pack_items();
            txn.with_src(|src| scan(src, items, roots, stored, &packs, progress))?
        };
        // Unreachable objects go without cascading: the counts below are computed from the
        // reachable graph alone, so they never included links from these.
        let (mut removed, mut removed_raw, mut removed_stored, mut removed_blob) =
            (0u64, 0u64, 0u64, 0u64);
        for id in &s.unreachable {
            let Some(e) = txn.entry(id)? else {
                continue;
            };
            txn.remove_entry(id, &e)?;
            removed += 1;
            if let Some(&(raw, blob)) = s.sizes.get(id) {
                removed_raw += raw;
                if blob {
                    removed_blob += raw;
                }
            }
            // A pack member's bytes stay in its pack until gc repacks.
            if let Loc::Loose(seq) = e.loc
                && let Some(v) = txn
                    .raw()
                    .open_table(OBJECTS)
                    .db(&path)?
                    .remove(seq)
                    .db(&path)?
            {
                removed_stored += v.value().len() as u64;
            }
        }
        // A hot pin naming an object that is not stored goes; the counts below then hold.
        let mut pin = txn.hot_pin()?;
        if let Some((h, _)) = pin.hot
            && txn.entry(&h)?.is_none()
        {
            pin.hot = None;
            txn.set_hot_pin(pin);
        }
        for id in s.reachable.intersection(&s.stored) {
            if let Some(e) = txn.entry(id)? {
                let n = s.expected.get(id).copied().unwrap_or(0);
                if e.count != n {
                    txn.set_count(id, &e, n)?;
                }
            }
        }
        // Cold blocks no directory lists (a readable directory: a damaged one is not
        // repairable, and then nothing is dropped).
        if let Ok(listed) = txn
            .merged()
            .with_cold(|c| Ok(c.map(|c| c.dir.numbers.clone())))
        {
            let listed = listed.unwrap_or_default();
            txn.raw()
                .open_table(COLD)
                .db(&path)?
                .retain(|(n, _), _| listed.contains(&n))
                .db(&path)?;
        }
        {
            let t = txn.raw();
            let mut objects = t.open_table(OBJECTS).db(&path)?;
            for seq in &s.orphan_frames {
                objects.remove(*seq).db(&path)?;
            }
            let mut meta = t.open_table(META).db(&path)?;
            let (o, r, st, b) = s.totals;
            for (k, v) in [
                (K_OBJECTS, o.saturating_sub(removed)),
                (K_RAW, r.saturating_sub(removed_raw)),
                (K_STORED, st.saturating_sub(removed_stored)),
                (K_BLOB_RAW, b.saturating_sub(removed_blob)),
            ] {
                meta.insert(k, v.to_le_bytes().as_slice()).db(&path)?;
            }
        }
        // The write transaction's own counters saw none of this; commit without adjustments.
        txn.commit()?;
        let mut outcome = s.outcome;
        outcome.repaired = true;
        Ok(outcome)
    }
}
