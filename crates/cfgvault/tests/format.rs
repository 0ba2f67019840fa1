//! Stores written by earlier formats must keep opening: `fixtures/stores/vN.redb` was written by
//! schema version N (crates/cfgvault/examples/make_format_fixture.rs) and is never regenerated.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use cfgvault::{Options, Vault, VerifyOptions};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

#[test]
fn a_store_of_schema_v1_opens_verifies_and_reads() {
    check("v1");
}

#[test]
fn a_store_of_schema_v2_opens_verifies_and_reads() {
    check("v2");
}

/// Its objects are in a pack (the fixture's writer ran gc), their entries in `ids`.
#[test]
fn a_store_of_schema_v3_opens_verifies_and_reads() {
    check("v3");
}

/// Its objects are in a pack, their entries in the pack index.
#[test]
fn a_store_of_schema_v4_opens_verifies_and_reads() {
    check("v4");
}

/// Its roots, index entries and pack index are in a cold block; every live table is empty.
#[test]
fn a_store_of_schema_v5_opens_verifies_and_reads() {
    check("v5");
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
    // The totals, wherever the older build kept them.
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
    // A gc by this build packs what the older one left (loose objects, or packs whose entries
    // are in `ids`), and everything still reads.
    vault.gc(&cfgvault::NoProgress).unwrap();
    let outcome = vault
        .verify(&VerifyOptions::default(), &cfgvault::NoProgress)
        .unwrap();
    assert!(outcome.is_clean(), "{:?}", outcome.problems);
    assert_eq!(vault.read_file(&second, llm).unwrap(), edited);
    assert_eq!(vault.versions(llm).unwrap().len(), 2);
}
