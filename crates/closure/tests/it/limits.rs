//! Hostile shapes: deep nesting, long inheritance chains, symlinks, odd names, huge files.

use std::fs;
use std::path::Path;

use cfgvault_closure::{Options, Strategy, resolve, resolve_tree};

use crate::fixtures::check_invariants;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// Runs `f` on a thread with a small stack: anything recursing per level or per file would die.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn nesting_10000_levels_is_a_parse_error() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!(
        "name: deep\nvalue: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    write(dir.path(), "workflows/deep.yaml", &deep);
    let mut block = String::from("inherits_from: deep.yaml\n");
    for level in 0..10_000 {
        block.push_str(&" ".repeat(level % 200));
        block.push_str("k:\n");
    }
    write(dir.path(), "workflows/block.yaml", &block);
    let root = dir.path().to_owned();
    let c = on_small_stack(move || resolve(&root, "workflows/deep.yaml", &Options::new()).unwrap());
    check_invariants(&c);
    assert_eq!(c.paths().collect::<Vec<_>>(), ["workflows/deep.yaml"]);
    assert_eq!(c.parse_errors.len(), 1);
    assert!(
        c.parse_errors[0]
            .message
            .contains("nested deeper than 256 levels"),
        "{:?}",
        c.parse_errors
    );

    let root = dir.path().to_owned();
    let c =
        on_small_stack(move || resolve(&root, "workflows/block.yaml", &Options::new()).unwrap());
    // Its `inherits_from` is lost with the parse, so deep.yaml is not reached.
    assert_eq!(c.paths().collect::<Vec<_>>(), ["workflows/block.yaml"]);
    assert!(
        c.parse_errors[0]
            .message
            .contains("recursion limit exceeded"),
        "{c}"
    );
}

#[test]
fn inheritance_chain_of_2000_files_closing_a_cycle() {
    const N: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    for i in 0..N {
        let next = (i + 1) % N;
        write(
            dir.path(),
            &format!("workflows/chain/f{i:04}.yaml"),
            &format!("inherits_from: f{next:04}\n"),
        );
    }
    let root = dir.path().to_owned();
    let c = on_small_stack(move || {
        resolve(&root, "workflows/chain/f0000.yaml", &Options::new()).unwrap()
    });
    check_invariants(&c);
    assert_eq!(c.files.len(), N);
    assert_eq!(c.edges.len(), N);
    assert!(c.unresolved.is_empty() && c.parse_errors.is_empty());
    assert_eq!(c.cycles.len(), 1);
    assert_eq!(c.cycles[0].len(), N);
    assert_eq!(c.cycles[0][0], "workflows/chain/f0000.yaml");
    assert_eq!(c.cycles[0][N - 1], "workflows/chain/f1999.yaml");
}

#[test]
fn file_larger_than_the_parse_limit_is_kept_unparsed() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "workflows/w.yaml", "llm_client: huge\n");
    let mut big = String::from("x: ");
    big.push_str(&"a".repeat(9 << 20));
    write(dir.path(), "llms/huge.yaml", &big);
    let c = resolve(dir.path(), "workflows/w.yaml", &Options::new()).unwrap();
    assert!(c.contains("llms/huge.yaml"));
    assert_eq!(c.parse_errors[0].path, "llms/huge.yaml");
    assert!(c.parse_errors[0].message.starts_with("file is larger than"));
}

#[cfg(unix)]
#[test]
fn symlinks_and_non_utf8_names() {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;

    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.yaml", "password: x\n");
    fs::create_dir_all(outside.path().join("dir")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "workflows/w.yaml",
        "inherits_from: [link.yaml, inner.yaml, escape/x.yaml]\n",
    );
    write(root, "workflows/real.yaml", "a: 1\n");
    symlink(
        outside.path().join("secret.yaml"),
        root.join("workflows/link.yaml"),
    )
    .unwrap();
    symlink(
        root.join("workflows/real.yaml"),
        root.join("workflows/inner.yaml"),
    )
    .unwrap();
    symlink(outside.path().join("dir"), root.join("workflows/escape")).unwrap();
    symlink(root.join("workflows"), root.join("loop")).unwrap();
    symlink(root.join("missing"), root.join("dangling.yaml")).unwrap();
    fs::write(
        root.join(std::ffi::OsStr::from_bytes(b"bad-\xff.yaml")),
        "a: 1\n",
    )
    .unwrap();

    let c = resolve(
        root,
        "workflows/w.yaml",
        &Options::new().strategy(Strategy::Tree),
    )
    .unwrap();
    check_invariants(&c);
    assert_eq!(
        c.paths().collect::<Vec<_>>(),
        [
            "workflows/inner.yaml",
            "workflows/real.yaml",
            "workflows/w.yaml"
        ]
    );
    let reasons: Vec<String> = c
        .unresolved
        .iter()
        .map(|u| format!("{}:{}={}: {}", u.from, u.key, u.value, u.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            ".:=bad-\u{fffd}.yaml: file name is not valid UTF-8",
            ".:=dangling.yaml: dangling symlink",
            "workflows:=escape: symlink leads outside the config root",
            "workflows:=link.yaml: symlink leads outside the config root",
            "workflows/w.yaml:inherits_from[0]=link.yaml: not found (tried workflows/link.yaml, link.yaml)",
            "workflows/w.yaml:inherits_from[2]=escape/x.yaml: not found (tried workflows/escape/x.yaml, escape/x.yaml)",
        ]
    );
    let tree = resolve_tree(root, &Options::new()).unwrap();
    assert_eq!(tree.files.len(), 3);
    assert_eq!(tree.unresolved.len(), 4);

    let e = resolve(root, "workflows/link.yaml", &Options::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "workflow 'workflows/link.yaml' is outside the config root"
    );
    let e = resolve(root, "workflows/escape/x.yaml", &Options::new()).unwrap_err();
    assert!(
        matches!(e, cfgvault_closure::Error::WorkflowMissing { .. }),
        "{e}"
    );
}
