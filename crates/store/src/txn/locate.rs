//! Finding and decoding objects: an object's entry (in `ids` or the pack index), its stored
//! form (a loose frame or a pack member), and its bytes, following its delta chain.

use std::path::Path;
use std::sync::Arc;

use redb::{ReadableTable, TableError};

use crate::codec::{self, ObjectKind};
use crate::cold::{self, NS_PACK_IDS};
use crate::entries;
use crate::error::DbResult;
use crate::hotpin::HotPin;
use crate::pack::{Loc, Pack};
use crate::{Error, ObjectId};

/// Gives decoded pack `pack`; the id is the object being read, named in errors.
pub(crate) type PackReader<'a> = dyn Fn(u64, &ObjectId) -> Result<Arc<Pack>, Error> + 'a;

/// Gives the pack index's value at a key, live or cold (`None`: no such key).
pub(crate) type PackIdsReader<'a> = dyn Fn(u64) -> Result<Option<Vec<u8>>, Error> + 'a;

/// Gives the `objects` table (opened on first use).
pub(crate) type ObjectsReader<'a, O> = dyn Fn() -> Result<&'a O, Error> + 'a;

/// What a read of objects needs: the `ids` and `objects` tables, the pack index, a way to get
/// a decoded pack (through the store's cache), the size limit and the path for errors.
pub(crate) struct Src<'a, I, O> {
    /// References counted in the hot pin rather than in the hot object's entry.
    pub hot: HotPin,
    pub ids: &'a I,
    pub objects: &'a ObjectsReader<'a, O>,
    pub pack_ids: &'a PackIdsReader<'a>,
    pub packs: &'a PackReader<'a>,
    pub max: u64,
    pub path: &'a Path,
}

/// Which table holds an object's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// `ids`, under the full id: a loose object.
    Ids,
    /// An item of the pack index, under the id's first 8 bytes (`entries.rs`).
    PackIds { pack: u64, member: u32 },
}

/// An object's entry: where it is and how many references it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub loc: Loc,
    pub count: u64,
    pub slot: Slot,
}

/// An object as stored: a frame of its own, or a member of a pack.
pub(crate) enum Stored {
    Frame(Vec<u8>),
    Member { pack: Arc<Pack>, member: u32 },
}

/// What an object's stored form says about it without decoding it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Info {
    pub kind: ObjectKind,
    pub raw_len: u64,
    pub base: Option<ObjectId>,
    pub depth: u64,
    /// Its frame's bytes; for a pack member, its share of the pack's.
    pub stored: u64,
}

impl Stored {
    pub(crate) fn info(&self, id: &ObjectId) -> Result<Info, Error> {
        match self {
            Stored::Frame(frame) => {
                let h = codec::header(id, frame)?;
                Ok(Info {
                    kind: h.kind,
                    raw_len: h.raw_len,
                    base: h.base(),
                    depth: h.depth(),
                    stored: frame.len() as u64,
                })
            }
            Stored::Member { pack, member } => {
                let (kind, bytes) = member_of(pack, *member, id)?;
                Ok(Info {
                    kind,
                    raw_len: bytes.len() as u64,
                    base: None,
                    depth: 0,
                    stored: pack.stored_share(bytes.len() as u64),
                })
            }
        }
    }
}

pub(crate) fn member_of<'p>(
    pack: &'p Pack,
    member: u32,
    id: &ObjectId,
) -> Result<(ObjectKind, &'p [u8]), Error> {
    pack.member(member).ok_or_else(|| Error::Corrupt {
        id: *id,
        detail: format!("its pack has no member {member}"),
    })
}

/// `id`'s entry, if it has one: in `ids`, else in the pack index, where an item counts only if
/// the member it names hashes to `id`.
pub(crate) fn entry_of<I, O>(src: &Src<'_, I, O>, id: &ObjectId) -> Result<Option<Entry>, Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    if let Some(v) = src.ids.get(id.as_bytes()).db(src.path)? {
        let (seq, count) = v.value();
        return Ok(Some(Entry {
            loc: Loc::Loose(seq),
            count: count.saturating_add(src.hot.count_of(id)),
            slot: Slot::Ids,
        }));
    }
    let key = entries::key(id);
    let Some(value) = (src.pack_ids)(key)? else {
        return Ok(None);
    };
    let items = entries::decode(&value).ok_or_else(|| Error::Corrupt {
        id: *id,
        detail: format!("its pack index entry {key:016x} is malformed"),
    })?;
    for item in items {
        let pack = (src.packs)(item.pack, id)?;
        if pack.member_id(item.member) == Some(*id) {
            return Ok(Some(Entry {
                loc: Loc::Packed {
                    pack: item.pack,
                    member: item.member,
                },
                count: item.count.saturating_add(src.hot.count_of(id)),
                slot: Slot::PackIds {
                    pack: item.pack,
                    member: item.member,
                },
            }));
        }
    }
    Ok(None)
}

/// The id of the pack index's `item` under `key`: the hash of the member it names, which must
/// begin with `key`.
pub(crate) fn item_id_of<I, O>(
    src: &Src<'_, I, O>,
    key: u64,
    item: &entries::Item,
) -> Result<ObjectId, Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    let corrupt = |detail: String| Error::CorruptPack {
        pack: item.pack,
        detail,
    };
    // No id is known before the member is hashed; errors name the pack instead.
    let pack = (src.packs)(item.pack, &ObjectId::from_bytes([0; 32])).map_err(|e| match e {
        Error::Corrupt { detail, .. } => {
            let prefix = format!("pack {}: ", item.pack);
            corrupt(detail.strip_prefix(&prefix).unwrap_or(&detail).to_string())
        }
        other => other,
    })?;
    let id = pack.member_id(item.member).ok_or_else(|| {
        corrupt(format!(
            "the pack index names member {}, which it does not have",
            item.member
        ))
    })?;
    if entries::key(&id) != key {
        return Err(corrupt(format!(
            "member {} hashes to {id}, which the pack index key {key:016x} does not begin",
            item.member
        )));
    }
    Ok(id)
}

/// The cold key of pack index key `key`.
pub(crate) fn pack_ids_cold_key(key: u64) -> Vec<u8> {
    cold::cold_key(NS_PACK_IDS, &key.to_be_bytes())
}

/// [`entry_of`], an absent object being [`Error::ObjectMissing`].
pub(crate) fn entry_req<I, O>(src: &Src<'_, I, O>, id: &ObjectId) -> Result<Entry, Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    entry_of(src, id)?.ok_or(Error::ObjectMissing { id: *id })
}

/// `id` as stored (its frame copied out, or its pack).
pub(crate) fn stored_of<I, O>(src: &Src<'_, I, O>, id: &ObjectId) -> Result<Stored, Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    match entry_req(src, id)?.loc {
        Loc::Loose(seq) => {
            let frame = (src.objects)()?
                .get(seq)
                .db(src.path)?
                .ok_or_else(|| Error::Corrupt {
                    id: *id,
                    detail: format!("its frame {seq} is missing"),
                })?;
            Ok(Stored::Frame(frame.value().to_vec()))
        }
        Loc::Packed { pack, member } => Ok(Stored::Member {
            pack: (src.packs)(pack, id)?,
            member,
        }),
    }
}

/// Decodes `id`, following its delta chain down to a whole frame (or a pack member) and back
/// up, checking every level's hash. The chain is bounded by `MAX_DEPTH_LIMIT` and its depths
/// must descend.
pub(crate) fn load<I, O>(src: &Src<'_, I, O>, id: &ObjectId) -> Result<(ObjectKind, Vec<u8>), Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    load_cached(src, id, None)
}

/// Decoded bases kept while walking many objects (verify): a delta chain's lower levels are
/// then decoded once, not once per object above them. Bounded in bytes; starts over when full.
#[derive(Default)]
pub(crate) struct BaseCache {
    bytes: std::collections::HashMap<ObjectId, (ObjectKind, Arc<Vec<u8>>)>,
    size: usize,
}

impl BaseCache {
    const BUDGET: usize = 64 << 20;

    fn get(&self, id: &ObjectId) -> Option<(ObjectKind, Arc<Vec<u8>>)> {
        self.bytes.get(id).cloned()
    }

    pub(crate) fn put(&mut self, id: ObjectId, kind: ObjectKind, bytes: Arc<Vec<u8>>) {
        if self.size + bytes.len() > Self::BUDGET {
            self.bytes.clear();
            self.size = 0;
        }
        self.size += bytes.len();
        self.bytes.insert(id, (kind, bytes));
    }
}

/// [`load`], reading and filling `cache` with the bases it decodes on the way.
pub(crate) fn load_cached<I, O>(
    src: &Src<'_, I, O>,
    id: &ObjectId,
    mut cache: Option<&mut BaseCache>,
) -> Result<(ObjectKind, Vec<u8>), Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    let mut chain: Vec<(ObjectId, Vec<u8>)> = Vec::new();
    let mut cur = *id;
    let mut want_depth: Option<u64> = None;
    let mut start: Option<(ObjectKind, Arc<Vec<u8>>)> = None;
    loop {
        if cur != *id
            && let Some(hit) = cache.as_ref().and_then(|c| c.get(&cur))
        {
            start = Some(hit);
            break;
        }
        let frame = match stored_of(src, &cur)? {
            Stored::Frame(frame) => frame,
            Stored::Member { pack, member } => {
                // A pack member is whole: the bottom of any chain.
                let (kind, bytes) = member_of(&pack, member, &cur)?;
                let actual = pack.member_id(member).unwrap_or_else(|| kind.id_of(bytes));
                if actual != cur {
                    return Err(Error::Corrupt {
                        id: cur,
                        detail: format!("its pack member hashes to {actual}"),
                    });
                }
                start = Some((kind, Arc::new(bytes.to_vec())));
                break;
            }
        };
        let h = codec::header(&cur, &frame)?;
        // Depths must strictly descend along a chain (a base re-encoded whole by gc sits lower
        // than its dependents claim), which bounds every read by the top frame's depth.
        if want_depth.is_some_and(|d| h.depth() >= d) {
            return Err(Error::Corrupt {
                id: cur,
                detail: "delta chain depth does not descend".into(),
            });
        }
        let base = h.base();
        chain.push((cur, frame));
        match base {
            Some(b) => {
                want_depth = Some(h.depth());
                cur = b;
            }
            None => break,
        }
    }
    let mut bytes: Option<(ObjectKind, Arc<Vec<u8>>)> = start;
    while let Some((cid, frame)) = chain.pop() {
        let base = bytes.as_ref().map(|(_, b)| b.as_slice());
        let (kind, decoded) = codec::decode_with(&cid, &frame, src.max, base)?;
        let decoded = Arc::new(decoded);
        // Keep what others may be based on (everything below the top of this chain).
        if cid != *id
            && let Some(c) = cache.as_deref_mut()
        {
            c.put(cid, kind, decoded.clone());
        }
        bytes = Some((kind, decoded));
    }
    let (kind, bytes) = bytes.ok_or(Error::ObjectMissing { id: *id })?;
    Ok((
        kind,
        Arc::try_unwrap(bytes).unwrap_or_else(|shared| (*shared).clone()),
    ))
}

/// Everything `id` holds a reference to: a node's links, then a delta frame's base.
pub(crate) fn refs_of<I, O>(src: &Src<'_, I, O>, id: &ObjectId) -> Result<Vec<ObjectId>, Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    let info = stored_of(src, id)?.info(id)?;
    let mut refs = Vec::new();
    if info.kind == ObjectKind::Node {
        let (_, bytes) = load(src, id)?;
        refs = codec::split_node(&bytes)
            .map(|(links, _)| links)
            .ok_or_else(|| Error::Corrupt {
                id: *id,
                detail: "malformed node links".into(),
            })?;
    }
    refs.extend(info.base);
    Ok(refs)
}

/// The table in `cell`, opened by `open` on first use; `None` when the store has no such table
/// yet. Opening a redb table costs more than most lookups made in it, so a read opens only what
/// it comes to need.
pub(super) fn lazy<'c, T>(
    cell: &'c std::cell::OnceCell<Option<T>>,
    open: impl FnOnce() -> Result<T, TableError>,
    path: &Path,
) -> Result<Option<&'c T>, Error> {
    if let Some(t) = cell.get() {
        return Ok(t.as_ref());
    }
    let t = match open() {
        Ok(t) => Some(t),
        Err(TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(e).db(path),
    };
    Ok(cell.get_or_init(|| t).as_ref())
}
