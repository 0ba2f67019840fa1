//! Whole-store tests: bad input, a reference model, fault injection and corruption.
#![allow(clippy::unwrap_used)]

mod crash;
mod model;

use std::path::PathBuf;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use crate::txn::ReadPath;
use crate::{Error, NoProgress, ObjectId, Store, StoreOptions, StoreRead, verify};

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s.redb"), &StoreOptions::default()).unwrap();
    (dir, store)
}

#[test]
fn open_missing_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("no/such/dir/store.redb");
    match Store::open(&p, &StoreOptions::default()) {
        Err(Error::NotFound { path }) => assert_eq!(path, p),
        other => panic!("{other:?}"),
    }
}

#[test]
fn create_makes_missing_directories_and_refuses_to_clobber() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a/b/store.redb");
    drop(Store::create(&p, &StoreOptions::default()).unwrap());
    assert!(matches!(
        Store::create(&p, &StoreOptions::default()),
        Err(Error::AlreadyExists { path }) if path == p
    ));
    Store::open(&p, &StoreOptions::default()).unwrap();
}

#[cfg(unix)]
#[test]
fn store_file_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _store) = temp_store();
    let mode = std::fs::metadata(dir.path().join("s.redb"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
}

#[test]
fn foreign_and_truncated_files_are_not_stores() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("text.redb", b"model: gpt-4\n".to_vec()),
        ("zeros.redb", vec![0u8; 10_000]),
        ("empty.redb", Vec::new()),
    ];
    for (name, bytes) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, &bytes).unwrap();
        let r = Store::open(&p, &StoreOptions::default());
        assert!(
            matches!(&r, Err(Error::NotAStore { path, .. }) if *path == p),
            "{name}: {r:?}"
        );
    }
    // A directory is not a store either.
    assert!(matches!(
        Store::open(dir.path(), &StoreOptions::default()),
        Err(Error::NotAStore { .. })
    ));
}

#[test]
fn a_redb_file_without_our_metadata_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("other.redb");
    {
        let db = redb::Database::create(&p).unwrap();
        let t = db.begin_write().unwrap();
        t.open_table(redb::TableDefinition::<u64, u64>::new("x"))
            .unwrap()
            .insert(1, 2)
            .unwrap();
        t.commit().unwrap();
    }
    let r = Store::open(&p, &StoreOptions::default());
    assert!(matches!(r, Err(Error::NotAStore { .. })), "{r:?}");
}

/// A store of any other format (an earlier development layout, or a later format) is refused
/// with the file, the mark found and the format supported; opening it writes nothing.
#[test]
fn another_format_is_refused_and_left_as_it_is() {
    let (dir, store) = temp_store();
    let p = store.path().to_path_buf();
    drop(store);
    assert_eq!(schema_of(&p), 10, "format 1's mark");
    for mark in [1, 9, 11, 99] {
        set_schema(&p, mark);
        let before = meta_of(&p);
        match Store::open(&p, &StoreOptions::default()) {
            Err(e @ Error::UnsupportedFormat { .. }) => {
                let Error::UnsupportedFormat {
                    found,
                    supported,
                    ref path,
                } = e
                else {
                    unreachable!()
                };
                assert_eq!((found, supported), (mark, crate::FORMAT_VERSION));
                assert_eq!(path, &p);
                let line = e.to_string();
                assert!(!line.contains('\n'), "{line}");
                assert!(line.contains(&p.display().to_string()), "{line}");
                assert!(line.contains(&format!("schema_version {mark}")), "{line}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(meta_of(&p), before, "mark {mark}: nothing written");
        assert_eq!(schema_of(&p), mark);
    }
    set_schema(&p, 10);
    assert!(Store::open(&p, &StoreOptions::default()).is_ok());
    drop(dir);
}

fn set_schema(p: &std::path::Path, version: u32) {
    let db = redb::Database::open(p).unwrap();
    let t = db.begin_write().unwrap();
    t.open_table(crate::schema::META)
        .unwrap()
        .insert("schema_version", version.to_le_bytes().as_slice())
        .unwrap();
    t.commit().unwrap();
}

/// Every entry of `meta` and the length of every table: what a commit could have changed.
fn meta_of(p: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableHandle};
    let db = redb::Database::open(p).unwrap();
    let t = db.begin_read().unwrap();
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for item in t.open_table(crate::schema::META).unwrap().iter().unwrap() {
        let (k, v) = item.unwrap();
        out.push((k.value().to_string(), v.value().to_vec()));
    }
    for h in t.list_tables().unwrap() {
        let def = redb::TableDefinition::<&[u8], &[u8]>::new(h.name());
        let len = t.open_untyped_table(def).unwrap().len().unwrap();
        out.push((format!("table {}", h.name()), len.to_le_bytes().to_vec()));
    }
    out
}

fn schema_of(p: &std::path::Path) -> u32 {
    let db = redb::Database::open(p).unwrap();
    let t = db.begin_read().unwrap();
    let meta = t.open_table(crate::schema::META).unwrap();
    let v = meta.get("schema_version").unwrap().unwrap();
    u32::from_le_bytes(v.value().try_into().unwrap())
}

#[test]
fn a_second_exclusive_opener_gets_already_open() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.redb");
    let exclusive = StoreOptions {
        shared: false,
        ..StoreOptions::default()
    };
    let _first = Store::create(&p, &exclusive).unwrap();
    let second = Store::open(&p, &exclusive);
    assert!(
        matches!(&second, Err(Error::AlreadyOpen { path }) if *path == p),
        "{second:?}"
    );
}

#[test]
fn empty_and_large_objects() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        max_object_size: 1 << 20,
        ..StoreOptions::default()
    };
    let store = Store::create(dir.path().join("s.redb"), &opts).unwrap();
    let mut t = store.write().unwrap();
    let empty = t.put_blob(b"").unwrap().id;
    assert_eq!(empty, ObjectId::for_blob(b""));
    let big = vec![7u8; 1 << 20];
    let big_id = t.put_blob(&big).unwrap().id;
    let too_big = vec![7u8; (1 << 20) + 1];
    assert!(matches!(
        t.put_blob(&too_big),
        Err(Error::TooLarge { size, limit }) if size == (1 << 20) + 1 && limit == 1 << 20
    ));
    let node = t.put_node(b"n", &[empty, big_id]).unwrap().id;
    t.pin("r", &node, b"").unwrap();
    t.commit().unwrap();
    assert_eq!(store.get(&empty).unwrap(), b"");
    assert_eq!(store.get(&big_id).unwrap(), big);
}

#[test]
fn put_of_existing_object_does_no_work_and_links_must_exist() {
    let (_d, store) = temp_store();
    let mut t = store.write().unwrap();
    let a = t.put_blob(b"same bytes").unwrap();
    assert!(a.new);
    let again = t.put_blob(b"same bytes").unwrap();
    assert!(!again.new);
    assert_eq!(again.stored_bytes, 0);
    let ghost = ObjectId::for_blob(b"never stored");
    assert!(matches!(t.put_node(b"x", &[ghost]), Err(Error::ObjectMissing { id }) if id == ghost));
    assert!(matches!(
        t.pin("r", &ghost, b""),
        Err(Error::ObjectMissing { .. })
    ));
    t.pin("r", &a.id, b"meta").unwrap();
    assert!(matches!(t.pin("r", &a.id, b""), Err(Error::RootExists { name }) if name == "r"));
    assert!(matches!(
        t.pin("", &a.id, b""),
        Err(Error::InvalidName { .. })
    ));
    t.commit().unwrap();
    let r = store.read().unwrap();
    assert_eq!(r.root("r").unwrap().unwrap().meta, b"meta");
    assert_eq!(r.refcount(&a.id).unwrap(), Some(1));
}

#[test]
fn unreferenced_objects_do_not_survive_commit() {
    let (_d, store) = temp_store();
    let mut t = store.write().unwrap();
    let id = t.put_blob(b"orphan").unwrap().id;
    let out = t.commit().unwrap();
    assert_eq!(out.objects_added, 1);
    assert_eq!(out.objects_removed, 1);
    assert!(!store.read().unwrap().contains(&id).unwrap());
    assert_eq!(store.stats().unwrap().objects, 0);
}

#[test]
fn index_keyspaces_are_ordered_and_transactional() {
    let (_d, store) = temp_store();
    let mut t = store.write().unwrap();
    for k in [b"b/2".as_slice(), b"a/1", b"b/1", b"c"] {
        t.index_insert("paths", k, k).unwrap();
    }
    drop(t); // aborted
    assert_eq!(store.read().unwrap().index_len("paths").unwrap(), 0);
    let mut t = store.write().unwrap();
    for k in [b"b/2".as_slice(), b"a/1", b"b/1", b"c", b"b\xff"] {
        t.index_insert("paths", k, k).unwrap();
    }
    t.commit().unwrap();
    let r = store.read().unwrap();
    let keys = |v: Vec<(Vec<u8>, Vec<u8>)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(
        keys(r.index_prefix("paths", b"b/", 10).unwrap()),
        vec![b"b/1".to_vec(), b"b/2".to_vec()]
    );
    assert_eq!(
        keys(
            r.index_range(
                "paths",
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                true,
                2
            )
            .unwrap()
        ),
        vec![b"c".to_vec(), b"b\xff".to_vec()]
    );
    assert_eq!(r.index_get("paths", b"a/1").unwrap(), Some(b"a/1".to_vec()));
    assert_eq!(r.index_get("missing-space", b"a").unwrap(), None);
}

/// Index keyspaces share one table in a new store; no space sees another's keys, whatever
/// their names and keys (a name that is a prefix of another's, bytes 0x00, 0x01 and 0xff).
#[test]
fn index_keyspaces_do_not_bleed_into_each_other() {
    use std::ops::Bound::{Excluded, Included, Unbounded};
    let check = |store: &Store| {
        let spaces = ["s", "s2", "s\u{1}", "t"];
        let keys: [&[u8]; 5] = [b"", b"\x00", b"\x01a", b"k", b"\xff\xff"];
        let mut t = store.write().unwrap();
        for (i, space) in spaces.iter().enumerate() {
            for k in keys.iter().skip(i % 2) {
                t.index_insert(space, k, space.as_bytes()).unwrap();
            }
        }
        assert_eq!(
            t.index_remove("s2", b"k").unwrap(),
            Some(b"s2".to_vec()),
            "its own value"
        );
        t.commit().unwrap();
        let r = store.read().unwrap();
        for (i, space) in spaces.iter().enumerate() {
            let mut want: Vec<&[u8]> = keys.iter().skip(i % 2).copied().collect();
            if *space == "s2" {
                want.retain(|k| *k != b"k");
            }
            let all = r
                .index_range(space, Unbounded, Unbounded, false, 100)
                .unwrap();
            let got: Vec<&[u8]> = all.iter().map(|(k, _)| k.as_slice()).collect();
            assert_eq!(got, want, "{space:?}");
            assert!(all.iter().all(|(_, v)| v == space.as_bytes()), "{space:?}");
            assert_eq!(r.index_len(space).unwrap(), want.len() as u64);
            let mut rev = r
                .index_range(space, Unbounded, Unbounded, true, 100)
                .unwrap();
            rev.reverse();
            assert_eq!(rev, all, "{space:?} reversed");
            let mid: Vec<Vec<u8>> = r
                .index_range(space, Excluded(b"\x00"), Included(b"k"), false, 100)
                .unwrap()
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            let want_mid: Vec<Vec<u8>> = want
                .iter()
                .filter(|k| **k > b"\x00".as_slice() && **k <= b"k".as_slice())
                .map(|k| k.to_vec())
                .collect();
            assert_eq!(mid, want_mid, "{space:?} bounded");
        }
        assert_eq!(r.index_len("never-used").unwrap(), 0);
        drop(r);
        // Past 127 spaces, numbers take two bytes: still apart.
        let mut t = store.write().unwrap();
        for i in 0..140u32 {
            for k in [b"".as_slice(), b"\x80", b"\xff\xff"] {
                t.index_insert(&format!("many{i}"), k, &i.to_le_bytes())
                    .unwrap();
            }
        }
        assert_eq!(t.index_remove("never-used", b"k").unwrap(), None);
        t.commit().unwrap();
        let r = store.read().unwrap();
        for i in 0..140u32 {
            let got = r
                .index_range(&format!("many{i}"), Unbounded, Unbounded, false, 100)
                .unwrap();
            let want: Vec<(Vec<u8>, Vec<u8>)> = [b"".as_slice(), b"\x80", b"\xff\xff"]
                .iter()
                .map(|k| (k.to_vec(), i.to_le_bytes().to_vec()))
                .collect();
            assert_eq!(got, want, "many{i}");
        }
    };
    let tables = |store: &Store| -> Vec<String> {
        let r = store.read().unwrap();
        redb::ReadTransaction::list_tables(r.raw())
            .unwrap()
            .map(|h| redb::TableHandle::name(&h).to_string())
            .collect()
    };
    let (_d, store) = temp_store();
    check(&store);
    assert!(
        !tables(&store).iter().any(|n| n.starts_with("index:")),
        "{:?}",
        tables(&store)
    );
}

/// Flips one byte inside a stored frame, behind the store's back.
fn corrupt_object(path: &PathBuf, id: &ObjectId) {
    let db = redb::Database::open(path).unwrap();
    let t = db.begin_write().unwrap();
    {
        let seq = t
            .open_table(crate::schema::IDS)
            .unwrap()
            .get(id.as_bytes())
            .unwrap()
            .unwrap()
            .value()
            .0;
        let mut objects = t.open_table(crate::schema::OBJECTS).unwrap();
        let mut frame = objects.get(seq).unwrap().unwrap().value().to_vec();
        let last = frame.len() - 1;
        frame[last] ^= 0x40;
        objects.insert(seq, frame.as_slice()).unwrap();
    }
    t.commit().unwrap();
}

#[test]
fn a_flipped_byte_is_corrupt_on_read_and_named_by_verify() {
    let (_d, store) = temp_store();
    let text = "provider: openai\nmodel: gpt-4\n".repeat(20);
    let mut t = store.write().unwrap();
    let good = t.put_blob(b"other: object\n").unwrap().id;
    let bad = t.put_blob(text.as_bytes()).unwrap().id;
    let node = t.put_node(b"tree", &[good, bad]).unwrap().id;
    t.pin("s", &node, b"").unwrap();
    t.commit().unwrap();
    let p = store.path().to_path_buf();
    drop(store);
    corrupt_object(&p, &bad);
    let store = Store::open(&p, &StoreOptions::default()).unwrap();
    assert!(matches!(store.get(&bad), Err(Error::Corrupt { id, .. }) if id == bad));
    assert_eq!(store.get(&good).unwrap(), b"other: object\n");
    let out = store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    let corrupt: Vec<_> = out
        .problems
        .iter()
        .filter(|p| p.kind == verify::ProblemKind::Corrupt)
        .collect();
    assert_eq!(corrupt.len(), 1, "{:?}", out.problems);
    assert_eq!(corrupt[0].id, Some(bad));
}

#[test]
fn verify_finds_and_repair_fixes_refcount_drift() {
    let (_d, store) = temp_store();
    let mut t = store.write().unwrap();
    let a = t.put_blob(b"a").unwrap().id;
    let n = t.put_node(b"n", &[a, a]).unwrap().id;
    t.pin("r1", &n, b"").unwrap();
    t.pin("r2", &a, b"").unwrap();
    t.commit().unwrap();
    assert_eq!(store.read().unwrap().refcount(&a).unwrap(), Some(3));
    assert!(
        store
            .verify(&verify::Options::default(), &NoProgress)
            .unwrap()
            .is_clean()
    );
    let p = store.path().to_path_buf();
    drop(store);
    {
        // Drift: a wrong count, and a stray object nothing references.
        let db = redb::Database::open(&p).unwrap();
        let t = db.begin_write().unwrap();
        let mut ids = t.open_table(crate::schema::IDS).unwrap();
        let seq = ids.get(a.as_bytes()).unwrap().unwrap().value().0;
        ids.insert(a.as_bytes(), (seq, 7u64)).unwrap();
        let stray = ObjectId::for_blob(b"stray");
        ids.insert(stray.as_bytes(), (1_000_000u64, 1u64)).unwrap();
        drop(ids);
        let frame = crate::codec::encode(crate::ObjectKind::Blob, b"stray", 3);
        let mut objects = t.open_table(crate::schema::OBJECTS).unwrap();
        objects.insert(1_000_000u64, frame.as_slice()).unwrap();
        // And a frame no id names.
        objects.insert(2_000_000u64, frame.as_slice()).unwrap();
        drop(objects);
        t.commit().unwrap();
    }
    let store = Store::open(&p, &StoreOptions::default()).unwrap();
    let out = store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    let kinds: Vec<_> = out.problems.iter().map(|p| p.kind).collect();
    assert!(
        kinds.contains(&verify::ProblemKind::RefcountMismatch),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&verify::ProblemKind::RefcountOrphan),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&verify::ProblemKind::Unreachable),
        "{kinds:?}"
    );
    assert!(kinds.contains(&verify::ProblemKind::Totals), "{kinds:?}");
    let repaired = store
        .verify(&verify::Options { repair: true }, &NoProgress)
        .unwrap();
    assert!(repaired.repaired);
    let after = store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    assert!(after.is_clean(), "{:?}", after.problems);
    assert_eq!(store.read().unwrap().refcount(&a).unwrap(), Some(3));
}

/// Blobs put in hash order leave the `ids` table's leaves about half full; compaction alone
/// moves those pages but never merges them. gc copies such tables in key order.
/// A store whose `ids` table was filled in hash order (sparse leaves), and that gc does not
/// pack (`pack_bytes: 0`), so that its objects stay in `ids`.
fn sparse_store() -> (tempfile::TempDir, Store, Vec<ObjectId>) {
    let d = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        pack_bytes: 0,
        ..StoreOptions::default()
    };
    let store = Store::create(d.path().join("s.redb"), &options).unwrap();
    let mut all = Vec::new();
    for batch in 0..20u32 {
        let mut t = store.write().unwrap();
        let mut ids = Vec::new();
        for i in 0..100u32 {
            let id = t
                .put_blob(format!("blob {batch} {i}\n").as_bytes())
                .unwrap()
                .id;
            t.index_insert("by-id", id.as_bytes(), &[1; 40]).unwrap();
            ids.push(id);
        }
        let node = t.put_node(b"batch", &ids).unwrap().id;
        t.pin(&format!("r/{batch}"), &node, b"").unwrap();
        t.commit().unwrap();
        all.extend(ids);
    }
    (d, store, all)
}

#[test]
fn gc_rebuilds_sparse_tables_and_keeps_every_object() {
    let (_d, store, all) = sparse_store();
    assert_eq!(store.compact().unwrap(), Ok(true));
    let compacted_only = store.stats().unwrap().file_bytes;
    let out = store.gc(&NoProgress).unwrap();
    // `ids` (the index entries went cold).
    assert!(out.tables_rebuilt >= 1, "{out:?}");
    assert!(
        out.file_bytes_after < compacted_only * 9 / 10,
        "{out:?}, compaction alone gave {compacted_only}"
    );
    let r = store.read().unwrap();
    for id in &all {
        assert_eq!(r.refcount(id).unwrap(), Some(1));
        assert!(r.index_get("by-id", id.as_bytes()).unwrap().is_some());
    }
    assert_eq!(r.roots("r/").unwrap().len(), 20);
    drop(r);
    let v = store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    assert!(v.is_clean(), "{:?}", v.problems);
    // Dense now: a second gc leaves the tables alone.
    assert_eq!(store.gc(&NoProgress).unwrap().tables_rebuilt, 0);
}

fn history(i: u32) -> Vec<u8> {
    let nodes: String = (0..120)
        .map(|j| {
            format!(
                "node_{j}:\n  llm_client: model-{}\n  temperature: 0.{j}\n",
                (i + j) % 7
            )
        })
        .collect();
    format!("version: {i}\n{nodes}").into_bytes()
}

/// Puts versions `range` of [`history`] as a chain of deltas (each against the one before,
/// starting from `prev`) under a node pinned as `root`.
fn put_history(
    store: &Store,
    range: std::ops::Range<u32>,
    mut prev: Option<ObjectId>,
    root: &str,
) -> Vec<ObjectId> {
    let mut ids = Vec::new();
    let mut t = store.write().unwrap();
    for i in range {
        let id = t.put_blob_near(&history(i), prev.as_ref()).unwrap().id;
        prev = Some(id);
        ids.push(id);
    }
    let node = t.put_node(root.as_bytes(), &ids).unwrap().id;
    t.pin(root, &node, b"").unwrap();
    t.commit().unwrap();
    ids
}

/// `verify` reports a problem of `kind` naming `id`.
fn assert_reports(store: &Store, kind: verify::ProblemKind, id: ObjectId) {
    let v = store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    assert!(
        v.problems
            .iter()
            .any(|p| p.kind == kind && p.id == Some(id)),
        "{:?}",
        v.problems
    );
}

fn assert_verifies(store: &Store) {
    let v = store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    assert!(v.is_clean(), "{:?}", v.problems);
}

/// gc moves every object into a pack: deltas become whole members (their bases lose those
/// references), everything reads back and verifies, the stored bytes shrink by what gc says,
/// and a second gc has nothing to do.
#[test]
fn gc_packs_every_object() {
    let (_d, store) = temp_store();
    let ids = put_history(&store, 0..6, None, "r");
    let links = |id: &ObjectId| store.read().unwrap().links(id).unwrap().len();
    assert!(
        ids.iter().filter(|id| links(id) == 1).count() >= 3,
        "stored as deltas"
    );
    assert!(store.read().unwrap().refcount(&ids[0]).unwrap() >= Some(2));
    let before = store.stats().unwrap();

    let out = store.gc(&NoProgress).unwrap();
    assert_eq!((out.packed, out.packs_written), (7, 1), "{out:?}");
    let after = store.stats().unwrap();
    assert!(
        after.stored_bytes < before.stored_bytes,
        "{before:?} {after:?}"
    );
    assert_eq!(
        before.stored_bytes as i64 - after.stored_bytes as i64,
        out.pack_bytes_saved
    );
    assert_eq!(
        (after.objects, after.raw_bytes),
        (before.objects, before.raw_bytes)
    );
    let r = store.read().unwrap();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(r.get(id).unwrap(), history(i as u32));
        // Whole now: held by the node alone.
        assert_eq!(r.links(id).unwrap(), Vec::<ObjectId>::new());
        assert_eq!(r.refcount(id).unwrap(), Some(1));
        assert_eq!(r.raw_size(id).unwrap(), history(i as u32).len() as u64);
    }
    drop(r);
    assert_verifies(&store);
    let again = store.gc(&NoProgress).unwrap();
    assert_eq!((again.packed, again.packs_written), (0, 0), "{again:?}");

    // New versions go loose, as deltas against packed ones; the next gc packs all again.
    let more = put_history(&store, 6..9, ids.last().copied(), "s");
    assert_eq!(links(&more[0]), 1, "a delta against a pack member");
    assert_verifies(&store);
    let out = store.gc(&NoProgress).unwrap();
    assert_eq!((out.packed, out.packs_written), (11, 1), "{out:?}");
    assert_verifies(&store);
    for (i, id) in ids.iter().chain(&more).enumerate() {
        assert_eq!(store.get(id).unwrap(), history(i as u32));
    }
}

/// Removing sessions removes their packed objects at once; their bytes stay in the pack until
/// the next gc, which repacks what is left and frees the rest.
#[test]
fn removed_pack_members_are_freed_by_the_next_gc() {
    let (_d, store) = temp_store();
    let ids = put_history(&store, 0..4, None, "r");
    let more = put_history(&store, 10..13, None, "s");
    store.gc(&NoProgress).unwrap();
    let packed = store.stats().unwrap();

    let mut t = store.write().unwrap();
    t.unpin("s").unwrap();
    let removed = t.commit().unwrap();
    assert_eq!(removed.objects_removed, 4);
    // Their share of the pack, which stays until gc repacks.
    assert!(removed.bytes_freed > 0);
    let r = store.read().unwrap();
    assert!(more.iter().all(|id| !r.contains(id).unwrap()));
    drop(r);
    assert_eq!(store.stats().unwrap().stored_bytes, packed.stored_bytes);
    assert_verifies(&store);

    let out = store.gc(&NoProgress).unwrap();
    assert_eq!(out.packed, 5, "{out:?}");
    assert!(store.stats().unwrap().stored_bytes < packed.stored_bytes);
    assert_verifies(&store);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(store.get(id).unwrap(), history(i as u32));
    }

    // Nothing left: the last gc leaves no pack behind.
    let mut t = store.write().unwrap();
    t.unpin("r").unwrap();
    t.commit().unwrap();
    let out = store.gc(&NoProgress).unwrap();
    assert_eq!((out.packed, out.packs_written), (0, 0), "{out:?}");
    let s = store.stats().unwrap();
    assert_eq!((s.objects, s.stored_bytes), (0, 0), "{s:?}");
    assert_verifies(&store);
}

/// A small `pack_bytes` gives several packs (more than the cache keeps), each object in one;
/// 0 packs nothing.
#[test]
fn pack_size_bounds_each_pack() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = StoreOptions {
        pack_bytes: 8 << 10,
        ..StoreOptions::default()
    };
    let store = Store::create(dir.path().join("s.redb"), &o).unwrap();
    let ids = put_history(&store, 0..12, None, "r");
    let out = store.gc(&NoProgress).unwrap();
    // Each version is about 4 KB: two to a pack, the node in a pack of its own or with one.
    assert!(out.packs_written >= 6, "{out:?}");
    assert_eq!(out.packed, 13);
    // Read in an order that misses the cache of decoded packs.
    for i in (0..12).rev().chain(0..12) {
        assert_eq!(store.get(&ids[i]).unwrap(), history(i as u32));
    }
    assert_verifies(&store);

    // New objects: the next gc packs them (with any pack under half the size), and leaves the
    // full packs alone.
    let more = put_history(&store, 12..14, ids.last().copied(), "s");
    let again = store.gc(&NoProgress).unwrap();
    assert!(
        (3..13).contains(&again.packed),
        "the three new objects and the small packs only: {again:?}"
    );
    for (i, id) in ids.iter().chain(&more).enumerate() {
        assert_eq!(store.get(id).unwrap(), history(i as u32));
    }
    assert_verifies(&store);
    let idle = store.gc(&NoProgress).unwrap();
    assert_eq!((idle.packed, idle.packs_written), (0, 0), "{idle:?}");

    o.pack_bytes = 0;
    let store = Store::create(dir.path().join("t.redb"), &o).unwrap();
    put_history(&store, 0..3, None, "r");
    let out = store.gc(&NoProgress).unwrap();
    assert_eq!((out.packed, out.packs_written), (0, 0), "{out:?}");
    assert_verifies(&store);
}

/// A damaged pack is an error naming the object read, and verify reports it.
#[test]
fn damaged_pack_is_reported() {
    let (_d, store) = temp_store();
    let ids = put_history(&store, 0..3, None, "r");
    store.gc(&NoProgress).unwrap();
    {
        let mut t = store.write().unwrap();
        {
            let mut packs = t.raw().open_table(crate::pack::PACKS).unwrap();
            let key = packs.first().unwrap().unwrap().0.value();
            let mut chunk = packs.get(key).unwrap().unwrap().value().to_vec();
            let last = chunk.len() - 1;
            chunk[last] ^= 0x55;
            packs.insert(key, chunk.as_slice()).unwrap();
        }
        t.commit().unwrap();
    }
    // The store's cache still holds the good pack; a fresh handle reads the damaged one.
    let path = store.path().to_path_buf();
    drop(store);
    let store = Store::open(&path, &StoreOptions::default()).unwrap();
    match store.get(&ids[1]) {
        Err(Error::Corrupt { id, detail }) => {
            assert_eq!(id, ids[1]);
            assert!(detail.contains("pack"), "{detail}");
        }
        other => panic!("expected a corrupt object, got {other:?}"),
    }
    // The pack index cannot say which objects a damaged pack held (their ids are the members'
    // hashes): verify names the pack, and the objects it reaches from the roots, here the
    // pinned node, as corrupt rather than missing.
    let node = store.read().unwrap().root("r").unwrap().unwrap().id;
    assert_reports(&store, verify::ProblemKind::Corrupt, node);
    let v = store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    assert!(
        v.problems.iter().any(|p| p.id.is_none()
            && p.kind == verify::ProblemKind::Corrupt
            && p.detail.starts_with("pack ")),
        "{:?}",
        v.problems
    );
    assert!(
        !v.problems.iter().any(|p| matches!(
            p.kind,
            verify::ProblemKind::Missing | verify::ProblemKind::Totals
        )),
        "{:?}",
        v.problems
    );
    assert_eq!(v.problems.len(), 2, "{:?}", v.problems);
}

/// Rebuilt tables take new pages; with a snapshot open, compaction could not return the old
/// ones and the file would only grow. So gc rebuilds nothing then.
#[test]
fn gc_does_not_rebuild_while_a_snapshot_is_open() {
    let (_d, store, _) = sparse_store();
    let before = store.stats().unwrap().file_bytes;
    let reader = store.read().unwrap();
    let out = store.gc(&NoProgress).unwrap();
    assert!(out.compaction_skipped.is_some(), "{out:?}");
    assert_eq!(out.tables_rebuilt, 0);
    assert!(out.file_bytes_after <= before, "{out:?}, before {before}");
    drop(reader);
    let out = store.gc(&NoProgress).unwrap();
    assert!(out.tables_rebuilt >= 1, "{out:?}");
    assert!(out.file_bytes_after < before, "{out:?}, before {before}");
}

/// A snapshot taken before gc packed its objects keeps reading them from where it saw them,
/// while new snapshots read the pack.
#[test]
fn a_snapshot_older_than_the_packs_reads_what_it_saw() {
    let (_d, store) = temp_store();
    let ids = put_history(&store, 0..5, None, "r");
    let before = store.read().unwrap();
    let out = store.gc(&NoProgress).unwrap();
    assert_eq!(out.packed, 6, "{out:?}");
    let after = store.read().unwrap();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(before.get(id).unwrap(), history(i as u32));
        assert_eq!(after.get(id).unwrap(), history(i as u32));
    }
    assert!(!before.frame_for_tests(&ids[0]).is_empty(), "a loose frame");
    assert!(after.frame_for_tests(&ids[0]).is_empty(), "a pack member");
    drop((before, after));
    assert_verifies(&store);
}

#[test]
fn gc_shrinks_the_file_after_deletes() {
    let (_d, store) = temp_store();
    let mut t = store.write().unwrap();
    let mut ids = Vec::new();
    for i in 0..400u32 {
        // Incompressible-ish content so the file really grows.
        let bytes: Vec<u8> = (0..4000u32)
            .map(|j| (j.wrapping_mul(2_654_435_761).wrapping_add(i * 7919) >> 11) as u8)
            .collect();
        ids.push(t.put_blob(&bytes).unwrap().id);
    }
    let node = t.put_node(b"all", &ids).unwrap().id;
    t.pin("r", &node, b"").unwrap();
    t.commit().unwrap();
    let big = store.stats().unwrap().file_bytes;
    let mut t = store.write().unwrap();
    t.unpin("r").unwrap();
    assert_eq!(t.commit().unwrap().objects_removed, 401);
    let out = store.gc(&NoProgress).unwrap();
    assert_eq!(out.compaction_skipped, None);
    assert!(
        out.file_bytes_after < big / 2,
        "{out:?}, before deletes {big}"
    );
    assert_eq!(store.stats().unwrap().objects, 0);
    assert!(
        store
            .verify(&verify::Options::default(), &NoProgress)
            .unwrap()
            .is_clean()
    );
}

#[test]
fn cancelled_verify_reports_cancelled() {
    let (_d, store) = temp_store();
    let mut t = store.write().unwrap();
    let a = t.put_blob(b"a").unwrap().id;
    t.pin("r", &a, b"").unwrap();
    t.commit().unwrap();
    let cancel = std::sync::atomic::AtomicBool::new(true);
    assert!(matches!(
        store.verify(&verify::Options::default(), &cancel),
        Err(Error::Cancelled)
    ));
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

#[test]
fn a_100_mb_object_is_refused_by_the_default_limit() {
    let (_d, store) = temp_store();
    let big = vec![b'x'; 100 << 20];
    let mut t = store.write().unwrap();
    assert!(matches!(
        t.put_blob(&big),
        Err(Error::TooLarge { size, limit }) if size == 100 << 20 && limit == 64 << 20
    ));
    // The transaction is still usable and nothing was written.
    t.commit().unwrap();
    assert_eq!(store.stats().unwrap().objects, 0);
}

mod put_get {
    use proptest::prelude::*;

    use crate::{NoProgress, Store, StoreOptions, StoreRead, verify};

    fn sizes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(Vec::new()),
            proptest::collection::vec(any::<u8>(), 1..64),
            proptest::collection::vec(any::<u8>(), 64..70_000),
            // Several MB, compressible and not.
            (1usize..4, any::<u8>()).prop_map(|(mb, b)| vec![b; mb << 20]),
            (1usize..3).prop_map(|mb| (0..(mb << 20) as u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8)
                .collect()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn put_then_get_returns_the_bytes(objects in proptest::collection::vec(sizes(), 1..4)) {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::create(dir.path().join("s.redb"), &StoreOptions::default()).unwrap();
            let mut t = store.write().unwrap();
            let ids: Vec<_> = objects.iter().map(|o| t.put_blob(o).unwrap().id).collect();
            let node = t.put_node(b"holder", &ids).unwrap().id;
            t.pin("r", &node, b"").unwrap();
            t.commit().unwrap();
            let r = store.read().unwrap();
            for (o, id) in objects.iter().zip(&ids) {
                prop_assert_eq!(&r.get(id).unwrap(), o);
                prop_assert_eq!(r.raw_size(id).unwrap(), o.len() as u64);
            }
            prop_assert!(store.verify(&verify::Options::default(), &NoProgress).unwrap().is_clean());
        }
    }
}

mod delta {
    use crate::{NoProgress, ObjectId, Store, StoreOptions, StoreRead, verify};

    fn version(i: usize) -> Vec<u8> {
        let mut s = String::new();
        for line in 0..200 {
            if line == i % 200 {
                s.push_str(&format!("key_{line}: edited in version {i}\n"));
            } else {
                s.push_str(&format!("key_{line}: value {line}\n"));
            }
        }
        s.into_bytes()
    }

    /// Stores versions 0..n, each near the previous one, each held by its own root.
    fn chain(store: &Store, n: usize, near: bool) -> Vec<ObjectId> {
        let mut ids: Vec<ObjectId> = Vec::new();
        for i in 0..n {
            let mut t = store.write().unwrap();
            let base = if near { ids.last() } else { None };
            let id = t.put_blob_near(&version(i), base).unwrap().id;
            t.pin(&format!("v{i:03}"), &id, b"").unwrap();
            t.commit().unwrap();
            ids.push(id);
        }
        ids
    }

    #[test]
    fn deltas_read_back_bounded_by_the_depth_and_are_smaller() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions {
            max_delta_depth: 5,
            ..StoreOptions::default()
        };
        let with = Store::create(dir.path().join("d.redb"), &opts).unwrap();
        let without = Store::create(dir.path().join("w.redb"), &opts).unwrap();
        let ids = chain(&with, 30, true);
        chain(&without, 30, false);
        let r = with.read().unwrap();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(r.get(id).unwrap(), version(i));
            let frame = r.frame_for_tests(id);
            let h = crate::codec::header(id, &frame).unwrap();
            assert!(h.depth() <= 5, "depth {} at {i}", h.depth());
        }
        // Past the depth limit, a version is a delta against the bottom of its chain.
        let depths: Vec<u64> = ids
            .iter()
            .map(|id| {
                crate::codec::header(id, &r.frame_for_tests(id))
                    .unwrap()
                    .depth()
            })
            .collect();
        assert_eq!(&depths[..9], &[0, 1, 2, 3, 4, 5, 1, 2, 3]);
        let (a, b) = (
            with.stats().unwrap().stored_bytes,
            without.stats().unwrap().stored_bytes,
        );
        assert!(a * 2 < b, "deltas {a} bytes vs whole {b}");
        assert!(
            with.verify(&verify::Options::default(), &NoProgress)
                .unwrap()
                .is_clean()
        );
    }

    #[test]
    fn gc_rewrites_deltas_to_free_a_base_only_deltas_hold() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path().join("d.redb"), &StoreOptions::default()).unwrap();
        let ids = chain(&store, 4, true);
        // Release the three oldest versions: each is still a base of the next.
        let mut t = store.write().unwrap();
        for i in 0..3 {
            t.unpin(&format!("v{i:03}")).unwrap();
        }
        let out = t.commit().unwrap();
        assert_eq!(
            out.objects_removed, 0,
            "bases survive while deltas need them"
        );
        assert_eq!(store.read().unwrap().refcount(&ids[0]).unwrap(), Some(1));
        let v = store
            .verify(&verify::Options::default(), &NoProgress)
            .unwrap();
        assert!(v.is_clean(), "{:?}", v.problems);
        let g = store.gc(&NoProgress).unwrap();
        assert_eq!(g.objects_removed, 3, "{g:?}");
        assert!(g.rewritten >= 1);
        let r = store.read().unwrap();
        assert_eq!(r.get(&ids[3]).unwrap(), version(3));
        assert!(!r.contains(&ids[0]).unwrap());
        // Whole (and then packed): it holds no base.
        assert_eq!(r.links(&ids[3]).unwrap(), Vec::<ObjectId>::new());
        drop(r);
        assert!(
            store
                .verify(&verify::Options::default(), &NoProgress)
                .unwrap()
                .is_clean()
        );
        assert_eq!(store.stats().unwrap().objects, 1);
    }

    #[test]
    fn a_delta_whose_base_is_missing_is_reported_not_misread() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path().join("d.redb"), &StoreOptions::default()).unwrap();
        let ids = chain(&store, 2, true);
        let p = store.path().to_path_buf();
        drop(store);
        {
            let db = redb::Database::open(&p).unwrap();
            let t = db.begin_write().unwrap();
            t.open_table(crate::schema::IDS)
                .unwrap()
                .remove(ids[0].as_bytes())
                .unwrap();
            t.commit().unwrap();
        }
        let store = Store::open(&p, &StoreOptions::default()).unwrap();
        assert!(
            matches!(store.get(&ids[1]), Err(crate::Error::ObjectMissing { id }) if id == ids[0])
        );
        super::assert_reports(&store, verify::ProblemKind::Missing, ids[1]);
    }
}

/// After gc every object's entry is in the pack index (none left in `ids`), and packed objects
/// gain and lose references like loose ones.
#[test]
fn gc_moves_entries_to_the_pack_index() {
    let (_d, store) = temp_store();
    let ids = put_history(&store, 0..4, None, "r");
    store.gc(&NoProgress).unwrap();
    {
        let r = store.read().unwrap();
        assert_eq!(
            r.raw()
                .open_table(crate::schema::IDS)
                .unwrap()
                .len()
                .unwrap(),
            0
        );
        let items = r.pack_items().unwrap();
        // Four versions and the node.
        assert_eq!(items.len(), 5, "{items:?}");
    }
    let node = store.read().unwrap().root("r").unwrap().unwrap().id;
    let mut t = store.write().unwrap();
    assert_eq!(t.refcount(&node).unwrap(), Some(1));
    t.pin("r2", &node, b"").unwrap();
    assert_eq!(t.refcount(&node).unwrap(), Some(2));
    t.commit().unwrap();
    let mut t = store.write().unwrap();
    t.unpin("r").unwrap();
    t.unpin("r2").unwrap();
    let out = t.commit().unwrap();
    assert_eq!(out.objects_removed, 5);
    assert!(!store.read().unwrap().contains(&ids[0]).unwrap());
    assert_verifies(&store);
    store.gc(&NoProgress).unwrap();
    assert_eq!(store.stats().unwrap().objects, 0);
    assert_verifies(&store);
}

/// A pack index item is taken for an object only when the member it names hashes to that
/// object's id: an item under `x`'s key that names another object's member (as two ids sharing
/// their first 8 bytes would) never makes `x` present, and verify reports the stray item.
#[test]
fn a_pack_index_item_counts_only_for_the_member_it_hashes_to() {
    let (_d, store) = temp_store();
    let ids = put_history(&store, 0..2, None, "r");
    store.gc(&NoProgress).unwrap();
    let x = ObjectId::for_blob(b"never stored");
    {
        let mut t = store.write().unwrap();
        let e = t.entry(&ids[0]).unwrap().unwrap();
        let crate::pack::Loc::Packed { pack, member } = e.loc else {
            panic!("not packed: {e:?}");
        };
        // Under x's key, and beside ids[1]'s own item under its key.
        t.add_packed(&x, pack, member, 1).unwrap();
        t.add_packed(&ids[1], pack, member, 9).unwrap();
        assert!(!t.contains(&x).unwrap());
        assert_eq!(t.refcount(&ids[1]).unwrap(), Some(1));
        t.commit().unwrap();
    }
    assert!(!store.read().unwrap().contains(&x).unwrap());
    assert!(matches!(store.get(&x), Err(Error::ObjectMissing { id }) if id == x));
    assert_eq!(store.get(&ids[1]).unwrap(), history(1));
    let v = store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    let stray = |p: &verify::Problem| {
        p.kind == verify::ProblemKind::Corrupt
            && p.id.is_none()
            && p.detail.contains("does not begin")
    };
    assert_eq!(
        v.problems.iter().filter(|p| stray(p)).count(),
        2,
        "{:?}",
        v.problems
    );
    // x can still be stored: it gets an entry of its own.
    let mut t = store.write().unwrap();
    assert!(t.put_blob(b"never stored").unwrap().new);
    t.pin("x", &x, b"").unwrap();
    t.commit().unwrap();
    assert_eq!(store.get(&x).unwrap(), b"never stored");
}

/// gc moves roots, index entries and the pack index into cold blocks; reads and writes after
/// it see one store: live entries win, removals hide cold ones until the next gc drops them.
#[test]
fn gc_folds_roots_and_index_entries_into_cold_blocks() {
    let (_d, store) = temp_store();
    let ids = put_history(&store, 0..3, None, "r");
    {
        let mut t = store.write().unwrap();
        for i in 0..50u32 {
            t.index_insert(
                "s",
                format!("k{i:03}").as_bytes(),
                format!("v{i}").as_bytes(),
            )
            .unwrap();
        }
        t.commit().unwrap();
    }
    let out = store.gc(&NoProgress).unwrap();
    assert!(out.cold_blocks_written > 0, "{out:?}");
    let live = |store: &Store| {
        let r = store.read().unwrap();
        let t = r.raw();
        [
            t.open_table(crate::schema::ROOTS).unwrap().len().unwrap(),
            t.open_table(crate::schema::INDEX).unwrap().len().unwrap(),
            t.open_table(crate::entries::PACK_IDS)
                .unwrap()
                .len()
                .unwrap(),
            t.open_table(crate::cold::TOMBS).unwrap().len().unwrap(),
        ]
    };
    assert_eq!(live(&store), [0, 0, 0, 0]);
    {
        let r = store.read().unwrap();
        assert_eq!(r.index_get("s", b"k007").unwrap(), Some(b"v7".to_vec()));
        assert_eq!(r.index_len("s").unwrap(), 50);
        assert_eq!(r.roots("").unwrap().len(), 1);
        assert_eq!(store.get(&ids[2]).unwrap(), history(2));
    }
    assert_eq!(store.stats().unwrap().roots, 1);
    // Changes on top of the cold entries.
    let node = store.read().unwrap().root("r").unwrap().unwrap().id;
    {
        let mut t = store.write().unwrap();
        assert_eq!(
            t.index_insert("s", b"k007", b"new").unwrap(),
            Some(b"v7".to_vec())
        );
        assert_eq!(t.index_remove("s", b"k008").unwrap(), Some(b"v8".to_vec()));
        assert_eq!(t.index_remove("s", b"k008").unwrap(), None);
        assert_eq!(t.index_insert("s", b"k100", b"v100").unwrap(), None);
        assert!(t.unpin("r").unwrap().is_some());
        assert!(t.root("r").unwrap().is_none());
        t.pin("r2", &node, b"").unwrap();
        t.commit().unwrap();
    }
    let check = |store: &Store| {
        let r = store.read().unwrap();
        assert_eq!(r.index_get("s", b"k007").unwrap(), Some(b"new".to_vec()));
        assert_eq!(r.index_get("s", b"k008").unwrap(), None);
        assert_eq!(r.index_len("s").unwrap(), 50);
        let last = r
            .index_range(
                "s",
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                true,
                2,
            )
            .unwrap();
        assert_eq!(last[0].0, b"k100");
        assert_eq!(last[1].0, b"k049");
        let names: Vec<String> = r.roots("").unwrap().into_iter().map(|x| x.name).collect();
        assert_eq!(names, ["r2"]);
        assert_eq!(store.stats().unwrap().roots, 1);
        assert_eq!(store.get(&ids[1]).unwrap(), history(1));
        assert_verifies(store);
    };
    check(&store);
    let out = store.gc(&NoProgress).unwrap();
    assert!(out.cold_blocks_written > 0, "{out:?}");
    assert_eq!(live(&store), [0, 0, 0, 0]);
    check(&store);
    // Nothing new: nothing written.
    assert_eq!(store.gc(&NoProgress).unwrap().cold_blocks_written, 0);
    let path = store.path().to_path_buf();
    drop(store);
    check(&Store::open(&path, &StoreOptions::default()).unwrap());
}

/// A damaged cold block is a typed error for the reads that need it, and verify reports it.
#[test]
fn damaged_cold_block_is_reported() {
    let (_d, store) = temp_store();
    put_history(&store, 0..2, None, "r");
    store.gc(&NoProgress).unwrap();
    let path = store.path().to_path_buf();
    drop(store);
    {
        let db = redb::Database::open(&path).unwrap();
        let t = db.begin_write().unwrap();
        {
            let mut cold = t.open_table(crate::cold::COLD).unwrap();
            let key = cold.first().unwrap().unwrap().0.value();
            let mut chunk = cold.get(key).unwrap().unwrap().value().to_vec();
            let last = chunk.len() - 1;
            chunk[last] ^= 0x55;
            cold.insert(key, chunk.as_slice()).unwrap();
        }
        t.commit().unwrap();
    }
    let store = Store::open(&path, &StoreOptions::default()).unwrap();
    assert!(matches!(
        store.read().unwrap().root("r"),
        Err(Error::CorruptCold { .. })
    ));
    let v = store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    assert!(
        v.problems
            .iter()
            .any(|p| p.kind == verify::ProblemKind::Corrupt
                && p.detail.starts_with("cold entries are corrupt")),
        "{:?}",
        v.problems
    );
}

/// A cold block no directory lists is reported, and a repair drops it.
#[test]
fn stray_cold_block_is_reported_and_repaired() {
    let (_d, store) = temp_store();
    put_history(&store, 0..2, None, "r");
    store.gc(&NoProgress).unwrap();
    {
        let mut t = store.write().unwrap();
        t.raw()
            .open_table(crate::cold::COLD)
            .unwrap()
            .insert((999_999u64, 0u32), b"stray".as_slice())
            .unwrap();
        t.commit().unwrap();
    }
    let v = store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    assert!(
        v.problems
            .iter()
            .any(|p| p.kind == verify::ProblemKind::RefcountOrphan
                && p.detail.contains("cold block 999999")),
        "{:?}",
        v.problems
    );
    assert!(
        store
            .verify(&verify::Options { repair: true }, &NoProgress)
            .unwrap()
            .repaired
    );
    assert_verifies(&store);
    assert!(store.read().unwrap().root("r").unwrap().is_some());
}

/// Space numbers are kept between transactions (checked against `meta.index_spaces`): a space
/// another handle numbers after this one read them is seen, and written to under its number.
#[test]
fn a_space_another_handle_numbers_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.redb");
    let a = Store::create(&p, &StoreOptions::default()).unwrap();
    let b = Store::open(&p, &StoreOptions::default()).unwrap();
    let mut t = a.write().unwrap();
    t.index_insert("one", b"k", b"1").unwrap();
    t.commit().unwrap();
    assert_eq!(
        a.read().unwrap().index_get("one", b"k").unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(a.read().unwrap().index_get("two", b"k").unwrap(), None);
    let mut t = b.write().unwrap();
    t.index_insert("two", b"k", b"2").unwrap();
    t.commit().unwrap();
    assert_eq!(
        a.read().unwrap().index_get("two", b"k").unwrap().as_deref(),
        Some(&b"2"[..])
    );
    let mut t = a.write().unwrap();
    t.index_insert("two", b"k2", b"3").unwrap();
    t.commit().unwrap();
    let rows = b
        .read()
        .unwrap()
        .index_prefix("two", b"", usize::MAX)
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
}

/// The count `id`'s own entry holds (without the hot pin), from the tables.
fn entry_count(store: &Store, id: &ObjectId) -> Option<u64> {
    let r = store.read().unwrap();
    let ids = r.raw().open_table(crate::schema::IDS).unwrap();
    ids.get(id.as_bytes()).unwrap().map(|v| v.value().1)
}

fn hot_pin_bytes(store: &Store) -> Option<Vec<u8>> {
    meta_entries(store)
        .into_iter()
        .find(|(k, _)| k == crate::schema::K_HOT_PIN)
        .map(|(_, v)| v)
}

/// Roots that name the same object again and again are counted in the hot pin, not in the
/// object's entry; every count stays exact through switches, unpins, removal, verify, gc and
/// a reopen.
#[test]
fn repeated_pins_are_counted_in_the_hot_pin() {
    let (dir, store) = temp_store();
    let mut t = store.write().unwrap();
    let objs: Vec<ObjectId> = (0..3u8)
        .map(|i| t.put_blob(&[b'o', i]).unwrap().id)
        .collect();
    let (a, b) = (objs[0], objs[1]);
    t.pin("a0", &a, b"").unwrap();
    t.pin("b0", &b, b"").unwrap();
    t.pin("keep", &objs[2], b"").unwrap();
    t.commit().unwrap();
    let pin = |name: &str, id: &ObjectId| {
        let mut t = store.write().unwrap();
        t.pin(name, id, b"").unwrap();
        t.commit().unwrap();
    };
    for i in 1..10 {
        pin(&format!("a{i}"), &a);
    }
    // a1 went to the entry (the second pin of `a` in a row makes it hot); a2..a9 to the
    // hot pin.
    assert_eq!(store.read().unwrap().refcount(&a).unwrap(), Some(10));
    assert_eq!(entry_count(&store, &a), Some(2));
    // A pin of another object between two of the hot one does not take the hot pin away.
    pin("b1", &b);
    pin("a10", &a);
    pin("b2", &b);
    assert_eq!(
        (entry_count(&store, &a), entry_count(&store, &b)),
        (Some(2), Some(3))
    );
    // Two in a row do: the hot pin's 9 references to `a` go to its entry.
    pin("b3", &b);
    let r = store.read().unwrap();
    assert_eq!(
        (r.refcount(&a).unwrap(), r.refcount(&b).unwrap()),
        (Some(11), Some(4))
    );
    drop(r);
    assert_eq!(
        entry_count(&store, &a),
        Some(11),
        "a's count went to its entry"
    );
    assert_eq!(entry_count(&store, &b), Some(3));
    // A link to the hot object that goes (with the node holding it) lowers its entry's count.
    let mut t = store.write().unwrap();
    let node = t.put_node(b"n", &[b]).unwrap().id;
    t.pin("n", &node, b"").unwrap();
    t.commit().unwrap();
    let mut t = store.write().unwrap();
    t.unpin("n").unwrap().unwrap();
    t.commit().unwrap();
    assert_eq!(store.read().unwrap().refcount(&b).unwrap(), Some(4));
    assert_verifies(&store);

    // Random pins and unpins against a model of the counts.
    let mut model: std::collections::HashMap<String, ObjectId> = (0..11)
        .map(|i| (format!("a{i}"), a))
        .chain((0..4).map(|i| (format!("b{i}"), b)))
        .chain([("keep".to_string(), objs[2])])
        .collect();
    // Roots of both objects come and go, so each is removed with its last root (and pinned
    // again only once stored again: here, never).
    let names: Vec<String> = (0..11)
        .map(|i| format!("a{i}"))
        .chain((0..4).map(|i| format!("b{i}")))
        .chain((0..10).map(|i| format!("r{i}")))
        .collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for step in 0..300 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let name = names[x as usize % names.len()].clone();
        let mut t = store.write().unwrap();
        if model.remove(&name).is_some() {
            t.unpin(&name).unwrap().unwrap();
        } else {
            // Mostly one object, so that it stays hot for a while.
            let id = objs[[0, 0, 0, 1, 2][(x >> 8) as usize % 5]];
            match t.pin(&name, &id, b"") {
                Ok(()) => {
                    model.insert(name, id);
                }
                // The object went with its last root.
                Err(Error::ObjectMissing { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        t.commit().unwrap();
        let r = store.read().unwrap();
        for id in &objs {
            let n = model.values().filter(|v| *v == id).count() as u64;
            let want = (n > 0).then_some(n);
            assert_eq!(r.refcount(id).unwrap(), want, "step {step}: {id:?}");
        }
        drop(r);
        assert_eq!(
            store.stats().unwrap().roots,
            model.len() as u64,
            "step {step}"
        );
        if step % 60 == 59 {
            assert_verifies(&store);
            store.gc(&NoProgress).unwrap();
            // gc leaves every count in its object's entry.
            assert_eq!(hot_pin_bytes(&store), None, "step {step}");
            assert_verifies(&store);
        }
    }
    let p = dir.path().join("s.redb");
    drop(store);
    let store = Store::open(&p, &StoreOptions::default()).unwrap();
    for id in &objs {
        let n = model.values().filter(|v| *v == id).count() as u64;
        assert_eq!(
            store.read().unwrap().refcount(id).unwrap(),
            (n > 0).then_some(n)
        );
    }
    assert_verifies(&store);
}

/// Every entry of `meta`, raw.
fn meta_entries(store: &Store) -> Vec<(String, Vec<u8>)> {
    let r = store.read().unwrap();
    let meta = r.raw().open_table(crate::schema::META).unwrap();
    meta.iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.value().to_string(), v.value().to_vec())
        })
        .collect()
}

/// The hot count and the root count are stored relative to the length of `roots`, so a commit
/// that only adds a root naming the hot object writes nothing to `meta`; both counts stay
/// exact through unpins, another object's pins and a gc that moves every root to a cold block.
#[test]
fn a_new_root_of_the_hot_object_leaves_meta_as_it_was() {
    let (_dir, store) = temp_store();
    let mut t = store.write().unwrap();
    let a = t.put_blob(b"a").unwrap().id;
    let b = t.put_blob(b"b").unwrap().id;
    t.pin("a0", &a, b"").unwrap();
    t.pin("b0", &b, b"").unwrap();
    t.commit().unwrap();
    let mut n = 0;
    let mut pin = |id: &ObjectId| {
        n += 1;
        let mut t = store.write().unwrap();
        t.pin(&format!("r{n:03}"), id, b"").unwrap();
        t.commit().unwrap();
        format!("r{n:03}")
    };
    let check = |a_refs: u64, roots: u64| {
        assert_eq!(store.read().unwrap().refcount(&a).unwrap(), Some(a_refs));
        assert_eq!(store.stats().unwrap().roots, roots);
    };
    let first = pin(&a);
    pin(&a); // `a` is hot now
    check(3, 4);
    let before = meta_entries(&store);
    for k in 0..5 {
        pin(&a);
        assert_eq!(meta_entries(&store), before, "pin {k}");
    }
    check(8, 9);
    // Nor does removing a root of the hot object (both counts drop by one).
    let mut t = store.write().unwrap();
    t.unpin(&first).unwrap().unwrap();
    t.commit().unwrap();
    check(7, 8);
    assert_eq!(meta_entries(&store), before);
    // Other changes to `roots` do write it, and the counts hold.
    pin(&b);
    check(7, 9);
    assert_ne!(meta_entries(&store), before);
    pin(&a);
    check(8, 10);
    assert_verifies(&store);
    // gc moves every root to a cold block: `roots` is empty, the counts are unchanged.
    store.gc(&NoProgress).unwrap();
    check(8, 10);
    pin(&a);
    pin(&a);
    let before = meta_entries(&store);
    pin(&a);
    assert_eq!(meta_entries(&store), before);
    check(11, 13);
    assert_verifies(&store);
}

/// A store whose one object `a` is pinned once, with `bytes` written as its `meta.hot_pin`
/// behind the store's back.
fn store_with_hot_pin(bytes: &[u8]) -> (tempfile::TempDir, Store, ObjectId) {
    let (dir, store) = temp_store();
    let mut t = store.write().unwrap();
    let a = t.put_blob(b"a").unwrap().id;
    t.pin("r", &a, b"").unwrap();
    t.commit().unwrap();
    let store = edit_meta(dir.path(), store, |meta| {
        meta.insert(crate::schema::K_HOT_PIN, bytes).unwrap();
    });
    (dir, store, a)
}

/// Closes `store` (`s.redb` in `dir`), changes its `meta` table behind its back with `edit`,
/// and opens it again.
fn edit_meta(
    dir: &std::path::Path,
    store: Store,
    edit: impl FnOnce(&mut redb::Table<'_, &'static str, &'static [u8]>),
) -> Store {
    let p = dir.join("s.redb");
    drop(store);
    let db = redb::Database::open(&p).unwrap();
    let t = db.begin_write().unwrap();
    let mut meta = t.open_table(crate::schema::META).unwrap();
    edit(&mut meta);
    drop(meta);
    t.commit().unwrap();
    drop(db);
    Store::open(&p, &StoreOptions::default()).unwrap()
}

/// A hot pin naming an object that is not stored is reported, and a repair drops it.
#[test]
fn verify_reports_and_repair_drops_a_hot_pin_of_a_missing_object() {
    let ghost = ObjectId::for_blob(b"ghost");
    let pin = crate::hotpin::HotPin {
        hot: Some((ghost, 2)),
        next: None,
    };
    let (_dir, store, a) = store_with_hot_pin(&pin.encode(1));
    assert_reports(&store, verify::ProblemKind::RefcountMismatch, ghost);
    store
        .verify(&verify::Options { repair: true }, &NoProgress)
        .unwrap();
    assert_verifies(&store);
    assert_eq!(store.read().unwrap().refcount(&a).unwrap(), Some(1));
    assert_eq!(hot_pin_bytes(&store), None);
}

/// A hot pin that does not decode is a typed error naming the store, not a panic or a guess.
#[test]
fn a_malformed_hot_pin_is_a_typed_error() {
    let (dir, store, a) = store_with_hot_pin(&[9, 1, 2]);
    let p = dir.path().join("s.redb");
    let damaged = |r: Result<Option<u64>, Error>| matches!(r, Err(Error::Damaged { path, detail }) if path == p && detail.contains("hot_pin"));
    assert!(damaged(store.read().unwrap().refcount(&a)));
    let mut t = store.write().unwrap();
    assert!(matches!(t.pin("r2", &a, b""), Err(Error::Damaged { .. })));
    drop(t);
    // verify reports it as damage, without an object id.
    let v = store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    assert!(
        v.problems
            .iter()
            .any(|p| p.kind == verify::ProblemKind::Corrupt
                && p.id.is_none()
                && p.detail.contains("hot_pin")),
        "{:?}",
        v.problems
    );
}
