//! Putting and getting objects, links and the sweep at commit.

use super::*;

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
