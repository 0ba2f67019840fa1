//! verify and repair: corruption, refcount drift, cancellation.

use super::*;

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
