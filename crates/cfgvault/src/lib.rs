#![warn(missing_docs)]
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
//! let ensured = vault.ensure(&report.session.id, None::<&std::path::Path>, &EnsureOptions::default())?;
//! assert_eq!(ensured.restored(), vec!["llms/provider/openai/common.yaml"]);
//! assert!(root.join("llms/provider/openai/common.yaml").exists());
//! # Ok::<(), cfgvault::Error>(())
//! ```

#[cfg(test)]
mod damaged;
mod error;
mod options;
pub mod remote;
mod report;
mod room;
mod vault;

pub use error::{Error, ErrorKind};
pub use options::{
    BackupOptions, EnsureOptions, ListOptions, Options, RestoreOptions, RetentionPolicy,
    VerifyOptions,
};
pub use report::{
    BackedUpFile, BackupReport, CleanupPlan, Diff, EnsureFile, EnsureReport, EnsureStatus,
    Followed, GcReport, Problem, Removed, RestoreAction, RestoreReport, RestoredFile, SessionFile,
    Stats, VerifyReport, Version,
};
pub use vault::Vault;

/// Times in records and options: UTC instants ([`chrono`]'s types, re-exported so that an
/// embedder needs no dependency of its own).
pub use chrono::{DateTime, Utc};

/// Object ids, progress reporting and cancellation.
pub use cfgvault_store::{NoProgress, ObjectId, Progress};

/// The kind of a problem `verify` finds.
pub use cfgvault_store::verify::ProblemKind;

/// Session ids, records and the closure details stored with them.
pub use cfgvault_session::{
    ClosureInfo, EdgeInfo, FollowedRename, SessionId, SessionRecord, UnresolvedInfo,
};

/// What `restore` and `ensure` do with a file that exists.
pub use cfgvault_session::restore::Overwrite;

/// Which files `diff_dir` compares, and the sides of a unified diff.
pub use cfgvault_session::diff::{Scope as DiffScope, Side as DiffSide};

/// What a diff says of a YAML or JSON file's changed keys.
pub use cfgvault_closure::semantic::{Change as KeyChangeKind, KeyChange};

/// What a diff says of a renamed file, and of a file's changed keys.
pub use cfgvault_session::diff::{FileChange, Rename};

/// A YAML or JSON value as a [`KeyChange`] carries it (serde_json's, re-exported so that an
/// embedder needs no dependency of its own).
pub use serde_json::Value as JsonValue;

/// The longest label key and value, in characters.
pub use cfgvault_session::{MAX_LABEL_KEY, MAX_LABEL_VALUE};

/// The error of parsing a [`SessionId`] or an [`Overwrite`] policy from a string. Every
/// such error converts into [`Error`] (kind [`ErrorKind::InvalidInput`]), so `?` works in a
/// function returning `cfgvault::Error`.
pub use cfgvault_session::Error as ParseError;

/// The dependency analysis: strategies, profiles and what a closure reports.
pub mod closure {
    pub use cfgvault_closure::{
        Cache, Closure, CustomStrategy, Dropped, Edge, FileEntry, FileKind, Hint, Options,
        ParseError, Profile, Strategy, Unresolved, resolve, resolve_cached, resolve_tree, semantic,
    };

    /// What stops an analysis before it starts (a missing workflow, a bad profile or glob).
    pub use cfgvault_closure::Error;
}
