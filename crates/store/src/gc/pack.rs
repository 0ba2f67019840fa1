//! Phase 3 of gc: objects into packs (`pack.rs` at the crate root is the encoding).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use redb::{ReadableTable, TableHandle};

use crate::codec;
use crate::error::DbResult;
use crate::pack::{self, Builder, Encoded, Loc, PACKS};
use crate::schema::{IDS, OBJECTS};
use crate::txn::{BaseCache, ReadPath, load_cached};
use crate::{Error, ObjectId, Progress, Store, WriteTxn};

impl Store {
    /// Moves every loose object into packs of at most `pack_bytes` uncompressed bytes,
    /// compressed at `gc_zstd_level`, in the caller's transaction, together with the members of
    /// packs that hold removed members and of packs under half that size; full packs are left
    /// alone. Each moved object's entry moves to the pack index at its new place (count
    /// unchanged);
    /// the loose frames and the packs written again are deleted; a delta's base loses the
    /// delta's reference (a pack member is whole). Returns the objects packed, the packs
    /// written and the stored bytes saved.
    pub(super) fn pack(
        &self,
        txn: &mut WriteTxn<'_>,
        progress: &dyn Progress,
    ) -> Result<(u64, u64, i64), Error> {
        let limit = usize::try_from(self.options().pack_bytes).unwrap_or(usize::MAX);
        if limit == 0 {
            return Ok((0, 0, 0));
        }
        let path = self.path();
        let mut loose = loose_objects(txn, path)?;
        // Every packed object: the pack index's items (ids resolved only for the packs written
        // again, below).
        let items = txn.pack_items()?;
        let (mut chunks, headers) = pack_chunks(txn, path)?;
        let Some(repack) = packs_to_rewrite(&items, &chunks, &headers, limit, loose.is_empty())
        else {
            return Ok((0, 0, 0));
        };
        let mut packed: Vec<(u64, u32, ObjectId)> = Vec::new();
        for (key, item) in items.iter().filter(|(_, i)| repack.contains(&i.pack)) {
            packed.push((item.pack, item.member, txn.item_id(*key, item)?));
        }
        chunks.retain(|((p, _), _)| repack.contains(p));
        let old_chunks = chunks;
        // Packed objects first, in their packs' order, then loose ones in the order they came:
        // a new pack keeps what was close together close together.
        packed.sort_unstable();
        loose.sort_unstable();
        let order: Vec<ObjectId> = packed
            .iter()
            .map(|(_, _, id)| *id)
            .chain(loose.iter().map(|(_, id)| *id))
            .collect();
        progress.start("pack", Some(order.len() as u64));
        let level = self.options().gc_zstd_level;
        let mut builder = Builder::default();
        let mut bases = BaseCache::default();
        let mut moved: Vec<(ObjectId, Loc)> = Vec::with_capacity(order.len());
        let (mut added, mut packs_written) = (0u64, 0u64);
        // Each pack is written as soon as it is full, so memory holds one pack at a time.
        let mut write = |txn: &mut WriteTxn<'_>, b: Builder| -> Result<(), Error> {
            let e = b.finish(level)?;
            let number = txn.take_seq()?;
            let mut t = txn.raw().open_table(PACKS).db(path)?;
            for (i, chunk) in e.chunks.iter().enumerate() {
                let i = u32::try_from(i).map_err(|_| Error::Pack {
                    detail: "too many chunks".into(),
                })?;
                t.insert((number, i), chunk.as_slice()).db(path)?;
            }
            for (i, id) in e.ids.iter().enumerate() {
                moved.push((*id, Encoded::loc(number, i)?));
            }
            added += e.stored;
            packs_written += 1;
            Ok(())
        };
        for id in &order {
            if progress.should_cancel() {
                return Err(Error::Cancelled);
            }
            let (kind, bytes) = txn.with_src(|src| load_cached(src, id, Some(&mut bases)))?;
            if !builder.is_empty() && (builder.raw_len() + bytes.len() > limit || builder.is_full())
            {
                write(txn, std::mem::take(&mut builder))?;
            }
            builder.push(*id, kind, &bytes);
            // Later deltas are mostly against what came before them.
            bases.put(*id, kind, std::sync::Arc::new(bytes));
            progress.inc(1);
        }
        if !builder.is_empty() {
            write(txn, builder)?;
        }
        drop(bases);
        move_entries(txn, &moved)?;
        let (freed, released) = delete_replaced(txn, &loose, &old_chunks, path)?;
        txn.add_stored(added as i64 - freed as i64);
        for base in released {
            txn.decref(&base)?;
        }
        txn.sweep_now()?;
        Ok((
            moved.len() as u64,
            packs_written,
            freed as i64 - added as i64,
        ))
    }
}

/// Every loose object: its frame's sequence number and its id, from `ids`.
fn loose_objects(txn: &mut WriteTxn<'_>, path: &Path) -> Result<Vec<(u64, ObjectId)>, Error> {
    let mut loose = Vec::new();
    let ids = txn.raw().open_table(IDS).db(path)?;
    for item in ids.iter().db(path)? {
        let (k, v) = item.db(path)?;
        loose.push((v.value().0, ObjectId::from_bytes(k.value())));
    }
    Ok(loose)
}

/// The chunks of a pack: its number, the chunk's number, and the chunk's length.
type Chunks = Vec<((u64, u32), u64)>;

/// The packs there are now: every chunk's key and length, and each pack's header (`None`:
/// damaged).
fn pack_chunks(
    txn: &mut WriteTxn<'_>,
    path: &Path,
) -> Result<(Chunks, BTreeMap<u64, Option<pack::PackHeader>>), Error> {
    let mut chunks: Chunks = Vec::new();
    let mut headers = BTreeMap::new();
    let t = txn.raw();
    if t.list_tables().db(path)?.any(|h| h.name() == PACKS.name()) {
        let packs = t.open_table(PACKS).db(path)?;
        for item in packs.iter().db(path)? {
            let (k, v) = item.db(path)?;
            let key = k.value();
            if key.1 == 0 {
                headers.insert(key.0, pack::parse_header(v.value()));
            }
            chunks.push((key, v.value().len() as u64));
        }
    }
    Ok((chunks, headers))
}

/// Which packs to write again: those holding a removed member (or none left, or with a
/// damaged header), and, when there is anything to pack at all, the small ones (under half of
/// `limit`), so that packs grow towards `pack_bytes` and compress together. Full packs stay as
/// they are: a gc compresses what is new, not the whole store again. `None`: nothing to pack.
fn packs_to_rewrite(
    items: &[(u64, crate::entries::Item)],
    chunks: &Chunks,
    headers: &BTreeMap<u64, Option<pack::PackHeader>>,
    limit: usize,
    no_loose: bool,
) -> Option<BTreeSet<u64>> {
    let mut live: BTreeMap<u64, u64> = BTreeMap::new();
    for (_, i) in items {
        *live.entry(i.pack).or_default() += 1;
    }
    let mut holes: BTreeSet<u64> = BTreeSet::new();
    let mut small: BTreeSet<u64> = BTreeSet::new();
    let numbers: BTreeSet<u64> = chunks.iter().map(|((p, _), _)| *p).collect();
    for p in numbers.iter().chain(live.keys()) {
        match (headers.get(p).copied().flatten(), live.get(p)) {
            (Some(h), Some(&n)) if h.members == n => {
                if h.raw_len < limit as u64 / 2 {
                    small.insert(*p);
                }
            }
            _ => {
                holes.insert(*p);
            }
        }
    }
    if no_loose && holes.is_empty() && small.len() < 2 {
        return None;
    }
    let mut repack = holes;
    if !no_loose || small.len() >= 2 {
        repack.extend(small);
    }
    Some(repack)
}

/// Moves the entries of the objects packed to the pack index at their new places (from
/// `ids`, or from a pack written again) while the old packs can still confirm them; their
/// counts stay as they are.
fn move_entries(txn: &mut WriteTxn<'_>, moved: &[(ObjectId, Loc)]) -> Result<(), Error> {
    for (id, loc) in moved {
        let Loc::Packed { pack, member } = *loc else {
            continue;
        };
        let e = txn.entry(id)?.ok_or(Error::ObjectMissing { id: *id })?;
        txn.remove_entry(id, &e)?;
        txn.add_packed(id, pack, member, e.count)?;
    }
    Ok(())
}

/// Deletes the loose frames and the chunks of the packs written again. Returns the stored
/// bytes freed and the delta bases the loose frames held (a pack member holds none).
fn delete_replaced(
    txn: &mut WriteTxn<'_>,
    loose: &[(u64, ObjectId)],
    old_chunks: &Chunks,
    path: &Path,
) -> Result<(u64, Vec<ObjectId>), Error> {
    let mut freed = 0u64;
    let mut released: Vec<ObjectId> = Vec::new();
    let t = txn.raw();
    let mut objects = t.open_table(OBJECTS).db(path)?;
    for (seq, id) in loose {
        let frame = objects
            .remove(*seq)
            .db(path)?
            .ok_or_else(|| Error::Corrupt {
                id: *id,
                detail: format!("its frame {seq} is missing"),
            })?;
        freed += frame.value().len() as u64;
        released.extend(codec::header(id, frame.value())?.base());
    }
    let mut packs = t.open_table(PACKS).db(path)?;
    for (key, len) in old_chunks {
        packs.remove(*key).db(path)?;
        freed += len;
    }
    Ok((freed, released))
}
