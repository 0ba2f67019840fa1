//! Restore: policies, safety against escaping the target.

use std::fs;

use cfgvault_session::restore::{self, Action, Options, Overwrite};
use cfgvault_session::{self as session, Error};
use cfgvault_store::ObjectId;

use crate::{Fixture, sid, write_tree};

/// Restores `f` = "new" over a target where `f` holds `existing` (None: missing) under
/// `policy`; checks the action and the content left.
fn check(policy: &str, existing: Option<&str>, action: Action, content: &str) {
    let fx = Fixture::new();
    fx.session("s", "2025-01-01", &[("dir/f", "new")]);
    let target = fx.path("target");
    if let Some(c) = existing {
        write_tree(&target, &[("dir/f", c)]);
    }
    let mut o = Options::default();
    o.overwrite = policy.parse().unwrap();
    let report = restore::restore(&fx.store, &sid("s"), &target, &o).unwrap();
    assert_eq!(report.files.len(), 1);
    assert_eq!(report.files[0].action, action, "{policy} over {existing:?}");
    assert_eq!(fs::read_to_string(target.join("dir/f")).unwrap(), content);
}

#[test]
fn overwrite_policies() {
    check("never", None, Action::Restored, "new");
    check("never", Some("new"), Action::Unchanged, "new");
    check("never", Some("changed"), Action::SkippedChanged, "changed");
    check("if-unchanged", None, Action::Restored, "new");
    check("if-unchanged", Some("new"), Action::Unchanged, "new");
    check(
        "if-unchanged",
        Some("changed"),
        Action::SkippedChanged,
        "changed",
    );
    check("always", None, Action::Restored, "new");
    check("always", Some("new"), Action::Unchanged, "new");
    check("always", Some("changed"), Action::Restored, "new");
}

#[test]
fn overwrite_names_round_trip() {
    for o in [Overwrite::Never, Overwrite::IfUnchanged, Overwrite::Always] {
        assert_eq!(o.to_string().parse::<Overwrite>().unwrap(), o);
    }
    assert_eq!(Overwrite::default(), Overwrite::IfUnchanged);
    assert!(matches!(
        "sometimes".parse::<Overwrite>(),
        Err(Error::InvalidOverwrite { .. })
    ));
}

#[cfg(unix)]
#[test]
fn symlinked_folder_in_target_is_refused_and_others_continue() {
    let fx = Fixture::new();
    fx.session("s", "2025-01-01", &[("llms/a.yaml", "a"), ("z.yaml", "z")]);
    let target = fx.path("target");
    let outside = fx.path("outside");
    std::os::unix::fs::symlink(&outside, target.join("llms")).unwrap();
    let mut o = Options::default();
    o.overwrite = Overwrite::Always;
    let report = restore::restore(&fx.store, &sid("s"), &target, &o).unwrap();
    assert!(
        matches!(&report.files[0].action, Action::Failed(why) if why.contains("symlink")),
        "{report:?}"
    );
    assert_eq!(report.files[1].action, Action::Restored);
    assert!(fs::read_dir(&outside).unwrap().next().is_none());
}

#[cfg(unix)]
#[test]
fn symlink_at_a_file_is_replaced_not_written_through() {
    let fx = Fixture::new();
    fx.session("s", "2025-01-01", &[("f", "new")]);
    let target = fx.path("target");
    let outside = fx.path("outside").join("victim");
    fs::write(&outside, "keep").unwrap();
    std::os::unix::fs::symlink(&outside, target.join("f")).unwrap();
    let report = restore::restore(&fx.store, &sid("s"), &target, &Options::default()).unwrap();
    assert_eq!(report.files[0].action, Action::SkippedChanged);
    let mut o = Options::default();
    o.overwrite = Overwrite::Always;
    let report = restore::restore(&fx.store, &sid("s"), &target, &o).unwrap();
    assert_eq!(report.files[0].action, Action::Restored);
    assert_eq!(fs::read_to_string(&outside).unwrap(), "keep");
    assert!(!fs::symlink_metadata(target.join("f")).unwrap().is_symlink());
}

#[test]
fn crafted_tree_with_dotdot_is_rejected() {
    let fx = Fixture::new();
    let blob = ObjectId::for_blob(b"evil");
    // A tree payload naming `..`, encoded by hand (the encoder would not produce it).
    let mut bytes = vec![1u8, 1, 1, 0xa4, 0x03, 2];
    bytes.extend_from_slice(b"..");
    bytes.push(4);
    let mut txn = fx.store.write().unwrap();
    txn.put_blob(b"evil").unwrap();
    let node = txn.put_node(&bytes, &[blob]).unwrap().id;
    txn.pin("test/evil", &node, b"").unwrap();
    txn.commit().unwrap();
    let target = fx.path("target");
    let err =
        restore::restore_tree(&fx.store, &node, &target, &Options::default(), None).unwrap_err();
    assert!(matches!(err, Error::CorruptTree { .. }), "{err}");
    assert!(!fx.dir.path().join("evil").exists());
}

#[test]
fn selected_paths_and_missing_ones() {
    let fx = Fixture::new();
    fx.session(
        "s",
        "2025-01-01",
        &[
            ("llms/a.yaml", "a"),
            ("llms/b.yaml", "b"),
            ("tools/t.yaml", "t"),
        ],
    );
    let target = fx.path("target");
    let mut o = Options::default();
    o.paths = Some(vec![
        "llms".into(),
        "tools/t.yaml".into(),
        "nope.yaml".into(),
    ]);
    let report = restore::restore(&fx.store, &sid("s"), &target, &o).unwrap();
    let got: Vec<(&str, bool)> = report
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.action == Action::Restored))
        .collect();
    assert_eq!(
        got,
        [
            ("nope.yaml", false),
            ("llms/a.yaml", true),
            ("llms/b.yaml", true),
            ("tools/t.yaml", true)
        ]
    );
    o.paths = Some(vec!["../etc".into()]);
    assert!(matches!(
        restore::restore(&fx.store, &sid("s"), &target, &o),
        Err(Error::InvalidPath { .. })
    ));
}

#[cfg(unix)]
#[test]
fn mode_and_mtime_are_restored() {
    use cfgvault_session::{FileSet, NewSession};
    let fx = Fixture::new();
    let set = FileSet::from_memory([
        ("run.sh", b"#!/bin/sh\n".to_vec(), 0o750),
        ("c.yaml", b"c".to_vec(), 0o600),
    ])
    .unwrap();
    let mut new = NewSession::new(set);
    new.id = Some(sid("s"));
    new.created_at = crate::t("2024-02-03T04:05:06Z");
    session::create(&fx.store, new).unwrap();
    let target = fx.path("target");
    restore::restore(&fx.store, &sid("s"), &target, &Options::default()).unwrap();
    assert_eq!(crate::mode(&target.join("run.sh")), 0o750);
    assert_eq!(crate::mode(&target.join("c.yaml")), 0o600);
    let mtime = fs::metadata(target.join("c.yaml"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        chrono::DateTime::<chrono::Utc>::from(mtime),
        crate::t("2024-02-03T04:05:06Z")
    );
    // An identical file with other mode bits is fixed under if-unchanged, left under never.
    crate::set_mode(&target.join("c.yaml"), 0o644);
    let mut o = Options::default();
    o.overwrite = Overwrite::Never;
    restore::restore(&fx.store, &sid("s"), &target, &o).unwrap();
    assert_eq!(crate::mode(&target.join("c.yaml")), 0o644);
    restore::restore(&fx.store, &sid("s"), &target, &Options::default()).unwrap();
    assert_eq!(crate::mode(&target.join("c.yaml")), 0o600);
}

/// More files than one sync batch (64), in several folders, some already in place: every file
/// ends up whole under its name, each reported once, and no temporary file is left.
#[test]
fn restores_beyond_one_sync_batch_leave_every_file_whole_and_no_temporary() {
    let fx = Fixture::new();
    let files: Vec<(String, String)> = (0..150)
        .map(|i| (format!("d{}/f{i:03}.yaml", i % 7), format!("value: {i}\n")))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    fx.session("s", "2025-01-01", &refs);
    let target = fx.path("target");
    // A few already there: unchanged ones between the written ones.
    write_tree(&target, &refs[10..13]);
    let report = restore::restore(&fx.store, &sid("s"), &target, &Options::default()).unwrap();
    assert_eq!(report.files.len(), 150);
    assert_eq!(report.count(&Action::Restored), 147);
    assert_eq!(report.count(&Action::Unchanged), 3);
    let on_disk = crate::read_tree(&target);
    assert_eq!(
        on_disk.len(),
        150,
        "only the session's files, no temporary file"
    );
    for (p, c) in &files {
        assert_eq!(on_disk[p].0, c.as_bytes(), "{p}");
    }
}
