//! Issue 22 through the vault: `tree` backups (dependency analysis, its kept results, the stamp
//! cache) while a thread swaps a file and a folder of the root with symlinks to outside
//! content. No session may ever hold the outside bytes.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cfgvault::closure::Strategy;
use cfgvault::{BackupOptions, Vault};
use rustix::fs::{CWD, RenameFlags};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn issue_22_tree_backups_never_store_bytes_from_outside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("src");
    let outside = dir.path().join("outside");
    let links = dir.path().join("links");
    write(&root.join("tools/t1.yaml"), "inside: 1\n");
    write(&root.join("tools/t2.yaml"), "inside: 2\n");
    write(&root.join("dd/x.yaml"), "inside: x\n");
    write(&root.join("top.yaml"), "inside: top\n");
    write(&outside.join("t1.yaml"), "SECRET t1\n");
    write(&outside.join("dd/x.yaml"), "SECRET x\n");
    std::fs::create_dir_all(&links).unwrap();
    std::os::unix::fs::symlink(outside.join("t1.yaml"), links.join("t1")).unwrap();
    std::os::unix::fs::symlink(outside.join("dd"), links.join("dd")).unwrap();
    let pairs = [
        (root.join("tools/t1.yaml"), links.join("t1")),
        (root.join("dd"), links.join("dd")),
    ];
    let vault = Vault::create(dir.path().join("store.redb"), &Default::default()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for (a, b) in &pairs {
                    if rustix::fs::renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).is_ok() {
                        swaps += 1;
                    }
                }
            }
            swaps
        })
    };
    let mut o = BackupOptions::default();
    o.strategy = Strategy::Tree;
    let (mut stored, mut failed) = (Vec::new(), 0);
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        match vault.backup(&root, None, &o) {
            Ok(r) => stored.push(r.session.id),
            Err(_) => failed += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = racer.join().unwrap();
    let mut leaked = Vec::new();
    for id in &stored {
        for f in vault.files(id).unwrap() {
            if vault
                .read_file(id, &f.path)
                .unwrap()
                .windows(6)
                .any(|w| w == b"SECRET")
            {
                leaked.push(format!("{id}:{}", f.path));
            }
        }
    }
    println!(
        "vault backup race: {} backups stored, {failed} failed, {swaps} swaps",
        stored.len()
    );
    assert!(swaps > 100, "the racer swapped only {swaps} times");
    assert!(!stored.is_empty());
    assert_eq!(leaked, Vec::<String>::new(), "sessions hold outside bytes");
}
