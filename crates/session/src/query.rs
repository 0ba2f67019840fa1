//! Reading sessions: one record ([`get`]), a listing ([`list`]), a session's files
//! ([`files`], [`read_file`]) and the sessions holding a blob ([`sessions_with_blob`]).

use std::collections::HashMap;
use std::ops::Bound;

use cfgvault_store::{ObjectId, Store, StoreRead};
use chrono::{DateTime, SubsecRound, Utc};

use crate::keys::*;
use crate::records::RecordReader;
use crate::tree::EntryKind;
use crate::walk::{TreeFile, lookup, tree_contains, walk};
use crate::{Error, Result, SessionId, SessionRecord, validate_path};

/// Which sessions [`list`] returns. Construct with `ListOptions::default()` and set fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// At most this many, newest first. Default: `None` (all).
    pub limit: Option<usize>,
    /// Only sessions with this label key and value. Default: `None`.
    pub label: Option<(String, String)>,
    /// Only sessions created strictly after this time. Default: `None`.
    pub newer_than: Option<DateTime<Utc>>,
    /// Only sessions created strictly before this time. Default: `None`.
    pub older_than: Option<DateTime<Utc>>,
}

/// One session's record.
pub fn get(store: &Store, id: &SessionId) -> Result<SessionRecord> {
    RecordReader::with_closure().require(&store.read()?, id)
}

/// Sessions newest first, without their closure details (`get` has them). Without a label the
/// cost is O(returned sessions); with a label, O(returned) as well, through the label index.
pub fn list(store: &Store, options: &ListOptions) -> Result<Vec<SessionRecord>> {
    let r = store.read()?;
    let (space, prefix) = match &options.label {
        Some((k, v)) => (BY_LABEL, label_prefix(k, v)),
        None => (BY_TIME, Vec::new()),
    };
    let start = match options.newer_than {
        Some(t) => {
            let mut k = prefix.clone();
            let Some(next) = t
                .trunc_subsecs(6)
                .checked_add_signed(chrono::Duration::microseconds(1))
            else {
                return Ok(Vec::new());
            };
            k.extend_from_slice(&time_key(next));
            k
        }
        None => prefix.clone(),
    };
    let end = match options.older_than {
        Some(t) => {
            let mut k = prefix.clone();
            // Sessions are kept to the microsecond: "before t" is "before t rounded up".
            let up = t.trunc_subsecs(6);
            let up = if up < t {
                up.checked_add_signed(chrono::Duration::microseconds(1))
                    .unwrap_or(up)
            } else {
                up
            };
            k.extend_from_slice(&time_key(up));
            Some(k)
        }
        // The by-time space ends where the tally begins.
        None if prefix.is_empty() => Some(TALLY_START.to_vec()),
        None => prefix_end(&prefix),
    };
    let rows = r.index_range(
        space,
        Bound::Included(&start),
        end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
        true,
        options.limit.unwrap_or(usize::MAX),
    )?;
    let mut out = Vec::with_capacity(rows.len());
    let mut reader = RecordReader::without_closure();
    for (k, _) in rows {
        let id = session_id_at(&k, prefix.len() + 8).ok_or_else(|| Error::CorruptIndex {
            key: String::from_utf8_lossy(&k).into_owned(),
            detail: "not a session id".into(),
        })?;
        let rec = reader.find(&r, &id)?.ok_or_else(|| Error::CorruptIndex {
            key: id.to_string(),
            detail: "listed by time but has no record".into(),
        })?;
        out.push(rec);
    }
    Ok(out)
}

/// The files of a session, in tree order.
pub fn files(store: &Store, id: &SessionId) -> Result<Vec<TreeFile>> {
    let r = store.read()?;
    let rec = RecordReader::with_closure().require(&r, id)?;
    walk(&r, &rec.root)
}

/// The contents of one file of a session.
pub fn read_file(store: &Store, id: &SessionId, path: &str) -> Result<Vec<u8>> {
    validate_path(path)?;
    let r = store.read()?;
    let rec = RecordReader::with_closure().require(&r, id)?;
    match lookup(&r, &rec.root, path)? {
        Some(e) if e.kind != EntryKind::Dir => Ok(r.get(&e.id)?),
        _ => Err(Error::FileNotInSession {
            id: id.to_string(),
            path: path.to_string(),
        }),
    }
}

/// The sessions holding a blob, oldest first. There is no index for this (it would cost an
/// entry per file per session on the backup path): every session's tree is searched, each
/// distinct subtree once, so the cost is O(sessions + distinct trees).
pub fn sessions_with_blob(store: &Store, blob: &ObjectId) -> Result<Vec<SessionId>> {
    let r = store.read()?;
    let mut memo: HashMap<ObjectId, bool> = HashMap::new();
    let mut out = Vec::new();
    for rec in RecordReader::without_closure().all(&r)?.into_iter().rev() {
        if tree_contains(&r, &rec.root, blob, &mut memo)? {
            out.push(rec.id);
        }
    }
    Ok(out)
}
