//! Cold entries: `gc` moves every root, every index entry and the pack index (of a store whose
//! index keyspaces share one table) out of their redb tables into sorted, compressed *blocks*.
//!
//! Session records, by-time entries, version history and the string table are small values
//! with much in common (paths, times, string numbers) that redb stores one by one, with a
//! per-entry offset and a partly filled page per table; compressed together they take a third
//! or less (measured on the shared corpus: 44 KB of these entries in 15 pages for workload (a),
//! 29 KB compressed).
//!
//! A *cold key* is a namespace byte and the key: [`NS_ROOTS`] ‖ root name, [`NS_INDEX`] ‖
//! key of the shared `index` table, or [`NS_PACK_IDS`] ‖ key of the pack index (8 bytes,
//! big-endian). A block's bytes are `BLOCK_MAGIC ‖ LEB128 n ‖ n ×
//! (LEB128 key length ‖ key ‖ LEB128 value length ‖ value)`, keys strictly ascending; it is
//! stored in the `cold` table as a pack of one member (`pack.rs`: compressed, chunked to pages,
//! checksummed). The *directory*, `meta.cold`, lists the blocks in key order: `DIR_VERSION ‖
//! LEB128 n ‖ n × (LEB128 length ‖ first key ‖ LEB128 block number ‖ the first 16 bytes of
//! BLAKE3(block bytes))`. Cold data is not objects: it has no ids or counts, and `stats`,
//! `gc` and `verify` count objects as before.
//!
//! Reads merge: a live entry wins; a *tombstone* (table `tombs`, the cold key) hides a cold
//! entry removed since the last gc; otherwise the cold entry counts. Writes go to the live
//! tables. Block boundaries are chosen by the keys' hashes (content-defined), so a gc that
//! changes a few keys rewrites the blocks around them, not every block after them.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use redb::TableDefinition;

use crate::Error;
use crate::varint;

/// Cold key → nothing: an entry removed from the cold side since the last gc.
pub(crate) const TOMBS: TableDefinition<&[u8], ()> = TableDefinition::new("tombs");
/// Block number, chunk → a block as a one-member pack.
pub(crate) const COLD: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("cold");
/// The `meta` key of the directory.
pub(crate) const K_COLD: &str = "cold";
pub(crate) const NS_ROOTS: u8 = 0;
pub(crate) const NS_INDEX: u8 = 1;
pub(crate) const NS_PACK_IDS: u8 = 2;
const BLOCK_MAGIC: &[u8] = b"cfgvault cold block 1\n";
const DIR_VERSION: u8 = 1;
/// A block ends at the first entry past this many bytes whose key hash allows it, and at
/// [`MAX_BLOCK`] at the latest.
const MIN_BLOCK: usize = 64 << 10;
const MAX_BLOCK: usize = 256 << 10;

pub(crate) fn cold_key(ns: u8, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(ns);
    k.extend_from_slice(key);
    k
}

/// A decoded block: its bytes and where each entry's key and value are.
#[derive(Debug)]
pub(crate) struct Block {
    raw: Vec<u8>,
    entries: Vec<[usize; 4]>,
}

impl Block {
    pub(crate) fn parse(raw: Vec<u8>) -> Result<Block, String> {
        let body = raw.strip_prefix(BLOCK_MAGIC).ok_or("not a cold block")?;
        let mut at = BLOCK_MAGIC.len();
        let (n, used) = varint::read(body).ok_or("bad entry count")?;
        at += used;
        let mut entries = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(1 << 16));
        for _ in 0..n {
            let mut field = || -> Result<(usize, usize), String> {
                let (len, used) = varint::read(&raw[at..]).ok_or("bad length")?;
                let start = at + used;
                let len = usize::try_from(len).map_err(|_| "bad length")?;
                if raw.len() - start < len {
                    return Err("entries overrun the block".into());
                }
                at = start + len;
                Ok((start, len))
            };
            let (ks, kl) = field()?;
            let (vs, vl) = field()?;
            entries.push([ks, kl, vs, vl]);
        }
        if at != raw.len() {
            return Err("bytes after the last entry".into());
        }
        let b = Block { raw, entries };
        if b.entries.is_empty() {
            return Err("empty block".into());
        }
        for i in 1..b.entries.len() {
            if b.key(i - 1) >= b.key(i) {
                return Err("keys out of order".into());
            }
        }
        Ok(b)
    }

    fn key(&self, i: usize) -> &[u8] {
        let [ks, kl, _, _] = self.entries[i];
        &self.raw[ks..ks + kl]
    }

    fn value(&self, i: usize) -> &[u8] {
        let [_, _, vs, vl] = self.entries[i];
        &self.raw[vs..vs + vl]
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub(crate) fn first_key(&self) -> &[u8] {
        self.key(0)
    }

    /// Index of the first entry whose key is not below `key`.
    fn lower_bound(&self, key: &[u8]) -> usize {
        let (mut lo, mut hi) = (0, self.entries.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.key(mid) < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let i = self.lower_bound(key);
        (i < self.len() && self.key(i) == key).then(|| self.value(i))
    }

    fn bytes(&self) -> usize {
        self.raw.len()
    }
}

/// The directory: each block's first key, number and content hash, in key order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Dir {
    pub firsts: Vec<Vec<u8>>,
    pub numbers: Vec<u64>,
    pub hashes: Vec<[u8; 16]>,
}

/// The first 16 bytes of BLAKE3(`block`): a block's identity in the directory.
pub(crate) fn block_hash(block: &[u8]) -> [u8; 16] {
    let mut h = [0u8; 16];
    h.copy_from_slice(&blake3::hash(block).as_bytes()[..16]);
    h
}

impl Dir {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = vec![DIR_VERSION];
        varint::write(&mut out, self.firsts.len() as u64);
        for ((f, n), h) in self.firsts.iter().zip(&self.numbers).zip(&self.hashes) {
            varint::write(&mut out, f.len() as u64);
            out.extend_from_slice(f);
            varint::write(&mut out, *n);
            out.extend_from_slice(h);
        }
        out
    }

    pub(crate) fn parse(v: &[u8]) -> Result<Dir, String> {
        let (&version, mut p) = v.split_first().ok_or("empty directory")?;
        if version != DIR_VERSION {
            return Err(format!("unknown directory version {version}"));
        }
        let (n, used) = varint::read(p).ok_or("bad block count")?;
        p = &p[used..];
        let mut d = Dir::default();
        for _ in 0..n {
            let (len, used) = varint::read(p).ok_or("bad key length")?;
            let len = usize::try_from(len).map_err(|_| "bad key length")?;
            let key = p.get(used..used + len).ok_or("truncated first key")?;
            if d.firsts.last().is_some_and(|last| last.as_slice() >= key) {
                return Err("blocks out of order".into());
            }
            d.firsts.push(key.to_vec());
            p = &p[used + len..];
            let (number, used) = varint::read(p).ok_or("bad block number")?;
            d.numbers.push(number);
            let hash: [u8; 16] = p
                .get(used..used + 16)
                .and_then(|h| h.try_into().ok())
                .ok_or("truncated block hash")?;
            d.hashes.push(hash);
            p = &p[used + 16..];
        }
        if !p.is_empty() {
            return Err("bytes after the last block".into());
        }
        Ok(d)
    }

    /// The block that would hold `key`.
    fn block_for(&self, key: &[u8]) -> Option<usize> {
        let n = self.firsts.partition_point(|f| f.as_slice() <= key);
        n.checked_sub(1)
    }

    pub(crate) fn len(&self) -> usize {
        self.firsts.len()
    }
}

/// Decoded directories and blocks kept by a [`crate::Store`]: a directory under its exact
/// bytes, a block under its number and hash (a number taken by a transaction that aborted can
/// be taken again for other bytes). Bounded in bytes; starts over when full.
#[derive(Debug, Default)]
pub(crate) struct ColdCache {
    dir: Mutex<Option<(Vec<u8>, Arc<Dir>)>>,
    blocks: Mutex<(HashMap<BlockKey, Arc<Block>>, usize)>,
}

/// A block's number and hash.
type BlockKey = (u64, [u8; 16]);

const CACHE_BYTES: usize = 32 << 20;

impl ColdCache {
    pub(crate) fn dir(&self, bytes: &[u8]) -> Result<Arc<Dir>, Error> {
        let mut g = self.dir.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((b, d)) = g.as_ref()
            && b.as_slice() == bytes
        {
            return Ok(d.clone());
        }
        let d = Arc::new(Dir::parse(bytes).map_err(|detail| Error::CorruptCold {
            detail: format!("directory: {detail}"),
        })?);
        *g = Some((bytes.to_vec(), d.clone()));
        Ok(d)
    }

    pub(crate) fn block(
        &self,
        key: BlockKey,
        load: impl FnOnce() -> Result<Block, Error>,
    ) -> Result<Arc<Block>, Error> {
        if let Some(b) = self
            .blocks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .get(&key)
        {
            return Ok(b.clone());
        }
        let b = Arc::new(load()?);
        let mut g = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        if g.1 + b.bytes() > CACHE_BYTES {
            g.0.clear();
            g.1 = 0;
        }
        g.1 += b.bytes();
        g.0.insert(key, b.clone());
        Ok(b)
    }
}

/// Reads the directory's block `i` (through the cache).
pub(crate) type BlockReader<'a> = dyn Fn(usize) -> Result<Arc<Block>, Error> + 'a;

/// Called with each entry of a scan; returns whether to go on.
pub(crate) type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool, Error> + 'a;

/// The cold side as one transaction sees it.
pub(crate) struct View<'a> {
    pub dir: Arc<Dir>,
    pub read: &'a BlockReader<'a>,
}

impl View<'_> {
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let Some(i) = self.dir.block_for(key) else {
            return Ok(None);
        };
        let b = (self.read)(i)?;
        Ok(b.get(key).map(<[u8]>::to_vec))
    }

    /// Entries within bounds, in key order or reversed, lazily: `f` gets each in turn and
    /// returns whether to go on.
    pub(crate) fn scan(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
        f: &mut Visit<'_>,
    ) -> Result<(), Error> {
        let below_end = |k: &[u8]| match end {
            Bound::Included(e) => k <= e,
            Bound::Excluded(e) => k < e,
            Bound::Unbounded => true,
        };
        let above_start = |k: &[u8]| match start {
            Bound::Included(s) => k >= s,
            Bound::Excluded(s) => k > s,
            Bound::Unbounded => true,
        };
        let n = self.dir.len();
        if n == 0 {
            return Ok(());
        }
        if !reverse {
            let mut bi = match start {
                Bound::Included(s) | Bound::Excluded(s) => self.dir.block_for(s).unwrap_or(0),
                Bound::Unbounded => 0,
            };
            while bi < n {
                let b = (self.read)(bi)?;
                let from = match start {
                    Bound::Included(s) | Bound::Excluded(s) => b.lower_bound(s),
                    Bound::Unbounded => 0,
                };
                for i in from..b.len() {
                    let k = b.key(i);
                    if !above_start(k) {
                        continue;
                    }
                    if !below_end(k) || !f(k, b.value(i))? {
                        return Ok(());
                    }
                }
                bi += 1;
            }
        } else {
            let mut bi = match end {
                Bound::Included(e) | Bound::Excluded(e) => match self.dir.block_for(e) {
                    Some(i) => i as isize,
                    None => return Ok(()),
                },
                Bound::Unbounded => n as isize - 1,
            };
            while bi >= 0 {
                let b = (self.read)(bi as usize)?;
                let to = match end {
                    Bound::Included(e) | Bound::Excluded(e) => {
                        let i = b.lower_bound(e);
                        if i < b.len() && b.key(i) == e {
                            i + 1
                        } else {
                            i
                        }
                    }
                    Bound::Unbounded => b.len(),
                };
                for i in (0..to).rev() {
                    let k = b.key(i);
                    if !below_end(k) {
                        continue;
                    }
                    if !above_start(k) || !f(k, b.value(i))? {
                        return Ok(());
                    }
                }
                bi -= 1;
            }
        }
        Ok(())
    }
}

impl View<'_> {
    /// Reads every block and checks that each holds exactly the keys its place in the
    /// directory allows: from its first key to below the next block's.
    pub(crate) fn check(&self) -> Result<(), Error> {
        for i in 0..self.dir.len() {
            let b = (self.read)(i)?;
            let bad = |what: &str| Error::CorruptCold {
                detail: format!("block {}: {what}", self.dir.numbers[i]),
            };
            if b.key(0) != self.dir.firsts[i].as_slice() {
                return Err(bad("its first key is not the directory's"));
            }
            if let Some(next) = self.dir.firsts.get(i + 1)
                && b.key(b.len() - 1) >= next.as_slice()
            {
                return Err(bad("its keys reach into the next block's"));
            }
        }
        Ok(())
    }
}

/// Cuts a sorted stream of entries into blocks (see the module doc).
#[derive(Default)]
pub(crate) struct Builder {
    cur: Vec<(Vec<u8>, Vec<u8>)>,
    cur_bytes: usize,
    /// Finished blocks: first key and bytes.
    pub done: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Builder {
    /// Adds the next entry (keys must ascend strictly).
    pub(crate) fn push(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.cur_bytes += key.len() + value.len() + 4;
        let boundary = self.cur_bytes >= MAX_BLOCK
            || (self.cur_bytes >= MIN_BLOCK && blake3::hash(&key).as_bytes()[0] < 8);
        self.cur.push((key, value));
        if boundary {
            self.cut();
        }
    }

    fn cut(&mut self) {
        if self.cur.is_empty() {
            return;
        }
        let mut out = BLOCK_MAGIC.to_vec();
        varint::write(&mut out, self.cur.len() as u64);
        for (k, v) in &self.cur {
            varint::write(&mut out, k.len() as u64);
            out.extend_from_slice(k);
            varint::write(&mut out, v.len() as u64);
            out.extend_from_slice(v);
        }
        let first = std::mem::take(&mut self.cur).swap_remove(0).0;
        self.done.push((first, out));
        self.cur_bytes = 0;
    }

    /// The blocks finished so far (first key, bytes), handed over.
    pub(crate) fn take_done(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        std::mem::take(&mut self.done)
    }

    pub(crate) fn finish(mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.cut();
        self.done
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn view_of(map: &BTreeMap<Vec<u8>, Vec<u8>>) -> (Dir, Vec<Arc<Block>>) {
        let mut b = Builder::default();
        for (k, v) in map {
            b.push(k.clone(), v.clone());
        }
        let mut dir = Dir::default();
        let mut blocks = Vec::new();
        for (first, bytes) in b.finish() {
            dir.hashes.push(block_hash(&bytes));
            dir.numbers.push(blocks.len() as u64 * 1000);
            let block = Block::parse(bytes).unwrap();
            assert_eq!(block.first_key(), first.as_slice());
            dir.firsts.push(first);
            blocks.push(Arc::new(block));
        }
        assert_eq!(Dir::parse(&dir.encode()).unwrap(), dir);
        (dir, blocks)
    }

    fn collect(
        view: &View<'_>,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        view.scan(start, end, reverse, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            Ok(true)
        })
        .unwrap();
        out
    }

    #[test]
    fn malformed_blocks_and_nodes_are_errors() {
        let mut b = Builder::default();
        b.push(b"a".to_vec(), b"1".to_vec());
        b.push(b"b".to_vec(), b"2".to_vec());
        let (_, bytes) = b.finish().pop().unwrap();
        for cut in 0..bytes.len() {
            assert!(Block::parse(bytes[..cut].to_vec()).is_err(), "cut at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(Block::parse(extra).is_err());
        let swapped = [BLOCK_MAGIC, &[2, 1, b'b', 0, 1, b'a', 0]].concat();
        assert!(Block::parse(swapped).is_err());
        let dir = Dir {
            firsts: vec![b"a".to_vec(), b"b".to_vec()],
            numbers: vec![1, 300],
            hashes: vec![[7; 16], [8; 16]],
        };
        let bytes = dir.encode();
        for cut in 0..bytes.len() {
            assert!(Dir::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut swapped = dir.clone();
        swapped.firsts.swap(0, 1);
        assert!(Dir::parse(&swapped.encode()).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Every get and every bounded scan, either way, agrees with a sorted map, across
        /// block boundaries.
        #[test]
        fn views_agree_with_a_sorted_map(
            map in prop::collection::btree_map(
                prop::collection::vec(0u8..4, 1..6),
                prop::collection::vec(any::<u8>(), 0..900),
                0..200),
            probes in prop::collection::vec(prop::collection::vec(0u8..4, 0..6), 1..8),
        ) {
            let (dir, blocks) = view_of(&map);
            let read = |i: usize| -> Result<Arc<Block>, Error> { Ok(blocks[i].clone()) };
            let view = View { dir: Arc::new(dir), read: &read };
            for p in &probes {
                prop_assert_eq!(view.get(p).unwrap(), map.get(p).cloned());
            }
            for w in probes.windows(2) {
                let (a, b) = (w[0].as_slice(), w[1].as_slice());
                for (start, end) in [
                    (Bound::Included(a), Bound::Excluded(b)),
                    (Bound::Excluded(a), Bound::Included(b)),
                    (Bound::Included(a), Bound::Unbounded),
                    (Bound::Unbounded, Bound::Included(b)),
                ] {
                    let want: Vec<(Vec<u8>, Vec<u8>)> = if a > b && !matches!(start, Bound::Unbounded) && !matches!(end, Bound::Unbounded) {
                        Vec::new()
                    } else {
                        map.range::<[u8], _>((start, end)).map(|(k, v)| (k.clone(), v.clone())).collect()
                    };
                    prop_assert_eq!(&collect(&view, start, end, false), &want);
                    let mut rev = want.clone();
                    rev.reverse();
                    prop_assert_eq!(&collect(&view, start, end, true), &rev);
                }
            }
        }
    }
}
