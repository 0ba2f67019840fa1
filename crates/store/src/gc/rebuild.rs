//! Phase 5 of gc: tables whose pages are sparse are copied in key order into fresh pages
//! (compaction moves pages but never merges them).

use std::borrow::Borrow;
use std::path::Path;

use redb::{Key, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle, Value};

use crate::cold::TOMBS;
use crate::entries::PACK_IDS;
use crate::error::DbResult;
use crate::pack::PACKS;
use crate::schema::{IDS, INDEX, META, OBJECTS, ROOTS};
use crate::{Error, Progress, Store};

impl Store {
    /// Copies every sparse table into fresh pages in key order, in one transaction: the
    /// contents are unchanged, so a crash leaves the old layout or the new one. Returns how many
    /// tables were rebuilt.
    pub(super) fn rebuild_sparse_tables(&self, progress: &dyn Progress) -> Result<u64, Error> {
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
