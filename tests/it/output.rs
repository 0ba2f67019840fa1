//! The human and `--json` output of every command, pinned with insta snapshots
//! (`tests/it/snapshots/`). Session ids are given explicitly; the temp path, clock times and
//! the store file's size (redb's page allocation, not ours) are filtered out.

use crate::util::{Dir, Output, WORKFLOW};

/// Pins `out.stdout` as snapshot `name`.
fn pin(dir: &Dir, name: &str, out: &Output) {
    let mut s = dir.settings();
    s.add_filter(r#"("file_bytes(?:_before|_after)?": )\d+"#, "${1}[N]");
    s.add_filter(r#"("overall_ratio": )[0-9.]+"#, "${1}[R]");
    s.add_filter(r"(file size {10})\S+ \S+", "${1}[SIZE]");
    s.add_filter(r"(overall ratio {6})\S+", "${1}[R]");
    s.add_filter(r"file \S+ \S+ -> \S+ \S+", "file [SIZE] -> [SIZE]");
    s.bind(|| insta::assert_snapshot!(name, out.stdout));
}

const COMMON: &str = "configs/llms/provider/openai/common.yaml";

/// The fixture at `configs/`, backed up as `s1` (label `team=core`); then `common.yaml` gains a
/// line and `tools/calculator.yaml` is emptied, and the result is backed up as `s2`.
fn two_sessions() -> Dir {
    let dir = Dir::new();
    dir.fixture();
    backup_s1(&dir);
    edit(&dir);
    dir.backup_fixture("s2");
    dir
}

fn backup_s1(dir: &Dir) -> Output {
    dir.cmd([
        "backup",
        "--root",
        "configs",
        "--workflow",
        WORKFLOW,
        "--session",
        "s1",
        "--label",
        "team=core",
    ])
    .assert_exit(0)
}

fn edit(dir: &Dir) {
    let mut common = dir.read(COMMON);
    common.extend_from_slice(b"timeout: 30\n");
    dir.write(COMMON, common);
    dir.write("configs/tools/calculator.yaml", "");
}

#[test]
fn init() {
    let dir = Dir::new();
    pin(&dir, "init_human", &dir.cmd(["init"]).assert_exit(0));
    let dir = Dir::new();
    pin(
        &dir,
        "init_json",
        &dir.cmd(["--json", "init"]).assert_exit(0),
    );
}

#[test]
fn backup() {
    let dir = Dir::new();
    dir.fixture();
    pin(&dir, "backup_human", &backup_s1(&dir));
    edit(&dir);
    let out = dir
        .cmd([
            "--json",
            "backup",
            "--root",
            "configs",
            "--workflow",
            WORKFLOW,
            "--session",
            "s2",
        ])
        .assert_exit(0);
    pin(&dir, "backup_json", &out);
    let out = dir
        .cmd([
            "backup",
            "--root",
            "configs",
            "--strategy",
            "tree",
            "--exclude",
            "*.md",
            "--session",
            "t1",
        ])
        .assert_exit(0);
    pin(&dir, "backup_tree_human", &out);
    let out = dir
        .cmd([
            "backup",
            "--root",
            "configs",
            "--workflow",
            WORKFLOW,
            "--strategy",
            "minimal",
            "--session",
            "m1",
        ])
        .assert_exit(0);
    pin(&dir, "backup_minimal_human", &out);
}

#[test]
fn sessions() {
    let dir = two_sessions();
    pin(
        &dir,
        "sessions_human",
        &dir.cmd(["sessions"]).assert_exit(0),
    );
    pin(
        &dir,
        "sessions_json",
        &dir.cmd(["--json", "sessions"]).assert_exit(0),
    );
    pin(
        &dir,
        "sessions_label_json",
        &dir.cmd(["--json", "sessions", "--label", "team=core"])
            .assert_exit(0),
    );
    let empty = Dir::new();
    empty.cmd(["init"]).assert_exit(0);
    pin(
        &empty,
        "sessions_empty_human",
        &empty.cmd(["sessions"]).assert_exit(0),
    );
}

#[test]
fn show() {
    let dir = two_sessions();
    pin(&dir, "show_human", &dir.cmd(["show", "s1"]).assert_exit(0));
    pin(
        &dir,
        "show_json",
        &dir.cmd(["--json", "show", "s1"]).assert_exit(0),
    );
}

#[test]
fn restore() {
    let dir = two_sessions();
    pin(
        &dir,
        "restore_human",
        &dir.cmd(["restore", "s1", "--to", "out"]).assert_exit(0),
    );
    dir.write("out/global.yaml", "edited: true\n");
    dir.remove("out/tools/rest");
    let out = dir
        .cmd([
            "--json",
            "restore",
            "s1",
            "--to",
            "out",
            "--path",
            "global.yaml",
            "--path",
            "tools",
            "--path",
            "agents/helper.yaml",
        ])
        .assert_exit(0);
    pin(&dir, "restore_json", &out);
}

#[test]
fn ensure() {
    let dir = two_sessions();
    // Disk has s2's edits: ensure s1 sees two drifted files; one more is deleted.
    dir.remove("configs/agents/helper.yaml");
    pin(
        &dir,
        "ensure_human",
        &dir.cmd(["ensure", "s1", "--diff"]).assert_exit(1),
    );
    pin(
        &dir,
        "ensure_json",
        &dir.cmd(["--json", "ensure", "s1", "--diff"]).assert_exit(1),
    );
}

#[test]
fn log() {
    let dir = two_sessions();
    let path = "llms/provider/openai/common.yaml";
    pin(&dir, "log_human", &dir.cmd(["log", path]).assert_exit(0));
    pin(
        &dir,
        "log_json",
        &dir.cmd(["--json", "log", path]).assert_exit(0),
    );
}

#[test]
fn diff() {
    let dir = two_sessions();
    pin(
        &dir,
        "diff_human",
        &dir.cmd(["diff", "s1", "s2"]).assert_exit(1),
    );
    pin(
        &dir,
        "diff_patch_human",
        &dir.cmd(["diff", "s1", "s2", "--patch"]).assert_exit(1),
    );
    pin(
        &dir,
        "diff_patch_json",
        &dir.cmd(["--json", "diff", "s1", "s2", "--patch"])
            .assert_exit(1),
    );
    pin(
        &dir,
        "diff_root_json",
        &dir.cmd(["--json", "diff", "s1", "--root", "configs"])
            .assert_exit(1),
    );
    pin(
        &dir,
        "diff_same_human",
        &dir.cmd(["diff", "s2", "--root", "configs"]).assert_exit(0),
    );
}

#[test]
fn rm() {
    let dir = two_sessions();
    pin(&dir, "rm_human", &dir.cmd(["rm", "s2"]).assert_exit(0));
    pin(
        &dir,
        "rm_json",
        &dir.cmd(["--json", "rm", "s1"]).assert_exit(0),
    );
}

#[test]
fn cleanup() {
    let dir = two_sessions();
    pin(
        &dir,
        "cleanup_dry_run_human",
        &dir.cmd(["cleanup", "--keep-last", "1", "--dry-run"])
            .assert_exit(0),
    );
    pin(
        &dir,
        "cleanup_dry_run_json",
        &dir.cmd(["--json", "cleanup", "--keep-last", "1", "--dry-run"])
            .assert_exit(0),
    );
    pin(
        &dir,
        "cleanup_human",
        &dir.cmd(["cleanup", "--keep-last", "1"]).assert_exit(0),
    );
    pin(
        &dir,
        "cleanup_nothing_json",
        &dir.cmd(["--json", "cleanup", "--keep-last", "1"])
            .assert_exit(0),
    );
}

#[test]
fn gc() {
    let dir = two_sessions();
    dir.cmd(["rm", "s1"]).assert_exit(0);
    pin(&dir, "gc_human", &dir.cmd(["gc"]).assert_exit(0));
    pin(&dir, "gc_json", &dir.cmd(["--json", "gc"]).assert_exit(0));
}

#[test]
fn verify() {
    let dir = two_sessions();
    pin(&dir, "verify_human", &dir.cmd(["verify"]).assert_exit(0));
    pin(
        &dir,
        "verify_json",
        &dir.cmd(["--json", "verify"]).assert_exit(0),
    );
}

#[test]
fn stats() {
    let dir = two_sessions();
    pin(&dir, "stats_human", &dir.cmd(["stats"]).assert_exit(0));
    pin(
        &dir,
        "stats_json",
        &dir.cmd(["--json", "stats"]).assert_exit(0),
    );
    let empty = Dir::new();
    empty.cmd(["init"]).assert_exit(0);
    pin(
        &empty,
        "stats_empty_json",
        &empty.cmd(["--json", "stats"]).assert_exit(0),
    );
}

#[test]
fn deps() {
    let dir = Dir::new();
    dir.fixture();
    let args = ["deps", "--root", "configs", "--workflow", WORKFLOW];
    pin(&dir, "deps_human", &dir.cmd(args).assert_exit(1));
    pin(
        &dir,
        "deps_json",
        &dir.cmd(["--json"]).args(args).assert_exit(1),
    );
    let standard = dir
        .cmd(args)
        .args(["--strategy", "standard", "--exclude", "tools/rest/**"])
        .assert_exit(1);
    pin(&dir, "deps_standard_human", &standard);
    // deps needs no store.
    assert!(!dir.store().exists());
}

/// Parse errors and cycles are reported, not fatal, and (unlike unresolved references) do not
/// make `deps` exit 1; a backup carries them as warnings.
#[test]
fn deps_and_backup_with_parse_errors_and_cycles() {
    let dir = Dir::new();
    for (name, code) in [("cycle", 0), ("unparsable", 0)] {
        let root = crate::util::repo_path(&format!("fixtures/closure/{name}/configs"));
        let root = root.to_str().unwrap();
        let args = ["deps", "--root", root, "--workflow", "workflows/main.yaml"];
        pin(
            &dir,
            &format!("deps_{name}_human"),
            &dir.cmd(args).assert_exit(code),
        );
        let json = dir.cmd(["--json"]).args(args).assert_exit(code);
        pin(&dir, &format!("deps_{name}_json"), &json);
        let backup = dir
            .cmd([
                "backup",
                "--root",
                root,
                "--workflow",
                "workflows/main.yaml",
                "--session",
                name,
            ])
            .assert_exit(0);
        pin(&dir, &format!("backup_{name}_human"), &backup);
        let show = dir.cmd(["--json", "show", name]).assert_exit(0).json();
        assert_eq!(show["warnings"].as_array().unwrap().len(), 2, "{show}");
    }
}
