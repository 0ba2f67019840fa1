//! The store file damaged or foreign (issue 7): truncated at random lengths, a bit flipped at
//! random offsets, not a store at all, a store of another format. Opening gives a typed error
//! or, when the file still opens, `verify` returns (naming damaged objects) and reads return
//! `Ok` or a typed error: never a panic. The file is created owner-only.
//!
//! `CFGVAULT_LONG=1` runs 10× more random damage.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use cfgvault_store::{Error, FORMAT_VERSION, NoProgress, ObjectId, Store, StoreOptions, StoreRead};
use cfgvault_testkit::{Rng, long};

/// A store with some blobs (compressible and not), nodes and roots; returns the blob ids.
fn populated(path: &Path) -> Vec<ObjectId> {
    let store = Store::create(path, &StoreOptions::default()).unwrap();
    let mut ids = Vec::new();
    for round in 0..4u32 {
        let mut txn = store.write().unwrap();
        let mut blobs = Vec::new();
        for i in 0..20u32 {
            let text = format!("model: m{round}-{i}\nurl: ${{URL}}\n").repeat(1 + i as usize * 10);
            blobs.push(txn.put_blob(text.as_bytes()).unwrap().id);
        }
        let node = txn
            .put_node(format!("node {round}").as_bytes(), &blobs)
            .unwrap()
            .id;
        txn.pin(&format!("session/{round}"), &node, b"meta")
            .unwrap();
        txn.index_insert("paths", format!("p{round}").as_bytes(), b"v")
            .unwrap();
        txn.commit().unwrap();
        ids.extend(blobs);
    }
    ids
}

/// Everything a reader might do with a damaged store: no panics allowed, any `Err` is typed.
fn exercise(path: &Path, ids: &[ObjectId]) -> &'static str {
    let store = match Store::open(path, &StoreOptions::default()) {
        Ok(s) => s,
        Err(
            Error::NotAStore { .. }
            | Error::Database { .. }
            | Error::UnsupportedFormat { .. }
            | Error::Io { .. },
        ) => return "open: typed error",
        Err(e) => panic!("unexpected error opening a damaged store: {e:?}"),
    };
    let _ = store.stats();
    if let Ok(r) = store.read() {
        let _ = r.roots("");
        for id in ids {
            match r.get(id) {
                Ok(_)
                | Err(
                    Error::Corrupt { .. }
                    | Error::ObjectMissing { .. }
                    | Error::Database { .. }
                    | Error::Damaged { .. },
                ) => {}
                Err(e) => panic!("unexpected error reading {id}: {e:?}"),
            }
        }
    }
    match store.verify(&Default::default(), &NoProgress) {
        Ok(o) if o.is_clean() => "verify: clean",
        Ok(o) => {
            assert!(o.problems.iter().all(|p| !p.detail.is_empty()));
            "verify: problems named"
        }
        Err(_) => "verify: typed error",
    }
}

#[test]
fn truncated_store_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.redb");
    let ids = populated(&good);
    let bytes = fs::read(&good).unwrap();
    let mut rng = Rng(0x7_2a7c);
    let mut seen = std::collections::BTreeMap::new();
    let rounds = if long() { 400 } else { 40 };
    let bad = dir.path().join("bad.redb");
    for i in 0..rounds {
        // Near the start (header), anywhere, and just short of the end.
        let at = match i % 3 {
            0 => rng.below(4096.min(bytes.len())),
            1 => rng.below(bytes.len()),
            _ => bytes.len() - 1 - rng.below(4096.min(bytes.len() - 1)),
        };
        fs::write(&bad, &bytes[..at]).unwrap();
        *seen.entry(exercise(&bad, &ids)).or_insert(0) += 1;
    }
    eprintln!("truncated {rounds} times ({} bytes): {seen:?}", bytes.len());
}

#[test]
fn flipped_bits_never_panic_and_verify_names_damaged_objects() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.redb");
    let ids = populated(&good);
    let bytes = fs::read(&good).unwrap();
    let mut rng = Rng(0xf11b);
    let mut seen = std::collections::BTreeMap::new();
    let rounds = if long() { 1000 } else { 100 };
    let bad = dir.path().join("bad.redb");
    let mut panics = Vec::new();
    for _ in 0..rounds {
        let mut b = bytes.clone();
        let at = rng.below(b.len());
        let bit = rng.below(8);
        b[at] ^= 1 << bit;
        fs::write(&bad, &b).unwrap();
        match std::panic::catch_unwind(|| exercise(&bad, &ids)) {
            Ok(outcome) => *seen.entry(outcome).or_insert(0) += 1,
            Err(e) => {
                let msg = e
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| e.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                panics.push(format!("byte {at} bit {bit}: {msg}"));
            }
        }
    }
    eprintln!(
        "flipped a bit {rounds} times ({} bytes): {seen:?}",
        bytes.len()
    );
    assert!(
        panics.is_empty(),
        "{} of {rounds} damaged stores panicked:\n{}",
        panics.len(),
        panics.join("\n")
    );
}

#[test]
fn a_damaged_object_is_named_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.redb");
    let store = Store::create(&good, &StoreOptions::default()).unwrap();
    let marker = b"UNCOMPRESSIBLE-MARKER-0123456789abcdefghijklmnopqrstuvwxyz";
    let mut txn = store.write().unwrap();
    let id = txn.put_blob(marker).unwrap().id;
    txn.pin("r", &id, b"").unwrap();
    txn.commit().unwrap();
    drop(store);
    let mut bytes = fs::read(&good).unwrap();
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("raw frame in the file");
    bytes[at + 3] ^= 0x20;
    fs::write(&good, &bytes).unwrap();
    let store = Store::open(&good, &StoreOptions::default()).unwrap();
    assert!(matches!(store.get(&id), Err(Error::Corrupt { .. })));
    let o = store.verify(&Default::default(), &NoProgress).unwrap();
    assert!(
        o.problems.iter().any(|p| p.id == Some(id)),
        "{:?}",
        o.problems
    );
}

#[test]
fn files_that_are_not_stores_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.redb");
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("text", b"not a store\n".repeat(500)),
        ("zeros", vec![0u8; 1 << 16]),
        ("ones", vec![0xffu8; 1 << 16]),
    ] {
        fs::write(&p, &bytes).unwrap();
        let r = Store::open(&p, &StoreOptions::default());
        assert!(matches!(r, Err(Error::NotAStore { .. })), "{what}: {r:?}");
        assert_eq!(
            fs::read(&p).unwrap(),
            bytes,
            "{what}: opening changed the file"
        );
        let r = Store::open_or_create(&p, &StoreOptions::default());
        assert!(
            matches!(r, Err(Error::NotAStore { .. })),
            "{what}: open_or_create: {r:?}"
        );
        assert_eq!(
            fs::read(&p).unwrap(),
            bytes,
            "{what}: open_or_create changed the file"
        );
    }
    fs::create_dir(dir.path().join("d")).unwrap();
    assert!(matches!(
        Store::open(dir.path().join("d"), &StoreOptions::default()),
        Err(Error::NotAStore { .. })
    ));
    assert!(matches!(
        Store::open(dir.path().join("nope"), &StoreOptions::default()),
        Err(Error::NotFound { .. })
    ));
}

/// A redb database that is not a cfgvault store, and a cfgvault store of a later format.
#[test]
fn foreign_databases_and_other_formats_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("foreign.redb");
    {
        let db = redb::Database::create(&foreign).unwrap();
        let t = db.begin_write().unwrap();
        t.open_table(redb::TableDefinition::<&str, u64>::new("other"))
            .unwrap()
            .insert("k", 1)
            .unwrap();
        t.commit().unwrap();
    }
    let r = Store::open(&foreign, &StoreOptions::default());
    assert!(matches!(r, Err(Error::NotAStore { .. })), "{r:?}");

    let newer = dir.path().join("newer.redb");
    drop(Store::create(&newer, &StoreOptions::default()).unwrap());
    {
        let db = redb::Database::create(&newer).unwrap();
        let t = db.begin_write().unwrap();
        t.open_table(redb::TableDefinition::<&str, &[u8]>::new("meta"))
            .unwrap()
            .insert("schema_version", 11u32.to_le_bytes().as_slice())
            .unwrap();
        t.commit().unwrap();
    }
    let r = Store::open(&newer, &StoreOptions::default());
    match r {
        Err(Error::UnsupportedFormat {
            found, supported, ..
        }) => {
            assert_eq!((found, supported), (11, FORMAT_VERSION));
        }
        other => panic!("a later format opened as {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn the_store_file_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    for p in ["a/store.redb", "b/c/store.redb"] {
        let p = dir.path().join(p);
        drop(Store::open_or_create(&p, &StoreOptions::default()).unwrap());
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            p.display()
        );
    }
}
