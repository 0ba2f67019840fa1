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
