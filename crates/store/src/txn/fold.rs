//! A gc's fold: every live root, index entry and pack index entry moves into cold blocks.

use std::collections::HashSet;
use std::ops::Bound;

use redb::{ReadableTable, ReadableTableMetadata};

use super::locate::pack_ids_cold_key;
use super::read::ReadPath;
use super::{IndexEntry, WriteTxn};
use crate::codec::ObjectKind;
use crate::cold::{self, COLD, K_COLD, NS_INDEX, NS_ROOTS, TOMBS};
use crate::entries::PACK_IDS;
use crate::error::DbResult;
use crate::pack;
use crate::schema::{INDEX, META, ROOTS, clear};
use crate::{Error, ObjectId};

impl WriteTxn<'_> {
    /// Moves every live root, index entry and pack index entry, merged with the cold entries
    /// and less the tombstoned ones, into cold blocks (`cold.rs`), and empties the live tables and the
    /// tombstones. A block whose bytes an existing block already has keeps that block, so a gc
    /// with nothing new writes nothing, and one with a few changes rewrites the blocks around
    /// them. Returns the blocks written.
    pub(crate) fn fold_cold(&mut self) -> Result<u64, Error> {
        if self.nothing_to_fold()? {
            return Ok(0);
        }
        // The length of `roots` before the fold empties it (the root count is relative to it).
        self.live_roots()?;
        let tombs = self.tombstones()?;
        let first_number = self.take_seq()?;
        let (dir, written, roots, next_number) = self.write_cold_blocks(&tombs, first_number)?;
        self.next_seq = Some(next_number.max(first_number + 1));
        // Exact here (written at commit): every root is now in a cold block.
        self.roots_total = Some(roots);
        self.totals.roots = 0;
        self.install_cold_dir(&dir)?;
        Ok(written)
    }

    /// Whether the live tables and the tombstones are all empty: nothing changed since the
    /// last fold.
    fn nothing_to_fold(&self) -> Result<bool, Error> {
        let path = self.path();
        let txn = &self.txn;
        Ok(txn.open_table(ROOTS).db(path)?.is_empty().db(path)?
            && txn.open_table(INDEX).db(path)?.is_empty().db(path)?
            && txn.open_table(PACK_IDS).db(path)?.is_empty().db(path)?
            && txn.open_table(TOMBS).db(path)?.is_empty().db(path)?)
    }

    /// The cold keys removed since the last gc: few, kept in memory.
    fn tombstones(&self) -> Result<HashSet<Vec<u8>>, Error> {
        let path = self.path();
        let t = self.txn.open_table(TOMBS).db(path)?;
        let mut out = HashSet::new();
        for item in t.iter().db(path)? {
            out.insert(item.db(path)?.0.value().to_vec());
        }
        Ok(out)
    }

    /// Merges the live entries (in key order, namespace by namespace) with the cold ones less
    /// `tombs`, and writes the result as cold blocks numbered from `first_number`, keeping
    /// every existing block whose bytes are unchanged and deleting the others. Live and cold
    /// entries stream, and each new block is compressed and written as soon as it is cut, so
    /// memory holds one block. Returns the new directory, the blocks written, the number of
    /// roots, and the next free number.
    fn write_cold_blocks(
        &self,
        tombs: &HashSet<Vec<u8>>,
        first_number: u64,
    ) -> Result<(cold::Dir, u64, u64, u64), Error> {
        let path = self.path();
        let txn = &self.txn;
        let level = self.shared.options.gc_zstd_level;
        let (roots_t, index_t, pack_ids_t) = (
            txn.open_table(ROOTS).db(path)?,
            txn.open_table(INDEX).db(path)?,
            txn.open_table(PACK_IDS).db(path)?,
        );
        type Live<'a> = Box<dyn Iterator<Item = Result<IndexEntry, Error>> + 'a>;
        let roots_live: Live<'_> = Box::new(roots_t.iter().db(path)?.map(|item| {
            let (k, v) = item.db(path)?;
            Ok((
                cold::cold_key(NS_ROOTS, k.value().as_bytes()),
                v.value().to_vec(),
            ))
        }));
        let index_live: Live<'_> = Box::new(index_t.iter().db(path)?.map(|item| {
            let (k, v) = item.db(path)?;
            Ok((cold::cold_key(NS_INDEX, k.value()), v.value().to_vec()))
        }));
        let pack_ids_live: Live<'_> = Box::new(pack_ids_t.iter().db(path)?.map(|item| {
            let (k, v) = item.db(path)?;
            Ok((pack_ids_cold_key(k.value()), v.value().to_vec()))
        }));
        // Namespaces in order (roots, index, pack index), each in key order.
        let mut live = roots_live.chain(index_live).chain(pack_ids_live).peekable();
        let mut builder = cold::Builder::default();
        let mut dir = cold::Dir::default();
        let mut kept: std::collections::HashMap<[u8; 16], u64> = Default::default();
        let (mut written, mut roots, mut next) = (0u64, 0u64, first_number);
        // Keeps a block whose bytes an existing block has, else compresses and writes it.
        let mut flush = |blocks: Vec<(Vec<u8>, Vec<u8>)>,
                         kept: &mut std::collections::HashMap<[u8; 16], u64>,
                         dir: &mut cold::Dir|
         -> Result<(), Error> {
            for (first, bytes) in blocks {
                let hash = cold::block_hash(&bytes);
                let number = match kept.remove(&hash) {
                    Some(n) => n,
                    None => {
                        let mut b = pack::Builder::default();
                        b.push(
                            ObjectId::from_bytes(*blake3::hash(&bytes).as_bytes()),
                            ObjectKind::Blob,
                            &bytes,
                        );
                        let e = b.finish(level)?;
                        let number = next;
                        next += 1;
                        let mut t = txn.open_table(COLD).db(path)?;
                        for (i, chunk) in e.chunks.iter().enumerate() {
                            let i = u32::try_from(i).map_err(|_| Error::Pack {
                                detail: "too many chunks in a cold block".into(),
                            })?;
                            t.insert((number, i), chunk.as_slice()).db(path)?;
                        }
                        written += 1;
                        number
                    }
                };
                dir.firsts.push(first);
                dir.numbers.push(number);
                dir.hashes.push(hash);
            }
            Ok(())
        };
        let mut push = |k: Vec<u8>,
                        v: Vec<u8>,
                        kept: &mut std::collections::HashMap<[u8; 16], u64>,
                        dir: &mut cold::Dir|
         -> Result<(), Error> {
            roots += u64::from(k.first() == Some(&NS_ROOTS));
            builder.push(k, v);
            flush(builder.take_done(), kept, dir)
        };
        let old = self.merged().with_cold(|c| {
            let old = c.map(|c| c.dir.clone());
            if let Some(d) = &old {
                kept = d
                    .hashes
                    .iter()
                    .copied()
                    .zip(d.numbers.iter().copied())
                    .collect();
            }
            if let Some(c) = c {
                c.scan(Bound::Unbounded, Bound::Unbounded, false, &mut |ck, v| {
                    while let Some(item) =
                        live.next_if(|e| e.as_ref().map_or(true, |(lk, _)| lk.as_slice() < ck))
                    {
                        let (k, v) = item?;
                        push(k, v, &mut kept, &mut dir)?;
                    }
                    match live.next_if(|e| e.as_ref().is_ok_and(|(lk, _)| lk.as_slice() == ck)) {
                        Some(item) => {
                            let (k, v) = item?;
                            push(k, v, &mut kept, &mut dir)?;
                        }
                        None if !tombs.contains(ck) => {
                            push(ck.to_vec(), v.to_vec(), &mut kept, &mut dir)?;
                        }
                        None => {}
                    }
                    Ok(true)
                })?;
            }
            for item in live.by_ref() {
                let (k, v) = item?;
                push(k, v, &mut kept, &mut dir)?;
            }
            Ok(old)
        })?;
        flush(builder.finish(), &mut kept, &mut dir)?;
        // The blocks no longer listed.
        let gone: std::collections::HashSet<u64> = kept.into_values().collect();
        drop(live);
        drop((roots_t, index_t, pack_ids_t));
        if !gone.is_empty() {
            txn.open_table(COLD)
                .db(path)?
                .retain(|(n, _), _| !gone.contains(&n))
                .db(path)?;
        }
        let _ = old;
        Ok((dir, written, roots, next))
    }

    /// Makes `dir` the cold directory, empties the live tables and the tombstones, and forgets
    /// what the memo kept of them.
    fn install_cold_dir(&mut self, dir: &cold::Dir) -> Result<(), Error> {
        let path = self.path();
        let mut meta = self.txn.open_table(META).db(path)?;
        if dir.len() == 0 {
            meta.remove(K_COLD).db(path)?;
        } else {
            meta.insert(K_COLD, dir.encode().as_slice()).db(path)?;
        }
        drop(meta);
        clear(&self.txn, ROOTS, path)?;
        clear(&self.txn, INDEX, path)?;
        clear(&self.txn, PACK_IDS, path)?;
        clear(&self.txn, TOMBS, path)?;
        let memo = self.memo_mut();
        memo.cold_dir = None;
        memo.tombs_empty = None;
        Ok(())
    }
}
