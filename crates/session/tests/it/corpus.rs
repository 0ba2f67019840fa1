//! Replays every snapshot of the shared corpus as a session.

use std::collections::HashSet;

use cfgvault_session::restore::{self, Action, Options};
use cfgvault_session::retention::{self, Policy};
use cfgvault_session::{self as session, FileSet, NewSession, Selection};
use cfgvault_store::{NoProgress, verify};
use chrono::Duration;

use crate::{Fixture, read_tree, sid, t};

#[test]
fn replay_corpus() {
    let fx = Fixture::new();
    let corpus = cfgvault_testkit::unpack(&[]);
    let unpacked = corpus.path();
    let mut snaps: Vec<String> = std::fs::read_dir(unpacked)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("snap-"))
        .collect();
    snaps.sort();
    assert_eq!(snaps.len(), 102);

    let base = t("2025-01-01T12:00:00Z");
    let react = "workflows/react.yaml";
    let mut react_contents = HashSet::new();
    let mut files_total = 0;
    for (i, snap) in snaps.iter().enumerate() {
        let root = unpacked.join(snap).join("configs");
        if let Ok(bytes) = std::fs::read(root.join(react)) {
            react_contents.insert(*blake3::hash(&bytes).as_bytes());
        }
        let set = FileSet::read(&root, &Selection::All).unwrap();
        assert!(set.skipped().is_empty(), "{snap}: {:?}", set.skipped());
        files_total += set.len();
        let mut new = NewSession::new(set);
        new.id = Some(sid(snap));
        new.created_at = base + Duration::hours(i as i64 * 7);
        new.source_root = root.display().to_string();
        new.strategy = "tree".into();
        session::create(&fx.store, new).unwrap();
    }
    assert_eq!(files_total, 8286);

    // Every session restores byte-identical, with its mode bits.
    for snap in &snaps {
        let dst = fx.dir.path().join("restore").join(snap);
        let report = restore::restore(&fx.store, &sid(snap), &dst, &Options::default()).unwrap();
        assert!(
            report.files.iter().all(|f| f.action == Action::Restored),
            "{snap}: {:?}",
            report.files.iter().find(|f| f.action != Action::Restored)
        );
        assert!(
            read_tree(&dst) == read_tree(&unpacked.join(snap).join("configs")),
            "{snap} differs after restore"
        );
        std::fs::remove_dir_all(&dst).unwrap();
    }

    let versions = session::versions(&fx.store, react).unwrap();
    assert_eq!(versions.len(), react_contents.len());
    assert!(versions.len() > 1);

    let st = session::stats(&fx.store).unwrap();
    let store_st = fx.store.stats().unwrap();
    println!(
        "corpus replay: sessions {}, files {files_total}, logical bytes {}, unique bytes {}, \
         stored bytes {}, objects {}, file bytes {}, dedup {:.1}x, compression {:.2}x, \
         overall {:.1}x, {}: {} versions",
        st.sessions,
        st.logical_bytes,
        st.unique_bytes,
        st.stored_bytes,
        store_st.objects,
        st.file_bytes,
        st.dedup_ratio,
        st.compression_ratio,
        st.overall_ratio,
        react,
        versions.len()
    );
    assert_eq!(st.sessions, 102);
    assert_eq!(st.logical_bytes, 17_949_155);
    let gc = fx.store.gc(&NoProgress).unwrap();
    println!(
        "after gc (compacted): file bytes {}, overall {:.1}x",
        gc.file_bytes_after,
        st.logical_bytes as f64 / gc.file_bytes_after as f64
    );
    let before = gc.file_bytes_after;

    // Delete all but the last 10.
    let mut policy = Policy::default();
    policy.keep_last = Some(10);
    let plan = retention::plan(&fx.store, &policy, t("2030-01-01")).unwrap();
    assert_eq!(plan.remove.len(), 92);
    let outcome = retention::apply(&fx.store, &plan).unwrap();
    assert_eq!(outcome.bytes_freed, plan.bytes_freed);
    let v = fx
        .store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    let gc = fx.store.gc(&NoProgress).unwrap();
    assert!(
        gc.file_bytes_after < before,
        "{} !< {before}",
        gc.file_bytes_after
    );
    let st = session::stats(&fx.store).unwrap();
    println!(
        "after keeping the last 10: sessions {}, logical bytes {}, unique bytes {}, file bytes {}, freed {} objects / {} bytes",
        st.sessions,
        st.logical_bytes,
        st.unique_bytes,
        gc.file_bytes_after,
        outcome.objects_removed,
        outcome.bytes_freed
    );
    assert_eq!(st.sessions, 10);
    for snap in &snaps[92..] {
        let dst = fx.dir.path().join("restore2").join(snap);
        let report = restore::restore(&fx.store, &sid(snap), &dst, &Options::default()).unwrap();
        assert!(!report.has_failures());
        assert!(read_tree(&dst) == read_tree(&unpacked.join(snap).join("configs")));
    }
}
