//! Stores written by earlier formats must keep opening: `fixtures/stores/v1.redb` was written by
//! schema version 1 (crates/cfgvault/examples/make_format_fixture.rs) and is never regenerated.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use cfgvault::{Options, Vault, verify};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

#[test]
fn a_store_of_schema_v1_opens_verifies_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    // Work on a copy: opening may write lock and header bytes.
    let copy = dir.path().join("v1.redb");
    std::fs::copy(fixture("stores/v1.redb"), &copy).unwrap();
    let vault = Vault::open(&copy, &Options::default()).unwrap();
    let v = vault
        .verify(&verify::Options::default(), &cfgvault::NoProgress)
        .unwrap();
    assert!(v.is_clean(), "{:?}", v.problems);

    let ids: Vec<String> = vault
        .sessions(&Default::default())
        .unwrap()
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids, ["v1-second", "v1-first"]);

    let configs = fixture("closure/basic/configs");
    let first = "v1-first".parse().unwrap();
    let second = "v1-second".parse().unwrap();
    let record = vault.session(&first).unwrap();
    assert_eq!(record.workflow.as_deref(), Some("workflows/react.yaml"));
    assert_eq!(record.labels.get("fixture").map(String::as_str), Some("v1"));
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

    // And it takes new writes.
    let d = vault.diff(&first, &second).unwrap();
    assert_eq!(d.modified, [llm]);
    vault.delete(&[first]).unwrap();
    assert!(
        vault
            .verify(&verify::Options::default(), &cfgvault::NoProgress)
            .unwrap()
            .is_clean()
    );
}
