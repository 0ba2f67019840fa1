//! The one read path of both transaction kinds: every read is written once, over a private
//! trait ([`ReadPath`]) that [`ReadTxn`] and [`WriteTxn`](super::WriteTxn) have by giving their
//! redb transaction, their memo and the store's shared part ([`Access`], `access.rs`). A write
//! transaction reads its own uncommitted changes.

use std::ops::Bound;

use redb::{ReadableTable, ReadableTableMetadata, TableError};

use super::access::{Access, IdsTable, ObjectsTable, RedbTxn};
use super::index;
use super::locate::{Src, entry_of, lazy, load, pack_ids_cold_key, refs_of, stored_of};
use super::memo::{MEMO_PACKS, Memo};
use super::merged::Merged;
use super::shared::Shared;
use super::{IndexEntry, KeyRange, Root, StoreRead, decode_root, prefix_end};
use crate::cold::{self, NS_PACK_IDS, NS_ROOTS};
use crate::entries::{self, PACK_IDS};
use crate::error::DbResult;
use crate::hotpin::HotPin;
use crate::pack::{self, PACKS};
use crate::schema::{IDS, K_HOT_PIN, META, OBJECTS, ROOTS};
use crate::{Error, ObjectId};

/// A read-only snapshot of the store.
pub struct ReadTxn<'s> {
    shared: &'s Shared,
    txn: redb::ReadTransaction,
    memo: Memo,
}

impl<'s> ReadTxn<'s> {
    pub(crate) fn begin(shared: &'s Shared, txn: redb::ReadTransaction) -> ReadTxn<'s> {
        ReadTxn {
            shared,
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

/// The reads of a transaction, written once for both kinds over what it gives ([`Access`]),
/// and from them [`StoreRead`].
pub(crate) trait ReadPath: Access {
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
                Some(t) => pack::load(t, pack, &self.shared().packs, id, path)?,
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
            max: self.shared().options.max_object_size,
            path,
        })
    }
}

impl<A: Access> ReadPath for A {}

impl Access for ReadTxn<'_> {
    type Txn = redb::ReadTransaction;
    fn shared(&self) -> &Shared {
        self.shared
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
        self.shared()
            .guarded(|| self.with_src(|src| Ok(stored_of(src, id)?.info(id)?.stored)))
    }

    fn get(&self, id: &ObjectId) -> Result<Vec<u8>, Error> {
        self.shared()
            .guarded(|| self.with_src(|src| load(src, id).map(|(_, b)| b)))
    }

    fn contains(&self, id: &ObjectId) -> Result<bool, Error> {
        self.shared().guarded(|| Ok(self.refcount(id)?.is_some()))
    }

    fn contains_each(&self, ids: &[ObjectId]) -> Result<Vec<bool>, Error> {
        self.shared().guarded(|| {
            self.with_src(|src| {
                ids.iter()
                    .map(|id| Ok(entry_of(src, id)?.is_some()))
                    .collect()
            })
        })
    }

    fn raw_size(&self, id: &ObjectId) -> Result<u64, Error> {
        self.shared()
            .guarded(|| self.with_src(|src| Ok(stored_of(src, id)?.info(id)?.raw_len)))
    }

    fn refcount(&self, id: &ObjectId) -> Result<Option<u64>, Error> {
        self.shared()
            .guarded(|| self.with_src(|src| Ok(entry_of(src, id)?.map(|e| e.count))))
    }

    fn links(&self, id: &ObjectId) -> Result<Vec<ObjectId>, Error> {
        self.shared()
            .guarded(|| self.with_src(|src| refs_of(src, id)))
    }

    fn root(&self, name: &str) -> Result<Option<Root>, Error> {
        self.shared().guarded(|| {
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
        self.shared().guarded(|| {
            Ok(self
                .named_roots(prefix)?
                .into_iter()
                .filter_map(|(name, v)| decode_root(&name, &v))
                .collect())
        })
    }

    fn index_get(&self, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        self.shared().guarded(|| index::get(self, space, key))
    }

    fn index_ranges(
        &self,
        space: &str,
        ranges: &[KeyRange<'_>],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Vec<IndexEntry>>, Error> {
        self.shared()
            .guarded(|| index::ranges(self, space, ranges, reverse, limit))
    }

    fn index_len(&self, space: &str) -> Result<u64, Error> {
        self.shared().guarded(|| index::len(self, space))
    }
}
