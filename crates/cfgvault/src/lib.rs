//! cfgvault: an embeddable, content-addressed backup store for configuration files.
//!
//! A [`Vault`] is one store file. When an agent framework creates a session, it calls
//! [`Vault::backup`] with the config root and the session's workflow: cfgvault resolves every
//! config the workflow depends on (LLM providers and their `common.yaml`, token counters, tool
//! sets and tools, agents, `global.yaml` …), stores the set as one session — a Merkle tree of
//! BLAKE3-addressed, zstd-compressed blobs, each stored once — and reports what it could not
//! resolve. When the session is resumed, [`Vault::ensure`] puts back whatever has gone missing and
//! reports what has drifted.
//!
//! ```
//! use cfgvault::{BackupOptions, EnsureOptions, Vault};
//! # let dir = tempfile::tempdir().expect("temp dir");
//! # let root = dir.path().join("configs");
//! # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
//! # std::fs::create_dir_all(root.join("llms/provider/openai")).expect("mkdir");
//! # std::fs::write(root.join("workflows/react.yaml"), "nodes:\n  analyze:\n    config:\n      llm_client: gpt4\n").expect("write");
//! # std::fs::write(root.join("llms/provider/openai/gpt4.yaml"), "model: gpt-4\n").expect("write");
//! # std::fs::write(root.join("llms/provider/openai/common.yaml"), "base_url: ${OPENAI_URL}\n").expect("write");
//! let vault = Vault::create(dir.path().join("store.redb"), &Default::default())?;
//!
//! // Session start: back up the workflow's whole config closure.
//! let report = vault.backup(&root, Some("workflows/react.yaml"), &BackupOptions::default())?;
//! assert_eq!(report.files.len(), 3); // the workflow, the LLM file and its implicit common.yaml
//!
//! // Days later, a config is gone…
//! std::fs::remove_file(root.join("llms/provider/openai/common.yaml")).expect("rm");
//!
//! // …and resuming the session brings it back.
//! let ensured = vault.ensure(&report.session.id, None, &EnsureOptions::default())?;
//! assert_eq!(ensured.restored(), vec!["llms/provider/openai/common.yaml"]);
//! assert!(root.join("llms/provider/openai/common.yaml").exists());
//! # Ok::<(), cfgvault::Error>(())
//! ```

mod error;
pub mod remote;
mod vault;

pub use error::Error;
pub use vault::{
    BackedUpFile, BackupOptions, BackupReport, EnsureFile, EnsureOptions, EnsureReport,
    EnsureStatus, Options, Vault,
};

/// The object store underneath: ids, progress, gc and verify outcomes.
pub use cfgvault_store::{NoProgress, ObjectId, Progress, gc, verify};

/// The dependency analysis: strategies, profiles and what a closure reports.
pub mod closure {
    pub use cfgvault_closure::{
        Cache, Closure, CustomStrategy, Edge, FileEntry, FileKind, Options, ParseError, Profile,
        Strategy, Unresolved, resolve, resolve_cached, resolve_tree,
    };
}

/// Sessions: records, history, restore, diff and retention.
pub use cfgvault_session::{
    ListOptions, SessionId, SessionRecord, SessionStats, TreeFile, Version, diff, restore,
    retention,
};
