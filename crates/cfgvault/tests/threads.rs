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
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use cfgvault::closure::Strategy;
use cfgvault::{BackupOptions, ListOptions, NoProgress, ObjectId, SessionId, Vault};

const SNAPS: &[u32] = &[1, 9, 17, 25, 33, 41, 49, 57, 65, 73, 81, 89, 97, 102];

fn long() -> bool {
    std::env::var_os("CFGVAULT_LONG").is_some_and(|v| !v.is_empty() && v != "0")
}

fn corpus_file() -> PathBuf {
    match std::env::var_os("CFGVAULT_CORPUS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus/open-agent-configs.tar.zst"),
    }
}

/// Unpacks `snap-NNNN/configs` of `snaps` into a temp dir; fails naming where it looked.
fn unpack(snaps: &[u32]) -> tempfile::TempDir {
    let file = corpus_file();
    assert!(
        file.is_file(),
        "corpus not found at '{}': put open-agent-configs.tar.zst there or set CFGVAULT_CORPUS=FILE",
        file.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut zstd = Command::new("zstd")
        .arg("-dc")
        .arg(&file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running zstd (needed to unpack the corpus): {e}"));
    let status = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir.path())
        .args(snaps.iter().map(|n| format!("snap-{n:04}/configs")))
        .stdin(zstd.stdout.take().unwrap())
        .status()
        .unwrap();
    assert!(
        zstd.wait().unwrap().success() && status.success(),
        "unpacking {}",
        file.display()
    );
    dir
}

/// Every file under `dir` by `/`-separated relative path, with its blob id.
fn hashes(dir: &Path) -> BTreeMap<String, ObjectId> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, ObjectId>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_str().unwrap().to_string();
                out.insert(rel, ObjectId::for_blob(&std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// xorshift64*, seeded per thread.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
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
    let roots: Vec<PathBuf> = SNAPS
        .iter()
        .map(|n| corpus.path().join(format!("snap-{n:04}/configs")))
        .collect();
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
    let roots: Vec<PathBuf> = SNAPS[..4]
        .iter()
        .map(|n| corpus.path().join(format!("snap-{n:04}/configs")))
        .collect();
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
