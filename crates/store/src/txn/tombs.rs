//! The write side of the merged view (`merged.rs`): a cold entry removed since the last gc is
//! hidden by a tombstone in `tombs`, and shown again when its key is written anew.

use redb::ReadableTableMetadata;

use super::WriteTxn;
use super::read::ReadPath;
use crate::Error;
use crate::cold::TOMBS;
use crate::error::DbResult;

impl WriteTxn<'_> {
    /// Drops the tombstone of cold key `ck`; returns whether there was one.
    pub(crate) fn untomb(&mut self, ck: &[u8]) -> Result<bool, Error> {
        let path = self.path();
        if self.memo_mut().tombs_empty == Some(true) {
            return Ok(false);
        }
        let mut t = self.txn.open_table(TOMBS).db(path)?;
        let removed = t.remove(ck).db(path)?.is_some();
        let empty = t.is_empty().db(path)?;
        drop(t);
        self.memo_mut().tombs_empty = Some(empty);
        Ok(removed)
    }

    /// Tombstones cold key `ck` when the cold side has it (so that it stays hidden until the
    /// next gc drops it); returns the cold value.
    pub(crate) fn tomb_if_cold(&mut self, ck: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let path = self.path();
        let cold = self
            .merged()
            .with_cold(|c| c.map_or(Ok(None), |c| c.get(ck)))?;
        if cold.is_some() {
            self.memo_mut().tombs_empty = None;
            self.txn
                .open_table(TOMBS)
                .db(path)?
                .insert(ck, ())
                .db(path)?;
        }
        Ok(cold)
    }
}
