//! One `Vault` shared by many threads (issue 7, concurrency): N threads × M tree backups of
//! corpus snapshots chosen at random (so sessions overlap in most of their objects), while a
//! reader thread lists sessions and checks they only ever grow. Afterwards every session is
//! listed, holds exactly its snapshot's bytes, a sample restores byte-identical, and `verify`
//! (refcounts recomputed from the roots) is clean.
//!
//! Default size: 8 threads × 10 backups. `CFGVAULT_LONG=1`: 8 × 200 (numbers in
//! docs/TESTING.md). Needs the packed corpus (`CFGVAULT_CORPUS` overrides its path).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use cfgvault::closure::Strategy;
use cfgvault::{BackupOptions, ListOptions, NoProgress, ObjectId, SessionId, Vault};
use cfgvault_testkit::{Rng, long, read_tree, snap_dir, unpack};

const SNAPS: &[u32] = &[1, 9, 17, 25, 33, 41, 49, 57, 65, 73, 81, 89, 97, 102];

/// Every file under `dir` by `/`-separated relative path, with its blob id.
fn hashes(dir: &Path) -> BTreeMap<String, ObjectId> {
    (read_tree(dir).into_iter())
        .map(|(path, bytes)| (path, ObjectId::for_blob(&bytes)))
        .collect()
}

#[test]
fn vault_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Vault>();
}

#[test]
fn many_threads_back_up_through_one_vault() {
    let (threads, per_thread) = if long() { (8, 200) } else { (8, 10) };
    let corpus = unpack(SNAPS);
    let roots: Vec<PathBuf> = SNAPS.iter().map(|n| snap_dir(&corpus, *n)).collect();
    let expected: Vec<BTreeMap<String, ObjectId>> = roots.iter().map(|r| hashes(r)).collect();
    let tmp = tempfile::tempdir().unwrap();
    let vault =
        Arc::new(Vault::create(tmp.path().join("store.redb"), &Default::default()).unwrap());

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (vault, done) = (vault.clone(), done.clone());
        std::thread::spawn(move || {
            let mut last = 0;
            let mut reads = 0u64;
            while !done.load(Ordering::Relaxed) {
                let n = vault.sessions(&ListOptions::default()).unwrap().len();
                assert!(n >= last, "the session list shrank from {last} to {n}");
                last = n;
                reads += 1;
            }
            reads
        })
    };
    let start = Instant::now();
    let writers: Vec<_> = (0..threads)
        .map(|t| {
            let (vault, roots) = (vault.clone(), roots.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x5eed_0000 + t as u64 * 7919);
                let mut made = Vec::new();
                for i in 0..per_thread {
                    let snap = rng.below(roots.len());
                    let mut o = BackupOptions::default();
                    o.strategy = Strategy::Tree;
                    let id: SessionId = format!("t{t}-{i:04}").parse().unwrap();
                    o.session_id = Some(id.clone());
                    let r = vault.backup(&roots[snap], None, &o).unwrap();
                    assert_eq!(r.session.id, id);
                    made.push((id, snap));
                }
                made
            })
        })
        .collect();
    let made: Vec<(SessionId, usize)> = writers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let elapsed = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let reads = reader.join().unwrap();
    eprintln!(
        "{} backups by {threads} threads in {:.1} s ({:.1} ms each), {reads} concurrent listings",
        made.len(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / made.len() as f64
    );

    let listed = vault.sessions(&ListOptions::default()).unwrap();
    assert_eq!(listed.len(), threads * per_thread);
    let listed: BTreeMap<&str, _> = listed.iter().map(|r| (r.id.as_str(), r)).collect();
    for (id, snap) in &made {
        assert!(
            listed.contains_key(id.as_str()),
            "session {id} is not listed"
        );
        let files: BTreeMap<String, ObjectId> = vault
            .files(id)
            .unwrap()
            .into_iter()
            .map(|f| (f.path, f.id))
            .collect();
        assert!(
            files == expected[*snap],
            "session {id} does not hold snapshot {}",
            SNAPS[*snap]
        );
    }
    // A real restore of one session per snapshot (each restore fsyncs every file).
    let mut restored = std::collections::BTreeSet::new();
    for (id, snap) in &made {
        if restored.insert(*snap) {
            let to = tmp.path().join(format!("restore-{id}"));
            let report = vault.restore(id, Some(&to), &Default::default()).unwrap();
            assert!(!report.has_failures(), "{id}: {report:?}");
            assert!(
                hashes(&to) == expected[*snap],
                "restore of {id} differs from its snapshot"
            );
        }
    }
    let v = vault.verify(&Default::default(), &NoProgress).unwrap();
    assert!(
        v.is_clean(),
        "verify after concurrent backups: {:?}",
        v.problems
    );
    assert_eq!(v.roots_checked, (threads * per_thread) as u64);
}

/// Deletes, cleanup and gc racing with backups on the same `Vault`: nothing committed is lost,
/// nothing deleted comes back, and the store stays consistent.
#[test]
fn backups_race_with_deletes_and_gc() {
    let corpus = unpack(&SNAPS[..4]);
    let roots: Vec<PathBuf> = SNAPS[..4].iter().map(|n| snap_dir(&corpus, *n)).collect();
    let tmp = tempfile::tempdir().unwrap();
    let vault =
        Arc::new(Vault::create(tmp.path().join("store.redb"), &Default::default()).unwrap());
    let rounds = if long() { 100 } else { 15 };
    let writer = {
        let (vault, roots) = (vault.clone(), roots.clone());
        std::thread::spawn(move || {
            for i in 0..rounds {
                let mut o = BackupOptions::default();
                o.strategy = Strategy::Tree;
                o.session_id = Some(format!("w-{i:04}").parse().unwrap());
                vault.backup(&roots[i % roots.len()], None, &o).unwrap();
            }
        })
    };
    let deleter = {
        let vault = vault.clone();
        std::thread::spawn(move || {
            let mut deleted = Vec::new();
            for i in 0..rounds {
                if i % 3 == 0 {
                    vault.gc(&NoProgress).unwrap();
                }
                let list = vault.sessions(&ListOptions::default()).unwrap();
                // Delete the oldest even-numbered session, if any.
                if let Some(r) = list
                    .iter()
                    .rev()
                    .find(|r| r.id.as_str().ends_with(['0', '2', '4', '6', '8']))
                {
                    vault.delete(std::slice::from_ref(&r.id)).unwrap();
                    deleted.push(r.id.clone());
                }
            }
            deleted
        })
    };
    writer.join().unwrap();
    let deleted = deleter.join().unwrap();
    let listed: Vec<String> = vault
        .sessions(&ListOptions::default())
        .unwrap()
        .into_iter()
        .map(|r| r.id.to_string())
        .collect();
    for i in 0..rounds {
        let id = format!("w-{i:04}");
        let was_deleted = deleted.iter().any(|d| d.as_str() == id);
        assert_eq!(
            listed.contains(&id),
            !was_deleted,
            "{id}: deleted={was_deleted}, listed={listed:?}"
        );
    }
    let v = vault.verify(&Default::default(), &NoProgress).unwrap();
    assert!(v.is_clean(), "{:?}", v.problems);
}
