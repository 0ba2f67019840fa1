//! The hot pin (`meta.hot_pin`): the references that roots hold to one object — the
//! one pinned again and again, as every backup of an unchanged closure pins its session node —
//! are counted in `meta`, which every commit that adds a root writes anyway, instead of in the
//! object's entry. A backup then writes no `ids` or `pack_ids` page.
//!
//! An object's reference count is the count its entry holds plus, for the hot object, the hot
//! pin's count (I1 holds for that sum). Pinning the hot object adds to the hot pin; pinning
//! another object adds to its entry and makes it the *next* one, which a second pin in a row
//! makes hot (the previous hot count is then added to its entry). So a store that alternates
//! between two kinds of sessions keeps the one it pins more often hot.
//!
//! The hot count is kept relative to the length of the `roots` table: `meta` holds the count
//! minus that length. A new root naming the hot object adds one to both, so the stored value
//! does not change and such a commit leaves `meta` alone (one page fewer).

use crate::ObjectId;

/// The hot pin, as `meta.hot_pin` holds it; the default is an absent key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HotPin {
    /// The hot object and the references counted here (at least 1).
    pub hot: Option<(ObjectId, u64)>,
    /// The object last pinned that was not hot.
    pub next: Option<ObjectId>,
}

const HAS_HOT: u8 = 1;
const HAS_NEXT: u8 = 2;
/// The count is stored less the length of `roots`: set whenever `HAS_HOT` is.
const RELATIVE: u8 = 4;

impl HotPin {
    /// `flags ‖ [hot id ‖ count u64 LE] ‖ [next id]`, the bracketed parts present by flag; the
    /// count less `live_roots` (the length of `roots` the value goes with), modulo 2^64.
    pub(crate) fn encode(&self, live_roots: u64) -> Vec<u8> {
        let mut out = vec![0];
        if let Some((id, n)) = &self.hot {
            out[0] |= HAS_HOT | RELATIVE;
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(&n.wrapping_sub(live_roots).to_le_bytes());
        }
        if let Some(id) = &self.next {
            out[0] |= HAS_NEXT;
            out.extend_from_slice(id.as_bytes());
        }
        out
    }

    /// The hot pin stored as `bytes` while `roots` held `live_roots` entries; `None` when the
    /// bytes are not an encoding [`HotPin::encode`] gives.
    pub(crate) fn decode(bytes: &[u8], live_roots: u64) -> Option<HotPin> {
        let (&flags, mut rest) = bytes.split_first()?;
        if flags & !(HAS_HOT | HAS_NEXT | RELATIVE) != 0
            || (flags & RELATIVE != 0) != (flags & HAS_HOT != 0)
        {
            return None;
        }
        let mut take = |n: usize| -> Option<&[u8]> {
            let (a, b) = rest.split_at_checked(n)?;
            rest = b;
            Some(a)
        };
        let mut pin = HotPin::default();
        if flags & HAS_HOT != 0 {
            let id = ObjectId::from_bytes(take(32)?.try_into().ok()?);
            let n = u64::from_le_bytes(take(8)?.try_into().ok()?).wrapping_add(live_roots);
            if n == 0 {
                return None;
            }
            pin.hot = Some((id, n));
        }
        if flags & HAS_NEXT != 0 {
            pin.next = Some(ObjectId::from_bytes(take(32)?.try_into().ok()?));
        }
        rest.is_empty().then_some(pin)
    }

    /// The references counted here for `id`.
    pub(crate) fn count_of(&self, id: &ObjectId) -> u64 {
        match &self.hot {
            Some((h, n)) if h == id => *n,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip_and_reject_the_rest() {
        let a = ObjectId::for_blob(b"a");
        let b = ObjectId::for_blob(b"b");
        for pin in [
            HotPin::default(),
            HotPin {
                hot: Some((a, 3)),
                next: None,
            },
            HotPin {
                hot: None,
                next: Some(b),
            },
            HotPin {
                hot: Some((a, u64::MAX)),
                next: Some(b),
            },
        ] {
            for live in [0, 2, 7, u64::MAX] {
                let bytes = pin.encode(live);
                assert_eq!(HotPin::decode(&bytes, live), Some(pin));
                // Truncated or extended, or with an unknown flag, it is refused.
                if bytes.len() > 1 {
                    assert_eq!(HotPin::decode(&bytes[..bytes.len() - 1], live), None);
                }
                assert_eq!(
                    HotPin::decode(&[bytes.as_slice(), &[0]].concat(), live),
                    None
                );
                let mut flagged = bytes.clone();
                flagged[0] |= 8;
                assert_eq!(HotPin::decode(&flagged, live), None);
            }
        }
        assert_eq!(HotPin::decode(&[], 0), None);
        // Relative to the length of `roots`: one more root naming the hot object leaves the
        // bytes as they are.
        let pin = |n| HotPin {
            hot: Some((a, n)),
            next: Some(b),
        };
        assert_eq!(pin(4).encode(10), pin(5).encode(11));
        assert_ne!(pin(4).encode(10), pin(4).encode(11));
        // A hot count must be relative; one with no references is not a hot pin; nor is a
        // count with no object.
        let absolute = [&[HAS_HOT][..], a.as_bytes(), &3u64.to_le_bytes()].concat();
        assert_eq!(HotPin::decode(&absolute, 9), None);
        let rel_zero = [
            &[HAS_HOT | RELATIVE][..],
            a.as_bytes(),
            &u64::MAX.to_le_bytes(),
        ]
        .concat();
        assert_eq!(HotPin::decode(&rel_zero, 1), None);
        assert_eq!(HotPin::decode(&[RELATIVE], 0), None);
        assert_eq!(HotPin::decode(&[RELATIVE | HAS_NEXT, 0], 0), None);
        let pin = HotPin {
            hot: Some((a, 5)),
            next: None,
        };
        assert_eq!((pin.count_of(&a), pin.count_of(&b)), (5, 0));
    }
}
