//! `Vault::push`, `Vault::pull` and `Vault::ensure_from` over a `file://` remote (the remote's
//! own tests, against an S3 server too, are in crates/remote/tests).

use cfgvault::remote::{Remote, RemoteOptions};
use cfgvault::{BackupOptions, EnsureOptions, Error, Options, Vault};

fn write(root: &std::path::Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

#[test]
fn a_session_backed_up_on_one_host_is_ensured_on_another() -> Result<(), Error> {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("configs");
    write(
        &root,
        "workflows/react.yaml",
        "nodes:\n  a:\n    config:\n      llm_client: gpt4\n",
    );
    write(&root, "llms/provider/openai/gpt4.yaml", "model: gpt-4\n");
    write(
        &root,
        "llms/provider/openai/common.yaml",
        "base_url: ${OPENAI_URL}\n",
    );
    let url = format!("file://{}", dir.path().join("remote").display());
    let remote = Remote::open_with(&url, &RemoteOptions::default())?;

    let a = Vault::create(dir.path().join("a.redb"), &Options::default())?;
    let backup = a.backup(
        &root,
        Some("workflows/react.yaml"),
        &BackupOptions::default(),
    )?;
    let id = backup.session.id.clone();
    let pushed = a.push(&remote, &[])?;
    assert_eq!(pushed.pushed, vec![id.clone()]);
    assert_eq!(a.push(&remote, &[])?.objects_uploaded, 0);

    // Another host, another folder: ensure pulls the session, then restores its closure.
    let b = Vault::create(dir.path().join("b.redb"), &Options::default())?;
    let target = dir.path().join("elsewhere");
    std::fs::create_dir_all(&target).expect("mkdir");
    let ensured = b.ensure_from(&remote, &id, Some(&target), &EnsureOptions::default())?;
    assert_eq!(ensured.restored().len(), 3);
    for rel in [
        "workflows/react.yaml",
        "llms/provider/openai/gpt4.yaml",
        "llms/provider/openai/common.yaml",
    ] {
        assert_eq!(
            std::fs::read(target.join(rel)).expect("restored"),
            std::fs::read(root.join(rel)).expect("original"),
            "{rel}"
        );
    }
    let record = b.session(&id)?;
    assert_eq!(record.workflow.as_deref(), Some("workflows/react.yaml"));
    assert_eq!(
        record.closure,
        a.session(&id)?.closure,
        "the closure travels too"
    );
    // Pulling again changes nothing.
    let pulled = b.pull(&remote, &[])?;
    assert!(pulled.pulled.is_empty());
    assert_eq!(pulled.unchanged, vec![id]);
    Ok(())
}
