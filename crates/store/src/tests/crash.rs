//! Fault injection: a storage backend that fails its N-th write or sync, for every N over a
//! scripted workload. After each failure the store is reopened from what a crash would leave
//! (only synced bytes, or every completed write) and must equal the state before or after the
//! interrupted operation, never a mix.

use crate::{ObjectId, Store, StoreOptions, StoreRead};
use std::collections::BTreeMap;

type Observed = (
    BTreeMap<String, ObjectId>,
    BTreeMap<ObjectId, (u64, Vec<u8>)>,
);

/// Everything observable: roots, and every object reachable from them with its count and bytes.
fn observe(store: &Store) -> Observed {
    let r = store.read().unwrap();
    let roots: BTreeMap<String, ObjectId> = r
        .roots("")
        .unwrap()
        .into_iter()
        .map(|x| (x.name, x.id))
        .collect();
    let mut objects = BTreeMap::new();
    let mut stack: Vec<ObjectId> = roots.values().copied().collect();
    while let Some(id) = stack.pop() {
        if objects.contains_key(&id) {
            continue;
        }
        let n = r.refcount(&id).unwrap().unwrap();
        objects.insert(id, (n, r.get(&id).unwrap()));
        stack.extend(r.links(&id).unwrap());
    }
    (roots, objects)
}

fn blob(i: u32) -> Vec<u8> {
    format!("llm_client: model-{i}\ntemperature: 0.{i}\n")
        .repeat(40 + i as usize)
        .into_bytes()
}

/// The scripted workload: each step is one write transaction, as a public operation is.
fn step(store: &Store, i: usize) -> Result<(), crate::Error> {
    let mut t = store.write()?;
    match i {
        0..=3 => {
            // Each version is stored near the one before, so faults also hit delta puts.
            let prev = (i > 0).then(|| ObjectId::for_blob(&blob(i as u32 - 1)));
            let a = t.put_blob_near(&blob(i as u32), prev.as_ref())?.id;
            let b = t.put_blob(&blob(100))?.id; // shared by every session
            let node = t.put_node(format!("tree {i}").as_bytes(), &[a, b])?.id;
            t.pin(&format!("session/{i}"), &node, b"")?;
            t.index_insert("sessions", format!("{i}").as_bytes(), b"record")?;
        }
        4 => {
            t.unpin("session/0")?;
            t.index_remove("sessions", b"0")?;
        }
        5 => {
            t.unpin("session/1")?;
            t.unpin("session/2")?;
        }
        _ => return Ok(()),
    }
    t.commit().map(drop)
}

const STEPS: usize = 6;

/// A store of 400 objects and two roots, then gc, which folds the roots into cold blocks and
/// packs every object: a fault anywhere in the fold, the packing or the compaction leaves a
/// store that reopens and verifies. (Since the fold empties the index, this workload leaves no
/// table sparse enough for gc to rebuild; `gc_rebuilds_sparse_tables_and_keeps_every_object`
/// covers the rebuild, without faults.)
fn gc_step(store: &Store, i: usize) -> Result<(), crate::Error> {
    if i < 2 {
        let mut t = store.write()?;
        let mut ids = Vec::new();
        for j in 0..200u32 {
            ids.push(t.put_blob(format!("{i} {j}").as_bytes())?.id);
        }
        let node = t.put_node(b"batch", &ids)?.id;
        t.pin(&format!("session/{i}"), &node, b"")?;
        return t.commit().map(drop);
    }
    let out = store.gc(&crate::NoProgress)?;
    assert!(
        out.cold_blocks_written > 0 && out.packed > 0,
        "the workload must exercise the fold and packing: {out:?}"
    );
    match out.compaction_skipped {
        Some(why) => panic!("compaction skipped: {why}"),
        None => Ok(()),
    }
}

#[test]
fn every_failed_write_or_sync_during_gc_leaves_a_sound_store() {
    let faults = crate::testing::every_fault(&StoreOptions::default(), 3, gc_step, observe);
    assert!(faults >= 3, "only {faults} fault points exercised");
}

#[test]
fn every_failed_write_or_sync_leaves_old_or_new_state() {
    let faults = crate::testing::every_fault(&StoreOptions::default(), STEPS, step, observe);
    assert!(faults >= STEPS, "only {faults} fault points exercised");
}
