//! Random sequences of transactions checked against a plain in-memory model after every step.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use proptest::prelude::*;

use crate::{Error, IndexEntry, KeyRange, NoProgress, ObjectId, Store, StoreRead, verify};

#[derive(Debug, Clone)]
enum Sub {
    PutBlob(u8),
    /// A node linking to the objects named by these indexes into the txn's history.
    PutNode(Vec<u8>),
    Pin(u8),
    Unpin(u8),
    /// Sets key `k` of index space `space{s}` to a value of `n` bytes.
    IndexSet(u8, u8, u8),
    /// Several `IndexSet`s of one space in one call (`index_insert_each`).
    IndexSetEach(u8, Vec<(u8, u8)>),
    IndexRemove(u8, u8),
}

#[derive(Debug, Clone)]
enum Op {
    Txn(Vec<Sub>, bool),
    Gc,
}

fn sub() -> impl Strategy<Value = Sub> {
    prop_oneof![
        3 => (0u8..10).prop_map(Sub::PutBlob),
        2 => proptest::collection::vec(any::<u8>(), 0..4).prop_map(Sub::PutNode),
        2 => (0u8..4).prop_map(Sub::Pin),
        1 => (0u8..4).prop_map(Sub::Unpin),
        3 => (0u8..2, 0u8..12, 0u8..40).prop_map(|(s, k, n)| Sub::IndexSet(s, k, n)),
        1 => (0u8..2, proptest::collection::vec((0u8..12, 0u8..40), 0..5))
            .prop_map(|(s, e)| Sub::IndexSetEach(s, e)),
        2 => (0u8..2, 0u8..12).prop_map(|(s, k)| Sub::IndexRemove(s, k)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (proptest::collection::vec(sub(), 1..8), any::<bool>()).prop_map(|(s, c)| Op::Txn(s, c)),
        1 => Just(Op::Gc),
    ]
}

#[derive(Debug, Clone, Default)]
struct Model {
    roots: BTreeMap<String, ObjectId>,
    /// Index spaces: space → key → value.
    index: BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>,
    /// Every object ever put: bytes and links.
    known: HashMap<ObjectId, (Vec<u8>, Vec<ObjectId>)>,
}

impl Model {
    fn reachable_counts(&self) -> HashMap<ObjectId, u64> {
        let mut counts: HashMap<ObjectId, u64> = HashMap::new();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<ObjectId> = Vec::new();
        for id in self.roots.values() {
            *counts.entry(*id).or_default() += 1;
            stack.push(*id);
        }
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            for l in &self.known[&id].1 {
                *counts.entry(*l).or_default() += 1;
                stack.push(*l);
            }
        }
        counts
    }
}

fn space(s: u8) -> String {
    format!("space{s}")
}

/// Keys that share prefixes and straddle one another, so ranges and prefixes have edges.
fn index_key(k: u8) -> Vec<u8> {
    let mut key = vec![b'k'; usize::from(k % 4) + 1];
    key.push(k / 4);
    key
}

fn blob_bytes(i: u8) -> Vec<u8> {
    format!("blob {i}\n")
        .repeat(usize::from(i) * 9 + 1)
        .into_bytes()
}

fn check(store: &Store, model: &Model) {
    let counts = model.reachable_counts();
    let r = store.read().unwrap();
    for (id, (bytes, links)) in &model.known {
        match counts.get(id) {
            Some(n) => {
                assert_eq!(r.refcount(id).unwrap(), Some(*n), "refcount of {id:?}");
                assert_eq!(&r.get(id).unwrap(), bytes);
                assert_eq!(&r.links(id).unwrap(), links);
            }
            None => assert!(!r.contains(id).unwrap(), "{id:?} should be gone"),
        }
    }
    // One call for many objects answers as one call per object.
    let ids: Vec<ObjectId> = model.known.keys().copied().collect();
    let each: Vec<bool> = ids.iter().map(|id| counts.contains_key(id)).collect();
    assert_eq!(r.contains_each(&ids).unwrap(), each);
    let roots: BTreeMap<String, ObjectId> = r
        .roots("")
        .unwrap()
        .into_iter()
        .map(|x| (x.name, x.id))
        .collect();
    assert_eq!(roots, model.roots);
    for s in 0..2u8 {
        let want = model.index.get(&space(s)).cloned().unwrap_or_default();
        let all: BTreeMap<Vec<u8>, Vec<u8>> = r
            .index_range(
                &space(s),
                Bound::Unbounded,
                Bound::Unbounded,
                false,
                usize::MAX,
            )
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(all, want, "space {s}");
        assert_eq!(r.index_len(&space(s)).unwrap(), want.len() as u64);
        for k in 0..12u8 {
            let key = index_key(k);
            assert_eq!(
                r.index_get(&space(s), &key).unwrap(),
                want.get(&key).cloned()
            );
            // The newest two at or below the key, and the first two with its prefix.
            let below: Vec<(Vec<u8>, Vec<u8>)> = want
                .range::<[u8], _>((Bound::Unbounded, Bound::Included(key.as_slice())))
                .rev()
                .take(2)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let got = r
                .index_range(&space(s), Bound::Unbounded, Bound::Included(&key), true, 2)
                .unwrap();
            assert_eq!(got, below, "space {s}, below {key:?}");
            let prefix = &key[..key.len() - 1];
            let with: Vec<(Vec<u8>, Vec<u8>)> = want
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .take(2)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(r.index_prefix(&space(s), prefix, 2).unwrap(), with);
        }
        // Many ranges in one call: each answers as the model does.
        let keys: Vec<Vec<u8>> = (0..12u8).map(index_key).collect();
        let ranges: Vec<KeyRange<'_>> = keys
            .iter()
            .map(|k| (Bound::Included(k.as_slice()), Bound::Unbounded))
            .collect();
        for reverse in [false, true] {
            let expect: Vec<Vec<IndexEntry>> = keys
                .iter()
                .map(|k| {
                    let from =
                        want.range::<[u8], _>((Bound::Included(k.as_slice()), Bound::Unbounded));
                    let rows: Box<dyn Iterator<Item = _>> = if reverse {
                        Box::new(from.rev())
                    } else {
                        Box::new(from)
                    };
                    rows.take(3).map(|(k, v)| (k.clone(), v.clone())).collect()
                })
                .collect();
            assert_eq!(
                r.index_ranges(&space(s), &ranges, reverse, 3).unwrap(),
                expect,
                "space {s}, ranges from each key, reverse {reverse}"
            );
        }
        // Ranges of one key each (live, cold, removed since the gc, or absent).
        let points: Vec<KeyRange<'_>> = keys
            .iter()
            .map(|k| (Bound::Included(k.as_slice()), Bound::Included(k.as_slice())))
            .collect();
        let expect: Vec<Vec<IndexEntry>> = keys
            .iter()
            .map(|k| {
                want.get(k)
                    .map(|v| (k.clone(), v.clone()))
                    .into_iter()
                    .collect()
            })
            .collect();
        assert_eq!(
            r.index_ranges(&space(s), &points, false, 3).unwrap(),
            expect,
            "space {s}, ranges of one key"
        );
    }
    assert_eq!(store.stats().unwrap().objects, counts.len() as u64);
    let v = store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    assert!(v.is_clean(), "{:?}", v.problems);
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("m.redb"), &crate::StoreOptions::default()).unwrap();
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Gc => {
                let out = store.gc(&NoProgress).unwrap();
                assert_eq!(out.objects_removed, 0, "commits leave nothing to sweep");
            }
            Op::Txn(subs, commit) => {
                let mut next = model.clone();
                let mut txn = store.write().unwrap();
                // Objects present in this transaction: committed ones plus those put so far.
                let counts = model.reachable_counts();
                let mut present: BTreeSet<ObjectId> = counts.keys().copied().collect();
                let mut history: Vec<ObjectId> = present.iter().copied().collect();
                let mut failed = false;
                for s in subs {
                    let result: Result<(), Error> = match s {
                        Sub::PutBlob(i) => {
                            let b = blob_bytes(i);
                            let id = ObjectId::for_blob(&b);
                            next.known.insert(id, (b.clone(), vec![]));
                            let r = txn.put_blob(&b).map(|p| {
                                assert_eq!(p.id, id);
                                assert_eq!(p.new, !present.contains(&id));
                            });
                            present.insert(id);
                            history.push(id);
                            r
                        }
                        Sub::PutNode(picks) => {
                            let links: Vec<ObjectId> = if history.is_empty() {
                                vec![]
                            } else {
                                picks
                                    .iter()
                                    .map(|p| history[usize::from(*p) % history.len()])
                                    .collect()
                            };
                            let bytes = format!("node {links:?}").into_bytes();
                            let full = crate::node_bytes(&links, &bytes);
                            let id = ObjectId::for_node(&full);
                            next.known.insert(id, (full, links.clone()));
                            txn.put_node(&bytes, &links).map(|p| {
                                assert_eq!(p.new, !present.contains(&id));
                                present.insert(id);
                                history.push(id);
                            })
                        }
                        Sub::Pin(k) => {
                            let name = format!("root{k}");
                            let Some(target) = history.last().copied() else {
                                continue;
                            };
                            let expect_err = next.roots.contains_key(&name);
                            let r = txn.pin(&name, &target, b"m");
                            assert_eq!(r.is_err(), expect_err, "{r:?}");
                            if r.is_ok() {
                                next.roots.insert(name, target);
                            }
                            r
                        }
                        Sub::Unpin(k) => {
                            let name = format!("root{k}");
                            let r = txn.unpin(&name).unwrap();
                            assert_eq!(r.map(|x| x.id), next.roots.remove(&name));
                            Ok(())
                        }
                        Sub::IndexSet(s, k, n) => {
                            let value = vec![k; usize::from(n)];
                            let old = txn.index_insert(&space(s), &index_key(k), &value).unwrap();
                            let want = next
                                .index
                                .entry(space(s))
                                .or_default()
                                .insert(index_key(k), value);
                            assert_eq!(old, want);
                            Ok(())
                        }
                        Sub::IndexSetEach(s, entries) => {
                            let owned: Vec<(Vec<u8>, Vec<u8>)> = entries
                                .iter()
                                .map(|&(k, n)| (index_key(k), vec![k; usize::from(n)]))
                                .collect();
                            let refs: Vec<(&[u8], &[u8])> = owned
                                .iter()
                                .map(|(k, v)| (k.as_slice(), v.as_slice()))
                                .collect();
                            let old = txn.index_insert_each(&space(s), &refs).unwrap();
                            let m = next.index.entry(space(s)).or_default();
                            let want: Vec<Option<Vec<u8>>> =
                                owned.into_iter().map(|(k, v)| m.insert(k, v)).collect();
                            assert_eq!(old, want);
                            Ok(())
                        }
                        Sub::IndexRemove(s, k) => {
                            let old = txn.index_remove(&space(s), &index_key(k)).unwrap();
                            let want = next
                                .index
                                .get_mut(&space(s))
                                .and_then(|m| m.remove(&index_key(k)));
                            assert_eq!(old, want);
                            Ok(())
                        }
                    };
                    if result.is_err() {
                        failed = true;
                        break;
                    }
                }
                if failed || !commit {
                    drop(txn);
                    // Objects put in the aborted transaction never existed.
                    for (id, v) in next.known {
                        model.known.entry(id).or_insert(v);
                    }
                } else {
                    txn.commit().unwrap();
                    model = next;
                }
            }
        }
        check(&store, &model);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..25)) {
        run(ops);
    }
}
