//! What format 1 is made of (docs/FORMAT.md): the tables of a store file, the keys of `meta`,
//! how a file says it is in format 1, and the counters every commit keeps.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};

use crate::Error;
use crate::cold::TOMBS;
use crate::entries::PACK_IDS;
use crate::error::DbResult;

/// The one store format this build reads and writes. See docs/FORMAT.md.
pub const FORMAT_VERSION: u32 = 1;
/// How a file says it is in format 1: `meta.schema_version` holds this number (the layouts
/// before format 1 were numbered 1 to 9; no build reads them).
pub(crate) const FORMAT_1_MARK: u32 = 10;
pub(crate) const MAGIC: &[u8] = b"cfgvault-store";

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Frames by sequence number: keys grow with every new object, so pages fill densely.
pub(crate) const OBJECTS: TableDefinition<u64, &[u8]> = TableDefinition::new("objects");
/// Object id → (sequence number of its frame, reference count).
pub(crate) const IDS: TableDefinition<[u8; 32], (u64, u64)> = TableDefinition::new("ids");
pub(crate) const ROOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("roots");
/// The one table every index keyspace lives in: a key is the space's number (LEB128, so no
/// number's bytes start another's) then the caller's key.
pub(crate) const INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("index");
/// In `meta`: always `shared` (the index keyspaces share [`INDEX`]).
pub(crate) const K_INDEX_LAYOUT: &str = "index_layout";
pub(crate) const SHARED_LAYOUT: &[u8] = b"shared";
/// In `meta`: the last space number given out; `index_space:<name>` holds each space's.
pub(crate) const K_INDEX_SPACES: &str = "index_spaces";
pub(crate) const K_INDEX_SPACE: &str = "index_space:";
/// The first key after every `index_space:` key.
pub(crate) const K_INDEX_SPACE_END: &str = "index_space;";

pub(crate) const K_MAGIC: &str = "magic";
pub(crate) const K_SCHEMA: &str = "schema_version";
pub(crate) const K_OBJECTS: &str = "count.objects";
pub(crate) const K_RAW: &str = "count.raw_bytes";
pub(crate) const K_STORED: &str = "count.stored_bytes";
pub(crate) const K_BLOB_RAW: &str = "count.blob_raw_bytes";
pub(crate) const K_NEXT_SEQ: &str = "next_seq";
/// The number of roots less the length of the `roots` table: a new root does not change it.
pub(crate) const K_COLD_ROOTS: &str = "count.cold_roots";
/// The hot pin (`hotpin.rs`); absent when there is none.
pub(crate) const K_HOT_PIN: &str = "hot_pin";

/// Writes the metadata and creates the fixed tables of a new store, in one transaction.
pub(crate) fn initialize(db: &Database, path: &Path) -> Result<(), Error> {
    let txn = db.begin_write().db(path)?;
    {
        let mut meta = txn.open_table(META).db(path)?;
        meta.insert(K_MAGIC, MAGIC).db(path)?;
        meta.insert(K_SCHEMA, FORMAT_1_MARK.to_le_bytes().as_slice())
            .db(path)?;
        for k in [
            K_OBJECTS,
            K_RAW,
            K_STORED,
            K_BLOB_RAW,
            K_NEXT_SEQ,
            K_COLD_ROOTS,
        ] {
            meta.insert(k, 0u64.to_le_bytes().as_slice()).db(path)?;
        }
        meta.insert(K_INDEX_LAYOUT, SHARED_LAYOUT).db(path)?;
        // Create every fixed table so that read transactions find them.
        txn.open_table(OBJECTS).db(path)?;
        txn.open_table(IDS).db(path)?;
        txn.open_table(PACK_IDS).db(path)?;
        txn.open_table(TOMBS).db(path)?;
        txn.open_table(ROOTS).db(path)?;
        txn.open_table(INDEX).db(path)?;
    }
    txn.commit().db(path)?;
    Ok(())
}

/// Refuses a file that is not a cfgvault store, or not one of [`FORMAT_VERSION`].
pub(crate) fn check_format(db: &Database, path: &Path) -> Result<(), Error> {
    let not_a_store = |detail: &str| Error::NotAStore {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    };
    let txn = db.begin_read().db(path)?;
    let meta = match txn.open_table(META) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => {
            return Err(not_a_store("no cfgvault metadata table"));
        }
        Err(e) => return Err(not_a_store(&e.to_string())),
    };
    let magic = meta.get(K_MAGIC).db(path)?;
    if magic.as_ref().map(|v| v.value()) != Some(MAGIC) {
        return Err(not_a_store("metadata lacks the cfgvault magic"));
    }
    let mark = meta
        .get(K_SCHEMA)
        .db(path)?
        .and_then(|v| <[u8; 4]>::try_from(v.value()).ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| not_a_store("schema version missing"))?;
    if mark != FORMAT_1_MARK {
        return Err(Error::UnsupportedFormat {
            path: path.to_path_buf(),
            found: mark,
            supported: FORMAT_VERSION,
        });
    }
    Ok(())
}

pub(crate) fn read_counter(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
    path: &Path,
) -> Result<u64, Error> {
    Ok(read_counter_opt(meta, key, path)?.unwrap_or(0))
}

/// A counter of `meta` (0 when absent).
fn read_counter_opt(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
    path: &Path,
) -> Result<Option<u64>, Error> {
    Ok(meta
        .get(key)
        .db(path)?
        .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
        .map(u64::from_le_bytes))
}

/// Empties table `def`.
pub(crate) fn clear<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
    path: &Path,
) -> Result<(), Error> {
    txn.open_table(def).db(path)?.retain(|_, _| false).db(path)
}
