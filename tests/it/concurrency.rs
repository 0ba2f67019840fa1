//! Several `cfgvault` processes on one store (issue 7, concurrency): 4 workers each run M
//! `cfgvault backup` processes back to back on the same store file — created by whichever
//! process gets there first — over corpus snapshots chosen at random (so sessions share most of
//! their objects). Afterwards every session is listed, each holds exactly its snapshot
//! (`show` paths and sizes, `diff --root` clean), one session per snapshot restores
//! byte-identical, and `verify` is clean.
//!
//! Default: 4 × 20 processes; `CFGVAULT_LONG=1`: 4 × 100 (numbers in docs/TESTING.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use cfgvault_testkit::{Rng, long, read_tree, snap_dir, unpack};

use super::reliability::Store;

const SNAPS: &[u32] = &[2, 10, 18, 26, 34, 42, 50, 58, 66, 74, 82, 90, 98, 101];

#[test]
fn four_processes_back_up_into_one_store() {
    let (workers, per_worker) = if long() { (4, 100) } else { (4, 20) };
    let corpus = unpack(SNAPS);
    let roots: Vec<PathBuf> = SNAPS.iter().map(|n| snap_dir(&corpus, *n)).collect();
    let store = Store::new();
    let start = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let roots = roots.clone();
            let path = store.path.clone();
            std::thread::spawn(move || {
                let store = Store::at(path);
                let mut rng = Rng::new(0xc0ffee + w as u64);
                let mut made = Vec::new();
                for i in 0..per_worker {
                    let snap = rng.below(roots.len());
                    let id = format!("p{w}-{i:04}");
                    let out = store.run(&[
                        "backup".as_ref(),
                        "--root".as_ref(),
                        roots[snap].as_os_str(),
                        "--strategy".as_ref(),
                        "tree".as_ref(),
                        "--session".as_ref(),
                        id.as_ref(),
                    ]);
                    assert_eq!(out.code, Some(0), "backup {id}: {}", out.stderr);
                    made.push((id, snap));
                }
                made
            })
        })
        .collect();
    let made: Vec<(String, usize)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let elapsed = start.elapsed();
    eprintln!(
        "{} backups by {workers} concurrent processes in {:.1} s ({:.1} ms per process)",
        made.len(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / made.len() as f64
    );

    let listed: BTreeSet<String> = store.sessions();
    assert_eq!(listed.len(), workers * per_worker);
    let expected: Vec<BTreeMap<String, Vec<u8>>> = roots.iter().map(|r| read_tree(r)).collect();
    let mut restored = BTreeSet::new();
    for (id, snap) in &made {
        assert!(listed.contains(id), "session {id} is not listed");
        let show = store.json(&["show", id]);
        let files: BTreeMap<String, u64> = show["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().unwrap().to_string(),
                    f["size"].as_u64().unwrap(),
                )
            })
            .collect();
        let want: BTreeMap<String, u64> = expected[*snap]
            .iter()
            .map(|(p, b)| (p.clone(), b.len() as u64))
            .collect();
        assert!(
            files == want,
            "session {id} does not list the files of snapshot {}",
            SNAPS[*snap]
        );
        store.assert_same_as_dir(id, &roots[*snap]);
        if restored.insert(*snap) {
            store.assert_restores(id, &expected[*snap]);
        }
    }
    store.assert_verify_clean();
}

/// Found by `four_processes_back_up_into_one_store`: processes that start together on a store
/// file nobody has created yet must all succeed (not "not a cfgvault store" for the ones that
/// open the file while the first is still initializing it).
#[test]
fn processes_racing_to_create_the_store_all_succeed() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.yaml"), "a: 1\n").unwrap();
    let rounds = if long() { 50 } else { 10 };
    for round in 0..rounds {
        let store = Store::new();
        let children: Vec<_> = (0..6)
            .map(|i| {
                let id = format!("r{i}");
                store
                    .command(&[
                        "backup".as_ref(),
                        "--root".as_ref(),
                        src.path().as_os_str(),
                        "--strategy".as_ref(),
                        "tree".as_ref(),
                        "--session".as_ref(),
                        std::ffi::OsStr::new(&id),
                    ])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert!(
                o.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        assert_eq!(store.sessions().len(), 6);
        store.assert_verify_clean();
    }
}
