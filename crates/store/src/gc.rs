//! Garbage collection: sweep objects left without references, then compact the file.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use redb::{Key, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle, Value};

use crate::codec;
use crate::cold::TOMBS;
use crate::entries::PACK_IDS;
use crate::error::DbResult;
use crate::pack::{self, Builder, Encoded, Loc, PACKS};
use crate::schema::{IDS, INDEX, META, OBJECTS, ROOTS};
use crate::txn::{BaseCache, ReadPath, load_cached};
use crate::{Error, ObjectId, Progress, Store};

/// What a `gc` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Objects removed by the sweep (normally 0: commits already remove unreferenced objects;
    /// leftovers come from a repaired store).
    pub objects_removed: u64,
    /// Stored bytes of those objects.
    pub bytes_freed: u64,
    /// Delta objects re-encoded whole so that a base only deltas still held could go.
    pub rewritten: u64,
    /// Objects in the packs this gc wrote (0 when every object was already in a pack with no
    /// removed members: gc then repacks nothing).
    pub packed: u64,
    /// Packs written.
    pub packs_written: u64,
    /// Stored bytes before packing minus after (negative when packing grew them).
    pub pack_bytes_saved: i64,
    /// Cold blocks written: roots, index entries and pack index entries moved out of their
    /// tables (`cold.rs`);
    /// 0 when nothing changed since the last gc.
    pub cold_blocks_written: u64,
    pub file_bytes_before: u64,
    pub file_bytes_after: u64,
    /// Tables copied in key order into fresh pages because theirs were sparse (keys inserted
    /// in hash order leave B-tree leaves about half full; compaction moves pages but never
    /// merges them).
    pub tables_rebuilt: u64,
    /// Whether compaction ran and changed the file.
    pub compacted: bool,
    /// Why compaction could not run (for example another process holds a snapshot).
    pub compaction_skipped: Option<String>,
}

impl Store {
    /// Sweeps unreferenced objects in one transaction, then compacts the file so freed pages
    /// go back to the file system.
    pub fn gc(&self, progress: &dyn Progress) -> Result<Outcome, Error> {
        self.guarded(|| self.gc_unguarded(progress))
    }

    fn gc_unguarded(&self, progress: &dyn Progress) -> Result<Outcome, Error> {
        let file_bytes_before = self.stats()?.file_bytes;
        let mut txn = self.write()?;
        // Every entry gets its object's whole count: gc reads counts from the tables and moves
        // entries with them.
        txn.settle_hot_pin()?;
        let mut zero: Vec<ObjectId> = {
            let ids = txn.raw().open_table(IDS).db(self.path())?;
            progress.start("sweep", Some(ids.len().db(self.path())?));
            let mut out = Vec::new();
            for item in ids.iter().db(self.path())? {
                let (k, v) = item.db(self.path())?;
                if v.value().1 == 0 {
                    out.push(ObjectId::from_bytes(k.value()));
                }
                progress.inc(1);
                if progress.should_cancel() {
                    return Err(Error::Cancelled);
                }
            }
            out
        };
        for (key, item) in txn.pack_items()? {
            if item.count == 0 {
                zero.push(txn.item_id(key, &item)?);
            }
        }
        for id in zero {
            txn.mark_zero(id);
        }
        // Bases that nothing but deltas hold (their sessions were deleted): re-encode the
        // deltas whole so the bases can go. Freeing one base can leave its own base in the same
        // position, so repeat until nothing changes (at most the chain depth).
        let mut rewritten = 0u64;
        loop {
            let orphaned = self.bases_held_only_by_deltas(&mut txn)?;
            // Each round is a phase of its own: its total is known only once the round
            // before it has freed its bases.
            progress.start("rewrite", Some(orphaned.len() as u64));
            if orphaned.is_empty() {
                break;
            }
            for dependent in orphaned {
                if progress.should_cancel() {
                    return Err(Error::Cancelled);
                }
                txn.rewrite_whole(&dependent)?;
                rewritten += 1;
                progress.inc(1);
            }
            txn.sweep_now()?;
        }
        let (packed, packs_written, pack_bytes_saved) = self.pack(&mut txn, progress)?;
        // Roots, index entries and the pack index into cold blocks, after packing, which
        // moves entries of the pack index.
        progress.start("cold", Some(1));
        let cold_blocks_written = txn.fold_cold()?;
        let swept = txn.commit()?;
        progress.inc(1);
        // A compaction is one unit of work: redb reports no finer progress of it.
        progress.start("compact", Some(1));
        // Rebuilding moves tables to new pages; it pays only when compaction can then return
        // the old ones, so it runs only when a first compaction could run (nothing held a
        // snapshot), and a second compaction follows it.
        let first = self.compact()?;
        progress.inc(1);
        let (compacted, compaction_skipped, tables_rebuilt) = match first {
            Err(reason) => (false, Some(reason), 0),
            Ok(first) => {
                let rebuilt = self.rebuild_sparse_tables(progress)?;
                if rebuilt == 0 {
                    (first, None, 0)
                } else {
                    progress.start("compact", Some(1));
                    let second = self.compact()?;
                    progress.inc(1);
                    match second {
                        Ok(second) => (first || second, None, rebuilt),
                        Err(reason) => (first, Some(reason), rebuilt),
                    }
                }
            }
        };
        // Space may have come back: the reserve is made again if it was given up.
        self.keep_reserve();
        Ok(Outcome {
            objects_removed: swept.objects_removed,
            bytes_freed: swept.bytes_freed,
            rewritten,
            packed,
            packs_written,
            pack_bytes_saved,
            cold_blocks_written,
            tables_rebuilt,
            file_bytes_before,
            file_bytes_after: self.stats()?.file_bytes,
            compacted,
            compaction_skipped,
        })
    }
}

impl Store {
    /// Deltas whose base is referenced by deltas alone.
    fn bases_held_only_by_deltas(
        &self,
        txn: &mut crate::WriteTxn<'_>,
    ) -> Result<Vec<ObjectId>, Error> {
        let path = self.path();
        let mut dependents: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
        {
            let t = txn.raw();
            let ids = t.open_table(IDS).db(path)?;
            let objects = t.open_table(OBJECTS).db(path)?;
            let mut by_seq: HashMap<u64, ObjectId> = HashMap::new();
            for item in ids.iter().db(path)? {
                let (k, v) = item.db(path)?;
                by_seq.insert(v.value().0, ObjectId::from_bytes(k.value()));
            }
            for item in objects.iter().db(path)? {
                let (k, v) = item.db(path)?;
                let Some(id) = by_seq.get(&k.value()) else {
                    continue;
                };
                if let Some(base) = codec::header(id, v.value())?.base() {
                    dependents.entry(base).or_default().push(*id);
                }
            }
        }
        let mut out = Vec::new();
        for (base, deps) in dependents {
            // A base may be packed (its entry then in the pack index).
            if txn.entry(&base)?.map(|e| e.count) == Some(deps.len() as u64) {
                out.extend(deps);
            }
        }
        out.sort();
        Ok(out)
    }
}

impl Store {
    /// Moves every loose object into packs of at most `pack_bytes` uncompressed bytes,
    /// compressed at `gc_zstd_level`, in the caller's transaction, together with the members of
    /// packs that hold removed members and of packs under half that size; full packs are left
    /// alone. Each moved object's entry moves to the pack index at its new place (count
    /// unchanged);
    /// the loose frames and the packs written again are deleted; a delta's base loses the
    /// delta's reference (a pack member is whole). Returns the objects packed, the packs
    /// written and the stored bytes saved.
    fn pack(
        &self,
        txn: &mut crate::WriteTxn<'_>,
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
        let mut write = |txn: &mut crate::WriteTxn<'_>, b: Builder| -> Result<(), Error> {
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

    /// Copies every sparse table into fresh pages in key order, in one transaction: the
    /// contents are unchanged, so a crash leaves the old layout or the new one. Returns how many
    /// tables were rebuilt.
    fn rebuild_sparse_tables(&self, progress: &dyn Progress) -> Result<u64, Error> {
        let path = self.path();
        let mut txn = self.write()?;
        let names: Vec<String> = txn
            .raw()
            .list_tables()
            .db(path)?
            .map(|h| h.name().to_string())
            .collect();
        progress.start("rebuild", Some(names.len() as u64));
        let mut rebuilt = 0;
        for name in names {
            if progress.should_cancel() {
                // Dropping the transaction aborts it: nothing was changed.
                return Err(Error::Cancelled);
            }
            let t = txn.raw();
            let done = if name == META.name() {
                rebuild_table(t, META, path)?
            } else if name == ROOTS.name() {
                rebuild_table(t, ROOTS, path)?
            } else if name == OBJECTS.name() {
                rebuild_table(t, OBJECTS, path)?
            } else if name == IDS.name() {
                rebuild_table(t, IDS, path)?
            } else if name == PACK_IDS.name() {
                rebuild_table(t, PACK_IDS, path)?
            } else if name == TOMBS.name() {
                rebuild_table(t, TOMBS, path)?
            } else if name == PACKS.name() {
                rebuild_table(t, PACKS, path)?
            } else if name == INDEX.name() {
                rebuild_table(t, INDEX, path)?
            } else {
                false
            };
            rebuilt += u64::from(done);
            progress.inc(1);
        }
        if rebuilt > 0 {
            txn.commit()?;
        }
        Ok(rebuilt)
    }
}

/// Name of the scratch table a rebuild copies into; it never outlives the transaction.
const REBUILD_TABLE: &str = "rebuild~";

/// Every loose object: its frame's sequence number and its id, from `ids`.
fn loose_objects(
    txn: &mut crate::WriteTxn<'_>,
    path: &Path,
) -> Result<Vec<(u64, ObjectId)>, Error> {
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
    txn: &mut crate::WriteTxn<'_>,
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
fn move_entries(txn: &mut crate::WriteTxn<'_>, moved: &[(ObjectId, Loc)]) -> Result<(), Error> {
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
    txn: &mut crate::WriteTxn<'_>,
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

/// Rebuilds `def` when a copy in key order (which fills each leaf before starting the next)
/// takes fewer pages: copies it into a scratch table and puts the copy in its place, or drops
/// the copy when it saves nothing (values near a page in size pack no better). Tables already
/// dense to within a page are not copied at all. Returns whether it rebuilt.
fn rebuild_table<K, V>(
    t: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
    path: &Path,
) -> Result<bool, Error>
where
    K: Key + 'static,
    V: Value + 'static,
    for<'a> K::SelfType<'a>: Borrow<K::SelfType<'a>>,
    for<'a> V::SelfType<'a>: Borrow<V::SelfType<'a>>,
{
    let scratch = TableDefinition::<K, V>::new(REBUILD_TABLE);
    let pages = |s: &redb::TableStats| s.leaf_pages() + s.branch_pages();
    let smaller = {
        let table = t.open_table(def).db(path)?;
        let s = table.stats().db(path)?;
        let used = s.stored_bytes() + s.metadata_bytes();
        // Every byte of the table's pages is stored, metadata or fragmented.
        let page_size = (used + s.fragmented_bytes()) / pages(&s).max(1);
        if pages(&s) <= used.div_ceil(page_size.max(1)) + 1 {
            return Ok(false);
        }
        let mut copy = t.open_table(scratch).db(path)?;
        for item in table.iter().db(path)? {
            let (k, v) = item.db(path)?;
            copy.insert(k.value(), v.value()).db(path)?;
        }
        pages(&copy.stats().db(path)?) < pages(&s)
    };
    if !smaller {
        t.delete_table(scratch).db(path)?;
        return Ok(false);
    }
    t.delete_table(def).db(path)?;
    t.rename_table(scratch, def).db(path)?;
    Ok(true)
}
