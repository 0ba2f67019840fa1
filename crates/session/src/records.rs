//! Session records in the store: each is the metadata of the session's root `session/ID`,
//! its strings numbered through the string table (`strings.rs`), its closure details in the
//! closure node the session node links (the encodings are `record.rs`'s).
//!
//! One reader, [`RecordReader`], reads them: without closure details (listings, retention,
//! deletes, label and pin edits) or with them (`get`, restore, diff).

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;

use cfgvault_store::{ObjectId, StoreRead, WriteTxn};

use crate::keys::{BY_TIME, TALLY_START, root_name, session_id_at};
use crate::record::{ClosureInfo, SESSION_NODE_MAGIC, SessionRecord};
use crate::strings::{self, Strings};
use crate::{Error, Result, SessionId};

/// Reads session records, keeping what it resolved (strings, and closure nodes, which the
/// sessions of one workflow usually share) for the next record it reads.
#[derive(Default)]
pub(crate) struct RecordReader {
    /// Whether records come with their closure details (`SessionRecord::closure`).
    closure: bool,
    strings: Strings,
    closures: HashMap<ObjectId, Arc<ClosureInfo>>,
}

impl RecordReader {
    /// A reader of records without closure details (`closure: None`): enough for everything
    /// but showing what a session depended on.
    pub(crate) fn without_closure() -> RecordReader {
        RecordReader::default()
    }

    /// A reader of records with their closure details, read from each one's closure node.
    pub(crate) fn with_closure() -> RecordReader {
        RecordReader {
            closure: true,
            ..RecordReader::default()
        }
    }

    /// The record of session `id`, `None` if there is no such session.
    pub(crate) fn find(
        &mut self,
        r: &impl StoreRead,
        id: &SessionId,
    ) -> Result<Option<SessionRecord>> {
        // The record is the root's metadata.
        let Some(root) = r.root(&root_name(id))? else {
            return Ok(None);
        };
        let strings = &mut self.strings;
        let rec = SessionRecord::decode(id.as_str(), &root.meta, &mut |n| strings.resolve(r, n))?;
        if self.closure {
            return self.add_closure(r, rec).map(Some);
        }
        Ok(Some(rec))
    }

    /// The record of session `id`; `SessionNotFound` if there is no such session.
    pub(crate) fn require(&mut self, r: &impl StoreRead, id: &SessionId) -> Result<SessionRecord> {
        self.find(r, id)?
            .ok_or_else(|| Error::SessionNotFound { id: id.to_string() })
    }

    /// Every session's record, newest first (by the by-time index; an entry that names no
    /// session is passed over).
    pub(crate) fn all(&mut self, r: &impl StoreRead) -> Result<Vec<SessionRecord>> {
        let rows = r.index_range(
            BY_TIME,
            Bound::Unbounded,
            Bound::Excluded(TALLY_START),
            true,
            usize::MAX,
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for (k, _) in rows {
            if let Some(id) = session_id_at(&k, 8)
                && let Some(rec) = self.find(r, &id)?
            {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// `rec` with its closure details, read from the closure node its session node links.
    pub(crate) fn add_closure(
        &mut self,
        r: &impl StoreRead,
        mut rec: SessionRecord,
    ) -> Result<SessionRecord> {
        let (_, closure_id) = session_links(r, &rec.id)?;
        rec.closure = Some(match self.closures.get(&closure_id) {
            Some(c) => c.clone(),
            None => {
                let bytes = r.get(&closure_id)?;
                let payload = cfgvault_store::split_node(&bytes)
                    .map(|(_, p)| p)
                    .unwrap_or_default();
                let c = Arc::new(ClosureInfo::decode(&closure_id, payload)?);
                self.closures.insert(closure_id, c.clone());
                c
            }
        });
        Ok(rec)
    }
}

/// The root tree and closure node a session's store root holds (through its session node).
pub(crate) fn session_links(r: &impl StoreRead, id: &SessionId) -> Result<(ObjectId, ObjectId)> {
    let name = root_name(id);
    let corrupt = |detail: String| Error::CorruptIndex {
        key: name.clone(),
        detail,
    };
    let node = r
        .root(&name)?
        .ok_or_else(|| corrupt("the session has a record but no root".into()))?
        .id;
    let bytes = r.get(&node)?;
    match cfgvault_store::split_node(&bytes) {
        Some((links, SESSION_NODE_MAGIC)) if links.len() == 2 => Ok((links[0], links[1])),
        _ => Err(corrupt(format!("{node} is not a session node"))),
    }
}

/// The strings a record names through the string table, in the order it names them.
pub(crate) fn record_strings(rec: &SessionRecord) -> Vec<&str> {
    let mut wanted: Vec<&str> = vec![rec.source_root.as_str()];
    wanted.extend(rec.workflow.as_deref());
    wanted.push(rec.strategy.as_str());
    wanted
}

/// A record as stored, whose strings `wanted` have `numbers` (any other string is numbered
/// through the string table).
pub(crate) fn encode_with(
    txn: &mut WriteTxn<'_>,
    rec: &SessionRecord,
    wanted: &[&str],
    numbers: &[u64],
) -> Result<Vec<u8>> {
    rec.encode(&mut |s| match wanted.iter().position(|w| *w == s) {
        Some(i) => Ok(numbers[i]),
        None => strings::intern(txn, s),
    })
}

/// Replaces the record of the existing session `rec.id` by `rec`: its root is pinned again
/// with the new record (the session node's count goes down and up again within the
/// transaction, and objects are swept only at commit).
pub(crate) fn rewrite(txn: &mut WriteTxn<'_>, rec: &SessionRecord) -> Result<()> {
    let wanted = record_strings(rec);
    let numbers = strings::intern_each(txn, &wanted)?;
    let bytes = encode_with(txn, rec, &wanted, &numbers)?;
    let name = root_name(&rec.id);
    let root = txn.unpin(&name)?.ok_or_else(|| Error::SessionNotFound {
        id: rec.id.to_string(),
    })?;
    txn.pin(&name, &root.id, &bytes)?;
    Ok(())
}
