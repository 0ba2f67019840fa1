//! Deleting sessions: [`delete`], and [`delete_in`] for retention's plans.

use std::collections::BTreeSet;

use cfgvault_store::{CommitOutcome, Store, StoreRead, WriteTxn};

use crate::counters::add_counter;
use crate::keys::*;
use crate::records::RecordReader;
use crate::versions::index::version_remove;
use crate::versions::repeats;
use crate::walk::walk;
use crate::{Error, Result, SessionId, SessionRecord};

/// Deletes sessions in one transaction; objects nobody else holds go with them. Every id
/// must exist (pinned sessions included: pinning only protects from retention).
pub fn delete(store: &Store, ids: &[SessionId]) -> Result<CommitOutcome> {
    let mut txn = store.write()?;
    delete_in(&mut txn, ids, true)?;
    Ok(txn.commit()?)
}

/// Deletes within `txn`. When `strict` is false, missing and pinned sessions are passed over
/// (retention applying a plan made earlier). Returns the ids deleted.
pub(crate) fn delete_in(
    txn: &mut WriteTxn<'_>,
    ids: &[SessionId],
    strict: bool,
) -> Result<Vec<SessionId>> {
    let records = records_to_delete(txn, ids, strict)?;
    let mut roots = Vec::with_capacity(records.len());
    for rec in &records {
        if let Some(root) = txn.root(&root_name(&rec.id))? {
            roots.push(root.id);
        }
    }
    // The sessions deleted must be counted in the version entries they are removed from.
    repeats::fold_if_held(txn, &roots)?;
    for rec in &records {
        remove_session(txn, rec)?;
    }
    Ok(records.into_iter().map(|r| r.id).collect())
}

/// The records of `ids`, each once; see [`delete_in`] for `strict`.
fn records_to_delete(
    txn: &WriteTxn<'_>,
    ids: &[SessionId],
    strict: bool,
) -> Result<Vec<SessionRecord>> {
    let unique: BTreeSet<&SessionId> = ids.iter().collect();
    let mut records = Vec::with_capacity(unique.len());
    let mut reader = RecordReader::without_closure();
    for id in unique {
        match reader.find(txn, id)? {
            Some(rec) if strict || !rec.pinned => records.push(rec),
            Some(_) => {}
            None if strict => return Err(Error::SessionNotFound { id: id.to_string() }),
            None => {}
        }
    }
    Ok(records)
}

/// Takes one session out of the version index, its index entries and the totals, and unpins
/// its root (the commit sweeps what nobody else holds).
fn remove_session(txn: &mut WriteTxn<'_>, rec: &SessionRecord) -> Result<()> {
    let id = &rec.id;
    for f in walk(txn, &rec.root)? {
        version_remove(txn, &f.path, &f.id)?;
    }
    txn.index_remove(BY_TIME, &by_time_key(rec.created_at, id))?;
    for (k, v) in &rec.labels {
        txn.index_remove(BY_LABEL, &label_key(k, v, rec.created_at, id))?;
    }
    add_counter(txn, C_SESSIONS, -1)?;
    add_counter(txn, C_LOGICAL, -(rec.logical_bytes as i128))?;
    txn.unpin(&root_name(id))?;
    Ok(())
}
