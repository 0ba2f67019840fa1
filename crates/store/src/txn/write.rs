//! The write transaction, and putting objects: whole, or as a delta against a base the caller
//! names when that is smaller (the depth policy is [`WriteTxn::delta_base`]).

use std::collections::BTreeSet;
use std::path::Path;

use super::access::Access;
use super::locate::{Entry, Info, entry_of, entry_req, load, stored_of};
use super::memo::{Memo, TxnMemo};
use super::read::ReadPath;
use super::shared::Shared;
use super::{CommitOutcome, Put};
use crate::codec::{self, ObjectKind};
use crate::error::DbResult;
use crate::pack::Loc;
use crate::schema::{IDS, K_NEXT_SEQ, META, OBJECTS, read_counter};
use crate::{Error, ObjectId, StoreRead};

/// How a transaction changes the totals in `meta`, applied at commit.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct TotalsChange {
    pub(super) objects: i64,
    pub(super) raw: i64,
    pub(super) stored: i64,
    pub(super) blob_raw: i64,
    /// Roots pinned minus unpinned.
    pub(super) roots: i64,
}

/// The single write transaction of one mutating operation (invariant I5).
///
/// Objects put here start with no references; links from nodes and roots add them. At
/// [`WriteTxn::commit`] every object left with a reference count of zero is removed, and its
/// links released in turn (invariant I3), so a caller can never leak an object by forgetting
/// it. Dropping the transaction without committing discards everything it did.
pub struct WriteTxn<'s> {
    pub(super) shared: &'s Shared,
    pub(super) txn: redb::WriteTransaction,
    /// Objects whose count is (or may be) zero, checked at commit.
    pub(super) zero: BTreeSet<ObjectId>,
    /// The next frame sequence number, once read.
    pub(super) next_seq: Option<u64>,
    pub(super) totals: TotalsChange,
    pub(super) outcome: CommitOutcome,
    pub(super) memo: Memo,
    /// Whether the hot pin (kept in `memo`) changed and is written at commit.
    pub(super) hot_changed: bool,
    /// The number of roots, counted exactly by a gc's fold (which empties `roots`).
    pub(super) roots_total: Option<u64>,
}

impl Access for WriteTxn<'_> {
    type Txn = redb::WriteTransaction;
    fn shared(&self) -> &Shared {
        self.shared
    }
    fn txn(&self) -> &redb::WriteTransaction {
        &self.txn
    }
    fn memo_cell(&self) -> &Memo {
        &self.memo
    }
}

impl<'s> WriteTxn<'s> {
    pub(crate) fn begin(shared: &'s Shared, txn: redb::WriteTransaction) -> WriteTxn<'s> {
        WriteTxn {
            shared,
            txn,
            zero: BTreeSet::new(),
            next_seq: None,
            totals: TotalsChange::default(),
            outcome: CommitOutcome::default(),
            memo: Memo::default(),
            hot_changed: false,
            roots_total: None,
        }
    }

    pub(crate) fn path(&self) -> &'s Path {
        &self.shared.path
    }

    pub(crate) fn memo_mut(&mut self) -> &mut TxnMemo {
        self.memo.get_mut().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a blob (no links). An object already present costs one lookup, no compression.
    pub fn put_blob(&mut self, bytes: &[u8]) -> Result<Put, Error> {
        let shared = self.shared;
        shared.guarded(|| self.put(ObjectKind::Blob, bytes, &[], None))
    }

    /// [`WriteTxn::put_blob`], storing a new object as a delta against `base` (for example
    /// the previous version of the same file) when that is smaller. When `base`'s chain is
    /// already [`StoreOptions::max_delta_depth`](crate::StoreOptions::max_delta_depth) long, the delta is taken against the whole
    /// object at the bottom of that chain instead. The base used holds one more reference.
    pub fn put_blob_near(&mut self, bytes: &[u8], base: Option<&ObjectId>) -> Result<Put, Error> {
        let shared = self.shared;
        shared.guarded(|| self.put(ObjectKind::Blob, bytes, &[], base))
    }

    /// [`WriteTxn::put_node`] with a delta base, as [`WriteTxn::put_blob_near`].
    pub fn put_node_near(
        &mut self,
        payload: &[u8],
        links: &[ObjectId],
        base: Option<&ObjectId>,
    ) -> Result<Put, Error> {
        let shared = self.shared;
        shared.guarded(|| self.put(ObjectKind::Node, payload, links, base))
    }

    /// Stores a node: bytes plus the objects it links to, each of which gains one reference
    /// per link when the node is new. Every linked object must already exist.
    pub fn put_node(&mut self, bytes: &[u8], links: &[ObjectId]) -> Result<Put, Error> {
        let shared = self.shared;
        shared.guarded(|| self.put(ObjectKind::Node, bytes, links, None))
    }

    pub(crate) fn put(
        &mut self,
        kind: ObjectKind,
        bytes: &[u8],
        links: &[ObjectId],
        base: Option<&ObjectId>,
    ) -> Result<Put, Error> {
        let path = self.path();
        let node;
        let data: &[u8] = match kind {
            ObjectKind::Blob => bytes,
            ObjectKind::Node => {
                node = codec::node_bytes(links, bytes);
                &node
            }
        };
        let limit = self.shared.options.max_object_size;
        if data.len() as u64 > limit {
            return Err(Error::TooLarge {
                size: data.len() as u64,
                limit,
            });
        }
        let id = kind.id_of(data);
        let present = self.with_src(|src| {
            if entry_of(src, &id)?.is_some() {
                return Ok(true);
            }
            // Every link must exist before anything changes.
            for link in links {
                entry_req(src, link)?;
            }
            Ok(false)
        })?;
        if present {
            return Ok(Put {
                id,
                new: false,
                stored_bytes: 0,
            });
        }
        let seq = self.take_seq()?;
        // One at a time: a node may link the same object twice.
        for link in links {
            self.incref(link)?;
        }
        self.txn
            .open_table(IDS)
            .db(path)?
            .insert(id.as_bytes(), (seq, 0))
            .db(path)?;
        let mut frame = codec::encode(kind, data, self.shared.options.zstd_level);
        let mut used_base = None;
        if let Some(base) = base
            && let Some((delta, used)) = self.try_delta(kind, data, base)?
            && delta.len() < frame.len()
        {
            frame = delta;
            used_base = Some(used);
        }
        self.txn
            .open_table(OBJECTS)
            .db(path)?
            .insert(seq, frame.as_slice())
            .db(path)?;
        self.zero.insert(id);
        if let Some(base) = used_base {
            self.incref(&base)?;
        }
        let stored = frame.len() as u64;
        self.totals.objects += 1;
        self.totals.raw += data.len() as i64;
        if kind == ObjectKind::Blob {
            self.totals.blob_raw += data.len() as i64;
        }
        self.totals.stored += stored as i64;
        self.outcome.objects_added += 1;
        self.outcome.bytes_added += stored;
        Ok(Put {
            id,
            new: true,
            stored_bytes: stored,
        })
    }

    /// The next frame sequence number (read once per transaction, written at commit).
    pub(crate) fn take_seq(&mut self) -> Result<u64, Error> {
        let seq = match self.next_seq {
            Some(s) => s,
            None => {
                let meta = self.txn.open_table(META).db(self.path())?;
                read_counter(&meta, K_NEXT_SEQ, self.path())?
            }
        };
        self.next_seq = Some(seq + 1);
        Ok(seq)
    }

    pub(crate) fn info(&self, id: &ObjectId) -> Result<Info, Error> {
        self.with_src(|src| stored_of(src, id)?.info(id))
    }

    /// `data` encoded as a delta against the base [`WriteTxn::delta_base`] picks for `base`,
    /// with that base; `None` when deltas are off or `base` is not stored.
    pub(crate) fn try_delta(
        &self,
        kind: ObjectKind,
        data: &[u8],
        base: &ObjectId,
    ) -> Result<Option<(Vec<u8>, ObjectId)>, Error> {
        let Some((base, depth)) = self.delta_base(base)? else {
            return Ok(None);
        };
        let (_, base_bytes) = self.with_src(|src| load(src, &base))?;
        Ok(codec::encode_delta(
            kind,
            data,
            self.shared.options.zstd_level,
            &base,
            &base_bytes,
            depth,
        )
        .map(|frame| (frame, base)))
    }

    /// The depth policy, in one place: the base a delta against `wanted` is encoded against,
    /// and the delta's depth. `wanted` itself when its chain leaves room below
    /// `max_delta_depth`, else the whole object at the bottom of its chain (depth 1 again; in a
    /// history of small edits it shares most of its content with `wanted`). `None` when deltas
    /// are off (`max_delta_depth` 0) or `wanted` is not stored.
    fn delta_base(&self, wanted: &ObjectId) -> Result<Option<(ObjectId, u64)>, Error> {
        let max_depth = u64::from(self.shared.options.max_delta_depth).min(codec::MAX_DEPTH_LIMIT);
        if max_depth == 0 || self.refcount(wanted)?.is_none() {
            return Ok(None);
        }
        let mut base = *wanted;
        let mut info = self.info(&base)?;
        if info.depth + 1 > max_depth {
            // Descend to the chain's whole frame; depths strictly descend, so this ends.
            while let Some(below) = info.base {
                base = below;
                info = self.info(&base)?;
            }
        }
        Ok(Some((base, info.depth + 1)))
    }

    /// Re-encodes the object at `id` as a whole frame (no delta), releasing its base. Used by
    /// `gc` to free bases that only deltas still hold.
    pub(crate) fn rewrite_whole(&mut self, id: &ObjectId) -> Result<(), Error> {
        let path = self.path();
        let info = self.info(id)?;
        let Some(base) = info.base else {
            return Ok(());
        };
        let (kind, bytes) = self.with_src(|src| load(src, id))?;
        let whole = codec::encode(kind, &bytes, self.shared.options.zstd_level);
        // Only a loose frame can be a delta.
        let Some(Entry {
            loc: Loc::Loose(seq),
            ..
        }) = self.entry(id)?
        else {
            return Ok(());
        };
        self.txn
            .open_table(OBJECTS)
            .db(path)?
            .insert(seq, whole.as_slice())
            .db(path)?;
        self.add_stored(whole.len() as i64 - info.stored as i64);
        self.decref(&base)
    }

    /// Adjusts the stored-bytes total by `d` at commit.
    pub(crate) fn add_stored(&mut self, d: i64) {
        self.totals.stored += d;
    }

    /// The redb transaction, for gc and verify to change tables directly; what the
    /// transaction had kept of them ([`TxnMemo`]) is forgotten.
    pub(crate) fn raw(&mut self) -> &mut redb::WriteTransaction {
        // The hot pin is not a table's contents, and a change to it is not yet written.
        let (hot, live_roots) = (self.memo_mut().hot, self.memo_mut().live_roots);
        *self.memo_mut() = TxnMemo {
            hot,
            live_roots,
            ..TxnMemo::default()
        };
        &mut self.txn
    }

    pub(crate) fn raw_ref(&self) -> &redb::WriteTransaction {
        &self.txn
    }

    pub(crate) fn mark_zero(&mut self, id: ObjectId) {
        self.zero.insert(id);
    }
}
