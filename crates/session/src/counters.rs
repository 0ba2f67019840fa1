//! The tally keys at the end of the by-time space (`keys::TALLY_START`): the running totals
//! (`C_SESSIONS`, `C_LOGICAL`), kept exact by create and delete, and reading any tally key.

use std::ops::Bound;

use cfgvault_store::{KeyRange, StoreRead, WriteTxn};

use crate::Result;
use crate::keys::{BY_TIME, u64_value};

/// Adds `delta` to one counter.
pub(crate) fn add_counter(txn: &mut WriteTxn<'_>, key: &[u8], delta: i128) -> Result<()> {
    add_counters(txn, &[(key, delta)])
}

/// Adds each delta to its counter (kept within `0..=u64::MAX`): one read and one write for all.
pub(crate) fn add_counters(txn: &mut WriteTxn<'_>, deltas: &[(&[u8], i128)]) -> Result<()> {
    let current = read_counters(txn, deltas.iter().map(|(k, _)| *k))?;
    let values = counter_values(deltas, current);
    let entries: Vec<(&[u8], &[u8])> = deltas
        .iter()
        .zip(&values)
        .map(|((k, _), v)| (*k, &v[..]))
        .collect();
    txn.index_insert_each(BY_TIME, &entries)?;
    Ok(())
}

/// The values of the tally keys `keys`, in one range read.
pub(crate) fn read_counters<'k>(
    r: &impl StoreRead,
    keys: impl Iterator<Item = &'k [u8]>,
) -> Result<Vec<Option<Vec<u8>>>> {
    read_keys(r, BY_TIME, keys)
}

fn read_keys<'k>(
    r: &impl StoreRead,
    space: &str,
    keys: impl Iterator<Item = &'k [u8]>,
) -> Result<Vec<Option<Vec<u8>>>> {
    let ranges: Vec<KeyRange<'_>> = keys
        .map(|k| (Bound::Included(k), Bound::Included(k)))
        .collect();
    Ok(r.index_ranges(space, &ranges, false, 1)?
        .into_iter()
        .map(|rows| rows.into_iter().next().map(|(_, v)| v))
        .collect())
}

/// The counters' values after adding `deltas` to their `current` values.
pub(crate) fn counter_values(
    deltas: &[(&[u8], i128)],
    current: impl IntoIterator<Item = Option<Vec<u8>>>,
) -> Vec<[u8; 8]> {
    deltas
        .iter()
        .zip(current)
        .map(|((_, delta), cur)| {
            let cur = u64_value(cur);
            ((i128::from(cur) + delta).clamp(0, i128::from(u64::MAX)) as u64).to_be_bytes()
        })
        .collect()
}
