//! Garbage collection, in one write transaction and then a compaction. The phases, in order:
//! 1. sweep (here): every object left without references is marked for removal at commit;
//! 2. `rewrite.rs`: deltas whose base only deltas still hold are stored whole, so the base can
//!    go (repeated until nothing changes);
//! 3. `pack.rs`: loose objects, and the members of packs with holes or too small, into packs;
//! 4. cold (`WriteTxn::fold_cold`, `txn/fold.rs`): roots, index entries and the pack index into
//!    cold blocks; then the commit, which removes what the sweep marked;
//! 5. compaction, and `rebuild.rs`: sparse tables copied in key order, then compacted again.

mod pack;
mod rebuild;
mod rewrite;

use redb::{ReadableTable, ReadableTableMetadata};

use crate::error::DbResult;
use crate::schema::IDS;
use crate::txn::ReadPath;
use crate::{Error, ObjectId, Progress, Store, WriteTxn};

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
        self.sweep(&mut txn, progress)?;
        let rewritten = rewrite::orphaned_deltas(&mut txn, self.path(), progress)?;
        let (packed, packs_written, pack_bytes_saved) = self.pack(&mut txn, progress)?;
        // Roots, index entries and the pack index into cold blocks, after packing, which
        // moves entries of the pack index.
        progress.start("cold", Some(1));
        let cold_blocks_written = txn.fold_cold()?;
        let swept = txn.commit()?;
        progress.inc(1);
        let (compacted, compaction_skipped, tables_rebuilt) = self.compact_and_rebuild(progress)?;
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

    /// Marks every object whose count is zero (loose or packed) for removal at commit.
    fn sweep(&self, txn: &mut WriteTxn<'_>, progress: &dyn Progress) -> Result<(), Error> {
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
        Ok(())
    }

    /// Compacts the file; when that could run, rebuilds sparse tables and compacts again.
    /// Returns whether compaction changed the file, why it could not run, and the tables
    /// rebuilt.
    fn compact_and_rebuild(
        &self,
        progress: &dyn Progress,
    ) -> Result<(bool, Option<String>, u64), Error> {
        // A compaction is one unit of work: redb reports no finer progress of it.
        progress.start("compact", Some(1));
        // Rebuilding moves tables to new pages; it pays only when compaction can then return
        // the old ones, so it runs only when a first compaction could run (nothing held a
        // snapshot), and a second compaction follows it.
        let first = self.compact()?;
        progress.inc(1);
        Ok(match first {
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
        })
    }
}
