//! The merged view of `roots`, `index` and `pack_ids`: a gc folds their entries into cold
//! blocks (`cold.rs`), and writes since go to the live tables, with `tombs` hiding cold entries
//! removed since. A read sees the live entry, else the cold one unless tombstoned. Every read of
//! those tables goes through [`Merged`]; tombstones are written by `tombs.rs`.

use std::ops::Bound;

use redb::{ReadableTable, ReadableTableMetadata, TableError};

use super::IndexEntry;
use super::access::{Access, RedbTxn};
use crate::cold::{self, COLD, K_COLD, TOMBS};
use crate::error::DbResult;
use crate::pack::{self, PackCache};
use crate::schema::META;
use crate::{Error, ObjectId};

/// The live⊕cold⊕tombstone view of a transaction.
pub(crate) struct Merged<'r, R: ?Sized> {
    r: &'r R,
}

impl<'r, R: Access + ?Sized> Merged<'r, R> {
    pub(crate) fn new(r: &'r R) -> Self {
        Merged { r }
    }

    /// Runs `f` with the cold side, if a gc has made one (`cold.rs`).
    pub(crate) fn with_cold<T>(
        &self,
        f: impl FnOnce(Option<&cold::View<'_>>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let path = self.r.path();
        let known = self.r.memo().cold_dir.clone();
        let dir = match known {
            Some(d) => d,
            None => {
                let meta = self.r.txn().open_table(META).db(path)?;
                let d = match meta.get(K_COLD).db(path)? {
                    Some(v) => Some(self.r.shared().cold.dir(v.value())?),
                    None => None,
                };
                self.r.memo().cold_dir = Some(d.clone());
                d
            }
        };
        let Some(dir) = dir else {
            return f(None);
        };
        let read = |i: usize| {
            let (number, hash) = (dir.numbers[i], dir.hashes[i]);
            self.r.shared().cold.block((number, hash), || {
                let corrupt = |detail: String| Error::CorruptCold {
                    detail: format!("block {number}: {detail}"),
                };
                let t = self.r.txn().open_table(COLD).db(path)?;
                // Errors name the block (there is no object id); a throwaway pack
                // cache, since the parsed block is what is kept.
                let pack = pack::load(
                    &t,
                    number,
                    &PackCache::default(),
                    &ObjectId::from_bytes([0; 32]),
                    path,
                )
                .map_err(|e| match e {
                    Error::Corrupt { detail, .. } => corrupt(detail),
                    other => other,
                })?;
                let bytes = match pack.member(0) {
                    Some((_, b)) if pack.member(1).is_none() => b,
                    _ => return Err(corrupt("not a pack of one member".into())),
                };
                if cold::block_hash(bytes) != hash {
                    return Err(corrupt("its hash is not the directory's".into()));
                }
                cold::Block::parse(bytes.to_vec()).map_err(corrupt)
            })
        };
        f(Some(&cold::View {
            dir: dir.clone(),
            read: &read,
        }))
    }

    /// Whether cold key `ck` was removed since the last gc.
    pub(crate) fn tombstoned(&self, ck: &[u8]) -> Result<bool, Error> {
        let path = self.r.path();
        let empty = self.r.memo().tombs_empty;
        if empty == Some(true) {
            return Ok(false);
        }
        let t = match self.r.txn().open_table(TOMBS) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(e) => return Err(e).db(path),
        };
        if empty.is_none() {
            let is_empty = t.is_empty().db(path)?;
            self.r.memo().tombs_empty = Some(is_empty);
            if is_empty {
                return Ok(false);
            }
        }
        Ok(t.get(ck).db(path)?.is_some())
    }

    /// A point read: the live value, else the cold one unless tombstoned.
    pub(crate) fn get(&self, live: Option<Vec<u8>>, ck: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        if live.is_some() {
            return Ok(live);
        }
        self.with_cold(|cold| match cold {
            None => Ok(None),
            Some(c) => match c.get(ck)? {
                Some(v) if !self.tombstoned(ck)? => Ok(Some(v)),
                _ => Ok(None),
            },
        })
    }

    /// Merges `live`, the first `limit` live entries of a range (keys without the cold
    /// namespace, in scan order), with the cold entries between `start` and `end`
    /// (cold keys, of which the first `strip` bytes are dropped): a live entry wins, a
    /// tombstoned cold one is skipped. At most `limit` entries.
    pub(crate) fn range(
        &self,
        live: Vec<IndexEntry>,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        strip: usize,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, Error> {
        self.with_cold(|cold| {
            let Some(c) = cold else {
                return Ok(live);
            };
            let mut out: Vec<IndexEntry> = Vec::new();
            let mut live = live.into_iter().peekable();
            let before = |a: &[u8], b: &[u8]| if reverse { a > b } else { a < b };
            c.scan(start, end, reverse, &mut |ck, v| {
                let uk = ck.get(strip..).unwrap_or_default();
                while out.len() < limit && live.peek().is_some_and(|(lk, _)| before(lk, uk)) {
                    out.extend(live.next());
                }
                if out.len() >= limit {
                    return Ok(false);
                }
                if live.peek().is_some_and(|(lk, _)| lk.as_slice() == uk) {
                    out.extend(live.next());
                } else if !self.tombstoned(ck)? {
                    out.push((uk.to_vec(), v.to_vec()));
                }
                Ok(out.len() < limit)
            })?;
            out.extend(live.take(limit.saturating_sub(out.len())));
            Ok(out)
        })
    }
}
