//! Content-addressed, reference-counted object store for cfgvault, in one redb file.
//!
//! Objects are addressed by their BLAKE3 hash ([`ObjectId`]), stored once, compressed with zstd
//! when that pays, and counted: a *node* object links to other objects, a named *root* holds
//! one reference, and an object nobody references is removed in the same transaction that
//! released it. The store knows nothing of files, trees or sessions; the layers above give
//! meaning to nodes, roots and the ordered index keyspaces it keeps for them.
//!
//! Every mutating operation is one [`WriteTxn`], committed durably: a crash leaves the old state
//! or the new one. Reads check every object's hash.
//!
//! ```
//! use cfgvault_store::{Store, StoreOptions, StoreRead};
//!
//! let dir = tempfile::tempdir().expect("temp dir");
//! let store = Store::create(dir.path().join("store.redb"), &StoreOptions::default())?;
//!
//! let mut txn = store.write()?;
//! let blob = txn.put_blob(b"model: gpt-4\n")?.id;
//! let node = txn.put_node(b"a tree that names the blob", &[blob])?.id;
//! txn.pin("session/demo", &node, b"")?;
//! txn.commit()?;
//!
//! assert_eq!(store.get(&blob)?, b"model: gpt-4\n");
//! assert_eq!(store.read()?.refcount(&blob)?, Some(1));
//!
//! // Releasing the root releases everything only it held.
//! let mut txn = store.write()?;
//! txn.unpin("session/demo")?;
//! let outcome = txn.commit()?;
//! assert_eq!(outcome.objects_removed, 2);
//! assert!(!store.read()?.contains(&blob)?);
//! # Ok::<(), cfgvault_store::Error>(())
//! ```

mod codec;
mod cold;
mod entries;
mod error;
pub mod gc;
pub(crate) mod hotpin;
mod id;
mod options;
mod pack;
mod progress;
mod reserve;
mod schema;
mod store;
mod txn;
pub mod varint;
pub mod verify;

#[cfg(any(test, feature = "fault-injection"))]
pub mod testing;

#[cfg(test)]
mod tests;

pub use codec::{ObjectKind, node_bytes, split_node};
pub use error::{DatabaseError, Error};
pub use id::{NODE_CONTEXT, ObjectId};
pub use options::StoreOptions;
pub use progress::{NoProgress, Progress};
pub use schema::FORMAT_VERSION;
pub use store::{Stats, Store};
pub use txn::{
    CommitOutcome, Freed, IndexEntry, KeyRange, Put, ReadTxn, Root, StoreRead, WriteTxn,
};

/// Entry points for the fuzz targets in `fuzz/`; not part of the supported API.
#[doc(hidden)]
pub mod fuzz {
    /// Decodes arbitrary bytes as a stored object frame (the first 32 bytes, when present,
    /// are taken as the expected id). Must never panic or allocate beyond `max_size`.
    pub fn decode_frame(data: &[u8], max_size: u64) -> bool {
        let (id, frame) = match data.split_first_chunk::<32>() {
            Some((id, rest)) => (crate::ObjectId::from_bytes(*id), rest),
            None => (crate::ObjectId::for_blob(b""), data),
        };
        crate::codec::decode(&id, frame, max_size).is_ok()
    }

    /// Decodes arbitrary bytes as the first (and only) chunk of a pack. Must never panic or
    /// allocate beyond `max_raw`.
    pub fn decode_pack(data: &[u8], max_raw: u64) -> bool {
        crate::pack::fuzz_decode(data, max_raw)
    }

    /// Parses arbitrary bytes as a cold block and as a cold directory (`cold.rs`). Must never
    /// panic.
    pub fn decode_cold(data: &[u8]) -> bool {
        let block = crate::cold::Block::parse(data.to_vec()).is_ok();
        let dir = crate::cold::Dir::parse(data).is_ok();
        block || dir
    }

    /// A valid cold block of `entries` (keys must ascend strictly), for fuzz seeds.
    pub fn encode_cold_block(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut b = crate::cold::Builder::default();
        for (k, v) in entries {
            b.push(k.to_vec(), v.to_vec());
        }
        // Seeds are small: one block.
        b.finish()
            .into_iter()
            .next()
            .map(|(_, bytes)| bytes)
            .unwrap_or_default()
    }

    /// A valid single-chunk pack of `members` (kind 0 = blob, 1 = node), for fuzz seeds.
    pub fn encode_pack(members: &[(u8, &[u8])]) -> Option<Vec<u8>> {
        let mut b = crate::pack::Builder::default();
        for (kind, bytes) in members {
            let kind = crate::ObjectKind::from_tag(*kind)?;
            b.push(kind.id_of(bytes), kind, bytes);
        }
        let e = b.finish(3).ok()?;
        match e.chunks.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        }
    }
}
