//! Index keyspaces: order, transactions, isolation, numbers given by another handle.

use super::*;

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
