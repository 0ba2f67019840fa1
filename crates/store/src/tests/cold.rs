//! Cold blocks: gc folds roots and index entries into them; damaged and stray blocks.

use super::*;

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
