//! Opening and creating: bad files, other formats, exclusive openers.

use super::*;

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
