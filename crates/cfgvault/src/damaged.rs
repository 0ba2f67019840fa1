//! Issue 22: an error about damaged session metadata names the store file and the damaged
//! entry (the session layer knows the entry; `Vault` adds the file).

#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::closure::Strategy;
use crate::{BackupOptions, ErrorKind, SessionId, Vault};

/// A vault holding one session of `top.yaml`, and the session's id.
fn vault(dir: &Path) -> (Vault, SessionId) {
    let root = dir.join("configs");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("top.yaml"), "name: top\n").unwrap();
    let vault = Vault::create(dir.join("store.redb"), &Default::default()).unwrap();
    let o = BackupOptions {
        strategy: Strategy::Tree,
        ..Default::default()
    };
    let id = vault.backup(&root, None, &o).unwrap().session.id;
    (vault, id)
}

/// Runs `damage` in one write transaction of the vault's store.
fn damage(vault: &Vault, damage: impl FnOnce(&mut cfgvault_store::WriteTxn<'_>)) {
    let mut txn = vault.store.write().unwrap();
    damage(&mut txn);
    txn.commit().unwrap();
}

/// The error is `Damaged`, its path is the store file, and its message names the store and
/// then `what`.
fn check(vault: &Vault, err: crate::Error, what: &str) {
    let store = vault.path().display().to_string();
    assert_eq!(err.kind(), ErrorKind::Damaged, "{err}");
    assert_eq!(err.path(), Some(vault.path()), "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("store '{store}' is damaged: ")) && message.contains(what),
        "{message}"
    );
}

#[test]
fn issue_22_a_damaged_session_record_names_the_store_and_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, id) = vault(dir.path());
    damage(&vault, |txn| {
        let name = format!("session/{id}");
        let root = txn.unpin(&name).unwrap().unwrap();
        let mut meta = root.meta.clone();
        meta.push(0);
        txn.pin(&name, &root.id, &meta).unwrap();
    });
    let err = vault.session(&id).unwrap_err();
    check(
        &vault,
        err,
        &format!("session index entry '{id}' is corrupt: session record: trailing bytes"),
    );
    let err = vault.files(&id).unwrap_err();
    check(&vault, err, "session record");
}

#[test]
fn issue_22_a_damaged_string_table_entry_names_the_store_and_the_string() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, id) = vault(dir.path());
    damage(&vault, |txn| {
        // String 0 (the config root) made invalid UTF-8.
        let mut key = [1u8; 9];
        key[1..].copy_from_slice(&0u64.to_be_bytes());
        let old = txn
            .index_insert("session.counters", &key, b"\xff\xfe")
            .unwrap();
        assert!(old.is_some(), "string 0 exists");
    });
    let err = vault.session(&id).unwrap_err();
    check(
        &vault,
        err,
        "session index entry 'string 0' is corrupt: string table: not UTF-8",
    );
}

#[test]
fn issue_22_a_damaged_version_entry_names_the_store_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, _) = vault(dir.path());
    damage(&vault, |txn| {
        let mut key = b"top.yaml\0".to_vec();
        key.extend_from_slice(&0u32.to_be_bytes());
        let old = txn
            .index_insert("session.path_versions", &key, b"\x01")
            .unwrap();
        assert!(old.is_some(), "version 0 of top.yaml exists");
    });
    let err = vault.versions("top.yaml").unwrap_err();
    check(
        &vault,
        err,
        "session index entry 'version 0 of top.yaml' is corrupt: session.path_versions: unreadable version value",
    );
}
