//! Sessions for cfgvault: sets of config files stored as Merkle trees in a
//! [`cfgvault_store::Store`], with per-path version history, restore, diff and retention.
//!
//! A backup is two steps: [`FileSet::read`] reads and hashes the files (no store involved),
//! then [`create`] stores blobs, trees, the session record and its index entries in one
//! transaction. Trees ([`tree::Tree`]) are canonical node objects linking to their entries,
//! so deleting a session releases exactly what only it held.
//!
//! ```
//! use cfgvault_session::{self as session, FileSet, NewSession};
//! use cfgvault_store::{Store, StoreOptions};
//!
//! let dir = tempfile::tempdir().expect("temp dir");
//! let store = Store::create(dir.path().join("store.redb"), &StoreOptions::default())?;
//! let files = FileSet::from_memory([("workflows/react.yaml", b"name: react\n".to_vec(), 0o644)])?;
//! let mut new = NewSession::new(files);
//! new.id = Some("demo".parse()?);
//! let created = session::create(&store, new)?;
//! assert_eq!(created.record.files, 1);
//! assert_eq!(session::read_file(&store, &created.record.id, "workflows/react.yaml")?, b"name: react\n");
//! assert_eq!(session::versions(&store, "workflows/react.yaml")?.len(), 1);
//! # Ok::<(), cfgvault_session::Error>(())
//! ```

mod bases;
mod beneath;
mod cache;
mod counters;
mod create;
mod delete;
pub mod diff;
mod error;
mod fileset;
mod follow;
mod id;
mod keys;
mod labels;
mod path;
mod query;
mod record;
mod records;
pub mod restore;
pub mod retention;
mod stats;
mod storefiles;
mod strings;
pub mod tree;
pub mod verify;
mod versions;
mod walk;

pub use cache::SessionCache;
pub use create::{Created, FileOutcome, NewSession, create, create_cached};
pub use delete::delete;
pub use error::{Error, Result};
pub use fileset::{FileEntry, FileSet, Seen, Selection, Skipped, StampCache};
pub use follow::{Followed, FollowedRename, versions_following};
pub use id::SessionId;
pub use labels::{MAX_LABEL_KEY, MAX_LABEL_VALUE, set_labels, set_pinned, validate_label};
pub use path::validate_path;
pub use query::{ListOptions, files, get, list, read_file, sessions_with_blob};
pub use record::{ClosureInfo, EdgeInfo, RECORD_VERSION, SessionRecord, UnresolvedInfo};
pub use stats::{SessionStats, stats};
pub use storefiles::StoreFiles;
pub use tree::EntryKind;
pub use versions::repeats::settle;
pub use versions::{Version, versions};
pub use walk::TreeFile;

/// Entry points for the fuzz targets in `fuzz/`; not part of the supported API.
#[doc(hidden)]
pub mod fuzz {
    /// Decodes arbitrary bytes as a stored session record. Must never panic.
    pub fn decode_record(data: &[u8]) -> bool {
        // Numbers 0–3 name strings; any other is missing from the table.
        crate::record::SessionRecord::decode("fuzz", data, &mut |n| {
            Ok((n < 4).then(|| format!("string {n}")))
        })
        .is_ok()
    }

    /// A valid encoded record (with labels and a workflow), as a seed input.
    pub fn sample_record() -> Vec<u8> {
        let mut labels = std::collections::BTreeMap::new();
        labels.insert("env".to_string(), "prod".to_string());
        crate::record::SessionRecord {
            id: crate::SessionId::generate("fuzz", chrono::Utc::now()),
            created_at: chrono::DateTime::from_timestamp_micros(1_764_072_000_000_000)
                .unwrap_or_default(),
            root: cfgvault_store::ObjectId::for_blob(b"root"),
            source_root: "/srv/agent/configs".into(),
            workflow: Some("workflows/react.yaml".into()),
            strategy: "comprehensive".into(),
            closure: None,
            labels,
            files: 12,
            logical_bytes: 14_900,
            pinned: false,
        }
        .encode(&mut |s| Ok(s.len() as u64 % 4))
        .unwrap_or_default()
    }
}
