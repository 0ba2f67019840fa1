//! Creating, listing, deleting sessions and the indexes kept with them.

use std::collections::BTreeMap;
use std::sync::Arc;

use cfgvault_session::{self as session, Error, FileSet, ListOptions, NewSession};
use cfgvault_store::{NoProgress, ObjectId, StoreRead, verify};

use crate::{Fixture, sid, t};

fn ids(records: &[cfgvault_session::SessionRecord]) -> Vec<String> {
    records.iter().map(|r| r.id.to_string()).collect()
}

#[test]
fn create_get_and_read_back() {
    let fx = Fixture::new();
    let rec = fx.session(
        "a",
        "2025-01-01T10:00:00.123456789Z",
        &[("workflows/react.yaml", "x: 1\n"), ("global.yaml", "g\n")],
    );
    assert_eq!(rec.files, 2);
    assert_eq!(rec.logical_bytes, 7);
    // Kept to the microsecond.
    assert_eq!(rec.created_at, t("2025-01-01T10:00:00.123456Z"));
    assert_eq!(session::get(&fx.store, &sid("a")).unwrap(), rec);
    let files = session::files(&fx.store, &sid("a")).unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["global.yaml", "workflows/react.yaml"]);
    assert_eq!(
        session::read_file(&fx.store, &sid("a"), "workflows/react.yaml").unwrap(),
        b"x: 1\n"
    );
    assert!(matches!(
        session::read_file(&fx.store, &sid("a"), "workflows"),
        Err(Error::FileNotInSession { .. })
    ));
    assert!(matches!(
        session::read_file(&fx.store, &sid("a"), "../x"),
        Err(Error::InvalidPath { .. })
    ));
    let err = session::get(&fx.store, &sid("nope")).unwrap_err();
    assert!(matches!(err, Error::SessionNotFound { .. }));
    assert!(err.to_string().contains("'nope'"), "{err}");
}

#[test]
fn duplicate_id_is_a_typed_error_and_commits_nothing() {
    let fx = Fixture::new();
    fx.session("a", "2025-01-01", &[("f", "1")]);
    let before = fx.store.stats().unwrap();
    let mut new = NewSession::new(FileSet::from_memory([("g", b"new".to_vec(), 0o644)]).unwrap());
    new.id = Some(sid("a"));
    let err = session::create(&fx.store, new).unwrap_err();
    assert!(matches!(err, Error::SessionExists { .. }), "{err}");
    assert!(err.to_string().contains("'a'"), "{err}");
    assert_eq!(fx.store.stats().unwrap(), before);
    // The same files as session `a` (everything stored already, the backup's usual case).
    let mut new = NewSession::new(FileSet::from_memory([("f", b"1".to_vec(), 0o644)]).unwrap());
    new.id = Some(sid("a"));
    let err = session::create(&fx.store, new).unwrap_err();
    assert!(matches!(err, Error::SessionExists { .. }), "{err}");
    assert_eq!(fx.store.stats().unwrap(), before);
    assert_eq!(
        session::list(&fx.store, &Default::default()).unwrap().len(),
        1
    );
}

/// The string cache keeps only numbers a commit made real: a transaction that numbered a new
/// string and was then dropped (a duplicate id) must not leave that number behind, or a later
/// session would name the string committed under it in the meantime.
#[test]
fn string_cache_keeps_only_committed_numbers() {
    let fx = Fixture::new();
    let cache = session::SessionCache::default();
    let create = |id: &str, root: &str, content: &str| {
        let files = FileSet::from_memory([("f", content.as_bytes().to_vec(), 0o644)]).unwrap();
        let mut new = NewSession::new(files);
        new.id = Some(sid(id));
        new.source_root = root.into();
        new.strategy = "minimal".into();
        session::create_cached(&fx.store, new, &cache)
    };
    create("s1", "/a", "1").unwrap();
    // Numbers "/b" in a transaction that is then dropped.
    let err = create("s1", "/b", "2").unwrap_err();
    assert!(matches!(err, Error::SessionExists { .. }), "{err}");
    // "/c" takes the number "/b" had in the dropped transaction.
    create("s2", "/c", "3").unwrap();
    create("s3", "/b", "4").unwrap();
    // Known to the cache now: named without reading the table.
    create("s4", "/b", "4").unwrap();
    for (id, root) in [("s1", "/a"), ("s2", "/c"), ("s3", "/b"), ("s4", "/b")] {
        let rec = session::get(&fx.store, &sid(id)).unwrap();
        assert_eq!(rec.source_root, root, "{id}");
        assert_eq!(rec.strategy, "minimal", "{id}");
    }
}

/// A cache reuses the latest session's ids only for the same files (path, content, mode) and
/// the same closure: a sequence of sessions through one cache is stored exactly as without it.
#[test]
fn session_cache_reuses_ids_only_for_the_same_files_and_closure() {
    let plain = Fixture::new();
    let cached = Fixture::new();
    let cache = session::SessionCache::default();
    let closure = |dep: &str| session::ClosureInfo {
        deps: vec![dep.to_string()],
        ..Default::default()
    };
    /// Files (path, content, mode) and closure of one session.
    type Step<'a> = (Vec<(&'a str, &'a str, u32)>, session::ClosureInfo);
    let steps: Vec<Step<'_>> = vec![
        (vec![("f", "1", 0o644)], closure("f")),
        (vec![("f", "1", 0o644)], closure("f")),
        (vec![("f", "2", 0o644)], closure("f")),
        (vec![("f", "2", 0o755)], closure("f")),
        (vec![("g", "2", 0o755)], closure("f")),
        (vec![("g", "2", 0o755)], closure("g")),
        (vec![("g", "2", 0o755), ("h", "3", 0o644)], closure("g")),
        (vec![("g", "2", 0o755)], closure("g")),
    ];
    for (i, (files, info)) in steps.iter().enumerate() {
        let new = || {
            let set = FileSet::from_memory(
                (files.iter()).map(|(p, c, m)| (p.to_string(), c.as_bytes().to_vec(), *m)),
            )
            .unwrap();
            let mut new = NewSession::new(set);
            new.id = Some(sid(&format!("s{i}")));
            new.created_at = t("2025-01-01") + chrono::Duration::minutes(i as i64);
            new.closure = Arc::new(info.clone());
            new
        };
        let want = session::create(&plain.store, new()).unwrap().record;
        let got = session::create_cached(&cached.store, new(), &cache)
            .unwrap()
            .record;
        assert_eq!(got.root, want.root, "step {i}");
        let stored = session::get(&cached.store, &sid(&format!("s{i}"))).unwrap();
        assert_eq!(stored.closure.as_deref(), Some(info), "step {i}");
        assert_eq!(
            session::files(&cached.store, &stored.id).unwrap(),
            session::files(&plain.store, &want.id).unwrap(),
            "step {i}"
        );
    }
}

#[test]
fn generated_ids_use_the_prefix() {
    let fx = Fixture::new();
    let mut new = NewSession::new(FileSet::from_memory([("f", b"1".to_vec(), 0o644)]).unwrap());
    new.id_prefix = "react".into();
    new.created_at = t("2025-10-22T17:48:00Z");
    let rec = session::create(&fx.store, new).unwrap().record;
    assert!(
        rec.id.as_str().starts_with("react-251022-174800-"),
        "{}",
        rec.id
    );
}

#[test]
fn list_newest_first_with_limit_label_and_age() {
    let fx = Fixture::new();
    for (i, day) in ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]
        .iter()
        .enumerate()
    {
        let mut labels = BTreeMap::new();
        labels.insert(
            "team".to_string(),
            if i % 2 == 0 { "a" } else { "b" }.to_string(),
        );
        let mut new = NewSession::new(
            FileSet::from_memory([("f", format!("{i}").into_bytes(), 0o644)]).unwrap(),
        );
        new.id = Some(sid(&format!("s{i}")));
        new.created_at = t(day);
        new.labels = labels;
        session::create(&fx.store, new).unwrap();
    }
    let list = |o: ListOptions| ids(&session::list(&fx.store, &o).unwrap());
    let mut o = ListOptions::default();
    assert_eq!(list(o.clone()), ["s3", "s2", "s1", "s0"]);
    o.limit = Some(2);
    assert_eq!(list(o.clone()), ["s3", "s2"]);
    o.limit = None;
    o.label = Some(("team".into(), "a".into()));
    assert_eq!(list(o.clone()), ["s2", "s0"]);
    o.label = None;
    o.newer_than = Some(t("2025-01-02"));
    assert_eq!(list(o.clone()), ["s3", "s2"]);
    o.older_than = Some(t("2025-01-04"));
    assert_eq!(list(o.clone()), ["s2"]);
    o.label = Some(("team".into(), "b".into()));
    o.newer_than = None;
    assert_eq!(list(o.clone()), ["s1"]);
    o.label = Some(("team".into(), "zzz".into()));
    assert!(list(o).is_empty());
}

#[test]
fn versions_track_distinct_contents_in_first_seen_order() {
    let fx = Fixture::new();
    let p = "workflows/react.yaml";
    fx.session("s1", "2025-01-01", &[(p, "v1")]);
    fx.session("s2", "2025-01-02", &[(p, "v2")]);
    fx.session("s3", "2025-01-03", &[(p, "v1")]);
    fx.session("s4", "2025-01-04", &[(p, "v3"), ("other", "v1")]);
    let v = session::versions(&fx.store, p).unwrap();
    let seen: Vec<(ObjectId, u64)> = v.iter().map(|v| (v.id, v.sessions)).collect();
    assert_eq!(
        seen,
        [
            (ObjectId::for_blob(b"v1"), 2),
            (ObjectId::for_blob(b"v2"), 1),
            (ObjectId::for_blob(b"v3"), 1)
        ]
    );
    assert_eq!(v[0].first_seen, t("2025-01-01"));
    assert_eq!(v[0].last_seen, t("2025-01-03"));
    let holders = session::sessions_with_blob(&fx.store, &ObjectId::for_blob(b"v1")).unwrap();
    assert_eq!(holders, [sid("s1"), sid("s3"), sid("s4")]);

    // Deleting keeps the counts exact; a version nobody holds disappears.
    session::delete(&fx.store, &[sid("s2"), sid("s3")]).unwrap();
    let v = session::versions(&fx.store, p).unwrap();
    let seen: Vec<(ObjectId, u64)> = v.iter().map(|v| (v.id, v.sessions)).collect();
    assert_eq!(
        seen,
        [
            (ObjectId::for_blob(b"v1"), 1),
            (ObjectId::for_blob(b"v3"), 1)
        ]
    );
    assert!(
        !fx.store
            .read()
            .unwrap()
            .contains(&ObjectId::for_blob(b"v2"))
            .unwrap()
    );
    let holders = session::sessions_with_blob(&fx.store, &ObjectId::for_blob(b"v1")).unwrap();
    assert_eq!(holders, [sid("s1"), sid("s4")]);
    assert!(
        session::versions(&fx.store, "missing.yaml")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn delete_releases_only_what_nobody_else_holds() {
    let fx = Fixture::new();
    fx.session(
        "a",
        "2025-01-01",
        &[("x/shared", "same"), ("x/only-a", "a")],
    );
    fx.session("b", "2025-01-02", &[("x/shared", "same"), ("y", "b")]);
    let outcome = session::delete(&fx.store, &[sid("a")]).unwrap();
    // Blob "a", the root tree of a, its subtree x (differs from b's x) and the session node
    // linking a's tree and closure (the empty closure blob is shared with b).
    assert_eq!(outcome.objects_removed, 4);
    let r = fx.store.read().unwrap();
    assert!(r.contains(&ObjectId::for_blob(b"same")).unwrap());
    assert!(!r.contains(&ObjectId::for_blob(b"a")).unwrap());
    drop(r);
    assert!(matches!(
        session::delete(&fx.store, &[sid("a")]),
        Err(Error::SessionNotFound { .. })
    ));
    let v = fx
        .store
        .verify(&verify::Options::default(), &NoProgress)
        .unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    session::delete(&fx.store, &[sid("b")]).unwrap();
    let st = fx.store.stats().unwrap();
    assert_eq!((st.objects, st.roots), (0, 0));
    let s = session::stats(&fx.store).unwrap();
    assert_eq!((s.sessions, s.logical_bytes, s.unique_bytes), (0, 0, 0));
}

#[test]
fn stats_keep_running_totals() {
    let fx = Fixture::new();
    fx.session("a", "2025-01-01", &[("f", "12345"), ("g", "12345")]);
    fx.session("b", "2025-01-03", &[("f", "12345"), ("h", "abc")]);
    let s = session::stats(&fx.store).unwrap();
    assert_eq!(s.sessions, 2);
    assert_eq!(s.logical_bytes, 18);
    assert_eq!(s.unique_bytes, 8);
    assert_eq!(s.oldest, Some(t("2025-01-01")));
    assert_eq!(s.newest, Some(t("2025-01-03")));
    assert!((s.dedup_ratio - 18.0 / 8.0).abs() < 1e-9);
    session::delete(&fx.store, &[sid("b")]).unwrap();
    let s = session::stats(&fx.store).unwrap();
    assert_eq!((s.logical_bytes, s.unique_bytes), (10, 5));
}

#[test]
fn pinned_flag_round_trips() {
    let fx = Fixture::new();
    fx.session("a", "2025-01-01", &[("f", "1")]);
    session::set_pinned(&fx.store, &sid("a"), true).unwrap();
    assert!(session::get(&fx.store, &sid("a")).unwrap().pinned);
    session::set_pinned(&fx.store, &sid("a"), false).unwrap();
    assert!(!session::get(&fx.store, &sid("a")).unwrap().pinned);
    assert!(matches!(
        session::set_pinned(&fx.store, &sid("zz"), true),
        Err(Error::SessionNotFound { .. })
    ));
}

#[test]
fn empty_session_is_allowed() {
    let fx = Fixture::new();
    let rec = fx.session("e", "2025-01-01", &[]);
    assert_eq!(rec.files, 0);
    assert!(session::files(&fx.store, &sid("e")).unwrap().is_empty());
    session::delete(&fx.store, &[sid("e")]).unwrap();
    assert_eq!(fx.store.stats().unwrap().objects, 0);
}

#[test]
fn second_backup_of_stored_files_adds_no_objects() {
    let fx = Fixture::new();
    let files = [("a/x.yaml", "x"), ("a/y.yaml", "y"), ("b.yaml", "b")];
    fx.session("one", "2025-01-01", &files);
    let set = FileSet::from_memory(
        files
            .iter()
            .map(|(p, c)| (*p, c.as_bytes().to_vec(), 0o644)),
    )
    .unwrap();
    let mut new = NewSession::new(set);
    new.id = Some(sid("two"));
    let created = session::create(&fx.store, new).unwrap();
    assert!(created.files.iter().all(|f| !f.new));
    assert_eq!(created.commit.objects_added, 0);
    let one = session::get(&fx.store, &sid("one")).unwrap();
    assert_eq!(created.record.root, one.root);
}
