//! A shared cfgvault remote on object storage: `s3://BUCKET[/PREFIX]` or `file:///PATH`.
//!
//! The local redb store stays the embedded default; a remote is where hosts push sessions to
//! and pull them from. It holds immutable objects only, each written create-if-absent (S3
//! `If-None-Match: *`): content-addressed packs of file blobs, one manifest per session
//! (written after every pack it names, so a session is visible exactly when its manifest
//! exists), index objects that let a listing skip the manifests, and gc's condemned lists.
//! With a key, every object is sealed with XChaCha20-Poly1305 and named by a BLAKE3 keyed
//! hash. docs/REMOTE.md describes the layout, the consistency model and key handling.
//!
//! This crate is the only code that names the object-storage crate; embedders reach it
//! through `cfgvault::Vault::push` / `pull`.
//!
//! ```
//! use cfgvault_remote::{Remote, RemoteOptions, pull, push};
//! use cfgvault_session::{self as session, FileSet, NewSession};
//! use cfgvault_store::{Store, StoreOptions};
//!
//! let dir = tempfile::tempdir().expect("temp dir");
//! let url = format!("file://{}", dir.path().join("remote").display());
//! let remote = Remote::open_with(&url, &RemoteOptions::default())?;
//!
//! let a = Store::create(dir.path().join("a.redb"), &StoreOptions::default())?;
//! let files = FileSet::from_memory([("workflows/react.yaml", b"name: react\n".to_vec(), 0o644)])?;
//! let mut new = NewSession::new(files);
//! new.id = Some("demo".parse()?);
//! session::create(&a, new)?;
//! assert_eq!(push(&a, &remote, &[])?.pushed.len(), 1);
//!
//! let b = Store::create(dir.path().join("b.redb"), &StoreOptions::default())?;
//! assert_eq!(pull(&b, &remote, &[])?.pulled.len(), 1);
//! let id = "demo".parse()?;
//! assert_eq!(session::read_file(&b, &id, "workflows/react.yaml")?, b"name: react\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod backend;
mod docs;
mod error;
mod gc;
mod pack;
mod pull;
mod push;
mod remote;
mod seal;
mod verify;

pub use error::{Error, Result};
pub use gc::{CleanupReport, GcReport, cleanup, gc};
pub use pull::{PullReport, pull};
pub use push::{PushReport, push};
pub use remote::{Remote, RemoteOptions};
pub use seal::Key;
pub use verify::{Problem, VerifyReport, verify};
