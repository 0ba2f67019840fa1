//! The hot pin: repeated pins counted in `meta.hot_pin`, its checks and repair.

use super::*;

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
