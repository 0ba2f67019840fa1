//! The parse cache never changes a result, only its cost.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use cfgvault_closure::{Cache, Options, resolve, resolve_cached, resolve_checked};
use cfgvault_testkit::{Rng, seed};

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

/// Dates a file's modification an hour ahead: its parse is never trusted, so no result that
/// parsed it is kept, and every analysis goes through the walk.
fn date_ahead(path: &Path) {
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
}

#[test]
fn a_walk_is_reused_until_a_folder_changes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tool_tree(root);
    date_ahead(&root.join("workflows/w.yaml"));
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

/// Without hints (which may name any file, see below).
#[test]
fn a_kept_result_does_not_look_into_folders_the_analysis_never_consulted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let old = Duration::from_secs(3600);
    tool_tree(root);
    write(root, "docs/guide.md", "# guide\n", old);
    write(root, "docs/deep/notes.yaml", "a: 1\n", old);
    for d in ["docs/deep", "docs"] {
        age_dir(&root.join(d), old);
    }
    age_all_dirs(root, old);
    let cache = Cache::new();
    let o = Options::default().hints(false);
    let check = |reused: u64| {
        let before = cache.results_reused();
        let (cached, checked) = resolve_checked(root, "workflows/w.yaml", &o, &cache).unwrap();
        assert_eq!(*cached, resolve(root, "workflows/w.yaml", &o).unwrap());
        assert_eq!(cache.results_reused(), reused);
        assert_eq!(checked.folders_real, reused > before);
        cached
    };
    check(0);
    check(1);
    // A file added in a folder the workflow never looks into: the result holds.
    write(root, "docs/deep/more.yaml", "b: 2\n", Duration::ZERO);
    write(root, "docs/other.md", "x\n", Duration::ZERO);
    check(2);
    check(3);
    // A provider folder created under `llms/` (where `llm_client: a` is searched first): seen.
    write(root, "llms/provider/p/a.yaml", "model: a\n", old);
    age_dir(&root.join("llms/provider/p"), old);
    age_dir(&root.join("llms/provider"), old);
    age_dir(&root.join("llms"), old);
    let c = check(3);
    assert!(c.contains("llms/provider/p/a.yaml"), "{c}");
    assert!(!c.contains("llms/a.yaml"), "{c}");
    check(4);
    // A tool in a new nested folder under `tools/` (every tool is loaded): seen.
    write(root, "tools/web/deep/x.yaml", "name: x\n", old);
    age_dir(&root.join("tools/web/deep"), old);
    age_dir(&root.join("tools/web"), old);
    let c = check(4);
    assert!(c.contains("tools/web/deep/x.yaml"), "{c}");
    check(5);
    // The tree strategy keeps every file: there every folder counts.
    let tree = Options::default().strategy(cfgvault_closure::Strategy::Tree);
    for d in ["docs/deep", "docs"] {
        age_dir(&root.join(d), old);
    }
    for _ in 0..2 {
        resolve_cached(root, "workflows/w.yaml", &tree, &cache).unwrap();
    }
    assert_eq!(cache.results_reused(), 6);
    write(root, "docs/deep/last.md", "x\n", old);
    let c = resolve_cached(root, "workflows/w.yaml", &tree, &cache).unwrap();
    assert!(c.contains("docs/deep/last.md"), "{c}");
    assert_eq!(*c, resolve(root, "workflows/w.yaml", &tree).unwrap());
}

/// Random edits all over a config tree, each followed by a cached and a fresh analysis that must
/// agree: a kept result that missed a folder it depends on would differ.
#[test]
fn cached_results_follow_random_edits_anywhere_in_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let old = Duration::from_secs(3600);
    let folders = [
        "",
        "llms",
        "llms/provider/p1",
        "llms/provider/p2",
        "llms/tokens_counter",
        "tools",
        "tools/web",
        "tool-sets",
        "agents",
        "workflows",
        "workflows/base",
        "docs",
        "docs/deep",
    ];
    let names = ["a.yaml", "b.yaml", "common.yaml", "_group.yaml", "c.txt"];
    let texts = [
        "model: a\n",
        "name: a\ntools: [b]\n",
        "name: b\n",
        "start: 1\nname: helper\ntool_sets: [a]\n",
        "inherits_from: ../common.yaml\n",
        "token_counter: a\ngroup: start\n",
        "{ not yaml\n",
    ];
    write(
        root,
        "workflows/w.yaml",
        "inherits_from: base/a\nnodes:\n  n:\n    config:\n      llm_client: a\n      \
         fallback_models: [b]\n      tool_manager: default\n      agent: helper\n",
        old,
    );
    let mut rng = Rng::new(seed(
        "cached_results_follow_random_edits_anywhere_in_the_tree",
        0x2545_f491_4f6c_dd1d,
    ));
    let mut next = |n: usize| rng.below(n);
    let cache = Cache::new();
    let o = Options::default().hints(false);
    for step in 0..150 {
        let folder = folders[next(folders.len())];
        let rel = if folder.is_empty() {
            names[next(names.len())].to_string()
        } else {
            format!("{folder}/{}", names[next(names.len())])
        };
        let path = root.join(&rel);
        // The folders this step changes: the file's, and any it creates with the one above.
        let mut changed = vec![path.parent().unwrap().to_path_buf()];
        while !changed.last().unwrap().exists() {
            let up = changed.last().unwrap().parent().unwrap().to_path_buf();
            changed.push(up);
        }
        if path.exists() && next(3) == 0 {
            fs::remove_file(&path).unwrap();
        } else {
            write(root, &rel, texts[next(texts.len())], old);
        }
        // Dated back (only those: an ancestor's new stamp would hide a missed dependency), so
        // that walks and results can be kept.
        for d in &changed {
            age_dir(d, old);
        }
        for _ in 0..2 {
            let cached = resolve_cached(root, "workflows/w.yaml", &o, &cache).unwrap();
            let fresh = resolve(root, "workflows/w.yaml", &o).unwrap();
            assert_eq!(*cached, fresh, "step {step}: {rel}");
        }
    }
    assert!(cache.results_reused() >= 150, "{}", cache.results_reused());
}

/// Each way an analysis consults the list of files (an exact path, a path pattern, a field
/// search, and a folder that does not exist yet) makes its kept result depend on the folders
/// concerned: a file added where only that consultation looks is seen.
#[test]
fn every_kind_of_lookup_makes_its_folders_count() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let old = Duration::from_secs(3600);
    for (rel, text) in [
        ("workflows/exact.yaml", "inherits_from: base/a\n"),
        ("workflows/base/other.yaml", "x: 1\n"),
        ("workflows/absent.yaml", "token_counter: x\n"),
        ("llms/b.yaml", "model: b\n"),
        (
            "workflows/pattern.yaml",
            "nodes:\n  n:\n    config:\n      llm_client: a\n",
        ),
        ("llms/a.yaml", "model: a\n"),
        ("llms/provider/p1/other.yaml", "model: other\n"),
        (
            "workflows/field.yaml",
            "nodes:\n  n:\n    config:\n      agent: helper\n",
        ),
        ("agents/other.yaml", "name: other\n"),
    ] {
        write(root, rel, text, old);
    }
    let age_up = |rel: &str| {
        let mut d = root.join(rel);
        while d.pop() && d.starts_with(root) {
            age_dir(&d, old);
        }
    };
    for d in ["workflows/base/x", "llms/provider/p1/x", "agents/x"] {
        age_up(d);
    }
    let cache = Cache::new();
    let o = Options::default();
    for (workflow, added, text) in [
        ("workflows/exact.yaml", "workflows/base/a.yaml", "y: 2\n"),
        (
            "workflows/absent.yaml",
            "llms/tokens_counter/x.yaml",
            "t: 1\n",
        ),
        (
            "workflows/pattern.yaml",
            "llms/provider/p1/a.yaml",
            "model: a\n",
        ),
        (
            "workflows/field.yaml",
            "agents/helper.yaml",
            "name: helper\n",
        ),
    ] {
        let before = cache.results_reused();
        for _ in 0..2 {
            resolve_cached(root, workflow, &o, &cache).unwrap();
        }
        assert_eq!(cache.results_reused(), before + 1, "{workflow} is kept");
        // Only the folders the new file changes change (left as they are: modified just now).
        write(root, added, text, old);
        let cached = resolve_cached(root, workflow, &o, &cache).unwrap();
        assert_eq!(*cached, resolve(root, workflow, &o).unwrap(), "{workflow}");
        assert!(cached.contains(added), "{workflow}: {cached}");
        // Settled again for the next workflow (which may depend on these folders too).
        let folder = root.join(added).parent().unwrap().to_path_buf();
        age_dir(&folder, old);
        age_dir(folder.parent().unwrap(), old);
    }
}

/// With hints, a kept result depends on every folder: a file added where the analysis never
/// looks, named by a value no rule follows, turns up as a hint of the kept result too.
#[test]
fn with_hints_a_kept_result_sees_a_file_added_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let old = Duration::from_secs(3600);
    write(
        root,
        "workflows/w.yaml",
        "nodes:\n  n:\n    config:\n      prompt_file: prompts/p.yaml\n",
        old,
    );
    write(root, "prompts/other.md", "x\n", old);
    for d in ["workflows", "prompts", ""] {
        age_dir(&root.join(d), old);
    }
    let cache = Cache::new();
    let o = Options::default();
    let first = resolve_cached(root, "workflows/w.yaml", &o, &cache).unwrap();
    assert!(first.hints.is_empty());
    resolve_cached(root, "workflows/w.yaml", &o, &cache).unwrap();
    assert_eq!(cache.results_reused(), 1);
    write(root, "prompts/p.yaml", "text: hi\n", old);
    age_dir(&root.join("prompts"), old);
    let cached = resolve_cached(root, "workflows/w.yaml", &o, &cache).unwrap();
    assert_eq!(*cached, resolve(root, "workflows/w.yaml", &o).unwrap());
    assert_eq!(cached.hints.len(), 1, "{cached}");
    assert_eq!(cached.hints[0].candidates, ["prompts/p.yaml"]);
}
