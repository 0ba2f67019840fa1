//! A backup reuses the ids of files it read before (`session::StampCache`) without reading them
//! again, and still stores their bytes when the store no longer has them.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use cfgvault::closure::Strategy;
use cfgvault::{BackupOptions, NoProgress, Vault};

fn write_settled(path: &std::path::Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

#[test]
fn a_cached_file_whose_blob_was_collected_is_stored_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("configs");
    write_settled(&root.join("global.yaml"), "a: 1\n");
    write_settled(&root.join("llms/x.yaml"), "model: x\n");
    let vault = Vault::create(dir.path().join("store.redb"), &Default::default()).unwrap();
    let mut o = BackupOptions::default();
    o.strategy = Strategy::Tree;
    let first = vault.backup(&root, None, &o).unwrap();
    assert_eq!(
        first.new_objects, 6,
        "2 blobs, 2 trees, the closure and session nodes"
    );
    // Everything the first session held goes: the blobs are no longer stored, but the vault
    // still knows their ids by stamp.
    vault
        .delete(std::slice::from_ref(&first.session.id))
        .unwrap();
    vault.gc(&NoProgress).unwrap();
    assert_eq!(vault.stats().unwrap().objects, 0);
    let second = vault.backup(&root, None, &o).unwrap();
    assert!(second.files.iter().all(|f| f.new), "{:?}", second.files);
    assert!(
        vault
            .verify(&Default::default(), &NoProgress)
            .unwrap()
            .is_clean()
    );
    let back = dir.path().join("back");
    vault
        .restore(&second.session.id, Some(&back), &Default::default())
        .unwrap();
    assert_eq!(
        std::fs::read(back.join("llms/x.yaml")).unwrap(),
        b"model: x\n"
    );
    // A third backup finds everything stored and reads nothing it need not.
    let third = vault.backup(&root, None, &o).unwrap();
    assert_eq!(third.new_objects, 0);
}
