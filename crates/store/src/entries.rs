//! The pack index: where a packed object is found, and its reference count.
//!
//! A loose object's entry is in `ids` under its full 32-byte id. A packed object's entry
//! is in `pack_ids`, under the first 8 bytes of its id, as its pack, its position
//! there and its count: about 17 bytes a object against 48 in `ids`. The other 24 bytes of the
//! id are not stored: the member's bytes give them back, so a lookup hashes the member it
//! points at (once per decoded pack, see [`crate::pack::Pack::member_id`]) and takes it only if
//! that hash is the id asked for. Two objects whose ids share 8 bytes have one key, holding
//! both entries.

use redb::TableDefinition;

use crate::ObjectId;
use crate::varint;

/// `id[..8]` (big-endian u64) → one or more `varint(pack) ‖ varint(member) ‖ varint(count)`.
pub(crate) const PACK_IDS: TableDefinition<u64, &[u8]> = TableDefinition::new("pack_ids");

/// The key of `id` in [`PACK_IDS`].
pub(crate) fn key(id: &ObjectId) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id.as_bytes()[..8]);
    u64::from_be_bytes(b)
}

/// One packed object's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Item {
    pub pack: u64,
    pub member: u32,
    pub count: u64,
}

impl Item {
    /// Whether this item is at `pack`/`member`.
    pub(crate) fn at(&self, pack: u64, member: u32) -> bool {
        self.pack == pack && self.member == member
    }
}

pub(crate) fn encode(items: &[Item]) -> Vec<u8> {
    let mut out = Vec::with_capacity(items.len() * 8);
    for i in items {
        varint::write(&mut out, i.pack);
        varint::write(&mut out, u64::from(i.member));
        varint::write(&mut out, i.count);
    }
    out
}

/// The items of a value; `None` when it is malformed (empty, truncated, or a member number
/// out of range).
pub(crate) fn decode(mut v: &[u8]) -> Option<Vec<Item>> {
    let mut out = Vec::with_capacity(1);
    if v.is_empty() {
        return None;
    }
    while !v.is_empty() {
        let (pack, a) = varint::read(v)?;
        let (member, b) = varint::read(&v[a..])?;
        let (count, c) = varint::read(&v[a + b..])?;
        out.push(Item {
            pack,
            member: u32::try_from(member).ok()?,
            count,
        });
        v = &v[a + b + c..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn key_is_the_first_eight_bytes() {
        let id = ObjectId::for_blob(b"x");
        assert_eq!(key(&id).to_be_bytes(), id.as_bytes()[..8]);
    }

    #[test]
    fn malformed_values_are_none() {
        assert_eq!(decode(&[]), None);
        let mut v = encode(&[Item {
            pack: 300,
            member: 7,
            count: 1 << 40,
        }]);
        for cut in 1..v.len() {
            assert_eq!(decode(&v[..cut]), None, "cut at {cut}");
        }
        v.extend_from_slice(&[1, 0x80]);
        assert_eq!(decode(&v), None);
        // A member beyond u32.
        let mut big = Vec::new();
        varint::write(&mut big, 1);
        varint::write(&mut big, 1 << 33);
        varint::write(&mut big, 1);
        assert_eq!(decode(&big), None);
    }

    proptest! {
        #[test]
        fn items_round_trip(items in prop::collection::vec(
            (any::<u64>(), any::<u32>(), any::<u64>()), 1..5)) {
            let items: Vec<Item> = items
                .into_iter()
                .map(|(pack, member, count)| Item { pack, member, count })
                .collect();
            prop_assert_eq!(decode(&encode(&items)), Some(items));
        }
    }
}
