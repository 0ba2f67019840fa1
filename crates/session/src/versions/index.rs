//! The per-path version entries (`session.path_versions`, and `session.path_blobs` for paths
//! with many versions): a path's distinct contents, each with the sessions counted for it.

use std::ops::Bound;

use cfgvault_store::{IndexEntry, KeyRange, ObjectId, StoreRead, WriteTxn};

use crate::keys::*;
use crate::{Error, Result};

/// Sessions counted together: how many, and the earliest and latest `created_at` (µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub sessions: u64,
    pub first: i64,
    pub last: i64,
}

impl Tally {
    /// One session taken at `t`.
    pub(crate) fn one(t: i64) -> Tally {
        Tally {
            sessions: 1,
            first: t,
            last: t,
        }
    }

    pub(crate) fn add(self, other: Tally) -> Tally {
        Tally {
            sessions: self.sessions.saturating_add(other.sessions),
            first: self.first.min(other.first),
            last: self.last.max(other.last),
        }
    }
}

/// A version found in the index: its key and value.
type Found = (Vec<u8>, VersionValue);

/// How many of a path's newest versions are read first: the version a session holds is almost
/// always the newest.
const NEWEST: usize = 4;

/// Versions a search for an older version scans before the path gets `session.path_blobs`
/// entries; from then on such a search costs two lookups, however many versions the path has.
const SCAN_AT_MOST: usize = 64;

/// The version of `path` holding `blob` (its key and value): among the path's newest few (one
/// short range read), else through [`find_older`].
fn find_version(txn: &mut WriteTxn<'_>, path: &str, blob: &ObjectId) -> Result<Option<Found>> {
    let rows = newest_versions(txn, path, NEWEST)?;
    match find_in(&rows, blob)? {
        Some(found) => Ok(Some(found)),
        None if rows.len() < NEWEST => Ok(None),
        None => find_older(txn, path, blob),
    }
}

/// The version of `path` holding `blob`, when it is not among the path's newest few: through
/// `session.path_blobs` when the path has its entries there, else by scanning the path's
/// versions — and then, if there were more than [`SCAN_AT_MOST`], giving the path its entries
/// (so a path edited thousands of times is scanned once, not on every backup or delete).
fn find_older(txn: &mut WriteTxn<'_>, path: &str, blob: &ObjectId) -> Result<Option<Found>> {
    let corrupt = |detail: &str| Error::CorruptIndex {
        key: path.to_string(),
        detail: format!("session.path_blobs: {detail}"),
    };
    if has_blob_entries(txn, path)? {
        let Some(v) = txn.index_get(PATH_BLOBS, &path_blob_key(path, blob))? else {
            return Ok(None);
        };
        let seq = <[u8; 4]>::try_from(v.as_slice())
            .map(u32::from_be_bytes)
            .map_err(|_| corrupt("bad sequence number"))?;
        let key = path_version_key(path, seq);
        let value = txn
            .index_get(PATH_VERSIONS, &key)?
            .ok_or_else(|| corrupt("names a missing version"))?;
        let v = VersionValue::decode(&key, &value)?;
        if v.blob != *blob {
            return Err(corrupt("names the version of another blob"));
        }
        return Ok(Some((key, v)));
    }
    let prefix = path_prefix(path);
    let rows = newest_versions(txn, path, usize::MAX)?;
    let found = find_in(&rows, blob)?;
    if rows.len() > SCAN_AT_MOST {
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(rows.len() + 1);
        entries.push((prefix.clone(), Vec::new()));
        for (k, v) in &rows {
            let seq = k
                .get(prefix.len()..)
                .filter(|s| s.len() == 4)
                .ok_or_else(|| corrupt("bad version key"))?;
            let v = VersionValue::decode(k, v)?;
            entries.push((path_blob_key(path, &v.blob), seq.to_vec()));
        }
        let entries: Vec<(&[u8], &[u8])> = entries
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        txn.index_insert_each(PATH_BLOBS, &entries)?;
    }
    Ok(found)
}

/// The versions of `path`, newest first, at most `limit`.
fn newest_versions(r: &impl StoreRead, path: &str, limit: usize) -> Result<Vec<IndexEntry>> {
    let prefix = path_prefix(path);
    let end = prefix_end(&prefix);
    Ok(r.index_range(
        PATH_VERSIONS,
        Bound::Included(&prefix),
        end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
        true,
        limit,
    )?)
}

/// Whether every version of `path` has its `session.path_blobs` entry.
fn has_blob_entries(r: &impl StoreRead, path: &str) -> Result<bool> {
    Ok(r.index_get(PATH_BLOBS, &path_prefix(path))?.is_some())
}

/// The sequence number of the first of `rows` (versions of `path`, newest first).
fn last_seq(path: &str, rows: &[IndexEntry]) -> Option<u32> {
    let prefix_len = path_prefix(path).len();
    rows.first().and_then(|(k, _)| {
        k.get(prefix_len..)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(u32::from_be_bytes)
    })
}

/// The version among `rows` that holds `blob`.
fn find_in(rows: &[IndexEntry], blob: &ObjectId) -> Result<Option<Found>> {
    for (k, v) in rows {
        let v = VersionValue::decode(k, v)?;
        if v.blob == *blob {
            return Ok(Some((k.clone(), v)));
        }
    }
    Ok(None)
}

/// Records that the sessions of `tally` hold `files` (path, blob, size): each file's version
/// counts them, or a new version is added after the path's newest. One index read and one
/// index write for all files; a path whose version is not among its newest few is looked up
/// on its own ([`find_older`]).
pub(crate) fn versions_add(
    txn: &mut WriteTxn<'_>,
    files: &[(&str, ObjectId, u64)],
    tally: Tally,
) -> Result<()> {
    let prefixes: Vec<(Vec<u8>, Option<Vec<u8>>)> = files
        .iter()
        .map(|(path, _, _)| {
            let p = path_prefix(path);
            let end = prefix_end(&p);
            (p, end)
        })
        .collect();
    let ranges: Vec<KeyRange<'_>> = prefixes
        .iter()
        .map(|(p, end)| {
            (
                Bound::Included(p.as_slice()),
                end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
            )
        })
        .collect();
    let newest = txn.index_ranges(PATH_VERSIONS, &ranges, true, NEWEST)?;
    let mut writes: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(files.len());
    for (&(path, blob, size), rows) in files.iter().zip(&newest) {
        let found = match find_in(rows, &blob)? {
            Some(found) => (Some(found), None),
            None if rows.len() < NEWEST => (None, last_seq(path, rows)),
            None => (find_older(txn, path, &blob)?, last_seq(path, rows)),
        };
        writes.push(match found {
            (Some((k, mut v)), _) => {
                v.sessions = v.sessions.saturating_add(tally.sessions);
                v.first = v.first.min(tally.first);
                v.last = v.last.max(tally.last);
                (k, v.encode())
            }
            (None, last) => {
                let seq = match last {
                    None => 0,
                    Some(s) => s.checked_add(1).ok_or_else(|| Error::CorruptIndex {
                        key: path.to_string(),
                        detail: "too many versions".into(),
                    })?,
                };
                let v = VersionValue {
                    blob,
                    size,
                    first: tally.first,
                    last: tally.last,
                    sessions: tally.sessions,
                };
                if has_blob_entries(txn, path)? {
                    txn.index_insert(PATH_BLOBS, &path_blob_key(path, &blob), &seq.to_be_bytes())?;
                }
                (path_version_key(path, seq), v.encode())
            }
        });
    }
    let writes: Vec<(&[u8], &[u8])> = writes
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    txn.index_insert_each(PATH_VERSIONS, &writes)?;
    Ok(())
}

pub(crate) fn version_remove(txn: &mut WriteTxn<'_>, path: &str, blob: &ObjectId) -> Result<()> {
    let Some((k, mut v)) = find_version(txn, path, blob)? else {
        return Ok(());
    };
    v.sessions = v.sessions.saturating_sub(1);
    if v.sessions == 0 {
        txn.index_remove(PATH_VERSIONS, &k)?;
        if has_blob_entries(txn, path)? {
            txn.index_remove(PATH_BLOBS, &path_blob_key(path, blob))?;
        }
    } else {
        txn.index_insert(PATH_VERSIONS, &k, &v.encode())?;
    }
    Ok(())
}
