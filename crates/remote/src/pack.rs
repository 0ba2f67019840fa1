//! A pack: the bytes of many file blobs in one object, named by the content address of its
//! plaintext. Layout (before compression and sealing): `CVP1`, a `u32` salt (0 unless the
//! pack's name was condemned by a gc and the same content must be uploaded afresh), a `u32`
//! member count, then per member its 32-byte blob id, a `u64` length and the bytes (all
//! little-endian).

use std::collections::BTreeMap;

use cfgvault_store::ObjectId;

use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"CVP1";

/// Encodes members (sorted by id, so equal sets encode equally).
pub(crate) fn encode(salt: u32, members: &BTreeMap<ObjectId, Vec<u8>>) -> Vec<u8> {
    let size: usize = members.values().map(|b| b.len() + 40).sum();
    let mut out = Vec::with_capacity(12 + size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&salt.to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for (id, bytes) in members {
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

/// Decodes a pack, checking that every member hashes to its id.
pub(crate) fn decode(name: &str, bytes: &[u8]) -> Result<BTreeMap<ObjectId, Vec<u8>>> {
    let corrupt = |detail: String| Error::Corrupt {
        object: name.to_string(),
        detail,
    };
    let mut r = Reader { bytes, at: 0 };
    if r.take(4) != Some(MAGIC.as_slice()) {
        return Err(corrupt("not a pack".into()));
    }
    let _salt = r.u32().ok_or_else(|| corrupt("truncated".into()))?;
    let count = r.u32().ok_or_else(|| corrupt("truncated".into()))?;
    let mut members = BTreeMap::new();
    for _ in 0..count {
        let id = r
            .take(32)
            .and_then(ObjectId::from_slice)
            .ok_or_else(|| corrupt("truncated".into()))?;
        let len = r.u64().ok_or_else(|| corrupt("truncated".into()))?;
        let data = usize::try_from(len)
            .ok()
            .and_then(|len| r.take(len))
            .ok_or_else(|| corrupt("truncated".into()))?;
        if ObjectId::for_blob(data) != id {
            return Err(corrupt(format!("member {id} does not hash to its id")));
        }
        members.insert(id, data.to_vec());
    }
    if r.at != bytes.len() {
        return Err(corrupt("trailing bytes".into()));
    }
    Ok(members)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() -> Result<()> {
        let mut m = BTreeMap::new();
        for b in [b"a: 1\n".to_vec(), b"b: 2\n".to_vec()] {
            m.insert(ObjectId::for_blob(&b), b);
        }
        let bytes = encode(0, &m);
        assert_eq!(decode("p", &bytes)?, m);
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(decode("p", &bad), Err(Error::Corrupt { .. })));
        assert!(decode("p", &bytes[..bytes.len() - 1]).is_err());
        Ok(())
    }
}
