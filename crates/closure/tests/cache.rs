//! The parse cache never changes a result, only its cost.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use cfgvault_closure::{Cache, Options, resolve, resolve_cached};

fn write(root: &Path, rel: &str, text: &str, age: Duration) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, text).unwrap();
    let f = fs::File::options().write(true).open(&p).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

fn llms(c: &cfgvault_closure::Closure) -> Vec<String> {
    c.files
        .iter()
        .map(|f| f.path.clone())
        .filter(|p| p.starts_with("llms/"))
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
        assert_eq!(cached, resolve(root, "workflows/w.yaml", &o).unwrap());
        assert_eq!(llms(&cached), ["llms/a.yaml"]);
    }
    // An edit (new size and mtime) is seen.
    write(
        root,
        "workflows/w.yaml",
        "nodes:\n  n:\n    config:\n      llm_client: b\n",
        old / 2,
    );
    let cached = resolve_cached(root, "workflows/w.yaml", &o, &cache).unwrap();
    assert_eq!(llms(&cached), ["llms/b.yaml"]);
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
        llms(&resolve_cached(root, "workflows/w.yaml", &o, &cache).unwrap()),
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
        llms(&resolve_cached(root, "workflows/w.yaml", &o, &cache).unwrap()),
        ["llms/b.yaml"]
    );
}
