//! The one read path of both transaction kinds: every read is written once, over a private
//! trait ([`ReadPath`]) that [`ReadTxn`] and [`WriteTxn`](super::WriteTxn) implement by giving their redb
//! transaction ([`RedbTxn`]: redb's read and write transactions, whose tables both implement
//! `ReadableTable`) and their memo. A write transaction reads its own uncommitted changes.

use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, MutexGuard};

use redb::{Key, ReadableTable, ReadableTableMetadata, TableDefinition, TableError, Value};

use super::index::{
    borrowed, len_in_space, point_key, range_in_space, shared_bounds, space_number,
};
use super::locate::{Src, entry_of, lazy, load, pack_ids_cold_key, refs_of, stored_of};
use super::memo::{MEMO_PACKS, Memo, TxnMemo};
use super::merged::Merged;
use super::{IndexEntry, KeyRange, Root, StoreRead, decode_root, prefix_end, space_key};
use crate::cold::{self, NS_INDEX, NS_PACK_IDS, NS_ROOTS};
use crate::entries::{self, PACK_IDS};
use crate::error::DbResult;
use crate::hotpin::HotPin;
use crate::pack::{self, PACKS};
use crate::schema::{
    IDS, INDEX, K_HOT_PIN, K_INDEX_SPACE, K_INDEX_SPACE_END, K_INDEX_SPACES, META, OBJECTS, ROOTS,
    read_counter,
};
use crate::{Error, ObjectId, Store};

/// A read-only snapshot of the store.
pub struct ReadTxn<'s> {
    store: &'s Store,
    txn: redb::ReadTransaction,
    memo: Memo,
}

impl<'s> ReadTxn<'s> {
    pub(crate) fn begin(store: &'s Store, txn: redb::ReadTransaction) -> ReadTxn<'s> {
        ReadTxn {
            store,
            txn,
            memo: Memo::default(),
        }
    }

    pub(crate) fn raw(&self) -> &redb::ReadTransaction {
        &self.txn
    }

    #[cfg(test)]
    pub(crate) fn frame_for_tests(&self, id: &ObjectId) -> Vec<u8> {
        match self.with_src(|src| stored_of(src, id)) {
            Ok(super::locate::Stored::Frame(f)) => f,
            _ => Vec::new(),
        }
    }
}

/// A redb transaction that tables are read from: redb's read and write transactions (as redb
/// shares its read code between `Btree` and `BtreeMut`). A write transaction's `open_table`
/// creates a missing table instead of reporting it; both answers mean "empty".
pub(crate) trait RedbTxn: 'static {
    type Table<'t, K: Key + 'static, V: Value + 'static>: ReadableTable<K, V>
        + ReadableTableMetadata;
    fn open_table<K: Key + 'static, V: Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<Self::Table<'_, K, V>, TableError>;
}

impl RedbTxn for redb::ReadTransaction {
    type Table<'t, K: Key + 'static, V: Value + 'static> = redb::ReadOnlyTable<K, V>;
    fn open_table<K: Key + 'static, V: Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<Self::Table<'_, K, V>, TableError> {
        redb::ReadTransaction::open_table(self, def)
    }
}

impl RedbTxn for redb::WriteTransaction {
    type Table<'t, K: Key + 'static, V: Value + 'static> = redb::Table<'t, K, V>;
    fn open_table<K: Key + 'static, V: Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<Self::Table<'_, K, V>, TableError> {
        redb::WriteTransaction::open_table(self, def)
    }
}

/// The `ids` table of a transaction.
pub(crate) type IdsTable<'t, T> = <T as RedbTxn>::Table<'t, [u8; 32], (u64, u64)>;
/// The `objects` table of a transaction.
pub(crate) type ObjectsTable<'t, T> = <T as RedbTxn>::Table<'t, u64, &'static [u8]>;

/// The reads of a transaction, written once for both kinds: a transaction gives its store,
/// its redb transaction and its memo, and gets every read (and [`StoreRead`]).
pub(crate) trait ReadPath {
    type Txn: RedbTxn;
    fn store(&self) -> &Store;
    fn txn(&self) -> &Self::Txn;
    fn memo_cell(&self) -> &Memo;

    fn path(&self) -> &Path {
        &self.store().path
    }

    /// What the transaction keeps of what it has read.
    fn memo(&self) -> MutexGuard<'_, TxnMemo> {
        self.memo_cell().lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live⊕cold⊕tombstone view of `roots`, `index` and `pack_ids` (`merged.rs`).
    fn merged(&self) -> Merged<'_, Self> {
        Merged::new(self)
    }

    /// The hot pin: as this transaction left it, else as `meta` holds it.
    fn hot_pin(&self) -> Result<HotPin, Error> {
        if let Some(pin) = self.memo().hot {
            return Ok(pin);
        }
        let live = self.live_roots()?;
        let path = self.path();
        let meta = self.txn().open_table(META).db(path)?;
        let pin = match meta.get(K_HOT_PIN).db(path)? {
            None => HotPin::default(),
            Some(v) => HotPin::decode(v.value(), live).ok_or_else(|| Error::Damaged {
                path: path.to_path_buf(),
                detail: format!("meta.{K_HOT_PIN} is malformed"),
            })?,
        };
        self.memo().hot = Some(pin);
        Ok(pin)
    }

    /// The length of `roots` when the transaction began (see [`TxnMemo`]).
    fn live_roots(&self) -> Result<u64, Error> {
        if let Some(n) = self.memo().live_roots {
            return Ok(n);
        }
        let path = self.path();
        let n = self.txn().open_table(ROOTS).db(path)?.len().db(path)?;
        self.memo().live_roots = Some(n);
        Ok(n)
    }

    /// The prefix of the shared index space named by `key` (`index_space:<name>`),
    /// when it has one. The first call of a transaction reads `meta.index_spaces` (the
    /// last number given out) and takes every space's number from the store's map when
    /// that map was read at the same count, else reads them all in one range: spaces
    /// are only ever added, each with a new count, so equal counts mean equal maps.
    fn space(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let mut cache = self.memo();
        if let Some(prefix) = cache.spaces.get(key) {
            return Ok(prefix.clone());
        }
        if cache.all_spaces.is_none() {
            let path = self.path();
            let meta = self.txn().open_table(META).db(path)?;
            let count = read_counter(&meta, K_INDEX_SPACES, path)?;
            let known = self
                .store()
                .spaces
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let all = match known {
                Some((n, all)) if n == count => all,
                _ => {
                    let mut all = std::collections::HashMap::new();
                    // Every key starting with `index_space:` (`;` follows `:`).
                    for entry in meta.range(K_INDEX_SPACE..K_INDEX_SPACE_END).db(path)? {
                        let (k, v) = entry.db(path)?;
                        let prefix = space_number(k.value(), v.value(), path)?;
                        all.insert(k.value().to_string(), prefix);
                    }
                    // What is published here is committed: a write transaction
                    // reads the numbers before it gives out any (`index_key` asks this
                    // first), and only gc and verify forget the memo (`raw`), and
                    // they give out none.
                    let all = Arc::new(all);
                    *self
                        .store()
                        .spaces
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = Some((count, all.clone()));
                    all
                }
            };
            cache.all_spaces = Some(all);
        }
        Ok(cache
            .all_spaces
            .as_ref()
            .and_then(|all| all.get(key))
            .cloned())
    }

    /// Every root, live and cold, in name order.
    fn all_roots(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        self.named_roots("")
    }

    /// Roots (name, raw value) whose names start with `prefix`, in name order.
    fn named_roots(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let path = self.path();
        let live: Vec<IndexEntry> = {
            let t = self.txn().open_table(ROOTS).db(path)?;
            let mut out = Vec::new();
            for item in t.range::<&str>(prefix..).db(path)? {
                let (k, v) = item.db(path)?;
                if !k.value().starts_with(prefix) {
                    break;
                }
                out.push((k.value().as_bytes().to_vec(), v.value().to_vec()));
            }
            out
        };
        let start = cold::cold_key(NS_ROOTS, prefix.as_bytes());
        let end = prefix_end(&start);
        let merged = self.merged().range(
            live,
            Bound::Included(&start),
            end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
            1,
            false,
            usize::MAX,
        )?;
        let mut out = Vec::with_capacity(merged.len());
        for (k, v) in merged {
            let name = String::from_utf8(k).map_err(|_| Error::CorruptCold {
                detail: "a root name is not UTF-8".into(),
            })?;
            out.push((name, v));
        }
        Ok(out)
    }

    /// Every item of the pack index (live and cold), with its key, in key order.
    fn pack_items(&self) -> Result<Vec<(u64, entries::Item)>, Error> {
        let path = self.path();
        let live: Vec<IndexEntry> = match self.txn().open_table(PACK_IDS) {
            Ok(t) => {
                let mut out = Vec::new();
                for item in t.iter().db(path)? {
                    let (k, v) = item.db(path)?;
                    out.push((k.value().to_be_bytes().to_vec(), v.value().to_vec()));
                }
                out
            }
            Err(TableError::TableDoesNotExist(_)) => Vec::new(),
            Err(e) => return Err(e).db(path),
        };
        let merged = self.merged().range(
            live,
            Bound::Included(&[NS_PACK_IDS]),
            Bound::Excluded(&[NS_PACK_IDS + 1]),
            1,
            false,
            usize::MAX,
        )?;
        let mut out = Vec::with_capacity(merged.len());
        for (k, v) in merged {
            let key = <[u8; 8]>::try_from(k.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| Error::CorruptCold {
                    detail: "a pack index key is not 8 bytes".into(),
                })?;
            let items = entries::decode(&v).ok_or_else(|| Error::CorruptPackIndex {
                key,
                detail: "malformed value".into(),
            })?;
            out.extend(items.into_iter().map(|i| (key, i)));
        }
        Ok(out)
    }

    /// Runs `f` with what a read of objects needs (`locate.rs`): the transaction's tables (a
    /// write transaction's as they are now, its uncommitted changes included), the pack index
    /// through the merged view, and decoded packs through the memo and the store's cache.
    fn with_src<T>(
        &self,
        f: impl FnOnce(
            &Src<'_, IdsTable<'_, Self::Txn>, ObjectsTable<'_, Self::Txn>>,
        ) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let path = self.path();
        let ids = self.txn().open_table(IDS).db(path)?;
        // The other tables are opened when first needed: an existence check or a count
        // of a loose object needs `ids` alone.
        let objects_t = std::cell::OnceCell::new();
        let objects = || -> Result<&ObjectsTable<'_, Self::Txn>, Error> {
            lazy(&objects_t, || self.txn().open_table(OBJECTS), path)?.ok_or_else(|| {
                Error::Damaged {
                    path: path.to_path_buf(),
                    detail: "the objects table is missing".into(),
                }
            })
        };
        let index_t = std::cell::OnceCell::new();
        let pack_ids = |key: u64| -> Result<Option<Vec<u8>>, Error> {
            let live = match lazy(&index_t, || self.txn().open_table(PACK_IDS), path)? {
                None => None,
                Some(t) => t.get(key).db(path)?.map(|v| v.value().to_vec()),
            };
            self.merged().get(live, &pack_ids_cold_key(key))
        };
        let packs_t = std::cell::OnceCell::new();
        let packs = |pack: u64, id: &ObjectId| {
            let known = self.memo().packs.get(&pack).cloned();
            if let Some(p) = known {
                return Ok(p);
            }
            let p = match lazy(&packs_t, || self.txn().open_table(PACKS), path)? {
                Some(t) => pack::load(t, pack, &self.store().packs, id, path)?,
                None => {
                    return Err(Error::Corrupt {
                        id: *id,
                        detail: format!("pack {pack}: missing"),
                    });
                }
            };
            let mut memo = self.memo();
            // A few packs: a backup touches one or two; a walk over every pack (gc,
            // verify) must not hold them all.
            if memo.packs.len() >= MEMO_PACKS {
                memo.packs.clear();
            }
            memo.packs.insert(pack, p.clone());
            Ok(p)
        };
        f(&Src {
            hot: self.hot_pin()?,
            ids: &ids,
            objects: &objects,
            pack_ids: &pack_ids,
            packs: &packs,
            max: self.store().options.max_object_size,
            path,
        })
    }
}

impl ReadPath for ReadTxn<'_> {
    type Txn = redb::ReadTransaction;
    fn store(&self) -> &Store {
        self.store
    }
    fn txn(&self) -> &redb::ReadTransaction {
        &self.txn
    }
    fn memo_cell(&self) -> &Memo {
        &self.memo
    }
}

/// [`StoreRead`] for both transaction kinds. Every call is guarded against storage-engine
/// panics on damaged files.
impl<R: ReadPath> StoreRead for R {
    fn stored_size(&self, id: &ObjectId) -> Result<u64, Error> {
        self.store()
            .guarded(|| self.with_src(|src| Ok(stored_of(src, id)?.info(id)?.stored)))
    }

    fn get(&self, id: &ObjectId) -> Result<Vec<u8>, Error> {
        self.store()
            .guarded(|| self.with_src(|src| load(src, id).map(|(_, b)| b)))
    }

    fn contains(&self, id: &ObjectId) -> Result<bool, Error> {
        self.store().guarded(|| Ok(self.refcount(id)?.is_some()))
    }

    fn contains_each(&self, ids: &[ObjectId]) -> Result<Vec<bool>, Error> {
        self.store().guarded(|| {
            self.with_src(|src| {
                ids.iter()
                    .map(|id| Ok(entry_of(src, id)?.is_some()))
                    .collect()
            })
        })
    }

    fn raw_size(&self, id: &ObjectId) -> Result<u64, Error> {
        self.store()
            .guarded(|| self.with_src(|src| Ok(stored_of(src, id)?.info(id)?.raw_len)))
    }

    fn refcount(&self, id: &ObjectId) -> Result<Option<u64>, Error> {
        self.store()
            .guarded(|| self.with_src(|src| Ok(entry_of(src, id)?.map(|e| e.count))))
    }

    fn links(&self, id: &ObjectId) -> Result<Vec<ObjectId>, Error> {
        self.store()
            .guarded(|| self.with_src(|src| refs_of(src, id)))
    }

    fn root(&self, name: &str) -> Result<Option<Root>, Error> {
        self.store().guarded(|| {
            let live = {
                let t = self.txn().open_table(ROOTS).db(self.path())?;
                t.get(name).db(self.path())?.map(|v| v.value().to_vec())
            };
            let v = self
                .merged()
                .get(live, &cold::cold_key(NS_ROOTS, name.as_bytes()))?;
            Ok(v.and_then(|v| decode_root(name, &v)))
        })
    }

    fn roots(&self, prefix: &str) -> Result<Vec<Root>, Error> {
        self.store().guarded(|| {
            Ok(self
                .named_roots(prefix)?
                .into_iter()
                .filter_map(|(name, v)| decode_root(&name, &v))
                .collect())
        })
    }

    fn index_get(&self, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        self.store().guarded(|| {
            let path = self.path();
            let Some(prefix) = self.space(&space_key(space)?)? else {
                return Ok(None);
            };
            let key = [prefix.as_slice(), key].concat();
            let live = {
                let t = self.txn().open_table(INDEX).db(path)?;
                t.get(key.as_slice()).db(path)?.map(|v| v.value().to_vec())
            };
            self.merged().get(live, &cold::cold_key(NS_INDEX, &key))
        })
    }

    fn index_ranges(
        &self,
        space: &str,
        ranges: &[KeyRange<'_>],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Vec<IndexEntry>>, Error> {
        self.store().guarded(|| {
            let path = self.path();
            let Some(prefix) = self.space(&space_key(space)?)? else {
                return Ok(vec![Vec::new(); ranges.len()]);
            };
            // A range of one key is a point read (a range costs a cursor).
            if ranges.iter().all(|r| point_key(r, limit).is_some()) {
                let keys: Vec<Vec<u8>> = ranges
                    .iter()
                    .filter_map(|r| point_key(r, limit))
                    .map(|k| [prefix.as_slice(), k].concat())
                    .collect();
                let live = {
                    let t = self.txn().open_table(INDEX).db(path)?;
                    keys.iter()
                        .map(|k| Ok(t.get(k.as_slice()).db(path)?.map(|v| v.value().to_vec())))
                        .collect::<Result<Vec<_>, Error>>()?
                };
                return keys
                    .iter()
                    .zip(live)
                    .map(|(k, live)| {
                        let ck = cold::cold_key(NS_INDEX, k);
                        Ok(self
                            .merged()
                            .get(live, &ck)?
                            .map(|v| vec![(k[prefix.len()..].to_vec(), v)])
                            .unwrap_or_default())
                    })
                    .collect();
            }
            let live = {
                let t = self.txn().open_table(INDEX).db(path)?;
                ranges
                    .iter()
                    .map(|(start, end)| {
                        range_in_space(&t, &prefix, *start, *end, reverse, limit, path)
                    })
                    .collect::<Result<Vec<_>, Error>>()?
            };
            let cold_bound = |b: &Bound<Vec<u8>>| b.as_ref().map(|k| cold::cold_key(NS_INDEX, k));
            ranges
                .iter()
                .zip(live)
                .map(|((start, end), live)| {
                    let (s, e) = shared_bounds(&prefix, *start, *end);
                    let (s, e) = (cold_bound(&s), cold_bound(&e));
                    self.merged().range(
                        live,
                        borrowed(&s),
                        borrowed(&e),
                        1 + prefix.len(),
                        reverse,
                        limit,
                    )
                })
                .collect()
        })
    }

    fn index_len(&self, space: &str) -> Result<u64, Error> {
        self.store().guarded(|| {
            let path = self.path();
            let Some(prefix) = self.space(&space_key(space)?)? else {
                return Ok(0);
            };
            let live = {
                let t = self.txn().open_table(INDEX).db(path)?;
                len_in_space(&t, &prefix, path)?
            };
            if self.merged().with_cold(|c| Ok(c.is_none()))? {
                return Ok(live);
            }
            // With cold entries: a count of the merged range.
            let all =
                self.index_range(space, Bound::Unbounded, Bound::Unbounded, false, usize::MAX)?;
            Ok(all.len() as u64)
        })
    }
}
