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
    /// The root tree.
    pub root: ObjectId,
    /// The config root the files were read from.
    pub source_root: String,
    pub workflow: Option<String>,
    pub strategy: String,
    #[serde(default)]
    pub closure: ClosureInfo,
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
