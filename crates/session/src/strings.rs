//! The string table (kept in the `session.counters` space): strings that repeat from session
//! to session — the config root, the workflow path, the strategy — are stored once and named in
//! records by a number (record version 2), so that ten thousand sessions over one config root
//! do not store its path ten thousand times. Entries are never removed: there is one pair per
//! distinct string.

use std::collections::HashMap;
use std::ops::Bound;

use cfgvault_store::{StoreRead, WriteTxn};

use crate::keys::STRINGS;
use crate::{Error, Result};

const BY_STRING: u8 = 0x00;
const BY_NUMBER: u8 = 0x01;

fn number_key(n: u64) -> [u8; 9] {
    let mut k = [BY_NUMBER; 9];
    k[1..].copy_from_slice(&n.to_be_bytes());
    k
}

fn corrupt(key: &[u8], detail: &str) -> Error {
    Error::CorruptIndex {
        key: String::from_utf8_lossy(key).chars().take(200).collect(),
        detail: format!("string table: {detail}"),
    }
}

/// `0x00 ‖ first 8 bytes of BLAKE3(s) ‖ n`: finds a string's number without storing the
/// string twice (a hash prefix shared by two strings only means two entries to check).
fn hash_prefix(s: &str) -> [u8; 9] {
    let mut k = [BY_STRING; 9];
    k[1..].copy_from_slice(&blake3::hash(s.as_bytes()).as_bytes()[..8]);
    k
}

fn number_of(k: &[u8], from: usize) -> Result<u64> {
    k.get(from..)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| corrupt(k, "bad number in key"))
}

/// The number of `s`, adding it to the table when it is new (numbers count up from 0).
pub(crate) fn intern(txn: &mut WriteTxn<'_>, s: &str) -> Result<u64> {
    let prefix = hash_prefix(s);
    for (k, _) in txn.index_prefix(STRINGS, &prefix, usize::MAX)? {
        let n = number_of(&k, prefix.len())?;
        if txn.index_get(STRINGS, &number_key(n))?.as_deref() == Some(s.as_bytes()) {
            return Ok(n);
        }
    }
    let last = txn.index_range(
        STRINGS,
        Bound::Included(&[BY_NUMBER][..]),
        Bound::Excluded(&[BY_NUMBER + 1][..]),
        true,
        1,
    )?;
    let n = match last.first() {
        None => 0,
        Some((k, _)) => number_of(k, 1)?
            .checked_add(1)
            .ok_or_else(|| corrupt(k, "numbers exhausted"))?,
    };
    let mut key = prefix.to_vec();
    key.extend_from_slice(&n.to_be_bytes());
    txn.index_insert(STRINGS, &key, b"")?;
    txn.index_insert(STRINGS, &number_key(n), s.as_bytes())?;
    Ok(n)
}

/// Resolves numbers to strings, remembering each (a listing resolves the same few many times).
#[derive(Debug, Default)]
pub(crate) struct Strings(HashMap<u64, String>);

impl Strings {
    /// The string numbered `n`, `None` when the table has no such number.
    pub(crate) fn resolve(&mut self, r: &impl StoreRead, n: u64) -> Result<Option<String>> {
        if let Some(s) = self.0.get(&n) {
            return Ok(Some(s.clone()));
        }
        let key = number_key(n);
        let Some(bytes) = r.index_get(STRINGS, &key)? else {
            return Ok(None);
        };
        let s = String::from_utf8(bytes).map_err(|_| corrupt(&key, "not UTF-8"))?;
        self.0.insert(n, s.clone());
        Ok(Some(s))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cfgvault_store::{Store, StoreOptions};

    #[test]
    fn strings_are_numbered_once_and_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path().join("s.redb"), &StoreOptions::default()).unwrap();
        let mut t = store.write().unwrap();
        assert_eq!(intern(&mut t, "/srv/configs").unwrap(), 0);
        assert_eq!(intern(&mut t, "comprehensive").unwrap(), 1);
        assert_eq!(intern(&mut t, "/srv/configs").unwrap(), 0);
        // A string whose hash prefix another number already uses (a collision, simulated):
        // the candidate is checked against its string and a new number is given.
        let clash = "workflows/react.yaml";
        let mut k = hash_prefix(clash).to_vec();
        k.extend_from_slice(&1u64.to_be_bytes());
        t.index_insert(STRINGS, &k, b"").unwrap();
        assert_eq!(intern(&mut t, clash).unwrap(), 2);
        assert_eq!(intern(&mut t, clash).unwrap(), 2);
        t.commit().unwrap();

        let r = store.read().unwrap();
        let mut strings = Strings::default();
        assert_eq!(strings.resolve(&r, 2).unwrap().as_deref(), Some(clash));
        assert_eq!(
            strings.resolve(&r, 0).unwrap().as_deref(),
            Some("/srv/configs")
        );
        assert_eq!(strings.resolve(&r, 3).unwrap(), None);
    }
}
