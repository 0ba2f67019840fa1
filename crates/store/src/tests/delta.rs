//! Delta frames: encoding against a base, chains, depth, gc rewrites.

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
    assert!(matches!(store.get(&ids[1]), Err(crate::Error::ObjectMissing { id }) if id == ids[0]));
    super::assert_reports(&store, verify::ProblemKind::Missing, ids[1]);
}
