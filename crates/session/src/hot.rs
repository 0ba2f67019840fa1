//! The hot session node's pending version tallies.
//!
//! Most backups store a session whose files and closure are those of an earlier session: its
//! session node is stored already. Counting such a session in each of its files' version entries
//! would rewrite one entry per file on every backup. Instead the sessions of one node — the *hot*
//! node, the one the latest such backup held — are counted together, in two tally entries
//! (after the by-time entries of `session.by_time`, `keys::TALLY_START`):
//! - `hot` → the node's id and a [`Tally`] of the sessions counted here: how many, the earliest
//!   and the latest `created_at`;
//! - `hot.files` → the node's files (path, blob, size), sorted by path, written when the node
//!   becomes hot.
//!
//! A version's tally is its entry's, plus the hot tally when `hot.files` holds the version's path
//! and blob ([`merge`]). The hot tally is folded into the entries when another node becomes hot
//! ([`count`]), before a session of the hot node is deleted ([`fold_if_held`]) and before a gc
//! ([`settle`]). Hence:
//! - every session counted in `hot` is live and holds the hot node;
//! - the hot node's other sessions are counted in the entries, and it has at least one (it was
//!   stored, so held by a session, when it became hot; those sessions were counted in the entries
//!   and stay there until a delete, which folds first), so each of its files has a version entry.
//!
//! Nodes of more than [`MAX_HOT_FILES`] files never become hot: their `hot.files` would cost more to
//! write than their entries.

use cfgvault_store::{ObjectId, Store, StoreRead, WriteTxn};

use crate::keys::{BY_TIME, C_HOT as HOT, C_HOT_FILES as HOT_FILES};
use crate::record::{Cursor, put_varint, unzigzag, zigzag};
use crate::session::{Version, counter_values, read_counters, time, versions_add};
use crate::{Error, FileEntry, Result};

/// The largest session (in files) whose node may become hot.
pub(crate) const MAX_HOT_FILES: usize = 128;

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

    fn add(self, other: Tally) -> Tally {
        Tally {
            sessions: self.sessions.saturating_add(other.sessions),
            first: self.first.min(other.first),
            last: self.last.max(other.last),
        }
    }
}

/// A file of the hot node, as `hot.files` keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HotFile {
    pub path: String,
    pub blob: ObjectId,
    pub size: u64,
}

fn corrupt(key: &[u8], detail: &str) -> Error {
    Error::CorruptIndex {
        key: String::from_utf8_lossy(key).into_owned(),
        detail: format!("session.by_time: {detail}"),
    }
}

fn encode_hot(node: &ObjectId, t: Tally) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(node.as_bytes());
    put_varint(&mut out, t.sessions);
    put_varint(&mut out, zigzag(t.first));
    put_varint(&mut out, zigzag(t.last.wrapping_sub(t.first)));
    out
}

fn decode_hot(v: &[u8]) -> Result<(ObjectId, Tally)> {
    let bad = || corrupt(HOT, "unreadable hot tally");
    let mut c = Cursor { bytes: v, pos: 0 };
    let node = c.id().ok_or_else(bad)?;
    let sessions = c.varint().ok_or_else(bad)?;
    let first = unzigzag(c.varint().ok_or_else(bad)?);
    let last = first.wrapping_add(unzigzag(c.varint().ok_or_else(bad)?));
    if c.pos != v.len() || sessions == 0 {
        return Err(bad());
    }
    Ok((
        node,
        Tally {
            sessions,
            first,
            last,
        },
    ))
}

fn encode_files(files: &[FileEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(files.iter().map(|f| f.path.len() + 40).sum());
    for f in files {
        put_varint(&mut out, f.path.len() as u64);
        out.extend_from_slice(f.path.as_bytes());
        out.extend_from_slice(f.id.as_bytes());
        put_varint(&mut out, f.size);
    }
    out
}

fn decode_files(v: &[u8]) -> Result<Vec<HotFile>> {
    let bad = || corrupt(HOT_FILES, "unreadable file list");
    let mut c = Cursor { bytes: v, pos: 0 };
    let mut out = Vec::new();
    while c.pos < v.len() {
        let path = c.string().ok_or_else(bad)?;
        let blob = c.id().ok_or_else(bad)?;
        let size = c.varint().ok_or_else(bad)?;
        out.push(HotFile { path, blob, size });
    }
    Ok(out)
}

/// The blob that `hot.files` (its value `v`) lists at `path`, read without decoding the list.
fn blob_at(v: &[u8], path: &str) -> Result<Option<ObjectId>> {
    let bad = || corrupt(HOT_FILES, "unreadable file list");
    let mut c = Cursor { bytes: v, pos: 0 };
    while c.pos < v.len() {
        let len = c.varint().and_then(|n| usize::try_from(n).ok());
        let name = len.and_then(|n| c.take(n)).ok_or_else(bad)?;
        let found = name == path.as_bytes();
        let blob = c.id().ok_or_else(bad)?;
        c.varint().ok_or_else(bad)?;
        if found {
            return Ok(Some(blob));
        }
    }
    Ok(None)
}

/// The hot node and its tally, if a node is hot.
fn read(r: &impl StoreRead) -> Result<Option<(ObjectId, Tally)>> {
    read_counters(r, [HOT].into_iter())?
        .pop()
        .flatten()
        .map(|v| decode_hot(&v))
        .transpose()
}

fn read_files(r: &impl StoreRead) -> Result<Vec<HotFile>> {
    let v = read_counters(r, [HOT_FILES].into_iter())?
        .pop()
        .flatten()
        .ok_or_else(|| corrupt(HOT_FILES, "missing while a node is hot"))?;
    decode_files(&v)
}

/// Counts a new session holding `node` — a stored session node of at most [`MAX_HOT_FILES`]
/// `files` — taken at `t` (µs): in the hot tally when `node` is hot, else by folding the hot
/// tally into the version entries and making `node` hot with this one session. Adds `counters`
/// (deltas of `session.counters` entries) with the same read and write.
pub(crate) fn count(
    txn: &mut WriteTxn<'_>,
    node: &ObjectId,
    files: &[FileEntry],
    t: i64,
    counters: &[(&[u8], i128)],
) -> Result<()> {
    let keys = counters.iter().map(|(k, _)| *k).chain([HOT]);
    let mut current = read_counters(txn, keys)?;
    let hot = current
        .pop()
        .flatten()
        .map(|v| decode_hot(&v))
        .transpose()?;
    let values = counter_values(counters, current);
    let mut writes: Vec<(&[u8], &[u8])> = counters
        .iter()
        .zip(&values)
        .map(|((k, _), v)| (*k, &v[..]))
        .collect();
    let (hot_value, files_value) = match hot {
        Some((hot, tally)) if hot == *node => (encode_hot(node, tally.add(Tally::one(t))), None),
        previous => {
            if let Some((_, tally)) = previous {
                fold_files(txn, tally)?;
            }
            (encode_hot(node, Tally::one(t)), Some(encode_files(files)))
        }
    };
    writes.push((HOT, &hot_value));
    if let Some(v) = &files_value {
        writes.push((HOT_FILES, v));
    }
    txn.index_insert_each(BY_TIME, &writes)?;
    Ok(())
}

/// Adds `tally` to the version entries of the files in `hot.files`.
fn fold_files(txn: &mut WriteTxn<'_>, tally: Tally) -> Result<()> {
    let files = read_files(txn)?;
    let files: Vec<(&str, ObjectId, u64)> = files
        .iter()
        .map(|f| (f.path.as_str(), f.blob, f.size))
        .collect();
    versions_add(txn, &files, tally)
}

/// Before sessions holding the nodes `held` are deleted: when one of them is hot, folds the hot
/// tally into the version entries and clears it, so the delete finds every session it removes
/// counted in the entries.
pub(crate) fn fold_if_held(txn: &mut WriteTxn<'_>, held: &[ObjectId]) -> Result<()> {
    if held.is_empty() {
        return Ok(());
    }
    if let Some((hot, tally)) = read(txn)?
        && held.contains(&hot)
    {
        fold_files(txn, tally)?;
        clear(txn)?;
    }
    Ok(())
}

fn clear(txn: &mut WriteTxn<'_>) -> Result<()> {
    txn.index_remove(BY_TIME, HOT)?;
    txn.index_remove(BY_TIME, HOT_FILES)?;
    Ok(())
}

/// Folds the hot tally into the version entries and clears it, in one transaction: a store
/// about to be compacted then holds no `hot.files` (up to a few KiB).
pub fn settle(store: &Store) -> Result<()> {
    let mut txn = store.write()?;
    if let Some((_, tally)) = read(&txn)? {
        fold_files(&mut txn, tally)?;
        clear(&mut txn)?;
        txn.commit()?;
    }
    Ok(())
}

/// Adds the hot tally to the version of `path` that the hot node holds, among `versions` (the
/// path's versions as their entries count them).
pub(crate) fn merge(r: &impl StoreRead, path: &str, versions: &mut [Version]) -> Result<()> {
    let mut values = read_counters(r, [HOT, HOT_FILES].into_iter())?.into_iter();
    let (Some(Some(hot)), files) = (values.next(), values.next().flatten()) else {
        return Ok(());
    };
    let (_, tally) = decode_hot(&hot)?;
    let files = files.ok_or_else(|| corrupt(HOT_FILES, "missing while a node is hot"))?;
    let Some(blob) = blob_at(&files, path)? else {
        return Ok(());
    };
    if let Some(v) = versions.iter_mut().find(|v| v.id == blob) {
        v.sessions = v.sessions.saturating_add(tally.sessions);
        v.first_seen = v.first_seen.min(time(tally.first));
        v.last_seen = v.last_seen.max(time(tally.last));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hot_values_round_trip_and_reject_garbage() {
        let node = ObjectId::for_blob(b"node");
        let t = Tally {
            sessions: 7,
            first: -5,
            last: 1_764_072_000_000_000,
        };
        assert_eq!(decode_hot(&encode_hot(&node, t)).unwrap(), (node, t));
        let mut trailing = encode_hot(&node, t);
        trailing.push(0);
        assert!(decode_hot(&trailing).is_err());
        assert!(decode_hot(&encode_hot(&node, Tally { sessions: 0, ..t })).is_err());
        let files = vec![
            FileEntry {
                path: "a.yaml".into(),
                id: ObjectId::for_blob(b"a"),
                size: 1,
                mode: 0o644,
            },
            FileEntry {
                path: "llms/b.yaml".into(),
                id: ObjectId::for_blob(b"b"),
                size: 300,
                mode: 0o644,
            },
        ];
        let back = decode_files(&encode_files(&files)).unwrap();
        let want: Vec<HotFile> = files
            .iter()
            .map(|f| HotFile {
                path: f.path.clone(),
                blob: f.id,
                size: f.size,
            })
            .collect();
        assert_eq!(back, want);
        let bytes = encode_files(&files);
        assert!(decode_files(&bytes[..bytes.len() - 1]).is_err());
        assert_eq!(blob_at(&bytes, "llms/b.yaml").unwrap(), Some(files[1].id));
        assert_eq!(blob_at(&bytes, "a.yaml").unwrap(), Some(files[0].id));
        assert_eq!(blob_at(&bytes, "llms").unwrap(), None);
        assert!(blob_at(&bytes[..bytes.len() - 1], "zz").is_err());
    }
}
