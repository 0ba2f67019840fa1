//! Index keyspaces: every space of the layers above shares the `index` table, under the
//! space's number (LEB128, given out by the first transaction that inserts into it).

use std::ops::Bound;
use std::path::Path;

use redb::ReadableTable;

use super::{IndexEntry, KeyRange, ReadPath, WriteTxn, space_key};
use crate::Error;
use crate::cold::{self, NS_INDEX};
use crate::error::DbResult;
use crate::schema::{INDEX, K_INDEX_SPACES, META, read_counter};
use crate::varint;

/// The key prefix of the space whose `meta` entry `key` holds `value`.
pub(super) fn space_number(key: &str, value: &[u8], path: &Path) -> Result<Vec<u8>, Error> {
    let n = <[u8; 8]>::try_from(value)
        .map(u64::from_le_bytes)
        .map_err(|_| Error::Damaged {
            path: path.to_path_buf(),
            detail: format!("meta '{key}' is not a u64"),
        })?;
    let mut prefix = Vec::with_capacity(2);
    varint::write(&mut prefix, n);
    Ok(prefix)
}

/// Bounds within a space of the shared index table: `prefix` (the space's number) before each
/// key; unbounded ends stop at the space's first and last keys.
pub(super) fn shared_bounds(
    prefix: &[u8],
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let with = |k: &[u8]| [prefix, k].concat();
    let start = match start {
        Bound::Included(k) => Bound::Included(with(k)),
        Bound::Excluded(k) => Bound::Excluded(with(k)),
        Bound::Unbounded => Bound::Included(prefix.to_vec()),
    };
    // The prefix with its last byte raised sorts after every key of the space and before any
    // other space's: a LEB128 number's last byte is below 0x80, and no number's bytes start
    // another's.
    let mut past = prefix.to_vec();
    if let Some(last) = past.last_mut() {
        *last += 1;
    }
    let end = match end {
        Bound::Included(k) => Bound::Included(with(k)),
        Bound::Excluded(k) => Bound::Excluded(with(k)),
        Bound::Unbounded => Bound::Excluded(past),
    };
    (start, end)
}

pub(super) fn borrowed(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    b.as_ref().map(Vec::as_slice)
}

/// The key of a range that holds one key at most (both bounds included and equal), when
/// entries are asked for.
pub(super) fn point_key<'k>(r: &KeyRange<'k>, limit: usize) -> Option<&'k [u8]> {
    match r {
        (Bound::Included(a), Bound::Included(b)) if a == b && limit > 0 => Some(a),
        _ => None,
    }
}

/// [`range_of`] within one space of the shared index table, keys returned without the prefix.
pub(super) fn range_in_space(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
    reverse: bool,
    limit: usize,
    path: &Path,
) -> Result<Vec<IndexEntry>, Error> {
    let (start, end) = shared_bounds(prefix, start, end);
    let mut out = range_of(t, borrowed(&start), borrowed(&end), reverse, limit, path)?;
    for (k, _) in &mut out {
        k.drain(..prefix.len());
    }
    Ok(out)
}

/// Entries of one space of the shared index table: a count over its range.
pub(super) fn len_in_space(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
    path: &Path,
) -> Result<u64, Error> {
    let (start, end) = shared_bounds(prefix, Bound::Unbounded, Bound::Unbounded);
    let range = t
        .range::<&[u8]>((borrowed(&start), borrowed(&end)))
        .db(path)?;
    let mut n = 0u64;
    for item in range {
        item.db(path)?;
        n += 1;
    }
    Ok(n)
}

pub(super) fn range_of(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
    reverse: bool,
    limit: usize,
    path: &Path,
) -> Result<Vec<IndexEntry>, Error> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let range = t.range::<&[u8]>((start, end)).db(path)?;
    let items: Box<dyn Iterator<Item = _>> = if reverse {
        Box::new(range.rev())
    } else {
        Box::new(range)
    };
    let mut out = Vec::new();
    for item in items.take(limit) {
        let (k, v) = item.db(path)?;
        out.push((k.value().to_vec(), v.value().to_vec()));
    }
    Ok(out)
}

impl WriteTxn<'_> {
    /// Sets a value in an index keyspace, returning the previous one.
    pub fn index_insert(
        &mut self,
        space: &str,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .index_insert_each(space, &[(key, value)])?
            .pop()
            .flatten())
    }

    /// [`WriteTxn::index_insert`] for each of `entries`, in order, returning the previous
    /// values: one call for many entries costs little more than one.
    pub fn index_insert_each(
        &mut self,
        space: &str,
        entries: &[(&[u8], &[u8])],
    ) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let store = self.store;
        store.guarded(|| {
            let path = self.path();
            let Some(prefix) = self.index_key(space, &[], true)? else {
                return Ok(vec![None; entries.len()]);
            };
            let mut olds = Vec::with_capacity(entries.len());
            {
                let mut t = self.txn.open_table(INDEX).db(path)?;
                let mut key = prefix.clone();
                for (k, v) in entries {
                    key.truncate(prefix.len());
                    key.extend_from_slice(k);
                    olds.push(
                        t.insert(key.as_slice(), *v)
                            .db(path)?
                            .map(|v| v.value().to_vec()),
                    );
                }
            }
            for ((k, _), old) in entries.iter().zip(olds.iter_mut()) {
                if old.is_some() {
                    continue;
                }
                // Not live: it may be cold, or removed since the last gc.
                let ck = cold::cold_key(NS_INDEX, &[prefix.as_slice(), k].concat());
                if !self.untomb(&ck)? {
                    *old = self
                        .merged()
                        .with_cold(|c| c.map_or(Ok(None), |c| c.get(&ck)))?;
                }
            }
            Ok(olds)
        })
    }

    /// Removes a key from an index keyspace, returning its value.
    pub fn index_remove(&mut self, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let store = self.store;
        store.guarded(|| {
            let path = self.path();
            let Some(key) = self.index_key(space, key, false)? else {
                return Ok(None);
            };
            let old = self
                .txn
                .open_table(INDEX)
                .db(path)?
                .remove(key.as_slice())
                .db(path)?
                .map(|v| v.value().to_vec());
            let ck = cold::cold_key(NS_INDEX, &key);
            let was_tombed = self.merged().tombstoned(&ck)?;
            let cold = self.tomb_if_cold(&ck)?;
            Ok(old.or(if was_tombed { None } else { cold }))
        })
    }

    /// The key in the `index` table of `key` in index keyspace `space`; a space new to the
    /// table gets the next number (in this transaction) when `allocate`, else is `None`.
    fn index_key(
        &mut self,
        space: &str,
        key: &[u8],
        allocate: bool,
    ) -> Result<Option<Vec<u8>>, Error> {
        let path = self.path();
        let k = space_key(space)?;
        let prefix = match self.space(&k)? {
            Some(prefix) => prefix,
            None if !allocate => return Ok(None),
            None => {
                let mut meta = self.txn.open_table(META).db(path)?;
                let n = read_counter(&meta, K_INDEX_SPACES, path)? + 1;
                meta.insert(K_INDEX_SPACES, n.to_le_bytes().as_slice())
                    .db(path)?;
                meta.insert(k.as_str(), n.to_le_bytes().as_slice())
                    .db(path)?;
                let mut prefix = Vec::with_capacity(2);
                varint::write(&mut prefix, n);
                self.memo
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .spaces
                    .insert(k.clone(), Some(prefix.clone()));
                prefix
            }
        };
        Ok(Some([prefix.as_slice(), key].concat()))
    }
}
