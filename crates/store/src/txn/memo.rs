//! What a transaction keeps of what it has read.

use std::collections::HashMap;
use std::sync::Arc;

use crate::cold;
use crate::hotpin::HotPin;
use crate::pack::Pack;

/// What one transaction has read and keeps instead of reading again: opening a redb table and
/// reading `meta` cost more than the lookups that need them, and a backup makes dozens.
///
/// - Index space numbers, and which spaces have none: a number never changes once given, and
///   one given out by this transaction is seen by it alone (and kept here when given).
/// - The cold directory: only [`WriteTxn::fold_cold`](super::WriteTxn::fold_cold) changes it, and forgets it then.
/// - Whether `tombs` is empty: only tombstoning changes that, and forgets it then. An empty
///   table (the usual case between gcs) spares every merged read a table open per cold entry.
/// - The packs read: a pack number is given once and its pack never changes; only gc writes
///   or deletes packs, through [`WriteTxn::raw`](super::WriteTxn::raw), which forgets everything kept here.
pub(crate) type Memo = std::sync::Mutex<TxnMemo>;

/// Most packs a transaction keeps in its memo.
pub(super) const MEMO_PACKS: usize = 4;

#[derive(Default)]
pub(crate) struct TxnMemo {
    /// `None`: the space has no number yet.
    pub(crate) spaces: HashMap<String, Option<Vec<u8>>>,
    /// Every space numbered when the transaction began (name → prefix), once read; `spaces`
    /// (which comes first) adds those this transaction numbers.
    pub(crate) all_spaces: Option<Arc<HashMap<String, Vec<u8>>>>,
    /// `Some(None)`: the store has no cold side.
    pub(crate) cold_dir: Option<Option<Arc<cold::Dir>>>,
    pub(crate) tombs_empty: Option<bool>,
    /// Packs decoded (or found in the store's cache) by number.
    pub(crate) packs: HashMap<u64, Arc<Pack>>,
    /// The hot pin, once read (a write transaction keeps its changes here until commit).
    pub(crate) hot: Option<HotPin>,
    /// The length of `roots` when the transaction began, once read: what the stored hot
    /// count and root count are relative to. A write transaction reads it before it first
    /// changes that table.
    pub(crate) live_roots: Option<u64>,
}
