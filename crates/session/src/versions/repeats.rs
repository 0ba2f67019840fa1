//! The repeat tally: sessions that repeat a stored session node, counted in one entry.
//!
//! Most backups store a session whose files and closure are those of an earlier session: its
//! session node is stored already. Counting such a session in each of its files' version entries
//! would rewrite one entry per file on every backup. Instead the sessions of one node — the
//! *repeated* node, the one the latest such backup held — are counted together, in two tally keys
//! of the by-time space (after its time keys, `keys::TALLY_START`; their bytes spell `hot` and
//! `hot.files`, the names format 1 gives them, see docs/FORMAT.md):
//! - [`C_REPEATS`] → the node's id and a [`Tally`] of the sessions counted here: how many, the
//!   earliest and the latest `created_at`;
//! - [`C_REPEAT_FILES`] → the node's files (path, blob, size), sorted by path, written when the
//!   node becomes the repeated one.
//!
//! A version's tally is its entry's, plus the repeat tally when the repeated node's files hold
//! the version's path and blob ([`pending`]). The repeat tally is folded into the entries when
//! another node becomes the repeated one ([`count`]), before a session of the repeated node is
//! deleted ([`fold_if_held`]) and before a gc ([`settle`]). Hence:
//! - every session counted in the repeat tally is live and holds the repeated node;
//! - the repeated node's other sessions are counted in the entries, and it has at least one (it
//!   was stored, so held by a session, when it became the repeated node; those sessions were
//!   counted in the entries and stay there until a delete, which folds first), so each of its
//!   files has a version entry.
//!
//! Nodes of more than [`MAX_REPEAT_FILES`] files are never tallied here: their file list would
//! cost more to write than their entries.
//!
//! (This is unrelated to the store's hot pin, `crates/store/src/hotpin.rs`, which counts the
//! store roots naming one object.)

use cfgvault_store::{ObjectId, Store, StoreRead, WriteTxn};

use crate::counters::{counter_values, read_counters};
use crate::keys::{BY_TIME, C_REPEAT_FILES, C_REPEATS};
use crate::record::{Cursor, put_varint, unzigzag, zigzag};
use crate::versions::index::{Tally, versions_add};
use crate::{Error, FileEntry, Result};

/// The largest session (in files) whose node may become the repeated node.
pub(crate) const MAX_REPEAT_FILES: usize = 128;

/// A file of the repeated node, as [`C_REPEAT_FILES`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepeatFile {
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

fn encode_repeats(node: &ObjectId, t: Tally) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(node.as_bytes());
    put_varint(&mut out, t.sessions);
    put_varint(&mut out, zigzag(t.first));
    put_varint(&mut out, zigzag(t.last.wrapping_sub(t.first)));
    out
}

fn decode_repeats(v: &[u8]) -> Result<(ObjectId, Tally)> {
    let bad = || corrupt(C_REPEATS, "unreadable repeat tally");
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

fn decode_files(v: &[u8]) -> Result<Vec<RepeatFile>> {
    let bad = || corrupt(C_REPEAT_FILES, "unreadable file list");
    let mut c = Cursor { bytes: v, pos: 0 };
    let mut out = Vec::new();
    while c.pos < v.len() {
        let path = c.string().ok_or_else(bad)?;
        let blob = c.id().ok_or_else(bad)?;
        let size = c.varint().ok_or_else(bad)?;
        out.push(RepeatFile { path, blob, size });
    }
    Ok(out)
}

/// The blob that the repeated node's file list (its value `v`) lists at `path`, read without decoding the list.
fn blob_at(v: &[u8], path: &str) -> Result<Option<ObjectId>> {
    let bad = || corrupt(C_REPEAT_FILES, "unreadable file list");
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

/// The repeated node and its tally, if a node is repeated.
fn read(r: &impl StoreRead) -> Result<Option<(ObjectId, Tally)>> {
    read_counters(r, [C_REPEATS].into_iter())?
        .pop()
        .flatten()
        .map(|v| decode_repeats(&v))
        .transpose()
}

fn read_files(r: &impl StoreRead) -> Result<Vec<RepeatFile>> {
    let v = read_counters(r, [C_REPEAT_FILES].into_iter())?
        .pop()
        .flatten()
        .ok_or_else(|| corrupt(C_REPEAT_FILES, "missing while a node is repeated"))?;
    decode_files(&v)
}

/// Counts a new session holding `node` — a stored session node of at most [`MAX_REPEAT_FILES`]
/// `files` — taken at `t` (µs): in the repeat tally when `node` is the repeated node, else by
/// folding the repeat tally into the version entries and making `node` the repeated node with
/// this one session. Adds `counters`
/// (deltas of `session.counters` entries) with the same read and write.
pub(crate) fn count(
    txn: &mut WriteTxn<'_>,
    node: &ObjectId,
    files: &[FileEntry],
    t: i64,
    counters: &[(&[u8], i128)],
) -> Result<()> {
    let keys = counters.iter().map(|(k, _)| *k).chain([C_REPEATS]);
    let mut current = read_counters(txn, keys)?;
    let repeated = current
        .pop()
        .flatten()
        .map(|v| decode_repeats(&v))
        .transpose()?;
    let values = counter_values(counters, current);
    let mut writes: Vec<(&[u8], &[u8])> = counters
        .iter()
        .zip(&values)
        .map(|((k, _), v)| (*k, &v[..]))
        .collect();
    let (tally_value, files_value) = match repeated {
        Some((repeated, tally)) if repeated == *node => {
            (encode_repeats(node, tally.add(Tally::one(t))), None)
        }
        previous => {
            if let Some((_, tally)) = previous {
                fold_files(txn, tally)?;
            }
            (
                encode_repeats(node, Tally::one(t)),
                Some(encode_files(files)),
            )
        }
    };
    writes.push((C_REPEATS, &tally_value));
    if let Some(v) = &files_value {
        writes.push((C_REPEAT_FILES, v));
    }
    txn.index_insert_each(BY_TIME, &writes)?;
    Ok(())
}

/// Adds `tally` to the version entries of the repeated node's files.
fn fold_files(txn: &mut WriteTxn<'_>, tally: Tally) -> Result<()> {
    let files = read_files(txn)?;
    let files: Vec<(&str, ObjectId, u64)> = files
        .iter()
        .map(|f| (f.path.as_str(), f.blob, f.size))
        .collect();
    versions_add(txn, &files, tally)
}

/// Before sessions holding the nodes `held` are deleted: when one of them is the repeated node,
/// folds the repeat tally into the version entries and clears it, so the delete finds every session it removes
/// counted in the entries.
pub(crate) fn fold_if_held(txn: &mut WriteTxn<'_>, held: &[ObjectId]) -> Result<()> {
    if held.is_empty() {
        return Ok(());
    }
    if let Some((repeated, tally)) = read(txn)?
        && held.contains(&repeated)
    {
        fold_files(txn, tally)?;
        clear(txn)?;
    }
    Ok(())
}

fn clear(txn: &mut WriteTxn<'_>) -> Result<()> {
    txn.index_remove(BY_TIME, C_REPEATS)?;
    txn.index_remove(BY_TIME, C_REPEAT_FILES)?;
    Ok(())
}

/// Folds the repeat tally into the version entries and clears it, in one transaction: a store
/// about to be compacted then holds no file list of a repeated node (up to a few KiB).
pub fn settle(store: &Store) -> Result<()> {
    let mut txn = store.write()?;
    if let Some((_, tally)) = read(&txn)? {
        fold_files(&mut txn, tally)?;
        clear(&mut txn)?;
        txn.commit()?;
    }
    Ok(())
}

/// The repeated node's blob at `path` and the repeat tally (which counts sessions holding that
/// blob at `path`, beside those its version entry counts); `None` when no node is repeated or
/// its files have no `path`.
pub(crate) fn pending(r: &impl StoreRead, path: &str) -> Result<Option<(ObjectId, Tally)>> {
    let mut values = read_counters(r, [C_REPEATS, C_REPEAT_FILES].into_iter())?.into_iter();
    let (Some(Some(repeats)), files) = (values.next(), values.next().flatten()) else {
        return Ok(None);
    };
    let (_, tally) = decode_repeats(&repeats)?;
    let files = files.ok_or_else(|| corrupt(C_REPEAT_FILES, "missing while a node is repeated"))?;
    Ok(blob_at(&files, path)?.map(|blob| (blob, tally)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn repeat_tally_values_round_trip_and_reject_garbage() {
        let node = ObjectId::for_blob(b"node");
        let t = Tally {
            sessions: 7,
            first: -5,
            last: 1_764_072_000_000_000,
        };
        assert_eq!(
            decode_repeats(&encode_repeats(&node, t)).unwrap(),
            (node, t)
        );
        let mut trailing = encode_repeats(&node, t);
        trailing.push(0);
        assert!(decode_repeats(&trailing).is_err());
        assert!(decode_repeats(&encode_repeats(&node, Tally { sessions: 0, ..t })).is_err());
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
        let want: Vec<RepeatFile> = files
            .iter()
            .map(|f| RepeatFile {
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
