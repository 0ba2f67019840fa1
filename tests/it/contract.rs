//! The commands of the embedding contract: pin, unpin, label, ensure --dry-run, completions,
//! man, and the escaping of control characters in human output.

use crate::util::{Dir, WORKFLOW, fixture_configs, read_tree, strings};

fn store() -> Dir {
    let dir = Dir::new();
    dir.fixture();
    dir.backup_fixture("s1");
    dir
}

#[test]
fn pinned_sessions_survive_cleanup_until_unpinned() {
    let dir = store();
    dir.backup_fixture("s2");
    let pinned = dir.cmd(["--json", "pin", "s1"]).assert_exit(0).json();
    assert_eq!(pinned["pinned"], true);
    assert_eq!(strings(&pinned["sessions"]), ["s1"]);
    let shown = dir.cmd(["--json", "show", "s1"]).assert_exit(0).json();
    assert_eq!(shown["pinned"], true);

    let plan = dir
        .cmd(["--json", "cleanup", "--keep-last", "0", "--dry-run"])
        .assert_exit(0)
        .json();
    assert_eq!(strings(&plan["remove"]), ["s2"]);
    assert_eq!(strings(&plan["keep"]), ["s1"]);

    dir.cmd(["unpin", "s1"]).assert_exit(0);
    let plan = dir
        .cmd(["--json", "cleanup", "--keep-last", "0", "--dry-run"])
        .assert_exit(0)
        .json();
    assert_eq!(plan["remove"].as_array().unwrap().len(), 2);
    let missing = dir.cmd(["--json", "pin", "nope"]).assert_exit(3).json();
    assert_eq!(missing["error"]["session"], "nope");
}

#[test]
fn labels_are_set_and_removed() {
    let dir = store();
    let out = dir
        .cmd(["--json", "label", "s1", "team=core", "env=prod"])
        .assert_exit(0)
        .json();
    assert_eq!(out["labels"]["team"], "core");
    let listed = dir
        .cmd(["--json", "sessions", "--label", "env=prod"])
        .assert_exit(0)
        .json();
    assert_eq!(listed["sessions"][0]["id"], "s1");
    let out = dir
        .cmd(["--json", "label", "s1", "env="])
        .assert_exit(0)
        .json();
    assert_eq!(out["labels"], serde_json::json!({"team": "core"}));
    let listed = dir
        .cmd(["--json", "sessions", "--label", "env=prod"])
        .assert_exit(0)
        .json();
    assert!(listed["sessions"].as_array().unwrap().is_empty());
    // Over the limits, or with a control character: invalid input, nothing changed.
    let long = format!("{}=v", "k".repeat(129));
    for bad in [long.as_str(), "k=a\u{1b}b", "novalue"] {
        let out = dir.cmd(["--json", "label", "s1", bad]).assert_exit(2);
        assert_eq!(out.json()["error"]["kind"], "invalid_input", "{bad:?}");
    }
    let shown = dir.cmd(["--json", "show", "s1"]).assert_exit(0).json();
    assert_eq!(shown["labels"], serde_json::json!({"team": "core"}));
}

#[test]
fn ensure_dry_run_reports_and_writes_nothing() {
    let dir = store();
    dir.remove("configs/global.yaml");
    dir.write("configs/tools/calculator.yaml", "edited: true\n");
    let before = read_tree(&dir.path("configs"));
    let doc = dir
        .cmd(["--json", "ensure", "s1", "--dry-run"])
        .assert_exit(1)
        .json();
    assert_eq!(doc["dry_run"], true);
    assert_eq!(strings(&doc["restored"]), ["global.yaml"]);
    assert_eq!(strings(&doc["drifted"]), ["tools/calculator.yaml"]);
    assert_eq!(read_tree(&dir.path("configs")), before, "a dry run wrote");

    let human = dir.cmd(["ensure", "s1", "--dry-run"]).assert_exit(1);
    assert!(human.stdout.contains("would restore"), "{human}");

    // Only a missing file: the dry run still exits 1, the real ensure then 0.
    let original = std::fs::read(fixture_configs().join("tools/calculator.yaml")).unwrap();
    dir.write("configs/tools/calculator.yaml", original);
    dir.cmd(["ensure", "s1", "--dry-run"]).assert_exit(1);
    dir.cmd(["ensure", "s1"]).assert_exit(0);
    dir.cmd(["ensure", "s1", "--dry-run"]).assert_exit(0);
}

#[test]
fn completions_and_man_page_are_printed() {
    let dir = Dir::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = dir
            .bare_command()
            .args(["completions", shell])
            .assert_exit(0);
        assert!(out.stdout.contains("cfgvault"), "{shell}");
        assert!(out.stdout.contains("ensure"), "{shell}");
    }
    dir.bare_command()
        .args(["completions", "tcsh"])
        .assert_exit(2);
    let man = dir.bare_command().arg("man").assert_exit(0);
    assert!(man.stdout.starts_with(".ie"), "{}", &man.stdout[..80]);
    assert!(man.stdout.contains(".TH cfgvault"), "not roff");
    let help = dir.bare_command().arg("--help").assert_exit(0);
    assert!(help.stdout.contains("[env: CFGVAULT_STORE"), "{help}");
}

/// Issue #22: a file name or label with an escape sequence must not reach the terminal.
#[test]
fn control_characters_are_escaped_in_human_output() {
    let dir = Dir::new();
    dir.write("tree/ok.yaml", "a: 1\n");
    dir.write("tree/evil\u{1b}[31m.yaml", "b: 2\n");
    dir.backup_tree("tree", "t1");
    for args in [
        &["show", "t1"][..],
        &["sessions"],
        &["ensure", "t1", "--root", "tree"],
    ] {
        let out = dir.cmd(args).assert_exit(0);
        assert!(!out.stdout.contains('\u{1b}'), "{args:?}: {:?}", out.stdout);
        assert!(out.stdout.contains("evil\\u{1b}[31m.yaml") || args[0] == "sessions");
    }
    // JSON carries the name as it is (escaped by JSON itself).
    let doc = dir.cmd(["--json", "show", "t1"]).assert_exit(0).json();
    let paths: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"evil\u{1b}[31m.yaml"), "{paths:?}");
}

/// Issue #20: `gc` reports the store file's size as it is on disk after the command.
#[test]
fn gc_reports_the_size_on_disk_after_the_command() {
    let dir = store();
    dir.write("configs/global.yaml", "changed: 1\n");
    dir.backup_fixture("s2");
    dir.cmd(["rm", "s1"]).assert_exit(0);
    let doc = dir.cmd(["--json", "gc"]).assert_exit(0).json();
    let on_disk = std::fs::metadata(dir.store()).unwrap().len();
    assert_eq!(doc["file_bytes_after"], on_disk);
    // And the workflow still restores from what gc kept.
    dir.remove("configs");
    let doc = dir.cmd(["--json", "ensure", "s2"]).assert_exit(0).json();
    assert!(strings(&doc["restored"]).contains(&WORKFLOW.to_string()));
}

/// `log --follow` goes back through a rename: the versions of the old name, then the new one,
/// and the rename crossed, with the session where the new name first appears.
#[test]
fn log_follow_crosses_a_rename() {
    let dir = Dir::new();
    let body = "name: calculator\ntool_type: builtin\nfunction_path: a.b:c\n";
    dir.write("tree/tools/calc.yaml", body);
    dir.backup_tree("tree", "t1");
    dir.write("tree/tools/calc.yaml", format!("{body}timeout: 5\n"));
    dir.backup_tree("tree", "t2");
    dir.remove("tree/tools/calc.yaml");
    dir.write("tree/tools/calculator.yaml", format!("{body}timeout: 5\n"));
    dir.backup_tree("tree", "t3");

    let plain = dir
        .cmd(["--json", "log", "tools/calculator.yaml"])
        .assert_exit(0)
        .json();
    assert_eq!(plain["versions"].as_array().unwrap().len(), 1, "{plain}");
    assert!(plain["renames"].as_array().unwrap().is_empty(), "{plain}");

    let doc = dir
        .cmd(["--json", "log", "tools/calculator.yaml", "--follow"])
        .assert_exit(0)
        .json();
    let names: Vec<&str> = doc["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    // Two contents under the old name, the second one carried over to the new name.
    assert_eq!(names.len(), 3, "{doc}");
    assert!(names.contains(&"tools/calc.yaml"), "{doc}");
    assert!(names.contains(&"tools/calculator.yaml"), "{doc}");
    let renames = doc["renames"].as_array().unwrap();
    assert_eq!(renames.len(), 1, "{doc}");
    assert_eq!(renames[0]["from"], "tools/calc.yaml");
    assert_eq!(renames[0]["to"], "tools/calculator.yaml");
    assert_eq!(renames[0]["similarity"], 100);
    assert_eq!(renames[0]["session"], "t3");

    let human = dir
        .cmd(["log", "tools/calculator.yaml", "--follow"])
        .assert_exit(0);
    assert!(
        human.stdout.contains(
            "renamed tools/calc.yaml -> tools/calculator.yaml (100% similar) in session t3"
        ),
        "{human}"
    );
    assert!(human.stdout.contains("PATH"), "{human}");
}

/// A workflow that does not parse: `deps` and `backup` exit 1 and say why (the backup is
/// stored all the same, with the workflow's bytes).
#[test]
fn an_unparsable_workflow_exits_1() {
    let dir = Dir::new();
    dir.write(
        "cfg/workflows/main.yaml",
        "nodes:\n  a: [unclosed\n  b: x: y\n",
    );
    let args = ["--root", "cfg", "--workflow", "workflows/main.yaml"];
    let deps = dir.cmd(["--json", "deps"]).args(args).assert_exit(1).json();
    assert_eq!(
        deps["workflow_error"]["path"], "workflows/main.yaml",
        "{deps}"
    );
    assert!(deps["workflow_error"]["message"].is_string(), "{deps}");
    let human = dir.cmd(["deps"]).args(args).assert_exit(1);
    assert!(
        human
            .stdout
            .contains("error: the workflow workflows/main.yaml does not parse: "),
        "{human}"
    );

    let backup = dir
        .cmd(["--json", "backup", "--session", "w1"])
        .args(args)
        .assert_exit(1)
        .json();
    assert_eq!(backup["workflow_error"]["path"], "workflows/main.yaml");
    assert_eq!(strings(&backup["hints"]).len(), 0);
    let shown = dir.cmd(["--json", "show", "w1"]).assert_exit(0).json();
    assert_eq!(shown["files"][0]["path"], "workflows/main.yaml", "{shown}");
    let stored = dir.cmd(["cat", "w1:workflows/main.yaml"]).assert_exit(0);
    assert_eq!(stored.stdout, "nodes:\n  a: [unclosed\n  b: x: y\n");
}
