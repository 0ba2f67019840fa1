//! Property tests: tree round-trips, order independence, backup → restore identity.

use std::collections::BTreeMap;

use cfgvault_session::restore::{self, Options};
use cfgvault_session::tree::{self, EntryKind, LeafFile, Tree, TreeEntry};
use cfgvault_session::{self as session, FileSet, NewSession, Selection};
use cfgvault_store::ObjectId;
use proptest::prelude::*;

use crate::{Fixture, read_tree, set_mode};

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._ -]{1,10}|[é☃ü]{1,3}".prop_filter("not . or ..", |s| s != "." && s != "..")
}

fn entry() -> impl Strategy<Value = TreeEntry> {
    (
        name(),
        0u8..3,
        0u32..0o1000,
        any::<[u8; 32]>(),
        any::<u64>(),
    )
        .prop_map(|(name, k, mode, id, size)| {
            let (kind, mode) = match k {
                0 => (EntryKind::File, mode & !0o111),
                1 => (EntryKind::Executable, mode | 0o100),
                _ => (EntryKind::Dir, 0),
            };
            TreeEntry {
                name,
                kind,
                mode,
                id: ObjectId::from_bytes(id),
                size,
            }
        })
}

/// Conflict-free file sets: path → (contents, executable).
fn file_set() -> impl Strategy<Value = BTreeMap<String, (Vec<u8>, bool)>> {
    let path = prop::collection::vec("[a-c]{1,2}|x\\.yaml|é", 1..4).prop_map(|v| v.join("/"));
    prop::collection::btree_map(
        path,
        (prop::collection::vec(any::<u8>(), 0..64), any::<bool>()),
        0..12,
    )
    .prop_map(|mut m| {
        let keys: Vec<String> = m.keys().cloned().collect();
        for k in &keys {
            if keys.iter().any(|o| o.starts_with(&format!("{k}/"))) {
                m.remove(k);
            }
        }
        m
    })
}

proptest! {
    #[test]
    fn tree_round_trips(entries in prop::collection::btree_map(name(), entry(), 0..20)) {
        let entries: Vec<TreeEntry> = entries
            .into_iter()
            .map(|(n, e)| TreeEntry { name: n, ..e })
            .collect();
        let tree = Tree::new(entries).unwrap();
        let bytes = tree.encode();
        prop_assert_eq!(Tree::decode(&bytes).unwrap(), tree.clone());
        prop_assert_eq!(ObjectId::for_node(&bytes), tree.id());
    }

    #[test]
    fn same_files_same_tree_id_in_any_order(
        (files, shuffled) in file_set().prop_flat_map(|m| {
            let v: Vec<(String, (Vec<u8>, bool))> = m.into_iter().collect();
            (Just(v.clone()), Just(v).prop_shuffle())
        })
    ) {
        let leaves = |v: &[(String, (Vec<u8>, bool))]| -> Vec<(String, ObjectId, u64, u32)> {
            v.iter()
                .map(|(p, (c, x))| (p.clone(), ObjectId::for_blob(c), c.len() as u64, if *x { 0o755 } else { 0o644 }))
                .collect()
        };
        let id_of = |l: &[(String, ObjectId, u64, u32)]| {
            let leaves: Vec<LeafFile<'_>> = l
                .iter()
                .map(|(path, id, size, mode)| LeafFile { path, id: *id, size: *size, mode: *mode })
                .collect();
            tree::build(&leaves, &mut |_, t| Ok(t.id())).unwrap()
        };
        prop_assert_eq!(id_of(&leaves(&files)), id_of(&leaves(&shuffled)));
    }
}

proptest! {
    // Each case creates a store and commits durably: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn backup_then_restore_is_identity(files in file_set()) {
        let fx = Fixture::new();
        let src = fx.path("src");
        for (p, (c, x)) in &files {
            let full = src.join(p);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, c).unwrap();
            #[cfg(unix)]
            set_mode(&full, if *x { 0o750 } else { 0o640 });
        }
        let set = FileSet::read(&src, &Selection::All).unwrap();
        let created = session::create(&fx.store, NewSession::new(set)).unwrap();
        let dst = fx.dir.path().join("dst");
        let report = restore::restore(&fx.store, &created.record.id, &dst, &Options::default()).unwrap();
        prop_assert!(!report.has_failures(), "{:?}", report);
        prop_assert_eq!(read_tree(&dst), read_tree(&src));
    }
}
