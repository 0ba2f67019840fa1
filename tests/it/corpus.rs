//! The CLI over the real config history (`open-agent-configs.tar.zst`, see util::corpus_file):
//! ten snapshots spread over the history per test, replayed as one evolving config root.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::util::{
    Dir, copy_tree, corpus_file, read_tree, snap_name, strings, unpack, unpack_from,
};

type Tree = BTreeMap<String, Vec<u8>>;

/// Replays `snaps` into `configs/` of `dir`, backing each up as session `snap-NNNN`
/// (`--strategy tree`); returns each snapshot's files.
fn replay(dir: &Dir, corpus: &Path, snaps: &[u32]) -> Vec<Tree> {
    let mut trees = Vec::new();
    for &n in snaps {
        let src = corpus.join(snap_name(n)).join("configs");
        if dir.exists("configs") {
            dir.remove("configs");
        }
        copy_tree(&src, &dir.path("configs"));
        dir.backup_tree("configs", &snap_name(n));
        trees.push(read_tree(&src));
    }
    trees
}

#[test]
fn corpus_backup_delete_ensure_is_byte_identical() {
    let snaps = [1, 12, 21, 34, 45, 56, 67, 78, 89, 102];
    let corpus = unpack(&snaps);
    let dir = Dir::new();
    let trees = replay(&dir, corpus.path(), &snaps);
    assert!(
        trees.iter().any(|t| t.keys().any(|p| !p.is_ascii())),
        "the history has non-ASCII names"
    );

    for (n, tree) in snaps.iter().zip(&trees) {
        dir.remove("configs");
        let out = dir
            .cmd(["--json", "ensure", &snap_name(*n)])
            .assert_exit(0)
            .json();
        assert_eq!(
            strings(&out["restored"]).len(),
            tree.len(),
            "{}",
            snap_name(*n)
        );
        let back = read_tree(&dir.path("configs"));
        assert_eq!(
            back.keys().collect::<Vec<_>>(),
            tree.keys().collect::<Vec<_>>(),
            "{}",
            snap_name(*n)
        );
        for (path, bytes) in tree {
            assert!(
                &back[path] == bytes,
                "{}: {path} is not byte-identical after ensure",
                snap_name(*n)
            );
        }
    }

    // The seed-era snapshot through the workflow closure: only the closure comes back, intact.
    dir.remove("configs");
    copy_tree(
        &corpus.path().join("snap-0021/configs"),
        &dir.path("configs"),
    );
    let backup = dir
        .cmd([
            "--json",
            "backup",
            "--root",
            "configs",
            "--workflow",
            "workflows/react.yaml",
            "--session",
            "react",
        ])
        .assert_exit(0)
        .json();
    let closure: Vec<String> = backup["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    assert!(
        closure.contains(&"llms/provider/openai/common.yaml".to_string()),
        "{closure:?}"
    );
    dir.remove("configs");
    dir.cmd(["ensure", "react"]).assert_exit(0);
    let back = read_tree(&dir.path("configs"));
    assert_eq!(back.keys().cloned().collect::<Vec<_>>(), closure);
    let seed = &trees[2];
    for (path, bytes) in &back {
        assert!(
            bytes == &seed[path],
            "react: {path} is not byte-identical after ensure"
        );
    }

    let stats = dir.cmd(["--json", "stats"]).assert_exit(0).json();
    assert_eq!(stats["sessions"], snaps.len() + 1);
    let distinct: BTreeSet<&Vec<u8>> = trees.iter().flat_map(|t| t.values()).collect();
    let unique: u64 = distinct.iter().map(|b| b.len() as u64).sum();
    assert_eq!(
        stats["unique_bytes"], unique,
        "every distinct content stored once"
    );
    dir.cmd(["verify"]).assert_exit(0);
}

#[test]
fn corpus_diff_and_log_match_the_history() {
    let snaps = [2, 9, 17, 25, 30, 44, 58, 71, 85, 99];
    let corpus = unpack(&snaps);
    let dir = Dir::new();
    let trees = replay(&dir, corpus.path(), &snaps);

    // Each pair of successive sessions: exactly the paths that changed.
    for (i, pair) in trees.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        let added: Vec<String> = b.keys().filter(|p| !a.contains_key(*p)).cloned().collect();
        let removed: Vec<String> = a.keys().filter(|p| !b.contains_key(*p)).cloned().collect();
        let modified: Vec<String> = a
            .keys()
            .filter(|p| b.get(*p).is_some_and(|x| x != &a[*p]))
            .cloned()
            .collect();
        let changed = !(added.is_empty() && removed.is_empty() && modified.is_empty());
        let (sa, sb) = (snap_name(snaps[i]), snap_name(snaps[i + 1]));
        let d = dir
            .cmd(["--json", "diff", &sa, &sb])
            .assert_exit(if changed { 1 } else { 0 })
            .json();
        // A renamed file is reported once, as a rename from a removed path to an added one.
        let renamed = d["renamed"].as_array().cloned().unwrap_or_default();
        let field = |r: &Value, k: &str| r[k].as_str().unwrap_or_default().to_owned();
        for r in &renamed {
            let (from, to) = (field(r, "from"), field(r, "to"));
            assert!(
                removed.contains(&from) && added.contains(&to),
                "{sa}..{sb}: {r}"
            );
            if r["similarity"] == 100 {
                assert_eq!(a[&from], b[&to], "{sa}..{sb}: {r}");
            }
        }
        let added: Vec<String> = added
            .into_iter()
            .filter(|p| !renamed.iter().any(|r| field(r, "to") == *p))
            .collect();
        let removed: Vec<String> = removed
            .into_iter()
            .filter(|p| !renamed.iter().any(|r| field(r, "from") == *p))
            .collect();
        assert_eq!(strings(&d["added"]), added, "added {sa}..{sb}");
        assert_eq!(strings(&d["removed"]), removed, "removed {sa}..{sb}");
        assert_eq!(strings(&d["modified"]), modified, "modified {sa}..{sb}");
    }

    // The first session against the disk (now the last snapshot): its own paths only.
    let (first, last) = (&trees[0], &trees[trees.len() - 1]);
    let removed: Vec<String> = first
        .keys()
        .filter(|p| !last.contains_key(*p))
        .cloned()
        .collect();
    let modified: Vec<String> = first
        .keys()
        .filter(|p| last.get(*p).is_some_and(|x| x != &first[*p]))
        .cloned()
        .collect();
    let d = dir
        .cmd(["--json", "diff", &snap_name(snaps[0]), "--root", "configs"])
        .assert_exit(1)
        .json();
    assert_eq!(strings(&d["removed"]), removed);
    assert_eq!(strings(&d["modified"]), modified);
    assert_eq!(d["added"], serde_json::Value::Array(vec![]));
    dir.cmd([
        "diff",
        &snap_name(snaps[snaps.len() - 1]),
        "--root",
        "configs",
    ])
    .assert_exit(0);

    // log: one entry per distinct content of a path, oldest first, with its session count.
    let mut all_paths: BTreeSet<&String> = BTreeSet::new();
    for t in &trees {
        all_paths.extend(t.keys());
    }
    let churn = |p: &String| {
        trees
            .iter()
            .filter_map(|t| t.get(p))
            .collect::<BTreeSet<_>>()
            .len()
    };
    let busiest = all_paths.iter().copied().max_by_key(|p| churn(p)).unwrap();
    assert!(
        churn(busiest) >= 3,
        "expected some path to change across the history"
    );
    for path in [busiest, &"global.yaml".to_string()] {
        let mut expected: Vec<(&Vec<u8>, u64)> = Vec::new();
        for t in &trees {
            if let Some(bytes) = t.get(path) {
                match expected.iter_mut().find(|(b, _)| *b == bytes) {
                    Some(e) => e.1 += 1,
                    None => expected.push((bytes, 1)),
                }
            }
        }
        let log = dir.cmd(["--json", "log", path]).assert_exit(0).json();
        let got: Vec<(u64, u64)> = log["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["size"].as_u64().unwrap(), v["sessions"].as_u64().unwrap()))
            .collect();
        let want: Vec<(u64, u64)> = expected.iter().map(|(b, n)| (b.len() as u64, *n)).collect();
        assert_eq!(got, want, "log {path}");
    }

    // Keep the last three, sweep, and the store is still sound and complete for them.
    let plan = dir
        .cmd(["--json", "cleanup", "--keep-last", "3"])
        .assert_exit(0)
        .json();
    assert_eq!(strings(&plan["remove"]).len(), snaps.len() - 3);
    dir.cmd(["gc"]).assert_exit(0);
    dir.cmd(["verify"]).assert_exit(0);
    dir.remove("configs");
    dir.cmd(["ensure", &snap_name(snaps[snaps.len() - 1])])
        .assert_exit(0);
    assert_eq!(&read_tree(&dir.path("configs")), last);
}

/// Without the corpus the corpus tests fail (never skip), saying where they looked.
#[test]
fn a_missing_corpus_fails_naming_where_it_looked() {
    let dir = Dir::new();
    let nowhere = dir.path("no/such/corpus.tar.zst");
    let err = std::panic::catch_unwind(|| unpack_from(&nowhere, &[1])).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains(&nowhere.display().to_string()), "{msg}");
    assert!(msg.contains("CFGVAULT_CORPUS"), "{msg}");
    // The default location is beside the repository, unless CFGVAULT_CORPUS says otherwise.
    if std::env::var_os("CFGVAULT_CORPUS").is_none_or(|v| v.is_empty()) {
        assert!(corpus_file().ends_with("shared/corpus/open-agent-configs.tar.zst"));
    }
}
