//! Phase 2 of gc: a base that only deltas still hold (their sessions were deleted) would
//! stay for ever; its deltas are stored whole instead, so that it can go.

use std::collections::HashMap;
use std::path::Path;

use redb::ReadableTable;

use crate::codec;
use crate::error::DbResult;
use crate::schema::{IDS, OBJECTS};
use crate::{Error, ObjectId, Progress, WriteTxn};

/// Re-encodes whole the deltas whose base nothing but deltas hold. Freeing one base can leave
/// its own base in the same position, so this repeats until nothing changes (at most the chain
/// depth). Returns how many deltas it rewrote.
pub(super) fn orphaned_deltas(
    txn: &mut WriteTxn<'_>,
    path: &Path,
    progress: &dyn Progress,
) -> Result<u64, Error> {
    let mut rewritten = 0u64;
    loop {
        let orphaned = bases_held_only_by_deltas(txn, path)?;
        // Each round is a phase of its own: its total is known only once the round
        // before it has freed its bases.
        progress.start("rewrite", Some(orphaned.len() as u64));
        if orphaned.is_empty() {
            break;
        }
        for dependent in orphaned {
            if progress.should_cancel() {
                return Err(Error::Cancelled);
            }
            txn.rewrite_whole(&dependent)?;
            rewritten += 1;
            progress.inc(1);
        }
        txn.sweep_now()?;
    }
    Ok(rewritten)
}

/// Deltas whose base is referenced by deltas alone.
fn bases_held_only_by_deltas(txn: &mut WriteTxn<'_>, path: &Path) -> Result<Vec<ObjectId>, Error> {
    let mut dependents: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
    {
        let t = txn.raw();
        let ids = t.open_table(IDS).db(path)?;
        let objects = t.open_table(OBJECTS).db(path)?;
        let mut by_seq: HashMap<u64, ObjectId> = HashMap::new();
        for item in ids.iter().db(path)? {
            let (k, v) = item.db(path)?;
            by_seq.insert(v.value().0, ObjectId::from_bytes(k.value()));
        }
        for item in objects.iter().db(path)? {
            let (k, v) = item.db(path)?;
            let Some(id) = by_seq.get(&k.value()) else {
                continue;
            };
            if let Some(base) = codec::header(id, v.value())?.base() {
                dependents.entry(base).or_default().push(*id);
            }
        }
    }
    let mut out = Vec::new();
    for (base, deps) in dependents {
        // A base may be packed (its entry then in the pack index).
        if txn.entry(&base)?.map(|e| e.count) == Some(deps.len() as u64) {
            out.extend(deps);
        }
    }
    out.sort();
    Ok(out)
}
