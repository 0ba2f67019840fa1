//! Diffs between sessions and against directories.

use cfgvault_session::diff::{self, Diff, Scope, Side};

use crate::{Fixture, sid, write_tree};

fn d(added: &[&str], removed: &[&str], modified: &[&str]) -> Diff {
    let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect();
    Diff {
        added: v(added),
        removed: v(removed),
        modified: v(modified),
    }
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
    assert_eq!(
        got,
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
    assert_eq!(
        got,
        d(&[], &["tools/calc.yaml"], &["llms/openai/gpt4.yaml"])
    );
    let got = diff::diff_dir(&fx.store, &sid("a"), &dir, Scope::All).unwrap();
    assert_eq!(
        got,
        d(
            &["extra.yaml"],
            &["tools/calc.yaml"],
            &["llms/openai/gpt4.yaml"]
        )
    );
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
