//! The parse cache never changes a result, only its cost.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use cfgvault_closure::{Cache, Options, resolve, resolve_cached, resolve_checked};

fn write(root: &Path, rel: &str, text: &str, age: Duration) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, text).unwrap();
    let f = fs::File::options().write(true).open(&p).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

/// The closure's files under `prefix`.
fn under(c: &cfgvault_closure::Closure, prefix: &str) -> Vec<String> {
    c.files
        .iter()
        .map(|f| f.path.clone())
        .filter(|p| p.starts_with(prefix))
        .collect()
}

#[test]
fn cached_results_equal_fresh_ones_and_follow_edits() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let old = Duration::from_secs(3600);
    write(root, "llms/a.yaml", "model: a\n", old);
    write(root, "llms/b.yaml", "model: b\n", old);
    write(
        root,
        "workflows/w.yaml",
        "nodes:\n  n:\n    config:\n      llm_client: a\n",
        old,
    );
    let cache = Cache::new();
    let o = Options::default();
    for _ in 0..2 {
        let cached = resolve_cached(root, "workflows/w.yaml", &o, &cache).unwrap();
        assert_eq!(*cached, resolve(root, "workflows/w.yaml", &o).unwrap());
        assert_eq!(under(&cached, "llms/"), ["llms/a.yaml"]);
    }
    // An edit (new size and mtime) is seen.
    write(
        root,
        "workflows/w.yaml",
        "nodes:\n  n:\n    config:\n      llm_client: b\n",
        old / 2,
    );
    let cached = resolve_cached(root, "workflows/w.yaml", &o, &cache).unwrap();
    assert_eq!(under(&cached, "llms/"), ["llms/b.yaml"]);
}

#[test]
fn a_same_size_edit_keeping_the_mtime_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let old = Duration::from_secs(3600);
    write(root, "llms/a.yaml", "model: a\n", old);
    write(root, "llms/b.yaml", "model: b\n", old);
    // Written "now": a same-size edit within the same timestamp tick would keep its stamp.
    let p = root.join("workflows/w.yaml");
    write(
        root,
        "workflows/w.yaml",
        "nodes:\n  n:\n    config:\n      llm_client: a\n",
        Duration::ZERO,
    );
    let stamp = fs::metadata(&p).unwrap().modified().unwrap();
    let cache = Cache::new();
    let o = Options::default();
    assert_eq!(
        under(
            &resolve_cached(root, "workflows/w.yaml", &o, &cache).unwrap(),
            "llms/"
        ),
        ["llms/a.yaml"]
    );
    // Same size, same mtime, other content.
    fs::write(&p, "nodes:\n  n:\n    config:\n      llm_client: b\n").unwrap();
    fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(stamp)
        .unwrap();
    assert_eq!(
        under(
            &resolve_cached(root, "workflows/w.yaml", &o, &cache).unwrap(),
            "llms/"
        ),
        ["llms/b.yaml"]
    );
}

/// Sets a folder's modification time `age` in the past (files written into it set it to now).
fn age_dir(dir: &Path, age: Duration) {
    let f = fs::File::open(dir).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

fn age_all_dirs(root: &Path, age: Duration) {
    for d in ["tools/web", "tools", "llms", "workflows", ""] {
        age_dir(&root.join(d), age);
    }
}

/// `tool_manager: default` pulls in every file under `tools/`, so the walk decides the closure.
fn tool_tree(root: &Path) {
    let old = Duration::from_secs(3600);
    write(root, "llms/a.yaml", "model: a\n", old);
    write(root, "tools/calc.yaml", "name: calc\n", old);
    write(root, "tools/web/fetch.yaml", "name: fetch\n", old);
    write(
        root,
        "workflows/w.yaml",
        "nodes:\n  n:\n    config:\n      llm_client: a\n      tool_manager: default\n",
        old,
    );
}

#[test]
fn a_walk_is_reused_until_a_folder_changes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tool_tree(root);
    age_all_dirs(root, Duration::from_secs(3600));
    let cache = Cache::new();
    let o = Options::default();
    let check = |reused: u64, expect: &[&str]| {
        let cached = resolve_cached(root, "workflows/w.yaml", &o, &cache).unwrap();
        assert_eq!(*cached, resolve(root, "workflows/w.yaml", &o).unwrap());
        assert_eq!(under(&cached, "tools/"), expect);
        assert_eq!(cache.walks_reused(), reused);
    };
    check(0, &["tools/calc.yaml", "tools/web/fetch.yaml"]);
    check(1, &["tools/calc.yaml", "tools/web/fetch.yaml"]);

    // A file added in a nested folder changes that folder's stamp: the next analysis walks.
    write(
        root,
        "tools/web/search.yaml",
        "name: search\n",
        Duration::ZERO,
    );
    let all = [
        "tools/calc.yaml",
        "tools/web/fetch.yaml",
        "tools/web/search.yaml",
    ];
    check(1, &all);
    // That folder was modified just now, so the new walk was not kept either.
    check(1, &all);
    age_dir(&root.join("tools/web"), Duration::from_secs(60));
    check(1, &all);
    check(2, &all);

    // A removal and a rename are seen the same way.
    fs::remove_file(root.join("tools/calc.yaml")).unwrap();
    check(2, &["tools/web/fetch.yaml", "tools/web/search.yaml"]);
    fs::rename(root.join("tools/web"), root.join("tools/net")).unwrap();
    check(2, &["tools/net/fetch.yaml", "tools/net/search.yaml"]);
}

#[test]
fn a_walk_is_not_kept_when_a_folder_just_changed_or_holds_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tool_tree(root);
    let cache = Cache::new();
    let o = Options::default();
    for _ in 0..3 {
        resolve_cached(root, "workflows/w.yaml", &o, &cache).unwrap();
    }
    assert_eq!(cache.walks_reused(), 0, "folders modified just now");

    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(root.join("tools/calc.yaml"), root.join("tools/alias.yaml"))
            .unwrap();
        age_all_dirs(root, Duration::from_secs(3600));
        for _ in 0..3 {
            let cached = resolve_cached(root, "workflows/w.yaml", &o, &cache).unwrap();
            assert_eq!(*cached, resolve(root, "workflows/w.yaml", &o).unwrap());
        }
        assert_eq!(
            cache.walks_reused(),
            0,
            "a symlink's target can change unseen"
        );
    }
}

#[test]
fn a_result_is_reused_until_its_options_a_parsed_file_or_a_folder_change() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let old = Duration::from_secs(3600);
    tool_tree(root);
    write(root, "llms/b.yaml", "model: b\n", old);
    age_all_dirs(root, old);
    let cache = Cache::new();
    let o = Options::default();
    let check = |o: &Options, reused: u64, llms: &[&str]| {
        let cached = resolve_cached(root, "workflows/w.yaml", o, &cache).unwrap();
        assert_eq!(*cached, resolve(root, "workflows/w.yaml", o).unwrap());
        assert_eq!(under(&cached, "llms/"), llms);
        assert_eq!(cache.results_reused(), reused);
    };
    check(&o, 0, &["llms/a.yaml"]);
    check(&o, 1, &["llms/a.yaml"]);
    check(&o, 2, &["llms/a.yaml"]);

    // Other options: analysed afresh (and kept in place of the first).
    let minimal = Options::default().strategy(cfgvault_closure::Strategy::Minimal);
    check(&minimal, 2, &[]);
    check(&minimal, 3, &[]);
    check(&o, 3, &["llms/a.yaml"]);

    // A parsed file edited in place (its folder unchanged, so the walk is still reused).
    write(
        root,
        "workflows/w.yaml",
        "nodes:\n  n:\n    config:\n      llm_client: b\n      tool_manager: default\n",
        old / 2,
    );
    check(&o, 3, &["llms/b.yaml"]);
    check(&o, 4, &["llms/b.yaml"]);

    // A new tool file: its folder changed, so the walk and the result are not reused.
    write(root, "tools/more.yaml", "name: more\n", old);
    let cached = resolve_cached(root, "workflows/w.yaml", &o, &cache).unwrap();
    assert!(under(&cached, "tools/").contains(&"tools/more.yaml".to_string()));
    assert_eq!(cache.results_reused(), 4);

    // A parsed file modified just now could change again unseen: its result is not kept.
    age_all_dirs(root, old);
    write(
        root,
        "workflows/w.yaml",
        "nodes:\n  n:\n    config:\n      llm_client: a\n      tool_manager: default\n",
        Duration::ZERO,
    );
    age_all_dirs(root, old);
    check(&o, 4, &["llms/a.yaml"]);
    check(&o, 4, &["llms/a.yaml"]);
}

#[test]
fn a_kept_result_passes_on_what_it_checked() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let old = Duration::from_secs(3600);
    tool_tree(root);
    write(root, "tools/notes.txt", "not YAML: never parsed\n", old);
    age_all_dirs(root, old);
    let cache = Cache::new();
    let o = Options::default();
    let (first, checked) = resolve_checked(root, "workflows/w.yaml", &o, &cache).unwrap();
    assert!(first.contains("tools/notes.txt"), "{first}");
    assert_eq!(checked.canonical_root, fs::canonicalize(root).unwrap());
    assert!(
        !checked.folders_real,
        "analysed afresh: nothing was checked"
    );
    assert!(checked.files.is_empty());

    let (again, checked) = resolve_checked(root, "workflows/w.yaml", &o, &cache).unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    assert!(checked.folders_real);
    // Every parsed file, sorted, with its metadata as it is; the text file was never parsed,
    // so nothing was checked of it.
    let paths: Vec<&str> = checked.files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "llms/a.yaml",
            "tools/calc.yaml",
            "tools/web/fetch.yaml",
            "workflows/w.yaml"
        ]
    );
    for (p, m) in &checked.files {
        let now = fs::symlink_metadata(root.join(p)).unwrap();
        assert_eq!(
            (m.len(), m.modified().unwrap()),
            (now.len(), now.modified().unwrap())
        );
    }

    // An edit of a parsed file: analysed afresh, nothing passed on.
    write(root, "llms/a.yaml", "model: a2\n", old);
    let (third, checked) = resolve_checked(root, "workflows/w.yaml", &o, &cache).unwrap();
    assert!(!std::sync::Arc::ptr_eq(&first, &third));
    assert!(!checked.folders_real && checked.files.is_empty());
}
