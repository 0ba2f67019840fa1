//! Fault injection: a storage backend that fails its N-th write or sync, for every N over a
//! scripted workload. After each failure the store is reopened from what a crash would leave
//! (only synced bytes, or every completed write) and must equal the state before or after the
//! interrupted operation, never a mix.

use crate::testing::MemDisk;
use crate::{NoProgress, ObjectId, Store, StoreOptions, StoreRead, verify};
use std::collections::BTreeMap;
use std::path::Path;

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

fn states_without_faults() -> Vec<Observed> {
    let store = Store::create_on(
        &MemDisk::new(),
        Path::new("model"),
        &StoreOptions::default(),
    )
    .unwrap();
    let mut states = vec![observe(&store)];
    for i in 0..STEPS {
        step(&store, i).unwrap();
        states.push(observe(&store));
    }
    states
}

#[test]
fn every_failed_write_or_sync_leaves_old_or_new_state() {
    let states = states_without_faults();
    let opts = StoreOptions::default();
    let mut n = 1u64;
    let mut crashes = 0;
    loop {
        let disk = MemDisk::new();
        let store = Store::create_on(&disk, Path::new("crash"), &opts).unwrap();
        disk.fail_after(n);
        let mut crashed_in = None;
        for i in 0..STEPS {
            if step(&store, i).is_err() {
                crashed_in = Some(i);
                break;
            }
        }
        drop(store);
        let Some(i) = crashed_in else { break };
        crashes += 1;
        let (durable, volatile) = (disk.synced_image(), disk.written_image());
        for (what, image) in [
            ("synced bytes only", durable),
            ("all completed writes", volatile),
        ] {
            let reopened =
                Store::open_on(&MemDisk::from_image(image), Path::new("reopened"), &opts)
                    .unwrap_or_else(|e| {
                        panic!("fault {n} in step {i} ({what}): reopen failed: {e}")
                    });
            let seen = observe(&reopened);
            assert!(
                seen == states[i] || seen == states[i + 1],
                "fault {n} in step {i} ({what}): state is neither before nor after"
            );
            let v = reopened
                .verify(&verify::Options::default(), &NoProgress)
                .unwrap();
            assert!(
                v.is_clean(),
                "fault {n} in step {i} ({what}): {:?}",
                v.problems
            );
        }
        n += 1;
        assert!(n < 10_000, "workload never completed");
    }
    assert!(crashes >= STEPS, "only {crashes} fault points exercised");
}
