//! Phase 1: every entry (`ids`, then the pack index) names an object whose frame or pack
//! member exists, decodes and hashes to its id (invariant I4); nodes' links are read, and the
//! sizes summed for the totals; frames no entry names are orphans.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use redb::ReadableTable;

use super::{ProblemKind, Scan, problem};
use crate::codec::{self, ObjectKind};
use crate::error::DbResult;
use crate::pack::Loc;
use crate::txn::{BaseCache, Src, item_id_of, load_cached};
use crate::{Error, ObjectId, Progress, entries};

/// Every entry of the store, and the pack index keys whose items could not be read.
pub(super) struct Entries {
    /// (id, where its bytes are, its stored count), `ids` first.
    pub(super) list: Vec<(ObjectId, Loc, u64)>,
    /// Pack index keys whose items could not be read, with why: an object found missing under
    /// one of them is in a damaged pack, not absent.
    pub(super) unreadable: HashMap<u64, String>,
}

/// What hashing every object found out beside its problems.
#[derive(Default)]
pub(super) struct Hashed {
    /// Every object's count: its entry's, plus the hot pin's for the hot object.
    pub(super) counts: HashMap<ObjectId, u64>,
    /// Everything each object holds a reference to: a node's links, then a delta's base.
    pub(super) links: HashMap<ObjectId, Vec<ObjectId>>,
    /// Frame sequence numbers that an entry names.
    pub(super) used_seqs: HashSet<u64>,
}

/// Reads every entry: `ids`, then the pack index (`items`), whose items give their ids by
/// hashing the members they name. A damaged pack is one problem, however many items name it.
pub(super) fn entries<I, O>(
    src: &Src<'_, I, O>,
    items: Result<Vec<(u64, entries::Item)>, Error>,
    s: &mut Scan,
) -> Result<Entries, Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    let path = src.path;
    let mut out = Entries {
        list: Vec::new(),
        unreadable: HashMap::new(),
    };
    let mut reported: HashSet<String> = HashSet::new();
    for item in src.ids.iter().db(path)? {
        let (k, v) = item.db(path)?;
        let (seq, count) = v.value();
        out.list
            .push((ObjectId::from_bytes(k.value()), Loc::Loose(seq), count));
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
                        out.list.push((id, loc, item.count));
                    }
                    Err(e @ (Error::CorruptPack { .. } | Error::CorruptPackIndex { .. })) => {
                        let detail = e.to_string();
                        if reported.insert(detail.clone()) {
                            problem(s, ProblemKind::Corrupt, None, detail.clone());
                        }
                        out.unreadable.insert(key, detail);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Err(e @ (Error::CorruptPackIndex { .. } | Error::CorruptCold { .. })) => {
            problem(s, ProblemKind::Corrupt, None, e.to_string());
        }
        Err(e) => return Err(e),
    }
    Ok(out)
}

/// The hot pin counts references to an object that must be stored.
pub(super) fn check_hot_pin<I, O>(
    s: &mut Scan,
    src: &Src<'_, I, O>,
    entries: &[(ObjectId, Loc, u64)],
) {
    if let Some((h, _)) = src.hot.hot
        && !entries.iter().any(|(id, ..)| *id == h)
    {
        problem(
            s,
            ProblemKind::RefcountMismatch,
            Some(h),
            "the hot pin counts references to it, but it is not stored".into(),
        );
    }
}

/// Decodes and re-hashes every object of `entries`, in order.
pub(super) fn hash<I, O>(
    s: &mut Scan,
    src: &Src<'_, I, O>,
    entries: Vec<(ObjectId, Loc, u64)>,
    progress: &dyn Progress,
) -> Result<Hashed, Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    progress.start("hash", Some(entries.len() as u64));
    let mut h = Hashed::default();
    // Objects that are bases of others get decoded as part of their dependents' chains;
    // caching them makes the whole scan O(objects) decompressions, not O(objects × depth).
    let mut bases = BaseCache::default();
    for (id, loc, count) in entries {
        if progress.should_cancel() {
            return Err(Error::Cancelled);
        }
        let count = count.saturating_add(src.hot.count_of(&id));
        if h.counts.insert(id, count).is_some() {
            problem(
                s,
                ProblemKind::Corrupt,
                Some(id),
                "it has two entries".into(),
            );
            continue;
        }
        s.outcome.objects_checked += 1;
        s.totals.0 += 1;
        let frame = match frame_of(s, src, id, loc, &mut h.used_seqs)? {
            Frame::Loose(frame) => Some(frame),
            Frame::Packed => None,
            Frame::Missing => continue,
        };
        let refs = check_object(s, src, &mut bases, id, frame.as_deref())?;
        if !refs.is_empty() {
            h.links.insert(id, refs);
        }
        progress.inc(1);
    }
    Ok(h)
}

/// Where an object's stored bytes are, as far as its own frame goes.
enum Frame {
    /// A loose object's frame.
    Loose(Vec<u8>),
    /// A pack member (a pack's bytes are counted once, by the packs phase).
    Packed,
    /// A loose object whose frame is absent (reported).
    Missing,
}

/// A loose object's frame, counted in the stored bytes and marked used.
fn frame_of<I, O>(
    s: &mut Scan,
    src: &Src<'_, I, O>,
    id: ObjectId,
    loc: Loc,
    used_seqs: &mut HashSet<u64>,
) -> Result<Frame, Error>
where
    O: ReadableTable<u64, &'static [u8]>,
{
    let Loc::Loose(seq) = loc else {
        return Ok(Frame::Packed);
    };
    used_seqs.insert(seq);
    let Some(frame) = (src.objects)()?.get(seq).db(src.path)? else {
        problem(
            s,
            ProblemKind::Missing,
            Some(id),
            format!("its frame {seq} is missing"),
        );
        return Ok(Frame::Missing);
    };
    let frame = frame.value().to_vec();
    s.totals.2 += frame.len() as u64;
    Ok(Frame::Loose(frame))
}

/// Decodes one object (following its delta chain) and checks its hash; sums its size and
/// returns what it holds a reference to (a node's links, then a delta's base).
fn check_object<I, O>(
    s: &mut Scan,
    src: &Src<'_, I, O>,
    bases: &mut BaseCache,
    id: ObjectId,
    frame: Option<&[u8]>,
) -> Result<Vec<ObjectId>, Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    let header = frame.and_then(|f| codec::header(&id, f).ok());
    let base = header.and_then(|h| h.base());
    let mut refs: Vec<ObjectId> = Vec::new();
    let loaded = load_cached(src, &id, Some(bases));
    if let Ok((kind, bytes)) = &loaded
        && base.is_none()
    {
        bases.put(id, *kind, Arc::new(bytes.clone()));
    }
    match loaded {
        Ok((kind, bytes)) => {
            s.outcome.bytes_checked += bytes.len() as u64;
            s.totals.1 += bytes.len() as u64;
            let blob = kind == ObjectKind::Blob;
            if blob {
                s.totals.3 += bytes.len() as u64;
            }
            s.sizes.insert(id, (bytes.len() as u64, blob));
            if kind == ObjectKind::Node {
                match codec::split_node(&bytes) {
                    Some((l, _)) => refs = l,
                    None => problem(
                        s,
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
                let blob = h.kind == ObjectKind::Blob;
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
            problem(s, kind, Some(id), e.to_string());
        }
        Err(e) => return Err(e),
    }
    refs.extend(base);
    Ok(refs)
}

/// Frames of `objects` that no entry names (`used_seqs`).
pub(super) fn orphan_frames<I, O>(
    s: &mut Scan,
    src: &Src<'_, I, O>,
    used_seqs: &HashSet<u64>,
) -> Result<(), Error>
where
    O: ReadableTable<u64, &'static [u8]>,
{
    let path = src.path;
    for item in (src.objects)()?.iter().db(path)? {
        let (k, _) = item.db(path)?;
        if !used_seqs.contains(&k.value()) {
            s.orphan_frames.push(k.value());
            problem(
                s,
                ProblemKind::RefcountOrphan,
                None,
                format!("frame {} belongs to no object", k.value()),
            );
        }
    }
    Ok(())
}
