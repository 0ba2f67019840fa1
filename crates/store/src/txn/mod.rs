//! Transactions: [`ReadTxn`], a snapshot, and [`WriteTxn`], the one write transaction of a
//! mutating operation. Both read through one generic read path (`read.rs`).
//!
//! The files in layers, each depending only on those before it:
//! - `shared.rs`: [`Shared`], what the store lends every transaction; `memo.rs`: what a
//!   transaction keeps of what it has read;
//! - `access.rs`: what a transaction gives to be read (its redb transaction, memo and
//!   [`Shared`]);
//! - `locate.rs`: an object's entry, stored form and bytes (following its delta chain);
//! - `merged.rs`: the live⊕cold⊕tombstone view of roots, index entries and the pack index;
//! - `index/`: index keyspaces in the shared `index` table (reads in `mod.rs`, writes in
//!   `write.rs`);
//! - `read.rs`: the read path ([`StoreRead`] for both kinds) and [`ReadTxn`];
//! - `write.rs`: [`WriteTxn`] and putting objects (as deltas where that pays);
//! - the rest of the write side: `tombs.rs` (tombstones), `refs.rs` (reference counts and
//!   entries), `roots.rs` (roots and the hot pin), `commit.rs` (the sweep and the commit),
//!   `fold.rs` (a gc's fold into cold blocks).

mod access;
mod commit;
mod fold;
mod index;
mod locate;
mod memo;
mod merged;
mod read;
mod refs;
mod roots;
mod shared;
mod tombs;
mod write;

use std::ops::Bound;

pub(crate) use locate::{BaseCache, Src, item_id_of, load_cached};
pub(crate) use read::ReadPath;
pub use read::ReadTxn;
pub(crate) use shared::Shared;
pub use write::WriteTxn;

use crate::{Error, ObjectId};

/// A named root: holds one reference to `id`, with small caller-defined metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub name: String,
    pub id: ObjectId,
    pub meta: Vec<u8>,
}

/// The result of putting an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Put {
    pub id: ObjectId,
    /// Whether the object was new to the store (false: only the caller's link will count).
    pub new: bool,
    /// Bytes of the stored frame, 0 when the object already existed.
    pub stored_bytes: u64,
}

/// What a committed write transaction changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitOutcome {
    pub objects_added: u64,
    pub objects_removed: u64,
    /// Stored (compressed) bytes of objects added.
    pub bytes_added: u64,
    /// Stored bytes of objects removed. For a packed object, its share of its pack (in
    /// proportion to its size), which the store file gives back when `gc` next repacks.
    pub bytes_freed: u64,
}

pub(crate) fn validate_name(name: &str, what: &'static str) -> Result<(), Error> {
    let bad = |reason| Error::InvalidName {
        name: name.chars().take(200).collect(),
        reason,
    };
    if name.is_empty() {
        return Err(bad(what));
    }
    if name.len() > 1024 {
        return Err(bad("longer than 1024 bytes"));
    }
    if name.contains('\0') {
        return Err(bad("contains NUL"));
    }
    Ok(())
}

pub(crate) fn decode_root(name: &str, value: &[u8]) -> Option<Root> {
    let id = ObjectId::from_slice(value.get(..32)?)?;
    Some(Root {
        name: name.to_string(),
        id,
        meta: value[32..].to_vec(),
    })
}

/// Reads shared by [`ReadTxn`] and [`WriteTxn`], so layers above can write code once for both.
pub trait StoreRead {
    /// Reads an object and checks its hash (invariant I4).
    fn get(&self, id: &ObjectId) -> Result<Vec<u8>, Error>;
    /// Whether the object exists.
    fn contains(&self, id: &ObjectId) -> Result<bool, Error>;
    /// Whether each object exists, in order: one call for many objects costs little more than
    /// one [`StoreRead::contains`].
    fn contains_each(&self, ids: &[ObjectId]) -> Result<Vec<bool>, Error>;
    /// The object's uncompressed size, from its header, without decoding it.
    fn raw_size(&self, id: &ObjectId) -> Result<u64, Error>;
    /// The size of the object's stored frame, in bytes.
    fn stored_size(&self, id: &ObjectId) -> Result<u64, Error>;
    /// The object's reference count, `None` when absent.
    fn refcount(&self, id: &ObjectId) -> Result<Option<u64>, Error>;
    /// Everything this object holds a reference to: a node's links (in order), then the base
    /// of a delta frame. Empty for a whole blob.
    fn links(&self, id: &ObjectId) -> Result<Vec<ObjectId>, Error>;
    /// One root by name.
    fn root(&self, name: &str) -> Result<Option<Root>, Error>;
    /// Roots whose names start with `prefix`, in name order.
    fn roots(&self, prefix: &str) -> Result<Vec<Root>, Error>;
    /// One value of an index keyspace.
    fn index_get(&self, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Error>;
    /// Entries of an index keyspace within bounds, in key order (or reversed), at most `limit`.
    fn index_range(
        &self,
        space: &str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, Error> {
        Ok(self
            .index_ranges(space, &[(start, end)], reverse, limit)?
            .pop()
            .unwrap_or_default())
    }
    /// [`StoreRead::index_range`] for each of `ranges`, in order: one call for many ranges
    /// costs little more than one.
    fn index_ranges(
        &self,
        space: &str,
        ranges: &[KeyRange<'_>],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Vec<IndexEntry>>, Error>;
    /// Entries whose keys start with `prefix`, in key order, at most `limit`.
    fn index_prefix(
        &self,
        space: &str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<IndexEntry>, Error> {
        match prefix_end(prefix) {
            Some(end) => self.index_range(
                space,
                Bound::Included(prefix),
                Bound::Excluded(&end),
                false,
                limit,
            ),
            None => self.index_range(
                space,
                Bound::Included(prefix),
                Bound::Unbounded,
                false,
                limit,
            ),
        }
    }
    /// Number of entries in an index keyspace: a count over the space's range of the `index`
    /// table (merged with its cold entries when a gc has made some).
    fn index_len(&self, space: &str) -> Result<u64, Error>;

    /// What releasing one reference to each of `ids` would free (objects, stored bytes),
    /// computed without writing: the same cascade a commit performs, run on a copy of the
    /// counts it touches. Used to show a retention plan before applying it.
    fn simulate_release(&self, ids: &[ObjectId]) -> Result<Freed, Error> {
        let mut counts: std::collections::HashMap<ObjectId, u64> = std::collections::HashMap::new();
        let mut stack: Vec<ObjectId> = ids.to_vec();
        let mut freed = Freed::default();
        while let Some(id) = stack.pop() {
            let n = match counts.get(&id) {
                Some(n) => *n,
                None => match self.refcount(&id)? {
                    Some(n) => n,
                    None => continue,
                },
            };
            let n = n.saturating_sub(1);
            counts.insert(id, n);
            if n == 0 {
                freed.objects += 1;
                freed.bytes += self.stored_size(&id)?;
                stack.extend(self.links(&id)?);
            }
        }
        Ok(freed)
    }
}

/// One key and value of an index keyspace.
pub type IndexEntry = (Vec<u8>, Vec<u8>);

/// Bounds of a key range of an index keyspace.
pub type KeyRange<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// Objects and stored bytes a release would free.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freed {
    pub objects: u64,
    pub bytes: u64,
}

/// The smallest key greater than every key starting with `prefix` (None: no such key).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}
