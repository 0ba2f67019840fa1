//! Minimal unsigned LEB128, the one integer encoding of every format in cfgvault (object
//! frames, packs, cold blocks, the pack index, and the session layer's trees and records).
//!
//! A value takes 7 bits a byte, low bits first, the high bit set on every byte but the last.
//! Decoding accepts exactly one encoding per value: at most 10 bytes, no bits beyond 64, and
//! no final zero byte after the first (so padding cannot change a hashed encoding).

/// Why bytes are not a minimal LEB128 integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The bytes end before the integer does.
    Truncated,
    /// More than 10 bytes, or bits beyond 64.
    Overflow,
    /// A longer encoding than the value needs.
    NonMinimal,
}

impl VarintError {
    /// A short description, for error details.
    pub fn as_str(self) -> &'static str {
        match self {
            VarintError::Truncated => "truncated",
            VarintError::Overflow => "integer overflows 64 bits",
            VarintError::NonMinimal => "non-minimal integer",
        }
    }
}

/// Appends `v`.
pub fn write(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The integer at the start of `buf` and the bytes it takes.
pub fn decode(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let &b = buf.get(i).ok_or(VarintError::Truncated)?;
        if i == 9 && b > 1 {
            return Err(VarintError::Overflow);
        }
        v |= u64::from(b & 0x7f) << (7 * i as u32);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return Err(VarintError::NonMinimal);
            }
            return Ok((v, i + 1));
        }
    }
    Err(VarintError::Overflow)
}

/// [`decode`], `None` for any malformed integer.
pub fn read(buf: &[u8]) -> Option<(u64, usize)> {
    decode(buf).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn malformed_integers_are_refused() {
        assert_eq!(decode(&[]), Err(VarintError::Truncated));
        assert_eq!(decode(&[0x80]), Err(VarintError::Truncated));
        assert_eq!(decode(&[0x80, 0x00]), Err(VarintError::NonMinimal));
        assert_eq!(decode(&[0xff; 10]), Err(VarintError::Overflow));
        let mut max = vec![0xff; 9];
        max.push(0x01);
        assert_eq!(decode(&max), Ok((u64::MAX, 10)));
        max[9] = 0x02;
        assert_eq!(decode(&max), Err(VarintError::Overflow));
        assert_eq!(decode(&[0x00, 0xff]), Ok((0, 1)));
    }

    proptest! {
        #[test]
        fn every_value_round_trips(v in any::<u64>(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut out = Vec::new();
            write(&mut out, v);
            let n = out.len();
            out.extend_from_slice(&tail);
            prop_assert_eq!(decode(&out), Ok((v, n)));
        }
    }
}
