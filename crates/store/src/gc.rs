//! Garbage collection: sweep objects left without references, then compact the file.

use redb::ReadableTable;

use crate::store::{DbResult, IDS};
use crate::{Error, ObjectId, Progress, Store};

/// What a `gc` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Objects removed by the sweep (normally 0: commits already remove unreferenced objects;
    /// leftovers come from a repaired store or an older build).
    pub objects_removed: u64,
    /// Stored bytes of those objects.
    pub bytes_freed: u64,
    pub file_bytes_before: u64,
    pub file_bytes_after: u64,
    /// Whether compaction ran and changed the file.
    pub compacted: bool,
    /// Why compaction could not run (for example another process holds a snapshot).
    pub compaction_skipped: Option<String>,
}

impl Store {
    /// Sweeps unreferenced objects in one transaction, then compacts the file so freed pages
    /// go back to the file system.
    pub fn gc(&self, progress: &dyn Progress) -> Result<Outcome, Error> {
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
        let swept = txn.commit()?;
        progress.start("compact", None);
        let (compacted, compaction_skipped) = match self.compact()? {
            Ok(c) => (c, None),
            Err(reason) => (false, Some(reason)),
        };
        Ok(Outcome {
            objects_removed: swept.objects_removed,
            bytes_freed: swept.bytes_freed,
            file_bytes_before,
            file_bytes_after: self.stats()?.file_bytes,
            compacted,
            compaction_skipped,
        })
    }
}
