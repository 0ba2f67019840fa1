//! Object identities: BLAKE3-256 digests with a full-hex `Display`.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// The key-derivation context for node objects (objects that link to others, such as trees).
///
/// A node's id is `blake3::derive_key(NODE_CONTEXT, bytes)`, a blob's id is `blake3::hash(bytes)`,
/// so a blob can never be mistaken for a node with the same bytes. Changing this string changes
/// every node id: it is part of the format (docs/FORMAT.md).
pub const NODE_CONTEXT: &str = "cfgvault 2026-11-25 node object v1";

/// The identity of a stored object: a BLAKE3-256 digest of its uncompressed bytes.
///
/// `Display` is the full lowercase hex (64 characters) and round-trips through `FromStr`;
/// `Debug` is short (`ObjectId(3fa2c1d0…)`). For a blob the id equals what `b3sum` prints.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId([u8; 32]);

impl ObjectId {
    /// The length of an id in bytes.
    pub const LEN: usize = 32;

    /// The id of a blob: the plain BLAKE3 hash of its bytes.
    pub fn for_blob(bytes: &[u8]) -> ObjectId {
        ObjectId(*blake3::hash(bytes).as_bytes())
    }

    /// The id of a node (an object with links): BLAKE3 in key-derivation mode with
    /// [`NODE_CONTEXT`], so it is domain-separated from blob ids.
    pub fn for_node(bytes: &[u8]) -> ObjectId {
        ObjectId(blake3::derive_key(NODE_CONTEXT, bytes))
    }

    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> ObjectId {
        ObjectId(bytes)
    }

    /// The raw digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Reads an id from a slice of exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<ObjectId> {
        <[u8; 32]>::try_from(bytes).ok().map(ObjectId)
    }

    /// The first `len` hex characters (at most 64), for tables meant for people.
    pub fn to_hex_with_len(&self, len: usize) -> String {
        let mut s = self.to_string();
        s.truncate(len.min(64));
        s
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(blake3::Hash::from_bytes(self.0).to_hex().as_str())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({}…)", self.to_hex_with_len(8))
    }
}

impl FromStr for ObjectId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| Error::InvalidId {
            input: s.chars().take(80).collect(),
            reason,
        };
        if s.len() != 64 {
            return Err(invalid("expected 64 hex characters"));
        }
        blake3::Hash::from_hex(s)
            .map(|h| ObjectId(*h.as_bytes()))
            .map_err(|_| invalid("not a hex digit"))
    }
}

impl serde::Serialize for ObjectId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ObjectId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn blob_id_matches_b3sum_of_empty_input() {
        // `b3sum /dev/null`
        assert_eq!(
            ObjectId::for_blob(b"").to_string(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn node_and_blob_domains_differ() {
        assert_ne!(ObjectId::for_blob(b"x"), ObjectId::for_node(b"x"));
    }

    #[test]
    fn bad_hex_is_a_typed_error() {
        assert!(matches!(
            "zz".parse::<ObjectId>(),
            Err(Error::InvalidId { .. })
        ));
        let not_hex = "g".repeat(64);
        assert!(matches!(
            not_hex.parse::<ObjectId>(),
            Err(Error::InvalidId { .. })
        ));
        // A multi-byte character must not panic the parser.
        let s = format!("{}é", "a".repeat(62));
        assert_eq!(s.len(), 64);
        assert!(s.parse::<ObjectId>().is_err());
    }

    #[test]
    fn debug_is_short() {
        let id = ObjectId::for_blob(b"abc");
        assert_eq!(
            format!("{id:?}"),
            format!("ObjectId({}…)", &id.to_string()[..8])
        );
    }

    proptest! {
        #[test]
        fn hex_round_trips(bytes in proptest::array::uniform32(any::<u8>())) {
            let id = ObjectId::from_bytes(bytes);
            let s = id.to_string();
            prop_assert_eq!(s.len(), 64);
            prop_assert_eq!(s.parse::<ObjectId>().unwrap(), id);
            prop_assert_eq!(s.to_uppercase().parse::<ObjectId>().unwrap(), id);
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(&json, &format!("\"{s}\""));
            prop_assert_eq!(serde_json::from_str::<ObjectId>(&json).unwrap(), id);
        }
    }
}
