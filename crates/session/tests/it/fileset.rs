//! Reading file sets from disk.

use std::fs;

use cfgvault_session::{Error, FileSet, Selection};

use crate::{Fixture, write_tree};

#[test]
fn selection_of_paths_and_directories() {
    let fx = Fixture::new();
    let root = fx.path("root");
    write_tree(
        &root,
        &[("a/x.yaml", "x"), ("a/y.yaml", "y"), ("b.yaml", "b")],
    );
    let set = FileSet::read(
        &root,
        &Selection::Paths(vec!["a".into(), "b.yaml".into(), "a/x.yaml".into()]),
    )
    .unwrap();
    let paths: Vec<&str> = set.files().iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["a/x.yaml", "a/y.yaml", "b.yaml"]);
    assert_eq!(set.logical_bytes(), 3);
    let err = FileSet::read(&root, &Selection::Paths(vec!["gone.yaml".into()])).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path.ends_with("gone.yaml")),
        "{err}"
    );
    assert!(matches!(
        FileSet::read(&root, &Selection::Paths(vec!["../root/b.yaml".into()])),
        Err(Error::InvalidPath { .. })
    ));
}

#[cfg(unix)]
#[test]
fn symlinks_are_not_followed_out_of_the_root() {
    let fx = Fixture::new();
    let root = fx.path("root");
    let outside = fx.path("outside");
    write_tree(&root, &[("real.yaml", "r")]);
    write_tree(&outside, &[("secret", "s")]);
    std::os::unix::fs::symlink(outside.join("secret"), root.join("out.yaml")).unwrap();
    std::os::unix::fs::symlink(root.join("real.yaml"), root.join("in.yaml")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("outdir")).unwrap();
    let set = FileSet::read(&root, &Selection::All).unwrap();
    let paths: Vec<&str> = set.files().iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["in.yaml", "real.yaml"]);
    let skipped: Vec<&str> = set.skipped().iter().map(|s| s.path.as_str()).collect();
    assert_eq!(skipped, ["out.yaml", "outdir"]);
    for p in ["out.yaml", "outdir/secret"] {
        let err = FileSet::read(&root, &Selection::Paths(vec![p.into()])).unwrap_err();
        assert!(matches!(err, Error::OutsideRoot { .. }), "{p}: {err}");
    }
    // Deeper: a real folder holding a file and a symlink out. The real folder, once checked,
    // must not let the symlink below it pass; a symlink to a file inside is still followed.
    write_tree(&root, &[("sub/ok.yaml", "k")]);
    std::os::unix::fs::symlink(&outside, root.join("sub/link")).unwrap();
    let both = vec!["sub/ok.yaml".to_string(), "sub/link/secret".to_string()];
    let err = FileSet::read(&root, &Selection::Paths(both)).unwrap_err();
    assert!(matches!(err, Error::OutsideRoot { .. }), "{err}");
    let inside = vec!["sub/ok.yaml".to_string(), "in.yaml".to_string()];
    let set = FileSet::read(&root, &Selection::Paths(inside)).unwrap();
    let paths: Vec<&str> = set.files().iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["in.yaml", "sub/ok.yaml"]);
}

#[cfg(unix)]
#[test]
fn non_utf8_names_are_a_typed_error() {
    use std::os::unix::ffi::OsStrExt;
    let fx = Fixture::new();
    let root = fx.path("root");
    let name = std::ffi::OsStr::from_bytes(b"bad\xff.yaml");
    if fs::write(root.join(name), "x").is_err() {
        return; // A file system that refuses such names cannot hold the case.
    }
    let err = FileSet::read(&root, &Selection::All).unwrap_err();
    assert!(matches!(err, Error::NonUtf8Path { .. }), "{err}");
}

#[test]
fn memory_sets_reject_conflicts_and_bad_paths() {
    let f = |p: &str| (p.to_string(), Vec::new(), 0o644);
    assert!(matches!(
        FileSet::from_memory([f("a"), f("a/b")]),
        Err(Error::PathConflict { .. })
    ));
    assert!(matches!(
        FileSet::from_memory([f("a-b"), f("a/b"), f("a")]),
        Err(Error::PathConflict { .. })
    ));
    assert!(matches!(
        FileSet::from_memory([f("/abs")]),
        Err(Error::InvalidPath { .. })
    ));
    assert!(FileSet::from_memory([f("a-b"), f("a/b")]).is_ok());
}

/// Writes `text` to `path` and dates its modification `age` back.
fn write_aged(path: &std::path::Path, text: &str, age: std::time::Duration) {
    fs::write(path, text).unwrap();
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - age)
        .unwrap();
}

#[cfg(unix)]
#[test]
fn a_stamp_cache_skips_reading_settled_unchanged_files() {
    use cfgvault_session::StampCache;
    use std::time::Duration;
    let fx = Fixture::new();
    let root = fx.path("root");
    fs::create_dir_all(root.join("llms")).unwrap();
    let hour = Duration::from_secs(3600);
    write_aged(&root.join("llms/a.yaml"), "model: a\n", hour);
    write_aged(&root.join("fresh.yaml"), "fresh: 1\n", Duration::ZERO);
    let sel = Selection::Paths(vec!["llms/a.yaml".into(), "fresh.yaml".into()]);
    let cache = StampCache::default();
    let first = FileSet::read_cached(&root, &sel, &cache).unwrap();
    let second = FileSet::read_cached(&root, &sel, &cache).unwrap();
    assert_eq!(first.files(), second.files());
    // The settled file came from the cache (its bytes are read only when asked for, so a file
    // gone by then is an error); the one modified just now was read again.
    fs::remove_file(root.join("llms/a.yaml")).unwrap();
    fs::remove_file(root.join("fresh.yaml")).unwrap();
    assert_eq!(second.files()[0].path, "fresh.yaml");
    assert_eq!(&*second.bytes(0).unwrap(), b"fresh: 1\n");
    assert!(matches!(
        second.bytes(1),
        Err(Error::Io { path, .. }) if path.ends_with("llms/a.yaml")
    ));
    assert_eq!(&*first.bytes(1).unwrap(), b"model: a\n");
}

#[cfg(unix)]
#[test]
fn a_stamp_cache_sees_a_rewrite_that_kept_size_and_mtime() {
    use cfgvault_session::StampCache;
    use std::time::Duration;
    let fx = Fixture::new();
    let root = fx.path("root");
    fs::create_dir_all(&root).unwrap();
    let path = root.join("a.yaml");
    let hour = Duration::from_secs(3600);
    write_aged(&path, "model: a\n", hour);
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    let sel = Selection::Paths(vec!["a.yaml".into()]);
    let cache = StampCache::default();
    let before = FileSet::read_cached(&root, &sel, &cache).unwrap();
    // Same size, same modification time: only the change time (and the bytes) differ.
    fs::write(&path, "model: b\n").unwrap();
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let after = FileSet::read_cached(&root, &sel, &cache).unwrap();
    assert_ne!(before.files()[0].id, after.files()[0].id);
    assert_eq!(&*after.bytes(0).unwrap(), b"model: b\n");
    // A file left on disk that no longer holds what its id says is an error, not other bytes.
    let cached = FileSet::read_cached(&root, &sel, &cache).unwrap();
    write_aged(&path, "model: c\n", hour);
    assert!(matches!(
        cached.bytes(0),
        Err(Error::FileChanged { path }) if path.ends_with("a.yaml")
    ));
}

#[cfg(unix)]
#[test]
fn read_seen_takes_what_was_seen_as_the_present_state() {
    use cfgvault_session::{Seen, StampCache, StoreFiles};
    use std::time::Duration;
    let fx = Fixture::new();
    let root = fx.path("root");
    fs::create_dir_all(root.join("llms")).unwrap();
    let hour = Duration::from_secs(3600);
    write_aged(&root.join("llms/a.yaml"), "model: a\n", hour);
    write_aged(&root.join("b.yaml"), "b: 1\n", hour);
    let sel = Selection::Paths(vec!["llms/a.yaml".into(), "b.yaml".into()]);
    let cache = StampCache::default();
    let read = FileSet::read_cached(&root, &sel, &cache).unwrap();
    let lstat = |p: &str| (p.to_string(), fs::symlink_metadata(root.join(p)).unwrap());
    let canon = fs::canonicalize(&root).unwrap();

    // What was seen agrees with the disk: the same set.
    let seen = Seen::new(
        canon.clone(),
        true,
        vec![lstat("llms/a.yaml"), lstat("b.yaml")],
    );
    assert_eq!(seen.canonical_root(), Some(canon.as_path()));
    assert_eq!(
        FileSet::read_seen(&root, &sel, &cache, &seen, &StoreFiles::none())
            .unwrap()
            .files(),
        read.files()
    );

    // Metadata of another file does not match what the cache knows of this one: it is read.
    let wrong = Seen::new(
        canon.clone(),
        true,
        vec![("b.yaml".into(), lstat("llms/a.yaml").1)],
    );
    let set = FileSet::read_seen(&root, &sel, &cache, &wrong, &StoreFiles::none()).unwrap();
    assert_eq!(set.files(), read.files());
    assert_eq!(&*set.bytes(0).unwrap(), b"b: 1\n");

    // A file seen, then removed: it is taken as seen (its id from the cache) and only its
    // bytes are missing; without what was seen, the removal is found at once.
    let seen = Seen::new(canon, true, vec![lstat("llms/a.yaml"), lstat("b.yaml")]);
    fs::remove_file(root.join("b.yaml")).unwrap();
    let set = FileSet::read_seen(&root, &sel, &cache, &seen, &StoreFiles::none()).unwrap();
    assert_eq!(set.files(), read.files());
    assert!(matches!(set.bytes(0), Err(Error::Io { path, .. }) if path.ends_with("b.yaml")));
    assert!(matches!(
        FileSet::read_cached(&root, &sel, &cache),
        Err(Error::Io { path, .. }) if path.ends_with("b.yaml")
    ));
}
