//! Format 1, the one store format (docs/FORMAT.md): `fixtures/stores/format1.redb` was written
//! by a format-1 build (crates/cfgvault/examples/make_format_fixture.rs) and is never
//! regenerated; every later build must open it, verify it, restore from it and write to it. A
//! change of format ships a `cfgvault upgrade` and a test that upgrades this fixture.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use cfgvault::{Options, Vault, VerifyOptions};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

/// Two sessions of `closure/basic`, the second with one file edited (a delta); the writer's
/// final gc packed every object and folded every root and index entry into a cold block.
#[test]
fn a_format_1_store_opens_verifies_restores_and_takes_new_backups() {
    check("format1");
}

/// Opens a copy of `fixtures/stores/{v}.redb` (sessions `{v}-first` and `{v}-second`), verifies
/// it, reads everything back, then writes to it.
fn check(v: &str) {
    let dir = tempfile::tempdir().unwrap();
    // Work on a copy: opening may write lock and header bytes.
    let copy = dir.path().join(format!("{v}.redb"));
    std::fs::copy(fixture(&format!("stores/{v}.redb")), &copy).unwrap();
    let vault = Vault::open(&copy, &Options::default()).unwrap();
    let outcome = vault
        .verify(&VerifyOptions::default(), &cfgvault::NoProgress)
        .unwrap();
    assert!(outcome.is_clean(), "{:?}", outcome.problems);

    let ids: Vec<String> = vault
        .sessions(&Default::default())
        .unwrap()
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids, [format!("{v}-second"), format!("{v}-first")]);
    let sessions = || vault.stats().unwrap().sessions;
    assert_eq!(sessions(), 2);

    let configs = fixture("closure/basic/configs");
    let first = format!("{v}-first").parse().unwrap();
    let second = format!("{v}-second").parse().unwrap();
    let record = vault.session(&first).unwrap();
    assert_eq!(record.workflow.as_deref(), Some("workflows/react.yaml"));
    assert_eq!(record.labels.get("fixture").map(String::as_str), Some(v));
    assert!(
        !record.closure.as_ref().unwrap().unresolved.is_empty(),
        "the fixture's dangling fallback model"
    );
    for f in vault.files(&first).unwrap() {
        let on_disk = std::fs::read(configs.join(&f.path)).unwrap();
        assert_eq!(
            vault.read_file(&first, &f.path).unwrap(),
            on_disk,
            "{}",
            f.path
        );
    }
    let llm = "llms/provider/openai/openai-gpt4.yaml";
    let mut edited = std::fs::read(configs.join(llm)).unwrap();
    edited.extend_from_slice(b"# edited for the second session\n");
    assert_eq!(vault.read_file(&second, llm).unwrap(), edited);
    // A restore of the second session writes every file, the edited one as it was.
    let back = dir.path().join("restored");
    let report = vault
        .restore(&second, Some(&back), &Default::default())
        .unwrap();
    assert!(!report.has_failures(), "{report:?}");
    let restored = report
        .files
        .iter()
        .filter(|f| f.action == cfgvault::RestoreAction::Restored)
        .count();
    assert_eq!(restored, vault.files(&second).unwrap().len());
    assert_eq!(std::fs::read(back.join(llm)).unwrap(), edited);
    for f in vault
        .files(&second)
        .unwrap()
        .iter()
        .filter(|f| f.path != llm)
    {
        let on_disk = std::fs::read(configs.join(&f.path)).unwrap();
        assert_eq!(
            std::fs::read(back.join(&f.path)).unwrap(),
            on_disk,
            "{}",
            f.path
        );
    }
    assert_eq!(vault.versions(llm).unwrap().len(), 2);

    // And it takes new writes: a session with a current record lists beside the old ones.
    let d = vault.diff(&first, &second).unwrap();
    assert_eq!(d.modified, [llm]);
    let mut opts = cfgvault::BackupOptions::default();
    opts.session_id = Some("new-third".parse().unwrap());
    let third = vault
        .backup(&configs, Some("workflows/react.yaml"), &opts)
        .unwrap();
    let listed: Vec<(String, Option<String>, String)> = vault
        .sessions(&Default::default())
        .unwrap()
        .into_iter()
        .map(|r| (r.id.to_string(), r.workflow, r.strategy))
        .collect();
    let react = Some("workflows/react.yaml".to_string());
    let comprehensive = "comprehensive".to_string();
    assert_eq!(
        listed,
        [
            ("new-third".into(), react.clone(), comprehensive.clone()),
            (format!("{v}-second"), react.clone(), comprehensive.clone()),
            (format!("{v}-first"), react, comprehensive),
        ]
    );
    assert_eq!(
        vault.session(&third.session.id).unwrap().source_root,
        std::fs::canonicalize(&configs).unwrap().to_string_lossy()
    );
    assert_eq!(sessions(), 3);
    vault.delete(&[first]).unwrap();
    assert_eq!(sessions(), 2);
    assert!(
        vault
            .verify(&VerifyOptions::default(), &cfgvault::NoProgress)
            .unwrap()
            .is_clean()
    );
    // A gc by this build packs what the new backup left loose, and everything still reads.
    vault.gc(&cfgvault::NoProgress).unwrap();
    let outcome = vault
        .verify(&VerifyOptions::default(), &cfgvault::NoProgress)
        .unwrap();
    assert!(outcome.is_clean(), "{:?}", outcome.problems);
    assert_eq!(vault.read_file(&second, llm).unwrap(), edited);
    assert_eq!(vault.versions(llm).unwrap().len(), 2);
}
