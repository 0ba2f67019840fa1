//! Garbage collection: sweep objects left without references, then compact the file.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::path::Path;

use redb::{Key, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle, Value};

use crate::codec;
use crate::store::{
    DbResult, IDS, INDEX_PREFIX, K_NEXT_SEQ, K_RECOMPRESSED, META, OBJECTS, ROOTS, read_counter,
};
use crate::{Error, ObjectId, Progress, Store};

/// What a `gc` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Objects removed by the sweep (normally 0: commits already remove unreferenced objects;
    /// leftovers come from a repaired store or an older build).
    pub objects_removed: u64,
    /// Stored bytes of those objects.
    pub bytes_freed: u64,
    /// Delta objects re-encoded whole so that a base only deltas still held could go.
    pub rewritten: u64,
    /// Objects stored since the previous gc that re-encoding at `gc_zstd_level` made smaller.
    pub recompressed: u64,
    /// Stored bytes that re-encoding saved.
    pub recompressed_bytes_saved: u64,
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
        progress.start("sweep", None);
        let mut txn = self.write()?;
        let zero: Vec<ObjectId> = {
            let ids = txn.raw().open_table(IDS).db(self.path())?;
            let mut out = Vec::new();
            for item in ids.iter().db(self.path())? {
                let (k, v) = item.db(self.path())?;
                if v.value().1 == 0 {
                    out.push(ObjectId::from_bytes(k.value()));
                }
                if progress.should_cancel() {
                    return Err(Error::Cancelled);
                }
            }
            out
        };
        for id in zero {
            txn.mark_zero(id);
        }
        // Bases that nothing but deltas hold (their sessions were deleted): re-encode the
        // deltas whole so the bases can go. Freeing one base can leave its own base in the same
        // position, so repeat until nothing changes (at most the chain depth).
        progress.start("rewrite", None);
        let mut rewritten = 0u64;
        loop {
            let orphaned = self.bases_held_only_by_deltas(&mut txn)?;
            if orphaned.is_empty() {
                break;
            }
            for dependent in orphaned {
                if progress.should_cancel() {
                    return Err(Error::Cancelled);
                }
                txn.rewrite_whole(&dependent)?;
                rewritten += 1;
            }
            txn.sweep_now()?;
        }
        progress.start("recompress", None);
        let (recompressed, recompressed_bytes_saved) = self.recompress_new(&mut txn, progress)?;
        let swept = txn.commit()?;
        progress.start("compact", None);
        // Rebuilding moves tables to new pages; it pays only when compaction can then return
        // the old ones, so it runs only when a first compaction could run (nothing held a
        // snapshot), and a second compaction follows it.
        let (compacted, compaction_skipped, tables_rebuilt) = match self.compact()? {
            Err(reason) => (false, Some(reason), 0),
            Ok(first) => {
                progress.start("rebuild", None);
                let rebuilt = self.rebuild_sparse_tables(progress)?;
                if rebuilt == 0 {
                    (first, None, 0)
                } else {
                    progress.start("compact", None);
                    match self.compact()? {
                        Ok(second) => (first || second, None, rebuilt),
                        Err(reason) => (first, Some(reason), rebuilt),
                    }
                }
            }
        };
        Ok(Outcome {
            objects_removed: swept.objects_removed,
            bytes_freed: swept.bytes_freed,
            rewritten,
            recompressed,
            recompressed_bytes_saved,
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
        let t = txn.raw();
        let ids = t.open_table(IDS).db(path)?;
        let objects = t.open_table(OBJECTS).db(path)?;
        let mut by_seq: HashMap<u64, ObjectId> = HashMap::new();
        let mut counts: HashMap<ObjectId, u64> = HashMap::new();
        for item in ids.iter().db(path)? {
            let (k, v) = item.db(path)?;
            let id = ObjectId::from_bytes(k.value());
            let (seq, n) = v.value();
            by_seq.insert(seq, id);
            counts.insert(id, n);
        }
        let mut dependents: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
        for item in objects.iter().db(path)? {
            let (k, v) = item.db(path)?;
            let Some(id) = by_seq.get(&k.value()) else {
                continue;
            };
            if let Some(base) = codec::header(id, v.value())?.base() {
                dependents.entry(base).or_default().push(*id);
            }
        }
        let mut out = Vec::new();
        for (base, deps) in dependents {
            if counts.get(&base).copied() == Some(deps.len() as u64) {
                out.extend(deps);
            }
        }
        out.sort();
        Ok(out)
    }
}

impl Store {
    /// Re-encodes, at `gc_zstd_level`, every object stored since the previous gc (frames at
    /// or above the `recompressed_below` mark, which then moves to the next sequence number).
    /// Returns how many objects got smaller and the bytes saved.
    fn recompress_new(
        &self,
        txn: &mut crate::WriteTxn<'_>,
        progress: &dyn Progress,
    ) -> Result<(u64, u64), Error> {
        let level = self.options().gc_zstd_level;
        if level <= self.options().zstd_level {
            return Ok((0, 0));
        }
        let path = self.path();
        let (from, next) = {
            let meta = txn.raw().open_table(META).db(path)?;
            (
                read_counter(&meta, K_RECOMPRESSED, path)?,
                read_counter(&meta, K_NEXT_SEQ, path)?,
            )
        };
        let mut todo: Vec<(u64, ObjectId)> = Vec::new();
        {
            let ids = txn.raw().open_table(IDS).db(path)?;
            for item in ids.iter().db(path)? {
                let (k, v) = item.db(path)?;
                let (seq, _) = v.value();
                if seq >= from {
                    todo.push((seq, ObjectId::from_bytes(k.value())));
                }
            }
        }
        todo.sort_unstable();
        let (mut count, mut saved) = (0, 0);
        for (_, id) in todo {
            if progress.should_cancel() {
                return Err(Error::Cancelled);
            }
            let s = txn.recompress(&id, level)?;
            count += u64::from(s > 0);
            saved += s;
        }
        txn.raw()
            .open_table(META)
            .db(path)?
            .insert(K_RECOMPRESSED, next.to_le_bytes().as_slice())
            .db(path)?;
        Ok((count, saved))
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
            } else if name.starts_with(INDEX_PREFIX) {
                rebuild_table(t, TableDefinition::<&[u8], &[u8]>::new(&name), path)?
            } else {
                false
            };
            rebuilt += u64::from(done);
        }
        if rebuilt > 0 {
            txn.commit()?;
        }
        Ok(rebuilt)
    }
}

/// Name of the scratch table a rebuild copies into; it never outlives the transaction.
const REBUILD_TABLE: &str = "rebuild~";

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
