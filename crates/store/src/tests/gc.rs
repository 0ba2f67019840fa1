//! gc: table rebuilds, packs, the pack index, snapshots, shrinking.

use super::*;

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
