//! Behaviour of the commands over the fixture tree: round trips, drift, diff, log, retention,
//! store path resolution and the `--json` contract.

use serde_json::Value;

use crate::util::{Dir, WORKFLOW, fixture_configs, read_tree, strings};

/// The fixture workflow's closure (what a comprehensive backup of it holds).
const CLOSURE: [&str; 11] = [
    "agents/_group.yaml",
    "agents/helper.yaml",
    "global.yaml",
    "llms/provider/openai/common.yaml",
    "llms/provider/openai/openai-gpt4.yaml",
    "llms/tokens_counter/_group.yaml",
    "llms/tokens_counter/openai_gpt4.yaml",
    "tool-sets/basic-tools.yaml",
    "tools/calculator.yaml",
    "tools/rest/weather.yaml",
    "workflows/react.yaml",
];

#[test]
fn backup_then_delete_then_ensure_is_byte_identical() {
    let dir = Dir::new();
    dir.fixture();
    let original = read_tree(&fixture_configs());
    let backup = dir
        .cmd([
            "--json",
            "backup",
            "--root",
            "configs",
            "--workflow",
            WORKFLOW,
            "--session",
            "s1",
        ])
        .assert_exit(0)
        .json();
    let paths: Vec<&str> = backup["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, CLOSURE);

    dir.remove("configs");
    // No --root: ensure puts the files back where the session was taken from.
    let ensured = dir.cmd(["--json", "ensure", "s1"]).assert_exit(0).json();
    assert_eq!(strings(&ensured["restored"]), CLOSURE);
    assert_eq!(ensured["drifted"], Value::Array(vec![]));
    assert_eq!(ensured["failed"], Value::Array(vec![]));

    let restored = read_tree(&dir.path("configs"));
    assert_eq!(
        restored.keys().map(String::as_str).collect::<Vec<_>>(),
        CLOSURE,
        "only the closure comes back"
    );
    for (path, bytes) in &restored {
        assert!(
            bytes == &original[path],
            "{path} differs from the original after ensure"
        );
    }

    // A second ensure finds everything in place.
    let again = dir.cmd(["--json", "ensure", "s1"]).assert_exit(0).json();
    assert_eq!(strings(&again["ok"]), CLOSURE);
    assert_eq!(again["restored"], Value::Array(vec![]));
}

#[test]
fn restore_to_another_dir_and_cat_give_the_original_bytes() {
    let dir = Dir::new();
    dir.fixture();
    dir.backup_tree("configs", "t1");
    let original = read_tree(&fixture_configs());

    let r = dir
        .cmd(["--json", "restore", "t1", "--to", "out"])
        .assert_exit(0)
        .json();
    assert!(
        r["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["action"] == "restored"),
        "{r}"
    );
    assert_eq!(read_tree(&dir.path("out")), original);

    let cat = dir
        .cmd(["cat", "t1:llms/provider/openai/common.yaml"])
        .assert_exit(0);
    assert_eq!(cat.raw_stdout, original["llms/provider/openai/common.yaml"]);

    // By object id, from `show`.
    let show = dir.cmd(["--json", "show", "t1"]).assert_exit(0).json();
    let f = show["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "global.yaml")
        .unwrap();
    let cat = dir.cmd(["cat", f["id"].as_str().unwrap()]).assert_exit(0);
    assert_eq!(cat.raw_stdout, original["global.yaml"]);

    // Only some paths; the rest of the target is left alone.
    dir.write("out/global.yaml", "edited\n");
    dir.remove("out/tools");
    let r = dir
        .cmd([
            "--json",
            "restore",
            "t1",
            "--to",
            "out",
            "--path",
            "tools",
            "--path",
            "global.yaml",
        ])
        .assert_exit(0)
        .json();
    let actions: Vec<(String, String)> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().into(),
                f["action"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("global.yaml".into(), "skipped-changed".into()),
            ("tools/calculator.yaml".into(), "restored".into()),
            ("tools/rest/weather.yaml".into(), "restored".into()),
        ]
    );
    assert_eq!(dir.read("out/global.yaml"), b"edited\n");
    dir.cmd(["restore", "t1", "--to", "out", "--overwrite", "always"])
        .assert_exit(0);
    assert_eq!(read_tree(&dir.path("out")), original);
}

#[test]
fn drift_exits_1_and_leaves_the_edited_file_alone() {
    let dir = Dir::new();
    dir.fixture();
    dir.backup_fixture("s1");
    let edited = "model: gpt-4-turbo\n";
    dir.write("configs/llms/provider/openai/openai-gpt4.yaml", edited);
    dir.remove("configs/tools/calculator.yaml");

    let out = dir
        .cmd(["--json", "ensure", "s1", "--root", "configs"])
        .assert_exit(1);
    let doc = out.json();
    assert_eq!(
        strings(&doc["drifted"]),
        ["llms/provider/openai/openai-gpt4.yaml"]
    );
    assert_eq!(strings(&doc["restored"]), ["tools/calculator.yaml"]);
    assert_eq!(doc["ok"].as_array().unwrap().len(), CLOSURE.len() - 2);
    assert_eq!(
        dir.read("configs/llms/provider/openai/openai-gpt4.yaml"),
        edited.as_bytes(),
        "drifted file untouched"
    );
    assert!(dir.exists("configs/tools/calculator.yaml"));

    // With --diff, the drift's changed keys, as `diff` reports them.
    let doc = dir
        .cmd(["--json", "ensure", "s1", "--root", "configs", "--diff"])
        .assert_exit(1)
        .json();
    let changes = doc["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{doc}");
    assert_eq!(changes[0]["path"], "llms/provider/openai/openai-gpt4.yaml");
    let model = changes[0]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == "model")
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(model["new"], "gpt-4-turbo");

    // Human output says the same, and still exits 1.
    let human = dir
        .cmd(["ensure", "s1", "--root", "configs", "--diff"])
        .assert_exit(1);
    assert!(
        human
            .stdout
            .contains("drifted   llms/provider/openai/openai-gpt4.yaml\n"),
        "{human}"
    );
    assert!(human.stdout.contains("+model: gpt-4-turbo"), "{human}");
    assert!(
        human
            .stdout
            .contains("0 restored, 10 ok, 1 drifted, 0 failed"),
        "{human}"
    );
    assert_eq!(
        dir.read("configs/llms/provider/openai/openai-gpt4.yaml"),
        edited.as_bytes()
    );

    // `never` reports without writing; `always` puts the session's content back.
    dir.remove("configs/global.yaml");
    let never = dir
        .cmd([
            "--json",
            "ensure",
            "s1",
            "--root",
            "configs",
            "--overwrite",
            "never",
        ])
        .assert_exit(1)
        .json();
    assert_eq!(
        strings(&never["drifted"]),
        ["llms/provider/openai/openai-gpt4.yaml"]
    );
    assert_eq!(
        dir.read("configs/llms/provider/openai/openai-gpt4.yaml"),
        edited.as_bytes()
    );
    dir.cmd(["ensure", "s1", "--root", "configs", "--overwrite", "always"])
        .assert_exit(0);
    assert_eq!(
        dir.read("configs/llms/provider/openai/openai-gpt4.yaml"),
        std::fs::read(fixture_configs().join("llms/provider/openai/openai-gpt4.yaml")).unwrap()
    );
    dir.cmd(["ensure", "s1", "--root", "configs"])
        .assert_exit(0);
}

/// `diff` between two sessions and between a session and a directory: exactly the changed
/// paths, exit 1 when there are any, 0 when there are none.
#[test]
fn diff_names_exactly_the_changed_paths() {
    let dir = Dir::new();
    dir.fixture();
    dir.backup_tree("configs", "t1");
    dir.write("configs/global.yaml", "log_level: DEBUG\n");
    dir.remove("configs/prompts/system.md");
    dir.write("configs/tools/new_tool.yaml", "name: new_tool\n");
    dir.backup_tree("configs", "t2");

    let d = dir
        .cmd(["--json", "diff", "t1", "t2"])
        .assert_exit(1)
        .json();
    assert_eq!(strings(&d["added"]), ["tools/new_tool.yaml"]);
    assert_eq!(strings(&d["removed"]), ["prompts/system.md"]);
    assert_eq!(strings(&d["modified"]), ["global.yaml"]);
    assert_eq!(d["patches"], Value::Array(vec![]));

    let back = dir
        .cmd(["--json", "diff", "t2", "t1"])
        .assert_exit(1)
        .json();
    assert_eq!(strings(&back["added"]), ["prompts/system.md"]);
    assert_eq!(strings(&back["removed"]), ["tools/new_tool.yaml"]);

    let human = dir.cmd(["diff", "t1", "t2"]).assert_exit(1);
    assert_eq!(
        human.stdout,
        "A tools/new_tool.yaml\nD prompts/system.md\nM global.yaml\n  global.yaml: env_prefix: \"AGENT_\" -> -\n  global.yaml: log_level: \"INFO\" -> \"DEBUG\"\n"
    );

    let patch = dir
        .cmd(["--json", "diff", "t1", "t2", "--patch"])
        .assert_exit(1)
        .json();
    let patches = patch["patches"].as_array().unwrap();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0]["path"], "global.yaml");
    assert!(
        patches[0]["patch"]
            .as_str()
            .unwrap()
            .contains("+log_level: DEBUG"),
        "{patch}"
    );

    // Equal: exit 0.
    let same = dir.cmd(["diff", "t1", "t1"]).assert_exit(0);
    assert_eq!(same.stdout, "no differences\n");
    dir.cmd(["diff", "t2", "--root", "configs"]).assert_exit(0);

    // Against a directory: the session's paths, edited or deleted on disk.
    dir.write(
        "configs/tools/calculator.yaml",
        "name: calculator\nversion: 2\n",
    );
    dir.remove("configs/agents/helper.yaml");
    let d = dir
        .cmd(["--json", "diff", "t2", "--root", "configs"])
        .assert_exit(1)
        .json();
    assert_eq!(d["added"], Value::Array(vec![]));
    assert_eq!(strings(&d["removed"]), ["agents/helper.yaml"]);
    assert_eq!(strings(&d["modified"]), ["tools/calculator.yaml"]);
    let human = dir
        .cmd(["diff", "t2", "--root", "configs", "--patch"])
        .assert_exit(1);
    assert!(
        human
            .stdout
            .starts_with("D agents/helper.yaml\nM tools/calculator.yaml\n"),
        "{human}"
    );
    assert!(
        human
            .stdout
            .contains("  tools/calculator.yaml: version: - -> 2\n"),
        "{human}"
    );
    assert!(human.stdout.contains("+version: 2"), "{human}");
}

#[test]
fn log_lists_each_version_once() {
    let dir = Dir::new();
    dir.fixture();
    let path = "llms/provider/openai/common.yaml";
    dir.backup_fixture("s1");
    let mut edited = dir.read(&format!("configs/{path}"));
    edited.extend_from_slice(b"timeout: 30\n");
    dir.write(&format!("configs/{path}"), &edited);
    dir.backup_fixture("s2");
    dir.backup_fixture("s3"); // unchanged

    let log = dir.cmd(["--json", "log", path]).assert_exit(0).json();
    assert_eq!(log["path"], path);
    let versions = log["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{log}");
    assert_eq!(versions[0]["sessions"], 1);
    assert_eq!(versions[1]["sessions"], 2);
    assert_eq!(versions[1]["size"], edited.len());
    assert_ne!(versions[0]["id"], versions[1]["id"]);
    assert!(
        versions[0]["first_seen"].as_str().unwrap() <= versions[1]["first_seen"].as_str().unwrap()
    );

    // An unchanged file: one version in all three sessions.
    let log = dir
        .cmd(["--json", "log", "global.yaml"])
        .assert_exit(0)
        .json();
    let versions = log["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["sessions"], 3);

    // Human: one row per version.
    let human = dir.cmd(["log", path]).assert_exit(0);
    assert_eq!(human.stdout.lines().count(), 3, "{human}");

    // A path never backed up has no versions.
    let none = dir
        .cmd(["--json", "log", "nope.yaml"])
        .assert_exit(0)
        .json();
    assert_eq!(none["versions"], Value::Array(vec![]));
}

#[test]
fn cleanup_keep_last_then_gc_then_verify_is_clean() {
    let dir = Dir::new();
    dir.fixture();
    for (i, id) in ["s1", "s2", "s3", "s4"].into_iter().enumerate() {
        dir.write(
            "configs/global.yaml",
            format!("log_level: INFO\nrun: {i}\n"),
        );
        dir.backup_fixture(id);
    }

    let plan = dir
        .cmd(["--json", "cleanup", "--keep-last", "2", "--dry-run"])
        .assert_exit(0)
        .json();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(strings(&plan["remove"]), ["s2", "s1"]);
    assert_eq!(strings(&plan["keep"]), ["s4", "s3"]);
    let listed = dir.cmd(["--json", "sessions"]).assert_exit(0).json();
    assert_eq!(
        listed["sessions"].as_array().unwrap().len(),
        4,
        "a dry run removes nothing"
    );

    let done = dir
        .cmd(["--json", "cleanup", "--keep-last", "2"])
        .assert_exit(0)
        .json();
    assert_eq!(strings(&done["remove"]), ["s2", "s1"]);
    assert_eq!(done["objects_freed"], plan["objects_freed"]);
    assert!(
        done["objects_freed"].as_u64().unwrap() >= 2,
        "two global.yaml versions and their trees: {done}"
    );

    let ids: Vec<String> = dir.cmd(["--json", "sessions"]).assert_exit(0).json()["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["s4", "s3"]);

    let gc = dir.cmd(["--json", "gc"]).assert_exit(0).json();
    assert!(
        gc["file_bytes_after"].as_u64().unwrap() <= gc["file_bytes_before"].as_u64().unwrap(),
        "{gc}"
    );
    let v = dir.cmd(["--json", "verify"]).assert_exit(0).json();
    assert_eq!(v["problems"], Value::Array(vec![]));
    assert!(v["objects_checked"].as_u64().unwrap() > 0);
    let human = dir.cmd(["verify"]).assert_exit(0);
    assert!(human.stdout.trim_end().ends_with(": ok"), "{human}");

    // What is left still restores.
    dir.remove("configs");
    dir.cmd(["ensure", "s3"]).assert_exit(0);
    assert_eq!(
        dir.read("configs/global.yaml"),
        b"log_level: INFO\nrun: 2\n"
    );

    // rm the rest: the store is empty and still verifies.
    let rm = dir.cmd(["--json", "rm", "s3", "s4"]).assert_exit(0).json();
    assert_eq!(strings(&rm["removed"]), ["s3", "s4"]);
    let stats = dir.cmd(["--json", "stats"]).assert_exit(0).json();
    assert_eq!(stats["sessions"], 0);
    assert_eq!(stats["objects"], 0);
    dir.cmd(["verify"]).assert_exit(0);
}

#[test]
fn cleanup_older_than_removes_nothing_recent() {
    let dir = Dir::new();
    dir.fixture();
    dir.backup_fixture("s1");
    let out = dir
        .cmd(["--json", "cleanup", "--older-than", "30d"])
        .assert_exit(0)
        .json();
    assert_eq!(out["remove"], Value::Array(vec![]));
    assert_eq!(strings(&out["keep"]), ["s1"]);
    let out = dir
        .cmd(["--json", "cleanup", "--older-than", "0s"])
        .assert_exit(0)
        .json();
    assert_eq!(strings(&out["remove"]), ["s1"]);
}

#[test]
fn store_path_comes_from_flag_then_env_then_default() {
    let dir = Dir::new();
    dir.fixture();
    let backup = [
        "backup",
        "--root",
        "configs",
        "--workflow",
        WORKFLOW,
        "--session",
        "s1",
    ];

    // Default: .cfgvault/store.redb in the working directory.
    dir.bare_command().args(backup).assert_exit(0);
    assert!(dir.exists(".cfgvault/store.redb"));

    // $CFGVAULT_STORE.
    dir.bare_command()
        .env("CFGVAULT_STORE", dir.path("env.redb"))
        .args(backup)
        .assert_exit(0);
    assert!(dir.exists("env.redb"));

    // --store wins over $CFGVAULT_STORE.
    dir.bare_command()
        .env("CFGVAULT_STORE", dir.path("env.redb"))
        .args(["--store", "flag.redb"])
        .args(backup)
        .assert_exit(0);
    assert!(dir.exists("flag.redb"));
    let sessions = |env: &str| {
        dir.bare_command()
            .env("CFGVAULT_STORE", dir.path(env))
            .args(["--json", "sessions"])
            .assert_exit(0)
            .json()["sessions"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(sessions("env.redb"), 1);
    assert_eq!(sessions("flag.redb"), 1);
    assert_eq!(sessions(".cfgvault/store.redb"), 1);

    // An empty $CFGVAULT_STORE counts as unset.
    let out = dir
        .bare_command()
        .env("CFGVAULT_STORE", "")
        .args(["--json", "sessions"])
        .assert_exit(0)
        .json();
    assert_eq!(out["sessions"].as_array().unwrap().len(), 1);
}

#[test]
fn init_creates_an_empty_store_once() {
    let dir = Dir::new();
    let out = dir.cmd(["--json", "init"]).assert_exit(0).json();
    assert_eq!(out["command"], "init");
    assert!(dir.store().is_file());
    let stats = dir.cmd(["--json", "stats"]).assert_exit(0).json();
    assert_eq!(stats["sessions"], 0);
    assert_eq!(stats["oldest"], Value::Null);
    let again = dir.cmd(["init"]).assert_exit(2);
    assert!(
        again.error_line("init").contains("already exists"),
        "{again}"
    );
}

/// Every command under `--json`: one document tagged with the format, `command` naming it,
/// relative `/`-separated paths; `--quiet` silences the human output but not the exit code.
#[test]
fn every_command_prints_one_json_document() {
    let dir = Dir::new();
    dir.fixture();
    dir.backup_fixture("s1");
    dir.write("configs/global.yaml", "log_level: WARN\n");
    dir.backup_fixture("s2");
    let cases: &[(&[&str], i32)] = &[
        (&["sessions"], 0),
        (&["show", "s1"], 0),
        (&["restore", "s1", "--to", "out"], 0),
        (&["ensure", "s1", "--root", "out"], 0),
        (&["log", "global.yaml"], 0),
        (&["diff", "s1", "s2", "--patch"], 1),
        (&["diff", "s1", "--root", "configs"], 1),
        (&["cleanup", "--keep-last", "5", "--dry-run"], 0),
        (&["gc"], 0),
        (&["verify"], 0),
        (&["stats"], 0),
        (&["deps", "--root", "configs", "--workflow", WORKFLOW], 1),
        (
            &[
                "backup",
                "--root",
                "configs",
                "--workflow",
                WORKFLOW,
                "--session",
                "s3",
            ],
            0,
        ),
        (&["rm", "s3"], 0),
    ];
    for (args, code) in cases {
        let out = dir.command().arg("--json").args(*args).assert_exit(*code);
        let doc = out.json();
        assert_eq!(doc["command"], args[0], "{}", out.desc);
        check_relative_paths(&doc, &out.desc);
        let quiet = dir.command().arg("--quiet").args(*args).run();
        // (`backup s3` and `rm s3` already ran once; only the exit codes of the rest compare.)
        if !matches!(args[0], "backup" | "rm") {
            assert_eq!(quiet.code, Some(*code), "{}", quiet.desc);
            assert_eq!(quiet.stdout, "", "--quiet {}", quiet.desc);
        }
    }
}

/// Fields that hold config paths must be relative and `/`-separated.
fn check_relative_paths(v: &Value, desc: &str) {
    const PATH_FIELDS: [&str; 5] = ["path", "from", "to", "workflow", "paths"];
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if PATH_FIELDS.contains(&k.as_str())
                    && let Some(s) = x.as_str()
                {
                    assert!(
                        !s.starts_with('/') && !s.contains('\\') && !s.is_empty(),
                        "{desc}: {k} = {s:?} is not a relative path"
                    );
                }
                check_relative_paths(x, desc);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| check_relative_paths(x, desc)),
        _ => {}
    }
}

#[test]
fn help_and_version_exit_0_on_stdout() {
    let dir = Dir::new();
    let help = dir.bare_command().arg("--help").assert_exit(0);
    for c in [
        "init", "backup", "sessions", "show", "restore", "ensure", "log", "diff", "cat", "rm",
        "cleanup", "gc", "verify", "stats", "deps",
    ] {
        assert!(
            help.stdout.contains(&format!("\n  {c} ")),
            "--help lacks {c}\n{help}"
        );
    }
    let v = dir.bare_command().arg("--version").assert_exit(0);
    assert!(v.stdout.starts_with("cfgvault "), "{v}");
}
