//! Diffs between sessions and against directories.

use cfgvault_session::diff::{self, Diff, Scope, Side};

use crate::{Fixture, sid, write_tree};

fn d(added: &[&str], removed: &[&str], modified: &[&str]) -> Diff {
    let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect();
    Diff {
        added: v(added),
        removed: v(removed),
        modified: v(modified),
        ..Diff::default()
    }
}

/// The diff's path lists alone (renames and key changes are checked on their own).
fn lists(mut x: Diff) -> Diff {
    x.renamed.clear();
    x.changes.clear();
    x
}

const A: &[(&str, &str)] = &[
    ("llms/openai/gpt4.yaml", "model: gpt-4\n"),
    ("llms/openai/common.yaml", "base: x\n"),
    ("tools/calc.yaml", "name: calc\n"),
    ("workflows/react.yaml", "a\nb\nc\n"),
];

#[test]
fn sessions() {
    let fx = Fixture::new();
    fx.session("a", "2025-01-01", A);
    fx.session(
        "b",
        "2025-01-02",
        &[
            ("llms/openai/gpt4.yaml", "model: gpt-4\n"),
            ("llms/openai/common.yaml", "base: x\n"),
            ("tools", "now a file\n"),
            ("workflows/react.yaml", "a\nB\nc\n"),
            ("new.yaml", "n\n"),
        ],
    );
    let got = diff::diff_sessions(&fx.store, &sid("a"), &sid("b")).unwrap();
    // react.yaml is one plain scalar in YAML terms: the document changed.
    assert_eq!(got.changes.len(), 1);
    assert_eq!(got.changes[0].keys[0].key, "(document)");
    assert_eq!(
        lists(got),
        d(
            &["new.yaml", "tools"],
            &["tools/calc.yaml"],
            &["workflows/react.yaml"]
        )
    );
    assert!(
        diff::diff_sessions(&fx.store, &sid("a"), &sid("a"))
            .unwrap()
            .is_empty()
    );
    let u = diff::unified(
        &fx.store,
        Side::Session(&sid("a")),
        Side::Session(&sid("b")),
        "workflows/react.yaml",
    )
    .unwrap();
    assert!(u.contains("-b\n+B\n"), "{u}");
    assert!(u.contains("--- a:workflows/react.yaml"), "{u}");
    let u = diff::unified(
        &fx.store,
        Side::Session(&sid("a")),
        Side::Session(&sid("b")),
        "new.yaml",
    )
    .unwrap();
    assert!(u.contains("--- /dev/null") && u.contains("+n"), "{u}");
}

#[test]
fn directory() {
    let fx = Fixture::new();
    fx.session("a", "2025-01-01", A);
    let dir = fx.path("work");
    write_tree(
        &dir,
        &[
            ("llms/openai/gpt4.yaml", "model: gpt-4o\n"),
            ("llms/openai/common.yaml", "base: x\n"),
            ("workflows/react.yaml", "a\nb\nc\n"),
            ("extra.yaml", "e\n"),
        ],
    );
    let got = diff::diff_dir(&fx.store, &sid("a"), &dir, Scope::Session).unwrap();
    let keys: Vec<(&str, Option<&serde_json::Value>)> = got.changes[0]
        .keys
        .iter()
        .map(|k| (k.key.as_str(), k.new.as_ref()))
        .collect();
    assert_eq!(keys, [("model", Some(&serde_json::json!("gpt-4o")))]);
    assert_eq!(
        lists(got),
        d(&[], &["tools/calc.yaml"], &["llms/openai/gpt4.yaml"])
    );
    let got = diff::diff_dir(&fx.store, &sid("a"), &dir, Scope::All).unwrap();
    assert_eq!(
        lists(got),
        d(
            &["extra.yaml"],
            &["tools/calc.yaml"],
            &["llms/openai/gpt4.yaml"]
        )
    );
    // The same key changes for one path, as ensure's drift report takes them.
    let one = diff::file_changes(
        &fx.store,
        Side::Session(&sid("a")),
        Side::Dir(&dir),
        "llms/openai/gpt4.yaml",
    )
    .unwrap()
    .unwrap();
    assert_eq!(one.keys.len(), 1);
    assert_eq!(one.keys[0].key, "model");
    let same = diff::file_changes(
        &fx.store,
        Side::Session(&sid("a")),
        Side::Dir(&dir),
        "llms/openai/common.yaml",
    )
    .unwrap();
    assert!(same.is_none(), "{same:?}");
    let u = diff::unified(
        &fx.store,
        Side::Session(&sid("a")),
        Side::Dir(&dir),
        "llms/openai/gpt4.yaml",
    )
    .unwrap();
    assert!(u.contains("-model: gpt-4\n+model: gpt-4o\n"), "{u}");
    let same = diff::unified(
        &fx.store,
        Side::Session(&sid("a")),
        Side::Dir(&dir),
        "workflows/react.yaml",
    )
    .unwrap();
    assert_eq!(same, "");
}

/// Issue 23: the real edits between snap-0090 and snap-0102 — the siliconflow providers lost
/// their `silicon-` prefix and openai's were replaced — come out as renames with their
/// similarity, not as removals plus additions, and each renamed provider whose content changed
/// lists its changed keys.
#[test]
fn issue_23_provider_renames_between_snap_0090_and_snap_0102() {
    use cfgvault_session::{self as session, FileSet, NewSession, Selection};
    let fx = Fixture::new();
    let corpus = cfgvault_testkit::unpack(&[]);
    let unpacked = corpus.path();
    for snap in ["snap-0090", "snap-0102"] {
        let set = FileSet::read(&unpacked.join(snap).join("configs"), &Selection::All).unwrap();
        let mut new = NewSession::new(set);
        new.id = Some(sid(snap));
        session::create(&fx.store, new).unwrap();
    }
    let d = diff::diff_sessions(&fx.store, &sid("snap-0090"), &sid("snap-0102")).unwrap();
    let silicon: Vec<(&str, &str, u8)> = d
        .renamed
        .iter()
        .filter(|r| r.from.starts_with("llms/provider/siliconflow/"))
        .map(|r| (r.from.as_str(), r.to.as_str(), r.similarity))
        .collect();
    println!("{:#?}", d.renamed);
    assert_eq!(silicon.len(), 8, "{silicon:?}");
    for (from, to, similarity) in &silicon {
        let name = from.trim_start_matches("llms/provider/siliconflow/silicon-");
        assert_eq!(*to, format!("llms/provider/siliconflow/{name}"), "{from}");
        assert!(*similarity >= 50, "{from}: {similarity}");
        assert!(!d.added.iter().any(|a| a == to) && !d.removed.iter().any(|r| r == from));
    }
    // Each renamed file that changed has its keys listed (the `inherits_from` line changed).
    for r in d
        .renamed
        .iter()
        .filter(|r| r.similarity < 100 && r.to.ends_with(".yaml"))
    {
        let c = d.changes.iter().find(|c| c.path == r.to);
        assert!(
            c.is_some_and(|c| !c.keys.is_empty() || c.formatting_only),
            "{}",
            r.to
        );
    }
}

/// A rename with an edit (the one snap-0102's `Qwen2.5-7B.yaml` still calls for: its fallback
/// lost the `silicon-` prefix too) is a rename with its similarity and changed keys; an edit of
/// comments alone is `formatting_only`.
#[test]
fn issue_23_similar_rename_with_key_changes_and_formatting_only() {
    let fx = Fixture::new();
    let corpus = cfgvault_testkit::unpack(&[]);
    let unpacked = corpus.path();
    let dir = unpacked.join("snap-0102/configs/llms/provider/siliconflow");
    let qwen = std::fs::read_to_string(dir.join("Qwen2.5-7B.yaml")).unwrap();
    let common = std::fs::read_to_string(dir.join("common.yaml")).unwrap();
    let edited = qwen
        .replace("  - silicon-Hunyuan-MT-7B", "  - Hunyuan-MT-7B")
        .replace("max_tokens: 32000  # 32K上下文", "max_tokens: 16000");
    let recommented = common.replacen("# ", "# edited: ", 1);
    assert_ne!(recommented, common);
    fx.session(
        "a",
        "2025-01-01",
        &[
            ("llms/provider/siliconflow/silicon-Qwen2.5-7B.yaml", &qwen),
            ("llms/provider/siliconflow/common.yaml", &common),
        ],
    );
    fx.session(
        "b",
        "2025-01-02",
        &[
            ("llms/provider/siliconflow/Qwen2.5-7B.yaml", &edited),
            ("llms/provider/siliconflow/common.yaml", &recommented),
        ],
    );
    let d = diff::diff_sessions(&fx.store, &sid("a"), &sid("b")).unwrap();
    assert!(d.added.is_empty() && d.removed.is_empty(), "{d:?}");
    assert_eq!(d.renamed.len(), 1);
    let r = &d.renamed[0];
    assert_eq!(
        (r.from.as_str(), r.to.as_str()),
        (
            "llms/provider/siliconflow/silicon-Qwen2.5-7B.yaml",
            "llms/provider/siliconflow/Qwen2.5-7B.yaml"
        )
    );
    assert!((50..100).contains(&r.similarity), "{}", r.similarity);
    let changed: Vec<(&str, String, String)> = d
        .changes
        .iter()
        .flat_map(|c| c.keys.iter())
        .map(|k| {
            let show =
                |v: &Option<serde_json::Value>| v.as_ref().map_or("-".into(), |v| v.to_string());
            (k.key.as_str(), show(&k.old), show(&k.new))
        })
        .collect();
    assert_eq!(
        changed,
        [
            (
                "fallback_models[0]",
                "\"silicon-Hunyuan-MT-7B\"".to_owned(),
                "\"Hunyuan-MT-7B\"".to_owned()
            ),
            (
                "parameters.max_tokens",
                "32000".to_owned(),
                "16000".to_owned()
            ),
        ]
    );
    let common_change = d
        .changes
        .iter()
        .find(|c| c.path == "llms/provider/siliconflow/common.yaml")
        .unwrap();
    assert!(common_change.formatting_only && common_change.keys.is_empty());
    assert_eq!(d.modified, ["llms/provider/siliconflow/common.yaml"]);
}

/// `log --follow`: snap-0091 renamed `silicon-Qwen2.5-7B.yaml` to `Qwen2.5-7B.yaml`; following
/// the new name from sessions of snap-0088…0093 crosses that rename and lists the old name's
/// versions too.
#[test]
fn issue_23_versions_follow_a_rename_across_sessions() {
    use cfgvault_session::{self as session, FileSet, NewSession, Selection};
    let fx = Fixture::new();
    let corpus = cfgvault_testkit::unpack(&[]);
    let unpacked = corpus.path();
    let base = crate::t("2025-01-01T12:00:00Z");
    for (i, snap) in [
        "snap-0088",
        "snap-0089",
        "snap-0090",
        "snap-0091",
        "snap-0092",
        "snap-0093",
    ]
    .iter()
    .enumerate()
    {
        let set = FileSet::read(&unpacked.join(snap).join("configs"), &Selection::All).unwrap();
        let mut new = NewSession::new(set);
        new.id = Some(sid(snap));
        new.created_at = base + chrono::Duration::hours(i as i64);
        session::create(&fx.store, new).unwrap();
    }
    let new_name = "llms/provider/siliconflow/Qwen2.5-7B.yaml";
    let old_name = "llms/provider/siliconflow/silicon-Qwen2.5-7B.yaml";
    let f = session::versions_following(&fx.store, new_name).unwrap();
    assert_eq!(
        f.renames,
        [session::FollowedRename {
            from: old_name.into(),
            to: new_name.into(),
            similarity: 100,
            session: "snap-0091".into(),
        }]
    );
    let names: Vec<(&str, u64)> = f
        .names
        .iter()
        .map(|(p, v)| (p.as_str(), v.iter().map(|v| v.sessions).sum()))
        .collect();
    assert_eq!(names, [(new_name, 3), (old_name, 3)]);
    // Without a rename behind it, a path's own versions only.
    let plain =
        session::versions_following(&fx.store, "llms/provider/siliconflow/common.yaml").unwrap();
    assert!(plain.renames.is_empty() && plain.names.len() == 1);
}
