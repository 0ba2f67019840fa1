//! Hostile trees and hostile restore targets (issue 7). Trees are node objects anyone with the
//! store API (or a crafted store file) can write, so the session layer must survive trees that
//! are deep, wide, shared many times (a DAG that expands exponentially), or that name `..`,
//! absolute paths, NUL, `/`: a typed error or a bounded result, never a stack overflow, never a
//! write outside the target.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use cfgvault_session::tree::{EntryKind, Tree, TreeEntry};
use cfgvault_session::{self as session, FileSet, NewSession, restore};
use cfgvault_store::{ObjectId, Store, StoreOptions};

fn store(dir: &Path) -> Store {
    Store::create(dir.join("store.redb"), &StoreOptions::default()).unwrap()
}

fn dir_entry(name: &str, id: ObjectId) -> TreeEntry {
    TreeEntry {
        name: name.into(),
        kind: EntryKind::Dir,
        mode: 0,
        id,
        size: 0,
    }
}

fn file_entry(name: &str, id: ObjectId, size: u64) -> TreeEntry {
    TreeEntry {
        name: name.into(),
        kind: EntryKind::File,
        mode: 0o644,
        id,
        size,
    }
}

/// Puts a tree node (hashing and linking like the session layer does) and returns its id.
fn put_tree(store: &Store, tree: &Tree) -> ObjectId {
    let mut txn = store.write().unwrap();
    let id = txn.put_node(&tree.payload(), &tree.links()).unwrap().id;
    txn.pin(&format!("test/{id}"), &id, b"").unwrap();
    txn.commit().unwrap();
    id
}

/// Puts raw bytes as a node, bypassing `Tree`'s validation: what a crafted store could hold.
fn put_raw_node(store: &Store, bytes: &[u8], links: &[ObjectId]) -> ObjectId {
    let mut txn = store.write().unwrap();
    let id = txn.put_node(bytes, links).unwrap().id;
    txn.pin(&format!("test/{id}"), &id, b"").unwrap();
    txn.commit().unwrap();
    id
}

fn put_blob(store: &Store, bytes: &[u8]) -> ObjectId {
    let mut txn = store.write().unwrap();
    let id = txn.put_blob(bytes).unwrap().id;
    txn.pin(&format!("blob/{id}"), &id, b"").unwrap();
    txn.commit().unwrap();
    id
}

/// Every file under `dir` (symlinks as their target), for before/after comparisons.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_symlink() {
                out.push((
                    rel,
                    fs::read_link(e.path())
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                        .into_bytes(),
                ));
            } else {
                out.push((rel, fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A tree whose every level names the level below twice: 2^depth paths from `depth` objects.
/// Walking it must stay bounded (an error or a capped result), not run for 2^60 steps.
#[test]
fn an_exponentially_shared_tree_is_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let blob = put_blob(&store, b"x: 1\n");
    let mut id = put_tree(
        &store,
        &Tree::new(vec![file_entry("f.yaml", blob, 5)]).unwrap(),
    );
    for _ in 0..60 {
        id = put_tree(
            &store,
            &Tree::new(vec![dir_entry("a", id), dir_entry("b", id)]).unwrap(),
        );
    }
    let target = tmp.path().join("target");
    let start = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let store = std::sync::Arc::new(store);
    let s2 = store.clone();
    let target2 = target.clone();
    std::thread::spawn(move || {
        let r = restore::restore_tree(&s2, &id, &target2, &Default::default(), None);
        let _ = tx.send(r.map(|r| r.files.len()));
    });
    // The walk stops at the listing cap (2^20 entries, a few seconds in a debug build); the
    // guard only turns an unbounded walk (2^60 steps) into a failure instead of a hung run.
    let r = rx.recv_timeout(Duration::from_secs(300));
    assert!(
        r.is_ok(),
        "walking a 60-level shared tree did not finish in {:?}",
        start.elapsed()
    );
    let r = r.unwrap();
    assert!(
        r.is_err(),
        "a walk past the listing cap must be refused: {r:?}"
    );
}

/// Depth: a session path of 2,047 components (the longest a 4096-byte path allows) is backed
/// up, listed and walked on a thread with the default 2 MiB stack.
#[test]
fn the_deepest_valid_tree_fits_a_default_thread_stack() {
    let tmp = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(store(tmp.path()));
    let path = vec!["a"; 2047].join("/") + "/f";
    assert!(path.len() <= 4096);
    let files = FileSet::from_memory([(path.clone(), b"deep\n".to_vec(), 0o644)]).unwrap();
    let mut new = NewSession::new(files);
    new.id = Some("deep".parse().unwrap());
    let s = store.clone();
    let p = path.clone();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            session::create(&s, new).unwrap();
            let id = "deep".parse().unwrap();
            let files = session::files(&s, &id).unwrap();
            assert_eq!(files.len(), 1);
            assert_eq!(session::read_file(&s, &id, &p).unwrap(), b"deep\n");
        })
        .unwrap()
        .join()
        .expect("a 2047-level tree overflowed a 2 MiB stack");
}

/// Deeper than any valid path: a chain of 5,000 nested trees, built object by object. Walking
/// it is a typed error, not a stack overflow (on a default 2 MiB thread stack).
#[test]
fn a_tree_nested_5000_levels_is_a_typed_error() {
    let tmp = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(store(tmp.path()));
    let blob = put_blob(&store, b"x\n");
    let mut id = put_tree(&store, &Tree::new(vec![file_entry("f", blob, 2)]).unwrap());
    for _ in 0..5000 {
        id = put_tree(&store, &Tree::new(vec![dir_entry("d", id)]).unwrap());
    }
    let target = tmp.path().join("target");
    let s = store.clone();
    let r = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            restore::restore_tree(&s, &id, &target, &Default::default(), None)
                .map(|r| r.files.len())
        })
        .unwrap()
        .join()
        .expect("a 5000-level tree overflowed a 2 MiB stack");
    assert!(r.is_err(), "{r:?}");
}

/// A tree of 100,000 entries in one directory: walked in bounded time.
#[test]
fn a_very_wide_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let blob = put_blob(&store, b"x\n");
    let entries: Vec<TreeEntry> = (0..100_000)
        .map(|i| file_entry(&format!("f{i:06}"), blob, 2))
        .collect();
    let id = put_tree(&store, &Tree::new(entries).unwrap());
    let start = Instant::now();
    let target = tmp.path().join("t");
    let mut o = restore::Options::default();
    o.paths = Some(vec!["f000007".into()]);
    let r = restore::restore_tree(&store, &id, &target, &o, None).unwrap();
    assert_eq!(r.files.len(), 1);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
}

/// Tree bytes naming `..`, `/`-containing, absolute, NUL, empty and `.` names (written as raw
/// nodes, since `Tree` refuses to build them): decoding fails, restore writes nothing.
#[test]
fn hostile_names_in_stored_trees_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let blob = put_blob(&store, b"pwned\n");
    let valid = Tree::new(vec![file_entry("zzzz", blob, 6)])
        .unwrap()
        .payload();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("keep"), "keep").unwrap();
    let before = snapshot(&outside);
    for name in [
        "..",
        ".",
        "",
        "/etc/x",
        "a/../../x",
        "a\0b",
        "../outside/keep",
    ] {
        // Same layout as the valid tree, with the name swapped (length prefix adjusted).
        let mut bytes = valid.clone();
        let pos = bytes.windows(4).position(|w| w == b"zzzz").unwrap();
        assert_eq!(bytes[pos - 1], 4);
        bytes.splice(
            pos - 1..pos + 4,
            std::iter::once(name.len() as u8).chain(name.bytes()),
        );
        assert!(
            Tree::decode(&cfgvault_store::node_bytes(&[blob], &bytes)).is_err(),
            "{name:?} decoded"
        );
        let id = put_raw_node(&store, &bytes, &[blob]);
        let target = tmp.path().join("target");
        let r = restore::restore_tree(&store, &id, &target, &Default::default(), None);
        assert!(
            r.is_err() || r.as_ref().unwrap().has_failures(),
            "{name:?}: {r:?}"
        );
        assert_eq!(snapshot(&outside), before, "{name:?}: written outside");
        assert!(!tmp.path().join("x").exists() && !Path::new("/etc/x").exists());
    }
}

/// Restore into a target whose directories and files are symlinks to inside and outside:
/// outside never changes, under every policy; a symlinked file is replaced, not written through.
#[cfg(unix)]
#[test]
fn restore_into_symlinks_stays_inside() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let files = FileSet::from_memory([
        ("a/b/c.yaml", b"c\n".to_vec(), 0o644),
        ("a/d.yaml", b"d\n".to_vec(), 0o644),
        ("e.yaml", b"e\n".to_vec(), 0o600),
        ("f/g.yaml", b"g\n".to_vec(), 0o644),
    ])
    .unwrap();
    let mut new = NewSession::new(files);
    new.id = Some("s".parse().unwrap());
    session::create(&store, new).unwrap();
    let id = "s".parse().unwrap();
    for policy in [
        restore::Overwrite::Never,
        restore::Overwrite::IfUnchanged,
        restore::Overwrite::Always,
    ] {
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir_all(outside.path().join("b")).unwrap();
        fs::write(outside.path().join("d.yaml"), "outside\n").unwrap();
        fs::write(outside.path().join("secret"), "secret\n").unwrap();
        let before = snapshot(outside.path());
        let target = tempfile::tempdir().unwrap();
        let t = target.path();
        symlink(outside.path(), t.join("a")).unwrap();
        symlink(outside.path().join("secret"), t.join("e.yaml")).unwrap();
        fs::create_dir(t.join("real")).unwrap();
        symlink(t.join("real"), t.join("f")).unwrap();
        let mut o = restore::Options::default();
        o.overwrite = policy;
        let r = restore::restore(&store, &id, t, &o).unwrap();
        assert_eq!(
            snapshot(outside.path()),
            before,
            "{policy}: wrote outside: {r:?}"
        );
        assert!(
            !t.join("real/g.yaml").exists(),
            "{policy}: followed a symlinked dir"
        );
        for f in &r.files {
            if f.path.starts_with("a/") || f.path.starts_with("f/") {
                assert!(
                    matches!(f.action, restore::Action::Failed(_)),
                    "{policy}: {f:?}"
                );
            }
        }
        if policy == restore::Overwrite::Always {
            assert_eq!(fs::read(t.join("e.yaml")).unwrap(), b"e\n");
            assert!(
                !fs::symlink_metadata(t.join("e.yaml"))
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
        } else {
            assert!(
                fs::symlink_metadata(t.join("e.yaml"))
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
        }
    }
}

/// Paths a caller asks to restore: `..`, absolute, NUL, very long: typed errors.
#[test]
fn hostile_requested_paths_are_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let files = FileSet::from_memory([("a.yaml", b"a\n".to_vec(), 0o644)]).unwrap();
    let mut new = NewSession::new(files);
    new.id = Some("s".parse().unwrap());
    session::create(&store, new).unwrap();
    let id = "s".parse().unwrap();
    let long = "x/".repeat(5000) + "y";
    for p in ["../a.yaml", "/etc/passwd", "a\0b", "", "a//b", &long] {
        let mut o = restore::Options::default();
        o.paths = Some(vec![p.to_string()]);
        let r = restore::restore(&store, &id, &tmp.path().join("t"), &o);
        assert!(
            matches!(r, Err(session::Error::InvalidPath { .. })),
            "{p:?}: {r:?}"
        );
    }
    for bad in ["../x.yaml", "/abs.yaml", "a\0b", "", &long] {
        let r = FileSet::from_memory([(bad, b"x".to_vec(), 0o644)]);
        assert!(r.is_err(), "{bad:?} accepted into a file set");
    }
}

/// Non-UTF-8 and very long names on disk: backed up or reported, never a panic.
#[cfg(unix)]
#[test]
fn odd_names_on_disk() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(root.join(OsStr::from_bytes(b"bad-\xff.yaml")), "x").unwrap();
    fs::write(root.join("n".repeat(255)), "long").unwrap();
    fs::write(root.join("ok.yaml"), "ok").unwrap();
    let r = FileSet::read(&root, &session::Selection::All);
    match r {
        Ok(set) => assert!(set.files().iter().all(|f| !f.path.contains('\u{fffd}'))),
        Err(e) => assert!(matches!(e, session::Error::NonUtf8Path { .. }), "{e:?}"),
    }
}

/// Issue 22: a backup refused for size names what was too large (a file, or the closure's
/// metadata), and stores nothing.
#[test]
fn issue_22_the_size_limit_error_names_what_was_too_large() {
    let tmp = tempfile::tempdir().unwrap();
    let mut options = StoreOptions::default();
    options.max_object_size = 4096;
    let store = Store::create(tmp.path().join("store.redb"), &options).unwrap();

    let big = FileSet::from_memory([("llms/big.yaml", vec![b'x'; 5000], 0o644)]).unwrap();
    let err = session::create(&store, NewSession::new(big)).unwrap_err();
    assert!(
        matches!(&err, session::Error::TooLarge { what, size: 5000, limit: 4096 }
            if what == "file 'llms/big.yaml'"),
        "{err}"
    );

    let small = FileSet::from_memory([("w.yaml", b"a: 1\n".to_vec(), 0o644)]).unwrap();
    let mut new = NewSession::new(small);
    new.closure = std::sync::Arc::new(session::ClosureInfo {
        warnings: vec!["w".repeat(5000)],
        ..Default::default()
    });
    let err = session::create(&store, new).unwrap_err();
    assert!(
        matches!(&err, session::Error::TooLarge { what, .. } if what == "the session's closure metadata"),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("the session's closure metadata is "),
        "{err}"
    );
    assert_eq!(session::list(&store, &Default::default()).unwrap().len(), 0);
}
