//! The remote commands over `file://` (the S3 server tests are in crates/remote/tests):
//! push, pull, `--remote` for sessions, ensure, verify, cleanup and gc, the id conflict
//! and the key.

use crate::util::{Dir, read_tree};

fn url(dir: &Dir) -> String {
    format!("file://{}", dir.path("remote").display())
}

#[test]
fn push_pull_and_ensure_through_a_remote_move_sessions_between_hosts() {
    let a = Dir::new();
    a.fixture();
    a.backup_fixture("s1");
    a.backup_tree("configs", "s2");
    let remote = url(&a);

    let pushed = a.cmd(["--json", "push", &remote]).assert_exit(0).json();
    assert_eq!(pushed["command"], "push");
    assert_eq!(pushed["pushed"], serde_json::json!(["s1", "s2"]));
    assert!(pushed["objects_uploaded"].as_u64().unwrap() >= 4);
    assert!(pushed["bytes_uploaded"].as_u64().unwrap() > 0);
    let again = a.cmd(["--json", "push", &remote]).assert_exit(0).json();
    assert_eq!(again["pushed"], serde_json::json!([]));
    assert_eq!(again["objects_uploaded"], 0);
    assert_eq!(again["bytes_uploaded"], 0);

    let listed = a
        .cmd(["--json", "sessions", "--remote", &remote])
        .assert_exit(0)
        .json();
    let ids: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"s1") && ids.contains(&"s2"));

    // Another host resumes s1: ensure pulls it, then restores every file.
    let b = Dir::new();
    let ensured = b
        .cmd([
            "--json", "ensure", "s1", "--root", "restored", "--remote", &remote,
        ])
        .assert_exit(0)
        .json();
    assert_eq!(ensured["restored"].as_array().unwrap().len(), 11);
    let original = read_tree(&a.path("configs"));
    for (path, bytes) in read_tree(&b.path("restored")) {
        assert_eq!(original.get(&path), Some(&bytes), "{path}");
    }
    let pulled = b.cmd(["--json", "pull", &remote]).assert_exit(0).json();
    assert_eq!(pulled["pulled"], serde_json::json!(["s2"]));
    assert_eq!(pulled["unchanged"], serde_json::json!(["s1"]));
    assert!(pulled["objects_downloaded"].as_u64().unwrap() >= 1);
    assert!(pulled["bytes_downloaded"].as_u64().unwrap() > 0);

    let verified = b
        .cmd(["--json", "verify", "--remote", &remote])
        .assert_exit(0)
        .json();
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["sessions_checked"], 2);

    let cleaned = b
        .cmd(["--json", "cleanup", "--keep-last", "1", "--remote", &remote])
        .assert_exit(0)
        .json();
    assert_eq!(cleaned["remove"].as_array().unwrap().len(), 1);
    let gc = b
        .cmd(["--json", "gc", "--remote", &remote])
        .assert_exit(0)
        .json();
    assert_eq!(
        gc["packs_deleted"], 0,
        "a pack is deleted a grace period after condemnation"
    );
    b.cmd(["verify", "--remote", &remote]).assert_exit(0);
}

#[test]
fn pushing_an_id_held_with_other_content_is_refused_with_exit_2() {
    let a = Dir::new();
    a.fixture();
    a.backup_fixture("same");
    let remote = url(&a);
    a.cmd(["push", &remote]).assert_exit(0);

    let b = Dir::new();
    b.write("other/x.yaml", "x: 1\n");
    b.backup_tree("other", "same");
    let out = b.cmd(["push", &remote]).assert_exit(2);
    assert!(out.stderr.contains("already exists"), "{out}");
}

#[test]
fn an_encrypted_remote_needs_its_key() {
    let a = Dir::new();
    a.fixture();
    a.backup_fixture("s1");
    let remote = url(&a);
    a.cmd(["push", &remote])
        .env("CFGVAULT_REMOTE_KEY", "a long random secret")
        .assert_exit(0);
    let out = a
        .cmd(["sessions", "--remote", &remote])
        .env("CFGVAULT_REMOTE_KEY", "another secret")
        .assert_exit(2);
    assert!(out.stderr.contains("not the key"), "{out}");
    let out = a.cmd(["sessions", "--remote", &remote]).assert_exit(2);
    assert!(out.stderr.contains("encrypted"), "{out}");
    a.cmd(["sessions", "--remote", &remote])
        .env("CFGVAULT_REMOTE_KEY", "a long random secret")
        .assert_exit(0);
}
