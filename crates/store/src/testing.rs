//! Fault injection for tests of this crate and the layers above (feature `fault-injection`):
//! an in-memory disk that fails its N-th write or sync, like a machine going down, and keeps
//! both what was synced and what was written, so a test can reopen the store from either.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{Error, Store, StoreOptions};

#[derive(Debug, Default)]
struct DiskState {
    volatile: Vec<u8>,
    durable: Vec<u8>,
    ops: u64,
    fail_at: Option<u64>,
    failed: bool,
    /// Writes and growth past this many bytes fail with "no space left".
    capacity: Option<u64>,
}

/// An in-memory disk. Clones share the same bytes.
#[derive(Debug, Clone, Default)]
pub struct MemDisk(Arc<Mutex<DiskState>>);

impl MemDisk {
    /// An empty disk.
    pub fn new() -> MemDisk {
        MemDisk::default()
    }

    /// A disk holding `image` (synced).
    pub fn from_image(image: Vec<u8>) -> MemDisk {
        MemDisk(Arc::new(Mutex::new(DiskState {
            volatile: image.clone(),
            durable: image,
            ..DiskState::default()
        })))
    }

    fn state(&self) -> MutexGuard<'_, DiskState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes and syncs so far.
    pub fn ops(&self) -> u64 {
        self.state().ops
    }

    /// Makes the `n`-th write or sync from now fail, and every one after it.
    pub fn fail_after(&self, n: u64) {
        let mut s = self.state();
        s.fail_at = Some(s.ops + n);
    }

    /// Limits the disk to `bytes`: writing or growing past it fails like a full disk
    /// (`ErrorKind::StorageFull`) until the limit is lifted with `None`.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.state().capacity = bytes;
    }

    fn check_space(&self, end: u64) -> Result<(), std::io::Error> {
        match self.state().capacity {
            Some(cap) if end > cap => Err(std::io::Error::from(std::io::ErrorKind::StorageFull)),
            _ => Ok(()),
        }
    }

    /// Whether a fault has been injected.
    pub fn failed(&self) -> bool {
        self.state().failed
    }

    /// The bytes as of the last successful sync (what a power cut leaves).
    pub fn synced_image(&self) -> Vec<u8> {
        self.state().durable.clone()
    }

    /// Every completed write (what a killed process leaves, the OS surviving).
    pub fn written_image(&self) -> Vec<u8> {
        self.state().volatile.clone()
    }

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

impl redb::StorageBackend for MemDisk {
    fn len(&self) -> Result<u64, std::io::Error> {
        Ok(self.state().volatile.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        let s = self.state();
        let start = usize::try_from(offset).map_err(|_| std::io::Error::other("offset"))?;
        let src = start
            .checked_add(out.len())
            .and_then(|end| s.volatile.get(start..end))
            .ok_or_else(|| std::io::Error::other("read past end"))?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.tick()?;
        self.check_space(len)?;
        let len = usize::try_from(len).map_err(|_| std::io::Error::other("length"))?;
        self.state().volatile.resize(len, 0);
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
        self.check_space(offset + data.len() as u64)?;
        let mut s = self.state();
        let start = usize::try_from(offset).map_err(|_| std::io::Error::other("offset"))?;
        let end = start + data.len();
        if s.volatile.len() < end {
            s.volatile.resize(end, 0);
        }
        s.volatile[start..end].copy_from_slice(data);
        Ok(())
    }
}

impl Store {
    /// A new store on `disk` (exclusive mode; `label` stands in for the path in errors).
    pub fn create_on(disk: &MemDisk, label: &Path, options: &StoreOptions) -> Result<Store, Error> {
        Store::with_backend(disk.clone(), label, options, true)
    }

    /// Opens the store held by `disk`.
    pub fn open_on(disk: &MemDisk, label: &Path, options: &StoreOptions) -> Result<Store, Error> {
        Store::with_backend(disk.clone(), label, options, false)
    }
}

/// Runs a workload of `steps` operations (`step(store, i)`, each one write transaction) once
/// per fault point: for every N, the N-th write or sync fails. After each failure the store is
/// reopened from what a crash would leave — only synced bytes, and every completed write — and
/// must `observe` as the state before or after the interrupted step (as a fault-free run gives
/// them), never a mix, and verify clean. Returns the number of fault points exercised.
///
/// Panics (it is a test harness) naming the fault, the step and the image on any violation.
pub fn every_fault<E: std::fmt::Debug, T: PartialEq + std::fmt::Debug>(
    options: &StoreOptions,
    steps: usize,
    step: impl Fn(&Store, usize) -> Result<(), E>,
    observe: impl Fn(&Store) -> T,
) -> usize {
    let label = Path::new("fault-injection");
    let open = |disk: &MemDisk, create: bool| {
        let r = if create {
            Store::create_on(disk, label, options)
        } else {
            Store::open_on(disk, label, options)
        };
        r.unwrap_or_else(|e| panic!("store on a memory disk: {e}"))
    };
    let reference = open(&MemDisk::new(), true);
    let mut states = vec![observe(&reference)];
    for i in 0..steps {
        if let Err(e) = step(&reference, i) {
            panic!("step {i} fails without faults: {e:?}");
        }
        states.push(observe(&reference));
    }
    let mut n = 1u64;
    let mut faults = 0;
    loop {
        let disk = MemDisk::new();
        let store = open(&disk, true);
        disk.fail_after(n);
        let crashed_in = (0..steps).find(|&i| step(&store, i).is_err());
        drop(store);
        let Some(i) = crashed_in else {
            return faults;
        };
        faults += 1;
        for (what, image) in [
            ("synced bytes only", disk.synced_image()),
            ("all completed writes", disk.written_image()),
        ] {
            let reopened = open(&MemDisk::from_image(image), false);
            let seen = observe(&reopened);
            assert!(
                seen == states[i] || seen == states[i + 1],
                "fault {n} in step {i} ({what}): neither before nor after: {seen:?}"
            );
            let v = reopened
                .verify(&crate::verify::Options::default(), &crate::NoProgress)
                .unwrap_or_else(|e| panic!("fault {n} in step {i} ({what}): verify: {e}"));
            assert!(
                v.is_clean(),
                "fault {n} in step {i} ({what}): {:?}",
                v.problems
            );
        }
        n += 1;
        assert!(n < 100_000, "the workload never completed");
    }
}
