//! Index keyspaces: every space of the layers above shares the `index` table, under the
//! space's number (LEB128, given out by the first transaction that inserts into it). Reads are
//! here, over [`Access`] (both transaction kinds); writes are `write.rs`.

mod write;

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use redb::ReadableTable;

use super::access::{Access, RedbTxn};
use super::merged::Merged;
use super::{IndexEntry, KeyRange, validate_name};
use crate::Error;
use crate::cold::{self, NS_INDEX};
use crate::error::DbResult;
use crate::schema::{INDEX, K_INDEX_SPACE, K_INDEX_SPACE_END, K_INDEX_SPACES, META, read_counter};
use crate::varint;

/// The `meta` key holding index keyspace `space`'s number in the shared `index` table.
pub(crate) fn space_key(space: &str) -> Result<String, Error> {
    validate_name(space, "empty index space name")?;
    Ok(format!("{K_INDEX_SPACE}{space}"))
}

/// The prefix of the shared index space named by `key` (`index_space:<name>`),
/// when it has one. The first call of a transaction reads `meta.index_spaces` (the
/// last number given out) and takes every space's number from the store's map when
/// that map was read at the same count, else reads them all in one range: spaces
/// are only ever added, each with a new count, so equal counts mean equal maps.
pub(crate) fn space(r: &impl Access, key: &str) -> Result<Option<Vec<u8>>, Error> {
    let mut cache = r.memo();
    if let Some(prefix) = cache.spaces.get(key) {
        return Ok(prefix.clone());
    }
    if cache.all_spaces.is_none() {
        let path = r.path();
        let meta = r.txn().open_table(META).db(path)?;
        let count = read_counter(&meta, K_INDEX_SPACES, path)?;
        let known = r
            .shared()
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
                *r.shared().spaces.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((count, all.clone()));
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

/// One value of index keyspace `space` (`StoreRead::index_get`).
pub(crate) fn get(r: &impl Access, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let path = r.path();
    let Some(prefix) = self::space(r, &space_key(space)?)? else {
        return Ok(None);
    };
    let key = [prefix.as_slice(), key].concat();
    let live = {
        let t = r.txn().open_table(INDEX).db(path)?;
        t.get(key.as_slice()).db(path)?.map(|v| v.value().to_vec())
    };
    Merged::new(r).get(live, &cold::cold_key(NS_INDEX, &key))
}

/// Entries of index keyspace `space` within each of `ranges` (`StoreRead::index_ranges`).
pub(crate) fn ranges(
    r: &impl Access,
    space: &str,
    ranges: &[KeyRange<'_>],
    reverse: bool,
    limit: usize,
) -> Result<Vec<Vec<IndexEntry>>, Error> {
    let path = r.path();
    let Some(prefix) = self::space(r, &space_key(space)?)? else {
        return Ok(vec![Vec::new(); ranges.len()]);
    };
    let merged = Merged::new(r);
    // A range of one key is a point read (a range costs a cursor).
    if ranges.iter().all(|r| point_key(r, limit).is_some()) {
        let keys: Vec<Vec<u8>> = ranges
            .iter()
            .filter_map(|r| point_key(r, limit))
            .map(|k| [prefix.as_slice(), k].concat())
            .collect();
        let live = {
            let t = r.txn().open_table(INDEX).db(path)?;
            keys.iter()
                .map(|k| Ok(t.get(k.as_slice()).db(path)?.map(|v| v.value().to_vec())))
                .collect::<Result<Vec<_>, Error>>()?
        };
        return keys
            .iter()
            .zip(live)
            .map(|(k, live)| {
                let ck = cold::cold_key(NS_INDEX, k);
                Ok(merged
                    .get(live, &ck)?
                    .map(|v| vec![(k[prefix.len()..].to_vec(), v)])
                    .unwrap_or_default())
            })
            .collect();
    }
    let live = {
        let t = r.txn().open_table(INDEX).db(path)?;
        ranges
            .iter()
            .map(|(start, end)| range_in_space(&t, &prefix, *start, *end, reverse, limit, path))
            .collect::<Result<Vec<_>, Error>>()?
    };
    let cold_bound = |b: &Bound<Vec<u8>>| b.as_ref().map(|k| cold::cold_key(NS_INDEX, k));
    ranges
        .iter()
        .zip(live)
        .map(|((start, end), live)| {
            let (s, e) = shared_bounds(&prefix, *start, *end);
            let (s, e) = (cold_bound(&s), cold_bound(&e));
            merged.range(
                live,
                borrowed(&s),
                borrowed(&e),
                1 + prefix.len(),
                reverse,
                limit,
            )
        })
        .collect()
}

/// Number of entries in index keyspace `space` (`StoreRead::index_len`): a count over the
/// space's range of the `index` table, merged with its cold entries when a gc has made some.
pub(crate) fn len(r: &impl Access, space: &str) -> Result<u64, Error> {
    let path = r.path();
    let Some(prefix) = self::space(r, &space_key(space)?)? else {
        return Ok(0);
    };
    let live = {
        let t = r.txn().open_table(INDEX).db(path)?;
        len_in_space(&t, &prefix, path)?
    };
    if Merged::new(r).with_cold(|c| Ok(c.is_none()))? {
        return Ok(live);
    }
    // With cold entries: a count of the merged range.
    let all = ranges(
        r,
        space,
        &[(Bound::Unbounded, Bound::Unbounded)],
        false,
        usize::MAX,
    )?;
    Ok(all.into_iter().next().map_or(0, |e| e.len() as u64))
}

/// The key prefix of the space whose `meta` entry `key` holds `value`.
pub(crate) fn space_number(key: &str, value: &[u8], path: &Path) -> Result<Vec<u8>, Error> {
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
pub(crate) fn shared_bounds(
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

pub(crate) fn borrowed(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    b.as_ref().map(Vec::as_slice)
}

/// The key of a range that holds one key at most (both bounds included and equal), when
/// entries are asked for.
pub(crate) fn point_key<'k>(r: &KeyRange<'k>, limit: usize) -> Option<&'k [u8]> {
    match r {
        (Bound::Included(a), Bound::Included(b)) if a == b && limit > 0 => Some(a),
        _ => None,
    }
}

/// [`range_of`] within one space of the shared index table, keys returned without the prefix.
pub(crate) fn range_in_space(
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
pub(crate) fn len_in_space(
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

pub(crate) fn range_of(
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
