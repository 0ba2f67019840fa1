//! Session records and the closure details the caller attaches to them.

use std::collections::BTreeMap;
use std::sync::Arc;

use cfgvault_store::{ObjectId, varint};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, SessionId};

/// The version byte in front of every record (format 1 writes and reads version 2 alone).
pub const RECORD_VERSION: u8 = 2;

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
    /// The closure details, stored apart from the record in a node shared by every session
    /// with the same closure (the session node links it). `get` and `create` fill it; `list`
    /// leaves it `None`, so that listing sessions reads records alone.
    #[serde(skip)]
    pub closure: Option<Arc<ClosureInfo>>,
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
    /// The compact binary record (docs/FORMAT.md, "Session record"), kept as the metadata of
    /// the session's root; the id is in the root's name and is not repeated. The config root, workflow and strategy are written as the numbers `intern`
    /// gives them (the string table).
    pub(crate) fn encode(&self, intern: &mut dyn FnMut(&str) -> Result<u64>) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(96);
        out.push(RECORD_VERSION);
        put_varint(&mut out, zigzag(self.created_at.timestamp_micros()));
        out.extend_from_slice(self.root.as_bytes());
        put_varint(&mut out, self.files);
        put_varint(&mut out, self.logical_bytes);
        out.push(u8::from(self.pinned));
        put_varint(&mut out, intern(&self.source_root)?);
        match &self.workflow {
            None => out.push(0),
            Some(w) => put_varint(&mut out, intern(w)?.saturating_add(1)),
        }
        put_varint(&mut out, intern(&self.strategy)?);
        put_varint(&mut out, self.labels.len() as u64);
        for (k, v) in &self.labels {
            put_str(&mut out, k);
            put_str(&mut out, v);
        }
        Ok(out)
    }

    /// Decodes a record without its closure details (`closure` is left empty; the caller
    /// loads it through the session node), resolving string numbers through `resolve` (`None`: no
    /// such string). Anything malformed is a typed error naming the key.
    pub(crate) fn decode(
        key: &str,
        bytes: &[u8],
        resolve: &mut dyn FnMut(u64) -> Result<Option<String>>,
    ) -> Result<SessionRecord> {
        let corrupt = |detail: &str| Error::CorruptIndex {
            key: key.chars().take(200).collect(),
            detail: format!("session record: {detail}"),
        };
        let id: SessionId = key
            .parse()
            .map_err(|_| corrupt("key is not a session id"))?;
        let mut r = Cursor { bytes, pos: 0 };
        match r.byte() {
            Some(RECORD_VERSION) => {}
            Some(v) => return Err(corrupt(&format!("unknown record version {v}"))),
            None => return Err(corrupt("empty")),
        }
        let micros = r
            .varint()
            .map(unzigzag)
            .ok_or_else(|| corrupt("bad time"))?;
        let created_at =
            DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt("time out of range"))?;
        let root = r.id().ok_or_else(|| corrupt("truncated root"))?;
        let files = r.varint().ok_or_else(|| corrupt("bad file count"))?;
        let logical_bytes = r.varint().ok_or_else(|| corrupt("bad size"))?;
        let pinned = match r.byte() {
            Some(0) => false,
            Some(1) => true,
            _ => return Err(corrupt("bad flags")),
        };
        // Strings are numbers into the string table.
        let mut lookup = |n: Option<u64>, what: &str| -> Result<String> {
            let n = n.ok_or_else(|| corrupt(&format!("bad {what}")))?;
            resolve(n)?.ok_or_else(|| corrupt(&format!("{what}: no string numbered {n}")))
        };
        let source_root = lookup(r.varint(), "source root")?;
        let workflow = match r.varint() {
            Some(0) => None,
            n => Some(lookup(n.map(|n| n - 1), "workflow")?),
        };
        let strategy = lookup(r.varint(), "strategy")?;
        let n = r.varint().ok_or_else(|| corrupt("bad label count"))?;
        // Every label takes at least two bytes: never trust a count the input cannot hold.
        if n > (bytes.len() as u64) / 2 {
            return Err(corrupt("label count exceeds the data"));
        }
        let mut labels = BTreeMap::new();
        for _ in 0..n {
            let k = r.string().ok_or_else(|| corrupt("bad label"))?;
            let v = r.string().ok_or_else(|| corrupt("bad label value"))?;
            labels.insert(k, v);
        }
        if r.pos != bytes.len() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(SessionRecord {
            id,
            created_at,
            root,
            source_root,
            workflow,
            strategy,
            closure: None,
            labels,
            files,
            logical_bytes,
            pinned,
        })
    }
}

pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn put_varint(out: &mut Vec<u8>, v: u64) {
    varint::write(out, v);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub(crate) struct Cursor<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
}

impl Cursor<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// Minimal LEB128 (one encoding per value).
    pub(crate) fn varint(&mut self) -> Option<u64> {
        let (v, used) = varint::read(self.bytes.get(self.pos..)?)?;
        self.pos += used;
        Some(v)
    }

    pub(crate) fn id(&mut self) -> Option<ObjectId> {
        self.take(32).and_then(ObjectId::from_slice)
    }

    pub(crate) fn string(&mut self) -> Option<String> {
        let n = usize::try_from(self.varint()?).ok()?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).ok()
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record() -> SessionRecord {
        let mut labels = BTreeMap::new();
        labels.insert("env".to_string(), "prod".to_string());
        labels.insert("é".to_string(), String::new());
        SessionRecord {
            id: "react-1".parse().unwrap(),
            created_at: DateTime::from_timestamp_micros(1_764_072_000_123_456).unwrap(),
            root: ObjectId::for_blob(b"root"),
            source_root: "/srv/agent/configs".into(),
            workflow: Some("workflows/react.yaml".into()),
            strategy: "comprehensive".into(),
            closure: None,
            labels,
            files: 12,
            logical_bytes: 14_900,
            pinned: true,
        }
    }

    /// A string table in memory.
    #[derive(Default)]
    struct Table(Vec<String>);

    impl Table {
        fn encode(&mut self, r: &SessionRecord) -> Vec<u8> {
            r.encode(&mut |s| {
                let n = match self.0.iter().position(|x| x == s) {
                    Some(n) => n,
                    None => {
                        self.0.push(s.to_string());
                        self.0.len() - 1
                    }
                };
                Ok(n as u64)
            })
            .unwrap()
        }

        fn decode(&self, key: &str, bytes: &[u8]) -> Result<SessionRecord> {
            SessionRecord::decode(key, bytes, &mut |n| Ok(self.0.get(n as usize).cloned()))
        }
    }

    #[test]
    fn records_round_trip_and_stay_small() {
        let mut t = Table::default();
        let r = record();
        let bytes = t.encode(&r);
        // The strings are numbers: the root tree's id (32 bytes) is most of it.
        assert!(bytes.len() < 64, "{} bytes", bytes.len());
        assert_eq!(t.decode("react-1", &bytes).unwrap(), r);
        let mut before_epoch = r.clone();
        before_epoch.created_at = DateTime::from_timestamp_micros(-5).unwrap();
        before_epoch.workflow = None;
        before_epoch.labels.clear();
        let b = t.encode(&before_epoch);
        assert_eq!(t.decode("react-1", &b).unwrap(), before_epoch);
        // The same strings are not added twice.
        assert_eq!(t.0.len(), 3);
    }

    #[test]
    fn malformed_records_are_typed_errors() {
        let mut t = Table::default();
        for good in [t.encode(&record())] {
            for cut in 0..good.len() {
                assert!(t.decode("react-1", &good[..cut]).is_err(), "cut at {cut}");
            }
            let mut trailing = good.clone();
            trailing.push(0);
            assert!(t.decode("react-1", &trailing).is_err());
            let mut version = good.clone();
            version[0] = 9;
            assert!(t.decode("react-1", &version).is_err());
            assert!(t.decode("../x", &good).is_err());
        }
        // A number the string table does not hold.
        let bytes = t.encode(&record());
        let empty = Table::default();
        let e = empty.decode("react-1", &bytes).unwrap_err().to_string();
        assert!(e.contains("no string numbered 0"), "{e}");
    }
}
