//! The lifecycle an agent framework runs against cfgvault, using nothing but the `cfgvault`
//! crate: a session starts (back up its workflow's config closure), is resumed days later
//! (put back what went missing, report what drifted), old sessions are cleaned up by age,
//! and `gc` gives the space back. CI runs it: `cargo run -p cfgvault --example session_manager`.

use std::path::Path;
use std::time::Duration;

use cfgvault::{
    BackupOptions, EnsureOptions, EnsureStatus, ErrorKind, ListOptions, NoProgress,
    RetentionPolicy, SessionId, Utc, Vault,
};

/// The framework's session manager: one vault, shared by every session.
struct SessionManager {
    vault: Vault,
    config_root: std::path::PathBuf,
}

impl SessionManager {
    /// Session start: back up the workflow's closure, labelled with who ran it.
    fn start(&self, workflow: &str, user: &str) -> Result<SessionId, cfgvault::Error> {
        let options = BackupOptions::new().label("user", user);
        let report = self
            .vault
            .backup(&self.config_root, Some(workflow), &options)?;
        println!(
            "started {} with {} configs ({} new objects)",
            report.session.id,
            report.files.len(),
            report.new_objects
        );
        for u in &report.unresolved {
            println!(
                "  unresolved: {}: {} = {} ({})",
                u.from, u.key, u.value, u.reason
            );
        }
        Ok(report.session.id)
    }

    /// Resume: restore what is missing, report drift; a session that is gone is not fatal.
    fn resume(&self, id: &SessionId) -> Result<bool, cfgvault::Error> {
        let preview = match self.vault.ensure(
            id,
            None::<&std::path::Path>,
            &EnsureOptions::new().dry_run(true),
        ) {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                println!("session {id} is gone: {e}");
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        println!("resuming {id}: would restore {:?}", preview.restored());
        let report = self.vault.ensure(
            id,
            None::<&std::path::Path>,
            &EnsureOptions::new().diff(true),
        )?;
        for f in &report.files {
            match &f.status {
                EnsureStatus::Restored => println!("  restored {}", f.path),
                EnsureStatus::Drifted => {
                    println!("  drifted  {}", f.path);
                    if let Some(d) = &f.diff {
                        print!("{d}");
                    }
                }
                EnsureStatus::Failed(why) => println!("  failed   {} ({why})", f.path),
                _ => {}
            }
        }
        Ok(true)
    }

    /// Housekeeping: drop unpinned sessions older than `age`, then compact the store.
    fn cleanup(&self, age: Duration) -> Result<(), cfgvault::Error> {
        let policy = RetentionPolicy::new().older_than(age);
        let plan = self.vault.cleanup_plan(&policy, Utc::now())?;
        let removed = self.vault.cleanup_apply(&plan)?;
        let gc = self.vault.gc(&NoProgress)?;
        println!(
            "cleanup: removed {} session(s), kept {}, freed {} objects; store file {} -> {} bytes",
            plan.remove.len(),
            plan.keep.len(),
            removed.objects_freed,
            gc.file_bytes_before,
            gc.file_bytes_after
        );
        Ok(())
    }
}

fn write(root: &Path, rel: &str, text: &str) -> std::io::Result<()> {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let config_root = dir.path().join("configs");
    write(
        &config_root,
        "workflows/react.yaml",
        "nodes:\n  analyze:\n    config:\n      llm_client: gpt4\n      tools: search\n",
    )?;
    write(
        &config_root,
        "llms/provider/openai/gpt4.yaml",
        "model: gpt-4\n",
    )?;
    write(
        &config_root,
        "llms/provider/openai/common.yaml",
        "base_url: https://api\n",
    )?;

    let manager = SessionManager {
        vault: Vault::open_or_create(dir.path().join("store.redb"), &Default::default())?,
        config_root: config_root.clone(),
    };

    // Two sessions: an old one (dated back a week) and today's, which is pinned.
    let old = manager.vault.backup(
        &config_root,
        Some("workflows/react.yaml"),
        &BackupOptions::new().created_at(Utc::now() - Duration::from_secs(7 * 86_400)),
    )?;
    println!("an older session: {}", old.session.id);
    let id = manager.start("workflows/react.yaml", "alice")?;
    manager.vault.pin(&id)?;

    // Days later: one config was deleted, another edited by hand.
    std::fs::remove_file(config_root.join("llms/provider/openai/common.yaml"))?;
    write(
        &config_root,
        "llms/provider/openai/gpt4.yaml",
        "model: gpt-4o\n",
    )?;
    assert!(manager.resume(&id)?);
    assert!(
        config_root
            .join("llms/provider/openai/common.yaml")
            .exists()
    );

    // A session id that never existed is reported, not fatal.
    assert!(!manager.resume(&"never-existed".parse()?)?);

    manager.cleanup(Duration::from_secs(3 * 86_400))?;
    let left = manager.vault.sessions(&ListOptions::new())?;
    assert_eq!(
        left.len(),
        1,
        "the week-old session went, the pinned one stayed"
    );
    assert_eq!(left[0].id, id);
    assert!(
        manager
            .vault
            .verify(&Default::default(), &NoProgress)?
            .is_clean()
    );
    println!("done: {} session(s) left", left.len());
    Ok(())
}
