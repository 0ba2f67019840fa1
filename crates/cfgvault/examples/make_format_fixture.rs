//! Writes a fixture store (`fixtures/stores/format1.redb`): a tiny store in the current format,
//! kept in the repository so that every later build is tested against it
//! (crates/cfgvault/tests/format.rs). Run it only when a new format is introduced, writing to a
//! new file name; never regenerate an existing fixture. Session ids and the label take the
//! file's stem (`format1-first`).
//!
//! `cargo run -p cfgvault --example make_format_fixture -- fixtures/stores/format1.redb`

use std::path::PathBuf;

use cfgvault::{BackupOptions, Options, Vault};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: make_format_fixture OUT.redb")?,
    );
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .ok_or("usage: make_format_fixture OUT.redb")?;
    let src = tempfile::tempdir()?;
    let root = src.path().join("configs");
    copy_dir(&PathBuf::from("fixtures/closure/basic/configs"), &root)?;
    let vault = Vault::create(&out, &Options::default())?;
    let t0 =
        chrono::DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")?.with_timezone(&chrono::Utc);
    let mut o = BackupOptions::default();
    o.session_id = Some(format!("{stem}-first").parse()?);
    o.created_at = Some(t0);
    o.labels.insert("fixture".into(), stem.clone());
    vault.backup(&root, Some("workflows/react.yaml"), &o)?;
    // An edit, so the second session holds a delta against the first's version.
    let llm = root.join("llms/provider/openai/openai-gpt4.yaml");
    let mut text = std::fs::read_to_string(&llm)?;
    text.push_str("# edited for the second session\n");
    std::fs::write(&llm, text)?;
    o.session_id = Some(format!("{stem}-second").parse()?);
    o.created_at = Some(t0 + chrono::Duration::hours(1));
    vault.backup(&root, Some("workflows/react.yaml"), &o)?;
    vault.gc(&cfgvault::NoProgress)?;
    drop(vault);
    println!("wrote {}", out.display());
    Ok(())
}

fn copy_dir(from: &PathBuf, to: &PathBuf) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), dest)?;
        }
    }
    Ok(())
}
