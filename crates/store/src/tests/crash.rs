//! Fault injection: a storage backend that fails its N-th write or sync, for every N over a
//! scripted workload. After each failure the store is reopened from what a crash would leave
//! (only synced bytes, or every completed write) and must equal the state before or after the
//! interrupted operation, never a mix.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use redb::StorageBackend;

use crate::{NoProgress, ObjectId, Store, StoreOptions, StoreRead, verify};

#[derive(Debug, Default)]
struct DiskState {
    volatile: Vec<u8>,
    durable: Vec<u8>,
    ops: u64,
    fail_at: Option<u64>,
    failed: bool,
}

#[derive(Debug, Clone, Default)]
struct Disk(Arc<Mutex<DiskState>>);

impl Disk {
    fn from_image(image: Vec<u8>) -> Disk {
        Disk(Arc::new(Mutex::new(DiskState {
            volatile: image.clone(),
            durable: image,
            ..Default::default()
        })))
    }
    fn state(&self) -> std::sync::MutexGuard<'_, DiskState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Counts a write or sync; fails from the chosen one on, like a machine that went down.
    fn tick(&self) -> Result<(), std::io::Error> {
        let mut s = self.state();
        s.ops += 1;
        if s.failed || s.fail_at.is_some_and(|n| s.ops >= n) {
            s.failed = true;
            return Err(std::io::Error::other("injected fault"));
        }
        Ok(())
    }
}

impl StorageBackend for Disk {
    fn len(&self) -> Result<u64, std::io::Error> {
        Ok(self.state().volatile.len() as u64)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        let s = self.state();
        let start = usize::try_from(offset).map_err(|_| std::io::Error::other("offset"))?;
        let src = s
            .volatile
            .get(start..start + out.len())
            .ok_or_else(|| std::io::Error::other("read past end"))?;
        out.copy_from_slice(src);
        Ok(())
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.tick()?;
        self.state().volatile.resize(len as usize, 0);
        Ok(())
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.tick()?;
        let mut s = self.state();
        s.durable = s.volatile.clone();
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.tick()?;
        let mut s = self.state();
        let start = offset as usize;
        if s.volatile.len() < start + data.len() {
            s.volatile.resize(start + data.len(), 0);
        }
        s.volatile[start..start + data.len()].copy_from_slice(data);
        Ok(())
    }
}

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
            let a = t.put_blob(&blob(i as u32))?.id;
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
    let store = Store::with_backend(
        Disk::default(),
        Path::new("model"),
        &StoreOptions::default(),
        true,
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
        let disk = Disk::default();
        let store = Store::with_backend(disk.clone(), Path::new("crash"), &opts, true).unwrap();
        let base = disk.state().ops;
        disk.state().fail_at = Some(base + n);
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
        let (durable, volatile) = {
            let s = disk.state();
            (s.durable.clone(), s.volatile.clone())
        };
        for (what, image) in [
            ("synced bytes only", durable),
            ("all completed writes", volatile),
        ] {
            let reopened =
                Store::with_backend(Disk::from_image(image), Path::new("reopened"), &opts, false)
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
