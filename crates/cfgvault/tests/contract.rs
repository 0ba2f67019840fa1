//! The embedding contract: errors by kind with the session, path or object they concern,
//! pinning, labels, ensure's dry run, cancellation, id prefixes, and the field names every
//! report serializes with (pinned by a snapshot).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use cfgvault::{
    BackupOptions, EnsureOptions, EnsureStatus, ErrorKind, ListOptions, NoProgress, ObjectId,
    Overwrite, RestoreOptions, RetentionPolicy, SessionId, Utc, Vault, VerifyOptions,
};

struct Fixture {
    dir: tempfile::TempDir,
    root: PathBuf,
    vault: Vault,
}

const WORKFLOW: &str = "workflows/react.yaml";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A store and a config root whose workflow references one LLM file (and its common.yaml).
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("configs");
    write(
        &root.join(WORKFLOW),
        "nodes:\n  analyze:\n    config:\n      llm_client: gpt4\n  plan:\n    config:\n      llm_client: no-such-model\n",
    );
    write(
        &root.join("llms/provider/openai/gpt4.yaml"),
        "model: gpt-4\n",
    );
    write(
        &root.join("llms/provider/openai/common.yaml"),
        "base_url: x\n",
    );
    let vault = Vault::create(dir.path().join("store.redb"), &Default::default()).unwrap();
    Fixture { dir, root, vault }
}

impl Fixture {
    fn backup(&self, options: &BackupOptions) -> SessionId {
        self.vault
            .backup(&self.root, Some(WORKFLOW), options)
            .unwrap()
            .session
            .id
    }
}

fn id(s: &str) -> SessionId {
    s.parse().unwrap()
}

#[test]
fn each_failure_has_its_kind_and_names_what_it_concerns() {
    let f = fixture();
    let s = f.backup(&BackupOptions::new().session_id(id("first")));

    let e = Vault::open(f.dir.path().join("none.redb"), &Default::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.path(), Some(f.dir.path().join("none.redb").as_path()));

    let e = Vault::create(f.vault.path(), &Default::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);

    write(&f.dir.path().join("notes.txt"), "not a store\n");
    let e = Vault::open(f.dir.path().join("notes.txt"), &Default::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotAStore, "{e}");

    let e = f.vault.session(&id("missing")).unwrap_err();
    assert_eq!(
        (e.kind(), e.session()),
        (ErrorKind::NotFound, Some("missing"))
    );

    let e = f
        .vault
        .backup(
            &f.root,
            Some(WORKFLOW),
            &BackupOptions::new().session_id(s.clone()),
        )
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.session()),
        (ErrorKind::AlreadyExists, Some("first"))
    );

    let e = f.vault.read_file(&s, "llms/none.yaml").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.session(), Some("first"));
    assert_eq!(e.path(), Some(Path::new("llms/none.yaml")));

    let missing = ObjectId::for_blob(b"never stored");
    let e = f.vault.read_object(&missing).unwrap_err();
    assert_eq!((e.kind(), e.object()), (ErrorKind::NotFound, Some(missing)));

    let e = f
        .vault
        .backup(&f.root, Some("workflows/none.yaml"), &BackupOptions::new())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    let e = f
        .vault
        .backup(
            f.dir.path().join("no-root"),
            Some(WORKFLOW),
            &BackupOptions::new(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    let e = f
        .vault
        .backup(&f.root, None, &BackupOptions::new())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");

    let e = "bad id!"
        .parse::<SessionId>()
        .map_err(cfgvault::Error::from)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(e.session(), Some("bad id!"));
}

/// A store opened unshared by one handle is busy for every other.
#[test]
fn a_store_held_exclusively_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let _held = Vault::create(&path, &cfgvault::Options::new().shared(false)).unwrap();
    let e = Vault::open(&path, &cfgvault::Options::new().shared(false)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Busy, "{e}");
    assert_eq!(e.path(), Some(path.as_path()));
}

#[test]
fn kinds_have_stable_snake_case_names() {
    let names: Vec<String> = [
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::InvalidInput,
        ErrorKind::NotAStore,
        ErrorKind::Damaged,
        ErrorKind::UnsupportedFormat,
        ErrorKind::Busy,
        ErrorKind::Io,
        ErrorKind::Cancelled,
    ]
    .iter()
    .map(|k| {
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        k.to_string()
    })
    .collect();
    assert_eq!(
        names,
        [
            "not_found",
            "already_exists",
            "invalid_input",
            "not_a_store",
            "damaged",
            "unsupported_format",
            "busy",
            "io",
            "cancelled"
        ]
    );
}

#[test]
fn a_pinned_session_survives_cleanup_until_unpinned() {
    let f = fixture();
    let s = f.backup(&BackupOptions::new());
    f.vault.pin(&s).unwrap();
    let all = RetentionPolicy::new().keep_last(0);
    let plan = f.vault.cleanup_plan(&all, Utc::now()).unwrap();
    assert!(plan.remove.is_empty());
    assert_eq!(plan.keep, std::slice::from_ref(&s));
    f.vault.unpin(&s).unwrap();
    let plan = f.vault.cleanup_plan(&all, Utc::now()).unwrap();
    assert_eq!(plan.remove, std::slice::from_ref(&s));
    f.vault.cleanup_apply(&plan).unwrap();
    assert_eq!(f.vault.stats().unwrap().sessions, 0);
    assert_eq!(f.vault.pin(&s).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn labels_are_set_at_backup_and_edited_later_with_the_index_kept() {
    let f = fixture();
    let s = f.backup(&BackupOptions::new().label("user", "alice"));
    let by = |k: &str, v: &str| -> Vec<SessionId> {
        let list = f.vault.sessions(&ListOptions::new().label(k, v)).unwrap();
        list.into_iter().map(|r| r.id).collect()
    };
    assert_eq!(by("user", "alice"), std::slice::from_ref(&s));
    let now = f
        .vault
        .update_labels(&s, [("user", Some("bob")), ("env", Some("prod"))])
        .unwrap();
    assert_eq!(now.len(), 2);
    assert!(by("user", "alice").is_empty());
    assert_eq!(by("user", "bob"), std::slice::from_ref(&s));
    f.vault.update_labels(&s, [("env", None::<&str>)]).unwrap();
    assert!(by("env", "prod").is_empty());
    f.vault.set_labels(&s, [("team", "infra")]).unwrap();
    let labels = f.vault.session(&s).unwrap().labels;
    assert_eq!(
        labels.into_iter().collect::<Vec<_>>(),
        [("team".into(), "infra".into())]
    );
    assert!(
        f.vault
            .verify(&VerifyOptions::new(), &NoProgress)
            .unwrap()
            .is_clean()
    );
}

#[test]
fn labels_over_the_limits_are_refused_and_change_nothing() {
    let f = fixture();
    let s = f.backup(&BackupOptions::new().label("user", "alice"));
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(1025);
    let bad = [
        (long_key.as_str(), "v"),
        ("k", long_value.as_str()),
        ("", "v"),
        ("k", "line\nbreak"),
        ("k\u{1b}", "v"),
    ];
    for (k, v) in bad {
        let e = f.vault.set_labels(&s, [(k, v)]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{k:?}={v:?}: {e}");
        let e = f
            .vault
            .backup(&f.root, Some(WORKFLOW), &BackupOptions::new().label(k, v))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{k:?}={v:?}: {e}");
    }
    assert_eq!(f.vault.session(&s).unwrap().labels["user"], "alice");
    assert_eq!(f.vault.stats().unwrap().sessions, 1);
    let ok = ("k".repeat(128), "v".repeat(1024));
    f.vault.set_labels(&s, [ok]).unwrap();
}

/// Everything under `root`, path → bytes.
fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_dry_run_ensure_reports_what_it_would_do_and_writes_nothing() {
    let f = fixture();
    let s = f.backup(&BackupOptions::new());
    std::fs::remove_file(f.root.join("llms/provider/openai/common.yaml")).unwrap();
    write(
        &f.root.join("llms/provider/openai/gpt4.yaml"),
        "model: gpt-5\n",
    );
    let before = snapshot(&f.root);

    let r = f
        .vault
        .ensure(
            &s,
            None::<&std::path::Path>,
            &EnsureOptions::new().dry_run(true).diff(true),
        )
        .unwrap();
    assert!(r.dry_run);
    assert_eq!(r.restored(), ["llms/provider/openai/common.yaml"]);
    assert_eq!(r.drifted(), ["llms/provider/openai/gpt4.yaml"]);
    assert_eq!(r.ok(), [WORKFLOW]);
    let drifted = r
        .files
        .iter()
        .find(|f| f.status == EnsureStatus::Drifted)
        .unwrap();
    assert!(drifted.diff.as_deref().unwrap().contains("+model: gpt-5"));

    let always = EnsureOptions::new()
        .dry_run(true)
        .overwrite(Overwrite::Always);
    let r = f
        .vault
        .ensure(&s, None::<&std::path::Path>, &always)
        .unwrap();
    assert_eq!(r.restored().len(), 2);
    assert_eq!(snapshot(&f.root), before, "a dry run wrote");

    // The real ensure does what the dry run said.
    let r = f
        .vault
        .ensure(&s, None::<&std::path::Path>, &EnsureOptions::new())
        .unwrap();
    assert_eq!(r.restored(), ["llms/provider/openai/common.yaml"]);
    assert_eq!(r.drifted(), ["llms/provider/openai/gpt4.yaml"]);
}

#[test]
fn a_cancelled_backup_commits_nothing() {
    let f = fixture();
    let stop = AtomicBool::new(true);
    let e = f
        .vault
        .backup_with(&f.root, Some(WORKFLOW), &BackupOptions::new(), &stop)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    let st = f.vault.stats().unwrap();
    assert_eq!((st.sessions, st.objects), (0, 0));
}

/// Records each phase and unit of work, and asks to stop once `stop_after` units are done.
struct Counting {
    stop_after: u64,
    done: std::sync::atomic::AtomicU64,
    phases: std::sync::Mutex<Vec<(&'static str, Option<u64>)>>,
}

impl Counting {
    fn stopping_after(stop_after: u64) -> Counting {
        Counting {
            stop_after,
            done: Default::default(),
            phases: Default::default(),
        }
    }
    fn done(&self) -> u64 {
        self.done.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn phases(&self) -> Vec<(&'static str, Option<u64>)> {
        self.phases.lock().unwrap().clone()
    }
}

impl cfgvault::Progress for Counting {
    fn start(&self, phase: &'static str, total: Option<u64>) {
        self.phases.lock().unwrap().push((phase, total));
    }
    fn inc(&self, n: u64) {
        self.done.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
    }
    fn should_cancel(&self) -> bool {
        self.done() >= self.stop_after
    }
}

#[test]
fn a_backup_reports_each_file_and_stops_midway_storing_nothing() {
    let f = fixture();
    let all = Counting::stopping_after(u64::MAX);
    let r = f
        .vault
        .backup_with(&f.root, Some(WORKFLOW), &BackupOptions::new(), &all)
        .unwrap();
    assert_eq!(all.phases(), [("read", Some(3))]);
    assert_eq!(all.done(), 3);
    assert_eq!(r.files.len(), 3);

    // Stopped after the first file: the store is as it was.
    let before = f.vault.stats().unwrap();
    let stop = Counting::stopping_after(1);
    let e = f
        .vault
        .backup_with(
            &f.root,
            Some(WORKFLOW),
            &BackupOptions::new().session_id(id("stopped")),
            &stop,
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(stop.done(), 1);
    let after = f.vault.stats().unwrap();
    assert_eq!(
        (after.sessions, after.objects),
        (before.sessions, before.objects)
    );
}

/// Every file of the tree below `dir`, relative, with `/`.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy();
                out.push(rel.replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

#[test]
fn a_restore_and_an_ensure_report_each_file_and_stop_between_whole_files() {
    let f = fixture();
    let s = f.backup(&BackupOptions::new());
    let copy = f.dir.path().join("copy");

    let all = Counting::stopping_after(u64::MAX);
    f.vault
        .restore_with(&s, Some(&copy), &RestoreOptions::new(), &all)
        .unwrap();
    assert_eq!(all.phases(), [("write", Some(3))]);
    assert_eq!(all.done(), 3);

    // Stopped after two files: those two are whole, the third is not written, and no
    // temporary file is left.
    let partial = f.dir.path().join("partial");
    let stop = Counting::stopping_after(2);
    let e = f
        .vault
        .restore_with(&s, Some(&partial), &RestoreOptions::new(), &stop)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    let written = tree(&partial);
    assert_eq!(written.len(), 2, "{written:?}");
    for p in &written {
        assert_eq!(
            std::fs::read(partial.join(p)).unwrap(),
            std::fs::read(copy.join(p)).unwrap(),
            "{p} is not whole"
        );
    }

    // Ensure: a dry run checks each file, a real one writes through the same steps.
    std::fs::remove_dir_all(&f.root).unwrap();
    let check = Counting::stopping_after(u64::MAX);
    let r = f
        .vault
        .ensure_with(
            &s,
            Some(&f.root),
            &EnsureOptions::new().dry_run(true),
            &check,
        )
        .unwrap();
    assert_eq!(check.phases(), [("check", Some(3))]);
    assert_eq!(r.restored().len(), 3);
    let stop = Counting::stopping_after(0);
    let e = f
        .vault
        .ensure_with(&s, Some(&f.root), &EnsureOptions::new(), &stop)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert!(tree(&f.root).is_empty(), "{:?}", tree(&f.root));
    let stop = Counting::stopping_after(1);
    let e = f
        .vault
        .ensure_with(&s, Some(&f.root), &EnsureOptions::new(), &stop)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(tree(&f.root).len(), 1, "{:?}", tree(&f.root));
}

#[test]
fn gc_phases_report_totals() {
    let f = fixture();
    f.backup(&BackupOptions::new());
    let p = Counting::stopping_after(u64::MAX);
    f.vault.gc(&p).unwrap();
    let phases = p.phases();
    let objects = f.vault.stats().unwrap().objects;
    assert!(phases.contains(&("sweep", Some(objects))), "{phases:?}");
    for (phase, total) in &phases {
        assert!(total.is_some(), "{phase} has no total: {phases:?}");
    }
    for phase in ["sweep", "rewrite", "pack", "cold", "compact"] {
        assert!(
            phases.iter().any(|(p, _)| *p == phase),
            "no {phase} phase: {phases:?}"
        );
    }
}

#[test]
fn ids_resolve_from_unique_prefixes() {
    let f = fixture();
    let a = f.backup(&BackupOptions::new().session_id(id("abc-1")));
    f.backup(&BackupOptions::new().session_id(id("abc-2")));
    assert_eq!(f.vault.resolve_session("abc-1").unwrap(), a);
    let e = f.vault.resolve_session("abc").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(e.candidates(), ["abc-1", "abc-2"]);
    assert_eq!(
        f.vault.resolve_session("zzz").unwrap_err().kind(),
        ErrorKind::NotFound
    );

    let file = f.vault.files(&a).unwrap().remove(0);
    let hex = file.id.to_string();
    assert_eq!(f.vault.resolve_object(&hex[..12]).unwrap(), file.id);
    assert_eq!(
        f.vault.resolve_object(&hex[..12].to_uppercase()).unwrap(),
        file.id
    );
    assert_eq!(
        f.vault.resolve_object(&hex[..3]).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        f.vault.resolve_object("ffffffff").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

/// The key paths of a JSON value (`files[].path`), sorted and deduplicated.
fn shape(v: &serde_json::Value, at: &str, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let p = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                out.insert(p.clone());
                shape(v, &p, out);
            }
        }
        serde_json::Value::Array(a) => {
            for v in a {
                shape(v, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

/// A change to a report's field names is a change of the contract: this snapshot fails.
#[test]
fn report_field_names_are_stable() {
    let f = fixture();
    let s = f.backup(
        &BackupOptions::new()
            .session_id(id("a"))
            .label("user", "alice"),
    );
    write(
        &f.root.join("llms/provider/openai/gpt4.yaml"),
        "model: gpt-5\n",
    );
    let backup = f
        .vault
        .backup(
            &f.root,
            Some(WORKFLOW),
            &BackupOptions::new().session_id(id("b")),
        )
        .unwrap();
    assert_eq!(backup.unresolved.len(), 1, "{:?}", backup.unresolved);
    let b = backup.session.id.clone();
    std::fs::remove_file(f.root.join(WORKFLOW)).unwrap();
    let ensure = f
        .vault
        .ensure(
            &s,
            None::<&std::path::Path>,
            &EnsureOptions::new().dry_run(true).diff(true),
        )
        .unwrap();
    let restore = f
        .vault
        .restore(
            &s,
            Some(&f.dir.path().join("copy")),
            &RestoreOptions::new().path("none"),
        )
        .unwrap();
    let reports = serde_json::json!({
        "backup": backup,
        "ensure": ensure,
        "restore": restore,
        "diff": f.vault.diff(&s, &b).unwrap(),
        "versions": f.vault.versions("llms/provider/openai/gpt4.yaml").unwrap(),
        "followed": f.vault.versions_following("llms/provider/openai/gpt4.yaml").unwrap(),
        "sessions": f.vault.sessions(&ListOptions::new()).unwrap(),
        "session": f.vault.session(&s).unwrap(),
        "files": f.vault.files(&s).unwrap(),
        "stats": f.vault.stats().unwrap(),
        "cleanup_plan": f.vault.cleanup_plan(&RetentionPolicy::new().keep_last(1), Utc::now()).unwrap(),
        "removed": f.vault.delete(&[b]).unwrap(),
        "gc": f.vault.gc(&NoProgress).unwrap(),
        "verify": f.vault.verify(&VerifyOptions::new(), &NoProgress).unwrap(),
    });
    let mut keys = std::collections::BTreeSet::new();
    shape(&reports, "", &mut keys);
    insta::assert_snapshot!(keys.into_iter().collect::<Vec<_>>().join("\n"));
}
