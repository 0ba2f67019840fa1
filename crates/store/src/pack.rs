//! Packs: the bytes of many objects compressed together as one zstd frame, written by `gc`.
//!
//! A file's versions, and a folder's trees from one session to the next, share most of their
//! bytes. Per-object frames (even deltas) cannot use that fully; one frame over all of them can:
//! on the shared corpus the 690 objects of 102 sessions take 103 KB as one level-19 frame,
//! against 196 KB as separate frames. `gc` moves objects into packs of at most
//! [`crate::StoreOptions::pack_bytes`] uncompressed bytes; backups keep writing loose frames,
//! which the next `gc` packs (with the members of small packs and of packs holding removed
//! members). See docs/FORMAT.md, "Packs".
//!
//! A pack is stored in the `packs` table as chunks `(pack, 0..n)` of at most [`CHUNK`] bytes,
//! so that each chunk takes one page of the file (a value just over a page would take two).
//! A packed object's entry, with its reference count, is in the pack index (`entries.rs`):
//! the first 8 bytes of its id, its pack and its position there.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use redb::{ReadableTable, TableDefinition};

use crate::codec::ObjectKind;
use crate::error::DbResult;
use crate::varint;
use crate::{Error, ObjectId};

pub(crate) const PACKS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("packs");

/// Most bytes in one chunk: with its 12-byte key, a value of this size still fits one 4 KiB
/// page of redb's (measured: 4072 does, 4080 takes two).
pub(crate) const CHUNK: usize = 4064;

/// Most members one pack holds.
const MAX_MEMBERS: usize = 1 << 24;
const PACK_VERSION: u8 = 1;
/// The most a pack may claim to decode to, whatever the options: a damaged header must not
/// make a read allocate without bound.
const RAW_LIMIT: u64 = 1 << 30;

/// Where an object's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loc {
    /// A frame of its own in `objects`, at this sequence number.
    Loose(u64),
    /// Member `member` of the pack numbered `pack`.
    Packed { pack: u64, member: u32 },
}

/// A decoded pack: the members' kinds and where each one's bytes are in `raw`.
#[derive(Debug)]
pub(crate) struct Pack {
    members: Vec<(ObjectKind, usize, usize)>,
    raw: Vec<u8>,
    /// Bytes of its chunks.
    stored: u64,
    /// Each member's id once hashed: a lookup through the pack index hashes the member it
    /// finds, and this pack stays decoded in the cache across lookups.
    ids: Vec<OnceLock<ObjectId>>,
}

impl Pack {
    /// Member `i`'s kind and bytes (unverified: the caller hashes them).
    pub(crate) fn member(&self, i: u32) -> Option<(ObjectKind, &[u8])> {
        let &(kind, start, len) = self.members.get(i as usize)?;
        Some((kind, self.raw.get(start..start + len)?))
    }

    /// Member `i`'s id (the hash of its bytes), computed once per decoded pack.
    pub(crate) fn member_id(&self, i: u32) -> Option<ObjectId> {
        let (kind, bytes) = self.member(i)?;
        Some(*self.ids.get(i as usize)?.get_or_init(|| kind.id_of(bytes)))
    }

    /// A member's share of the pack's stored bytes, in proportion to its size.
    pub(crate) fn stored_share(&self, len: u64) -> u64 {
        let raw = self.raw.len().max(1) as u128;
        (u128::from(len) * u128::from(self.stored)).div_ceil(raw) as u64
    }
}

/// What chunk 0 says before its compressed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PackHeader {
    pub chunks: u32,
    pub raw_len: u64,
    pub members: u64,
    checksum: [u8; 16],
    len: usize,
}

pub(crate) fn parse_header(chunk0: &[u8]) -> Option<PackHeader> {
    let (&version, rest) = chunk0.split_first()?;
    if version != PACK_VERSION {
        return None;
    }
    let (chunks, a) = varint::read(rest)?;
    let (raw_len, b) = varint::read(&rest[a..])?;
    let (members, c) = varint::read(&rest[a + b..])?;
    let at = 1 + a + b + c;
    let checksum: [u8; 16] = chunk0.get(at..at + 16)?.try_into().ok()?;
    Some(PackHeader {
        chunks: u32::try_from(chunks).ok().filter(|&n| n > 0)?,
        raw_len,
        members,
        checksum,
        len: at + 16,
    })
}

/// Decoded packs kept by a [`crate::Store`], so that reading many members of one pack (a
/// session's restore, verify, gc) decompresses it once. Keyed by pack number *and* checksum:
/// a number taken by a transaction that aborted can be taken again for other bytes.
#[derive(Debug, Default)]
pub(crate) struct PackCache {
    /// Most recently used last.
    entries: Mutex<Vec<(CacheKey, Arc<Pack>)>>,
}

/// A pack's number and checksum.
type CacheKey = (u64, [u8; 16]);

impl PackCache {
    /// Most packs kept, and most raw bytes kept: memory stays bounded whatever the store holds.
    const PACKS: usize = 4;
    const BYTES: usize = 64 << 20;

    fn get(&self, key: &CacheKey) -> Option<Arc<Pack>> {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let i = e.iter().position(|(k, _)| k == key)?;
        let hit = e.remove(i);
        let pack = hit.1.clone();
        e.push(hit);
        Some(pack)
    }

    fn put(&self, key: CacheKey, pack: Arc<Pack>) {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.retain(|(k, _)| *k != key);
        e.push((key, pack));
        while e.len() > Self::PACKS
            || (e.len() > 1 && e.iter().map(|(_, p)| p.raw.len()).sum::<usize>() > Self::BYTES)
        {
            e.remove(0);
        }
    }
}

/// Reads and decodes pack `pack` (through `cache`). `id` is the object being read, named in
/// errors.
pub(crate) fn load(
    t: &impl ReadableTable<(u64, u32), &'static [u8]>,
    pack: u64,
    cache: &PackCache,
    id: &ObjectId,
    path: &Path,
) -> Result<Arc<Pack>, Error> {
    let corrupt = |detail: String| Error::Corrupt {
        id: *id,
        detail: format!("pack {pack}: {detail}"),
    };
    let chunk0 = t
        .get((pack, 0))
        .db(path)?
        .ok_or_else(|| corrupt("missing".into()))?;
    let chunk0 = chunk0.value();
    let h = parse_header(chunk0).ok_or_else(|| corrupt("unreadable header".into()))?;
    let key = (pack, h.checksum);
    if let Some(hit) = cache.get(&key) {
        return Ok(hit);
    }
    if h.raw_len > RAW_LIMIT {
        return Err(corrupt(format!("claims {} bytes", h.raw_len)));
    }
    let mut compressed = chunk0[h.len..].to_vec();
    let mut stored = chunk0.len() as u64;
    for i in 1..h.chunks {
        let c = t
            .get((pack, i))
            .db(path)?
            .ok_or_else(|| corrupt(format!("chunk {i} of {} is missing", h.chunks)))?;
        compressed.extend_from_slice(c.value());
        stored += c.value().len() as u64;
    }
    let decoded = decode(&compressed, h, stored).map_err(corrupt)?;
    let decoded = Arc::new(decoded);
    cache.put(key, decoded.clone());
    Ok(decoded)
}

fn decode(compressed: &[u8], h: PackHeader, stored: u64) -> Result<Pack, String> {
    use std::io::Read;
    let cap = usize::try_from(h.raw_len).map_err(|_| "length overflow".to_string())?;
    let mut decoder =
        zstd::stream::read::Decoder::with_buffer(compressed).map_err(|e| format!("zstd: {e}"))?;
    decoder
        .window_log_max(31)
        .map_err(|e| format!("zstd: {e}"))?;
    // Memory follows what really decodes (a damaged header cannot make this allocate), and
    // never exceeds the header's claim by more than a byte.
    let mut raw = Vec::with_capacity(cap.min(compressed.len().saturating_mul(16)));
    decoder
        .take(h.raw_len.saturating_add(1))
        .read_to_end(&mut raw)
        .map_err(|e| format!("zstd: {e}"))?;
    if raw.len() != cap {
        return Err(format!(
            "decompressed to {} bytes, header says {cap}",
            raw.len()
        ));
    }
    if blake3::hash(&raw).as_bytes()[..16] != h.checksum {
        return Err("checksum mismatch".into());
    }
    let (n, mut at) = varint::read(&raw).ok_or("bad member count")?;
    if n != h.members || n as usize > MAX_MEMBERS {
        return Err(format!("{n} members, header says {}", h.members));
    }
    let mut lens = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let kind = raw
            .get(at)
            .and_then(|&t| ObjectKind::from_tag(t))
            .ok_or("bad member kind")?;
        let (len, used) = varint::read(&raw[at + 1..]).ok_or("bad member length")?;
        lens.push((kind, usize::try_from(len).map_err(|_| "length overflow")?));
        at += 1 + used;
    }
    let mut members = Vec::with_capacity(lens.len());
    for (kind, len) in lens {
        if raw.len() - at < len {
            return Err("members overrun the pack".into());
        }
        members.push((kind, at, len));
        at += len;
    }
    if at != raw.len() {
        return Err("bytes after the last member".into());
    }
    Ok(Pack {
        ids: (0..members.len()).map(|_| OnceLock::new()).collect(),
        members,
        raw,
        stored,
    })
}

/// Decodes arbitrary bytes as chunk 0 of a single-chunk pack, for the fuzz target: must never
/// panic, nor allocate beyond `max_raw` (a larger claim is refused before decoding).
pub(crate) fn fuzz_decode(chunk0: &[u8], max_raw: u64) -> bool {
    match parse_header(chunk0) {
        Some(h) if h.raw_len <= max_raw => decode(&chunk0[h.len..], h, chunk0.len() as u64)
            .is_ok_and(|p| (0..p.members.len() as u32).all(|i| p.member(i).is_some())),
        _ => false,
    }
}

/// Gathers members for one pack.
#[derive(Default)]
pub(crate) struct Builder {
    table: Vec<u8>,
    bytes: Vec<u8>,
    ids: Vec<ObjectId>,
}

/// A pack ready to write: its chunks, and its members in order.
pub(crate) struct Encoded {
    pub chunks: Vec<Vec<u8>>,
    pub ids: Vec<ObjectId>,
    pub stored: u64,
}

impl Builder {
    pub(crate) fn raw_len(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.ids.len() >= MAX_MEMBERS
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub(crate) fn push(&mut self, id: ObjectId, kind: ObjectKind, bytes: &[u8]) {
        self.table.push(kind.tag());
        varint::write(&mut self.table, bytes.len() as u64);
        self.bytes.extend_from_slice(bytes);
        self.ids.push(id);
    }

    /// Compresses the members at `level`, with a window covering the whole pack.
    pub(crate) fn finish(self, level: i32) -> Result<Encoded, Error> {
        use zstd::zstd_safe::{CCtx, CParameter};
        let mut raw = Vec::with_capacity(10 + self.table.len() + self.bytes.len());
        varint::write(&mut raw, self.ids.len() as u64);
        raw.extend_from_slice(&self.table);
        raw.extend_from_slice(&self.bytes);
        drop(self.bytes);
        let failed = |what: &str| Error::Pack {
            detail: format!("zstd could not {what}"),
        };
        let mut cctx = CCtx::create();
        cctx.set_parameter(CParameter::CompressionLevel(level))
            .map_err(|_| failed("set the level"))?;
        let wlog = (usize::BITS - raw.len().max(1).leading_zeros()).clamp(10, 30);
        cctx.set_parameter(CParameter::WindowLog(wlog))
            .map_err(|_| failed("set the window"))?;
        cctx.set_parameter(CParameter::EnableLongDistanceMatching(true))
            .map_err(|_| failed("enable long matching"))?;
        let mut body = Vec::with_capacity(zstd::zstd_safe::compress_bound(raw.len()));
        cctx.compress2(&mut body, &raw)
            .map_err(|_| failed("compress"))?;
        let checksum: [u8; 16] = blake3::hash(&raw).as_bytes()[..16]
            .try_into()
            .expect("a BLAKE3 hash has 32 bytes");
        // The header's chunk count depends on how much of chunk 0 the header leaves, which
        // depends (by a byte or two) on the count: settle it by iterating.
        let mut chunks = 1u32;
        let header = loop {
            let mut h = vec![PACK_VERSION];
            varint::write(&mut h, u64::from(chunks));
            varint::write(&mut h, raw.len() as u64);
            varint::write(&mut h, self.ids.len() as u64);
            h.extend_from_slice(&checksum);
            let rest = body.len().saturating_sub(CHUNK - h.len());
            let need = 1 + rest.div_ceil(CHUNK) as u32;
            if need == chunks {
                break h;
            }
            chunks = need;
        };
        let first = (CHUNK - header.len()).min(body.len());
        let mut out = Vec::with_capacity(chunks as usize);
        let mut c0 = header;
        c0.extend_from_slice(&body[..first]);
        out.push(c0);
        out.extend(body[first..].chunks(CHUNK).map(<[u8]>::to_vec));
        let stored = out.iter().map(|c| c.len() as u64).sum();
        Ok(Encoded {
            chunks: out,
            ids: self.ids,
            stored,
        })
    }
}

impl Encoded {
    /// The location of member `i` once this pack is written as number `pack`.
    pub(crate) fn loc(pack: u64, i: usize) -> Result<Loc, Error> {
        let member = u32::try_from(i).map_err(|_| Error::Pack {
            detail: format!("pack {pack}: member {i} is out of range"),
        })?;
        Ok(Loc::Packed { pack, member })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn build(objects: &[(&[u8], ObjectKind)]) -> Encoded {
        let mut b = Builder::default();
        for (bytes, kind) in objects {
            b.push(kind.id_of(bytes), *kind, bytes);
        }
        b.finish(3).unwrap()
    }

    fn join(e: &Encoded) -> (PackHeader, Vec<u8>) {
        let h = parse_header(&e.chunks[0]).unwrap();
        let mut body = e.chunks[0][h.len..].to_vec();
        for c in &e.chunks[1..] {
            body.extend_from_slice(c);
        }
        (h, body)
    }

    #[test]
    fn members_round_trip_in_order() {
        let objects: Vec<(&[u8], ObjectKind)> = vec![
            (b"a: 1\n", ObjectKind::Blob),
            (b"", ObjectKind::Blob),
            (b"\x00node", ObjectKind::Node),
        ];
        let e = build(&objects);
        assert_eq!(e.chunks.len(), 1);
        let (h, body) = join(&e);
        assert_eq!((h.chunks, h.members), (1, 3));
        let p = decode(&body, h, e.stored).unwrap();
        for (i, (bytes, kind)) in objects.iter().enumerate() {
            assert_eq!(p.member(i as u32), Some((*kind, *bytes)));
        }
        assert_eq!(p.member(3), None);
    }

    #[test]
    fn large_packs_split_into_page_sized_chunks() {
        // Incompressible bytes: the pack needs several chunks, every one within a page.
        let mut data = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push(x as u8);
        }
        let e = build(&[(&data, ObjectKind::Blob), (b"tail", ObjectKind::Blob)]);
        assert!(e.chunks.len() >= 5, "{} chunks", e.chunks.len());
        assert!(e.chunks.iter().all(|c| c.len() <= CHUNK));
        let (h, body) = join(&e);
        assert_eq!(h.chunks as usize, e.chunks.len());
        let p = decode(&body, h, e.stored).unwrap();
        assert_eq!(p.member(0), Some((ObjectKind::Blob, &data[..])));
        assert_eq!(p.member(1), Some((ObjectKind::Blob, &b"tail"[..])));
    }

    #[test]
    fn damaged_packs_are_errors() {
        let e = build(&[(b"model: gpt-4\n", ObjectKind::Blob)]);
        let (h, body) = join(&e);
        // A flipped byte in the compressed bytes: zstd or the checksum notices.
        let mut bad = body.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x40;
        assert!(decode(&bad, h, e.stored).is_err());
        // A header that lies about the size or the member count.
        let longer = PackHeader {
            raw_len: h.raw_len + 1,
            ..h
        };
        assert!(decode(&body, longer, e.stored).is_err());
        let more = PackHeader { members: 2, ..h };
        assert!(decode(&body, more, e.stored).is_err());
        assert_eq!(parse_header(&[]), None);
        assert_eq!(parse_header(&[9, 1, 1, 1]), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Any members, in any number and size, come back in order and whole.
        #[test]
        fn any_members_round_trip(
            members in proptest::collection::vec(
                (proptest::bool::ANY, proptest::collection::vec(0u8..4, 0..6000)),
                0..24,
            )
        ) {
            let objects: Vec<(&[u8], ObjectKind)> = members
                .iter()
                .map(|(node, b)| {
                    (b.as_slice(), if *node { ObjectKind::Node } else { ObjectKind::Blob })
                })
                .collect();
            let e = build(&objects);
            proptest::prop_assert!(e.chunks.iter().all(|c| c.len() <= CHUNK));
            let (h, body) = join(&e);
            let p = decode(&body, h, e.stored).unwrap();
            for (i, (bytes, kind)) in objects.iter().enumerate() {
                proptest::prop_assert_eq!(p.member(i as u32), Some((*kind, *bytes)));
            }
            proptest::prop_assert_eq!(p.member(objects.len() as u32), None);
        }
    }
}
