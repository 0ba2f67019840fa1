//! Failed commands: one line on stderr starting `cfgvault <command>: `, an exit code by kind
//! of failure (docs/CLI.md), and under `--json` one error document on stdout; never a panic.
//! The messages, kinds and exit codes are pinned in one snapshot.

use crate::util::{Dir, WORKFLOW};

/// A store with session `s1` (the fixture workflow) and the fixture at `configs/`.
fn store() -> Dir {
    let dir = Dir::new();
    dir.fixture();
    dir.backup_fixture("s1");
    dir
}

/// The exit code of each error kind (docs/CLI.md, "Exit codes").
fn exit_code(kind: &str) -> i32 {
    match kind {
        "invalid_input" | "already_exists" => 2,
        "not_found" => 3,
        "not_a_store" | "damaged" | "unsupported_format" => 4,
        "busy" => 5,
        "io" => 6,
        other => panic!("unknown error kind {other:?}"),
    }
}

/// Runs `args` (with `--store`) with and without `--json`, checks the error contract, and
/// returns the message line, the exit code and the kind.
fn check(dir: &Dir, args: &[&str], command: &str, needle: &str) -> (String, i32, String) {
    // Cases that name their own store run without the default one.
    let cmd = || {
        if args.contains(&"--store") {
            dir.bare_command()
        } else {
            dir.command()
        }
    };
    let text = cmd().args(args).run();
    let line = text.error_line(command).to_string();
    assert!(
        line.contains(needle),
        "`{}`: expected {needle:?} in\n{line}",
        text.desc
    );
    assert!(
        line.len() < 400,
        "`{}`: message too long ({} bytes)",
        text.desc,
        line.len()
    );
    let json = cmd().arg("--json").args(args).run();
    assert_eq!(
        json.stderr, text.stderr,
        "`{}`: same line with --json",
        json.desc
    );
    let doc = json.json();
    assert_eq!(doc["command"], command, "{}", json.desc);
    let error = &doc["error"];
    let kind = error["kind"].as_str().unwrap().to_string();
    let prefix = format!("cfgvault {command}: ");
    assert_eq!(error["message"], line[prefix.len()..], "{}", json.desc);
    for field in ["session", "path", "object"] {
        assert!(
            error[field].is_null() || error[field].is_string(),
            "{}: {field}",
            json.desc
        );
    }
    assert_eq!(text.code, Some(exit_code(&kind)), "`{}`: {kind}", text.desc);
    assert_eq!(json.code, text.code, "`{}`", json.desc);
    (line, exit_code(&kind), kind)
}

#[test]
fn failures_exit_by_kind_with_one_line_and_a_json_error() {
    let dir = store();
    dir.write("empty.redb", "");
    let long = "a".repeat(10 * 1024);
    let cat_long = format!("{long}:global.yaml");
    let missing_store = dir.path("missing/store.redb");
    let missing_store = missing_store.to_str().unwrap();
    let not_a_store = dir.path("configs/global.yaml");
    let not_a_store = not_a_store.to_str().unwrap();
    let empty_store = dir.path("empty.redb");
    let empty_store = empty_store.to_str().unwrap();
    let no_such_object = "0".repeat(64);

    #[rustfmt::skip]
    let cases: &[(&[&str], &str, &str)] = &[
        // A store that is not there.
        (&["--store", missing_store, "sessions"], "sessions", "no store at"),
        (&["--store", missing_store, "show", "s1"], "show", "no store at"),
        (&["--store", missing_store, "restore", "s1"], "restore", "no store at"),
        (&["--store", missing_store, "ensure", "s1"], "ensure", "no store at"),
        (&["--store", missing_store, "log", "global.yaml"], "log", "no store at"),
        (&["--store", missing_store, "diff", "s1", "s1"], "diff", "no store at"),
        (&["--store", missing_store, "cat", "s1:global.yaml"], "cat", "no store at"),
        (&["--store", missing_store, "rm", "s1"], "rm", "no store at"),
        (&["--store", missing_store, "cleanup", "--keep-last", "1"], "cleanup", "no store at"),
        (&["--store", missing_store, "gc"], "gc", "no store at"),
        (&["--store", missing_store, "verify"], "verify", "no store at"),
        (&["--store", missing_store, "stats"], "stats", "no store at"),
        // Bad input is reported as such even when there is no store to open.
        (&["--store", missing_store, "show", "../x"], "show", "invalid session id '../x'"),
        (&["--store", missing_store, "restore", "s1", "--overwrite", "sometimes"], "restore", "invalid value 'sometimes'"),
        (&["--store", missing_store, "ensure", "../x"], "ensure", "invalid session id"),
        (&["--store", missing_store, "diff", "s1", "../x"], "diff", "invalid session id"),
        (&["--store", missing_store, "cat", "bogus"], "cat", "neither SESSION:PATH nor an object id"),
        (&["--store", missing_store, "cat", "../x:global.yaml"], "cat", "invalid session id"),
        (&["--store", missing_store, "rm", "s1", "../x"], "rm", "invalid session id"),
        (&["--store", missing_store, "sessions", "--label", "x"], "sessions", "invalid label"),
        (&["--store", missing_store, "cleanup", "--older-than", "30x"], "cleanup", "invalid age"),
        // A file that is not a store.
        (&["--store", not_a_store, "verify"], "verify", "is not a cfgvault store"),
        (&["--store", not_a_store, "stats"], "stats", "is not a cfgvault store"),
        (&["--store", not_a_store, "backup", "--root", "configs", "--workflow", WORKFLOW], "backup", "is not a cfgvault store"),
        (&["--store", empty_store, "verify"], "verify", "is not a cfgvault store"),
        (&["init"], "init", "already exists"),
        // Sessions that do not exist.
        (&["show", "nope"], "show", "session 'nope' not found"),
        (&["restore", "nope", "--to", "out"], "restore", "session 'nope' not found"),
        (&["ensure", "nope"], "ensure", "session 'nope' not found"),
        (&["diff", "s1", "nope"], "diff", "session 'nope' not found"),
        (&["diff", "nope", "s1"], "diff", "session 'nope' not found"),
        (&["diff", "nope", "--root", "configs"], "diff", "session 'nope' not found"),
        (&["cat", "nope:global.yaml"], "cat", "session 'nope' not found"),
        (&["rm", "s1", "nope"], "rm", "session 'nope' not found"),
        // Session ids that are not ids.
        (&["show", "../x"], "show", "invalid session id '../x'"),
        (&["show", ""], "show", "invalid session id ''"),
        (&["show", &long], "show", "longer than 128 characters"),
        (&["show", "a b"], "show", "invalid session id 'a b'"),
        (&["show", "a/b"], "show", "invalid session id 'a/b'"),
        (&["restore", "../x"], "restore", "invalid session id"),
        (&["ensure", "../x"], "ensure", "invalid session id"),
        (&["diff", "s1", "../x"], "diff", "invalid session id"),
        (&["rm", "s1", ""], "rm", "invalid session id"),
        (&["cat", &cat_long], "cat", "longer than 128 characters"),
        (&["backup", "--root", "configs", "--workflow", WORKFLOW, "--session", "../x"], "backup", "invalid session id"),
        (&["backup", "--root", "configs", "--workflow", WORKFLOW, "--session", &long], "backup", "longer than 128 characters"),
        (&["backup", "--root", "configs", "--workflow", WORKFLOW, "--session", "s1"], "backup", "session 's1' already exists"),
        // Flag values.
        (&["restore", "s1", "--overwrite", "sometimes"], "restore", "invalid value 'sometimes'"),
        (&["ensure", "s1", "--overwrite", ""], "ensure", "a value is required for '--overwrite"),
        (&["backup", "--root", "configs", "--workflow", WORKFLOW, "--label", "nolabel"], "backup", "invalid label 'nolabel'"),
        (&["backup", "--root", "configs", "--workflow", WORKFLOW, "--label", "=v"], "backup", "invalid label '=v'"),
        (&["sessions", "--label", "x"], "sessions", "invalid label 'x'"),
        (&["sessions", "--limit", "many"], "sessions", "invalid value 'many'"),
        (&["cleanup", "--older-than", "30x"], "cleanup", "invalid age '30x'"),
        (&["cleanup", "--older-than", "d"], "cleanup", "invalid age 'd'"),
        (&["cleanup", "--older-than", ""], "cleanup", "invalid age ''"),
        (&["cleanup", "--older-than=-1d"], "cleanup", "invalid age '-1d'"),
        (&["cleanup", "--older-than", "99999999999999999999d"], "cleanup", "invalid age"),
        (&["cleanup", "--older-than", "1é"], "cleanup", "invalid age"),
        (&["cleanup", "--keep-last", "abc"], "cleanup", "invalid value 'abc'"),
        (&["cleanup"], "cleanup", "give at least one of"),
        (&["backup", "--root", "configs", "--strategy", "bogus"], "backup", "unknown strategy 'bogus'"),
        (&["backup", "--root", "configs", "--workflow", WORKFLOW, "--strategy", "configs/global.yaml"], "backup", "invalid strategy"),
        (&["backup", "--root", "configs", "--workflow", WORKFLOW, "--exclude", "["], "backup", "invalid exclude glob '['"),
        (&["backup", "--root", "configs", "--workflow", WORKFLOW, "--profile", "nope.yaml"], "backup", "could not read profile"),
        // A backup without a workflow needs the tree strategy.
        (&["backup", "--root", "configs"], "backup", "needs the 'tree' strategy, not 'comprehensive'"),
        (&["backup", "--root", "configs", "--strategy", "minimal"], "backup", "needs the 'tree' strategy, not 'minimal'"),
        (&["backup", "--root", "configs", "--strategy", "standard"], "backup", "needs the 'tree' strategy, not 'standard'"),
        (&["deps", "--root", "configs"], "deps", "--workflow is required"),
        // Workflows and roots that are not there.
        (&["backup", "--root", "configs", "--workflow", "workflows/nope.yaml"], "backup", "workflow 'workflows/nope.yaml' does not exist"),
        (&["deps", "--root", "configs", "--workflow", "workflows/nope.yaml"], "deps", "workflow 'workflows/nope.yaml' does not exist"),
        (&["backup", "--root", "configs", "--workflow", "../escape.yaml"], "backup", "outside the config root"),
        (&["backup", "--root", "configs", "--workflow", "/etc/passwd"], "backup", "outside the config root"),
        (&["backup", "--root", "configs/global.yaml", "--workflow", WORKFLOW], "backup", "is not a directory"),
        (&["backup", "--root", "nowhere", "--workflow", WORKFLOW], "backup", "does not exist"),
        (&["deps", "--root", "nowhere", "--workflow", WORKFLOW], "deps", "nowhere"),
        (&["diff", "s1", "--root", "nowhere"], "diff", "is not a directory"),
        (&["diff", "s1", "--root", "configs/global.yaml"], "diff", "is not a directory"),
        (&["restore", "s1", "--to", "configs/global.yaml"], "restore", "global.yaml"),
        (&["restore", "s1", "--to", "out", "--path", "../x"], "restore", "invalid path '../x'"),
        // cat specs.
        (&["cat", "bogus"], "cat", "neither SESSION:PATH nor an object id"),
        (&["cat", ""], "cat", "neither SESSION:PATH nor an object id"),
        (&["cat", "s1:"], "cat", "empty path"),
        (&["cat", ":global.yaml"], "cat", "invalid session id ''"),
        (&["cat", "s1:../x"], "cat", "invalid path '../x'"),
        (&["cat", "s1:nope.yaml"], "cat", "has no file 'nope.yaml'"),
        (&["cat", &no_such_object], "cat", "missing from the store"),
        // log paths.
        (&["log", "../x"], "log", "invalid path '../x'"),
        (&["log", ""], "log", "empty path"),
        // diff needs a second side, and only one.
        (&["diff", "s1"], "diff", "give a second session or --root DIR"),
        (&["diff", "s1", "s1", "--root", "configs"], "diff", "cannot be used with"),
        // Flags clap rejects still follow the format.
        (&["backup", "--workflow", WORKFLOW], "backup", "required arguments were not provided: --root <DIR>"),
        (&["backup", "--bogus"], "backup", "unexpected argument '--bogus'"),
        (&["show"], "show", "<SESSION>"),
        (&["rm"], "rm", "<SESSIONS>"),
        (&["verify", "extra"], "verify", "unexpected argument 'extra'"),
    ];
    let mut transcript = String::new();
    for (args, command, needle) in cases {
        let (line, code, kind) = check(&dir, args, command, needle);
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                if a.len() > 40 {
                    format!("<{} bytes>", a.len())
                } else {
                    a.to_string()
                }
            })
            .collect();
        transcript.push_str(&format!(
            "$ cfgvault {}\n{line}\n[exit {code}: {kind}]\n",
            shown.join(" ")
        ));
    }
    // The store is as it was: failed commands change nothing.
    let sessions = dir.cmd(["--json", "sessions"]).assert_exit(0).json();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);
    dir.cmd(["verify"]).assert_exit(0);

    let mut settings = dir.settings();
    // redb's own wording for a file that is not a database is not ours to pin.
    settings.add_filter(r"(is not a cfgvault store: ).*", "${1}[redb error]");
    settings.add_filter(r"\(os error \d+\)", "(os error N)");
    settings.bind(|| insta::assert_snapshot!("bad_input", transcript));
}

#[test]
fn unknown_or_missing_command_is_reported_without_a_command_name() {
    let dir = Dir::new();
    for args in [&["bogus"][..], &["--store"][..], &["--json"][..]] {
        let out = dir.bare_command().args(args).assert_exit(2);
        assert!(out.stderr.starts_with("cfgvault: "), "{out}");
        assert_eq!(out.stderr.lines().count(), 1, "{out}");
    }
    // A mistyped command keeps clap's suggestion.
    let out = dir.bare_command().arg("stat").assert_exit(2);
    assert!(out.stderr.contains("'stats'"), "{out}");
    // No command at all: the usage with the command list.
    let out = dir.bare_command().assert_exit(2);
    assert!(out.stderr.contains("Usage: cfgvault"), "{out}");
    for command in ["backup", "ensure", "pin", "label", "completions"] {
        assert!(
            out.stderr.contains(&format!("\n  {command} ")),
            "{command}: {out}"
        );
    }
    assert!(out.stdout.is_empty(), "{out}");
}

/// An ambiguous prefix is invalid input listing the candidates; a unique one names its
/// session, and an object id may be shortened to 4 or more hex digits.
#[test]
fn id_prefixes_resolve_or_list_the_candidates() {
    let dir = Dir::new();
    dir.fixture();
    dir.backup_fixture("abc-1");
    dir.backup_fixture("abc-2");
    let out = dir.cmd(["--json", "show", "abc"]).assert_exit(2);
    let doc = out.json();
    assert_eq!(doc["error"]["kind"], "invalid_input");
    assert_eq!(
        doc["error"]["candidates"],
        serde_json::json!(["abc-1", "abc-2"])
    );
    assert!(out.stderr.contains("abc-1, abc-2"), "{out}");
    let shown = dir.cmd(["--json", "show", "abc-2"]).assert_exit(0).json();
    assert_eq!(shown["id"], "abc-2");
    let id = shown["files"][0]["id"].as_str().unwrap().to_string();
    let bytes = dir.cmd(["cat", &id[..12]]).assert_exit(0).raw_stdout;
    let path = shown["files"][0]["path"].as_str().unwrap();
    assert_eq!(bytes, dir.read(&format!("configs/{path}")));
    let out = dir.cmd(["--json", "cat", &id[..3]]).assert_exit(2);
    assert_eq!(out.json()["error"]["kind"], "invalid_input");
}

/// A restore or ensure that cannot write some file reports it per file, says so on stderr
/// and exits 2.
#[test]
fn files_that_cannot_be_restored_exit_6() {
    let dir = store();
    let out = dir
        .cmd([
            "--json",
            "restore",
            "s1",
            "--to",
            "out",
            "--path",
            "nope.yaml",
        ])
        .assert_exit(6);
    let doc = out.json();
    assert_eq!(doc["files"][0]["path"], "nope.yaml");
    assert_eq!(doc["files"][0]["action"], "failed");
    assert!(doc["files"][0]["reason"].is_string());
    assert_eq!(
        out.stderr,
        "cfgvault restore: 1 file(s) could not be restored\n"
    );

    // A directory where the session has a file: that file fails, the others are restored.
    dir.remove("configs");
    std::fs::create_dir_all(dir.path("configs/global.yaml")).unwrap();
    let out = dir.cmd(["--json", "ensure", "s1"]).assert_exit(6);
    let doc = out.json();
    let failed = doc["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{doc}");
    assert_eq!(failed[0]["path"], "global.yaml");
    assert_eq!(doc["restored"].as_array().unwrap().len(), 10);
    assert_eq!(
        out.stderr,
        "cfgvault ensure: 1 file(s) could not be checked or restored\n"
    );
}
