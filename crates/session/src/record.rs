//! Session records and the closure details the caller attaches to them.

use std::collections::BTreeMap;

use cfgvault_store::ObjectId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, SessionId};

/// The format version byte in front of every encoded record.
pub const RECORD_VERSION: u8 = 1;

/// One reference edge that pulled a file into the closure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeInfo {
    pub from: String,
    pub key: String,
    pub value: String,
    pub to: String,
    pub rule: String,
}

/// A reference the closure could not resolve.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnresolvedInfo {
    pub from: String,
    pub key: String,
    pub value: String,
    pub reason: String,
}

/// The dependency closure a session was taken from, as supplied by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosureInfo {
    #[serde(default)]
    pub deps: Vec<String>,
    #[serde(default)]
    pub edges: Vec<EdgeInfo>,
    #[serde(default)]
    pub unresolved: Vec<UnresolvedInfo>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionRecord {
    pub id: SessionId,
    /// Creation time, UTC, with microsecond precision.
    pub created_at: DateTime<Utc>,
    /// The root tree. (The session's store root names a session node linking this tree and
    /// the closure node; see docs/FORMAT.md.)
    pub root: ObjectId,
    /// The config root the files were read from.
    pub source_root: String,
    pub workflow: Option<String>,
    pub strategy: String,
    /// The closure details. Stored apart from the record, as a node shared by every session
    /// with the same closure (see `closure_id`).
    #[serde(skip)]
    pub closure: ClosureInfo,
    /// The node holding `closure` as JSON.
    pub closure_id: ObjectId,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Number of files.
    pub files: u64,
    /// Sum of the files' sizes.
    pub logical_bytes: u64,
    /// Retention never removes a pinned session.
    #[serde(default)]
    pub pinned: bool,
}

impl SessionRecord {
    /// `RECORD_VERSION` followed by the record as UTF-8 JSON.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = vec![RECORD_VERSION];
        // Serializing plain data to a Vec cannot fail.
        if serde_json::to_writer(&mut out, self).is_err() {
            out.truncate(1);
        }
        out
    }

    /// Decodes a record without its closure details (`closure` is left empty; the caller
    /// loads it from `closure_id`).
    pub(crate) fn decode(key: &str, bytes: &[u8]) -> Result<SessionRecord> {
        let corrupt = |detail: String| Error::CorruptIndex {
            key: key.to_string(),
            detail,
        };
        match bytes.split_first() {
            Some((&RECORD_VERSION, json)) => {
                serde_json::from_slice(json).map_err(|e| corrupt(e.to_string()))
            }
            Some((v, _)) => Err(corrupt(format!("unknown record version {v}"))),
            None => Err(corrupt("empty record".into())),
        }
    }
}

impl ClosureInfo {
    /// The closure as stored in its blob: compact JSON.
    pub(crate) fn encode(&self) -> Vec<u8> {
        // Serializing plain data to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub(crate) fn decode(id: &ObjectId, bytes: &[u8]) -> Result<ClosureInfo> {
        serde_json::from_slice(bytes).map_err(|e| Error::CorruptIndex {
            key: id.to_string(),
            detail: format!("closure node: {e}"),
        })
    }
}

/// The node a session's store root names: it links the root tree and the closure node (in
/// that order), so both are held by one reference, and sessions with the same files and
/// closure share it. Its payload is this marker alone.
pub(crate) const SESSION_NODE_MAGIC: &[u8] = b"cfgvault session node v1";

/// The payload and links of a session node.
pub(crate) fn session_node(tree: &ObjectId, closure: &ObjectId) -> (&'static [u8], [ObjectId; 2]) {
    (SESSION_NODE_MAGIC, [*tree, *closure])
}
