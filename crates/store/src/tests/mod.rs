//! Whole-store tests: bad input, a reference model, fault injection and corruption.
#![allow(clippy::unwrap_used)]

mod cold;
mod crash;
mod delta;
mod gc;
mod hotpin;
mod index;
mod integrity;
mod model;
mod objects;
mod open;

use std::path::PathBuf;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use crate::txn::ReadPath;
use crate::{Error, NoProgress, ObjectId, Store, StoreOptions, StoreRead, verify};

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s.redb"), &StoreOptions::default()).unwrap();
    (dir, store)
}

fn history(i: u32) -> Vec<u8> {
    let nodes: String = (0..120)
        .map(|j| {
            format!(
                "node_{j}:\n  llm_client: model-{}\n  temperature: 0.{j}\n",
                (i + j) % 7
            )
        })
        .collect();
    format!("version: {i}\n{nodes}").into_bytes()
}

/// Puts versions `range` of [`history`] as a chain of deltas (each against the one before,
/// starting from `prev`) under a node pinned as `root`.
fn put_history(
    store: &Store,
    range: std::ops::Range<u32>,
    mut prev: Option<ObjectId>,
    root: &str,
) -> Vec<ObjectId> {
    let mut ids = Vec::new();
    let mut t = store.write().unwrap();
    for i in range {
        let id = t.put_blob_near(&history(i), prev.as_ref()).unwrap().id;
        prev = Some(id);
        ids.push(id);
    }
    let node = t.put_node(root.as_bytes(), &ids).unwrap().id;
    t.pin(root, &node, b"").unwrap();
    t.commit().unwrap();
    ids
}

/// `verify` reports a problem of `kind` naming `id`.
fn assert_reports(store: &Store, kind: verify::ProblemKind, id: ObjectId) {
    let v = store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    assert!(
        v.problems
            .iter()
            .any(|p| p.kind == kind && p.id == Some(id)),
        "{:?}",
        v.problems
    );
}

fn assert_verifies(store: &Store) {
    let v = store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    assert!(v.is_clean(), "{:?}", v.problems);
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}
