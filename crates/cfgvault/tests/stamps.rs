//! A backup reuses the ids of files it read before (`session::StampCache`) without reading them
//! again, and still stores their bytes when the store no longer has them.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use cfgvault::closure::Strategy;
use cfgvault::{BackupOptions, NoProgress, Vault};

fn write_settled(path: &std::path::Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    date_back(path);
}

/// Sets a file's or folder's modification time an hour back, so that its stamp is trusted
/// (and, for a folder, the analysis keeps its walk).
fn date_back(path: &std::path::Path) {
    std::fs::File::open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

#[test]
fn a_cached_file_whose_blob_was_collected_is_stored_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("configs");
    write_settled(&root.join("global.yaml"), "a: 1\n");
    write_settled(&root.join("llms/x.yaml"), "model: x\n");
    let vault = Vault::create(dir.path().join("store.redb"), &Default::default()).unwrap();
    let mut o = BackupOptions::default();
    o.strategy = Strategy::Tree;
    let first = vault.backup(&root, None, &o).unwrap();
    assert_eq!(
        first.new_objects, 6,
        "2 blobs, 2 trees, the closure and session nodes"
    );
    // Everything the first session held goes: the blobs are no longer stored, but the vault
    // still knows their ids by stamp.
    vault
        .delete(std::slice::from_ref(&first.session.id))
        .unwrap();
    vault.gc(&NoProgress).unwrap();
    assert_eq!(vault.stats().unwrap().objects, 0);
    let second = vault.backup(&root, None, &o).unwrap();
    assert!(second.files.iter().all(|f| f.new), "{:?}", second.files);
    assert!(
        vault
            .verify(&Default::default(), &NoProgress)
            .unwrap()
            .is_clean()
    );
    let back = dir.path().join("back");
    vault
        .restore(&second.session.id, Some(&back), &Default::default())
        .unwrap();
    assert_eq!(
        std::fs::read(back.join("llms/x.yaml")).unwrap(),
        b"model: x\n"
    );
    // A third backup finds everything stored and reads nothing it need not.
    let third = vault.backup(&root, None, &o).unwrap();
    assert_eq!(third.new_objects, 0);
}

#[test]
fn a_backup_through_a_kept_analysis_sees_edits_of_parsed_and_unparsed_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("configs");
    let llm = root.join("llms/a.yaml");
    let notes = root.join("tools/notes.txt");
    write_settled(&llm, "model: a\n");
    write_settled(&root.join("tools/calc.yaml"), "name: calc\n");
    write_settled(&notes, "never parsed\n");
    write_settled(
        &root.join("workflows/w.yaml"),
        "nodes:\n  n:\n    config:\n      llm_client: a\n      tool_manager: default\n",
    );
    for d in ["llms", "tools", "workflows", ""] {
        date_back(&root.join(d));
    }
    let vault = Vault::create(dir.path().join("store.redb"), &Default::default()).unwrap();
    let o = BackupOptions::default();
    let backup = || vault.backup(&root, Some("workflows/w.yaml"), &o).unwrap();
    let first = backup();
    let paths: Vec<&str> = first.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "llms/a.yaml",
            "tools/calc.yaml",
            "tools/notes.txt",
            "workflows/w.yaml"
        ]
    );
    // The analysis is kept now; nothing changed, nothing new.
    assert_eq!(backup().new_objects, 0);
    assert_eq!(backup().session.root, first.session.root);

    // Each file edited in place (its folder unchanged, so the analysis's walk still holds):
    // the file the analysis never parses, then one it does.
    let content = |r: &cfgvault::BackupReport, p: &str| {
        r.files.iter().find(|f| f.path == p).map(|f| f.id).unwrap()
    };
    for (path, text) in [(&notes, "edited\n"), (&llm, "model: a\nedited: true\n")] {
        write_settled(path, text);
        let edited = backup();
        let rel = path.strip_prefix(&root).unwrap().to_str().unwrap();
        assert_eq!(
            content(&edited, rel),
            cfgvault::ObjectId::for_blob(text.as_bytes())
        );
        assert!(edited.files.iter().any(|f| f.path == rel && f.new));
        let back = dir.path().join(format!("back-{}", edited.session.id));
        vault
            .restore(&edited.session.id, Some(&back), &Default::default())
            .unwrap();
        assert_eq!(std::fs::read_to_string(back.join(rel)).unwrap(), text);
    }
}
