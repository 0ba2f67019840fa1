//! The string table (kept in the `session.counters` space): strings that repeat from session
//! to session — the config root, the workflow path, the strategy — are stored once and named in
//! records by a number (record version 2), so that ten thousand sessions over one config root
//! do not store its path ten thousand times. Entries are never removed: there is one pair per
//! distinct string.

use std::collections::HashMap;
use std::ops::Bound;

use cfgvault_store::{KeyRange, StoreRead, WriteTxn};

use crate::keys::{STRINGS, prefix_end};
use crate::{Error, Result};

const BY_STRING: u8 = 0x00;
const BY_NUMBER: u8 = 0x01;

fn number_key(n: u64) -> [u8; 9] {
    let mut k = [BY_NUMBER; 9];
    k[1..].copy_from_slice(&n.to_be_bytes());
    k
}

fn corrupt(key: &[u8], detail: &str) -> Error {
    // Keys are binary: `string N` for a string's entry, the hex of the key otherwise.
    let key = match key {
        [BY_NUMBER, n @ ..] if n.len() == 8 => {
            let n = <[u8; 8]>::try_from(n).map(u64::from_be_bytes).unwrap_or(0);
            format!("string {n}")
        }
        _ => format!("string table key {}", hex(&key[..key.len().min(64)])),
    };
    Error::CorruptIndex {
        key,
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

/// The numbers of `strings`, in order: [`intern`] for each, with one range read for all the
/// hash prefixes and one for the candidates' strings (a record names three strings, and the
/// backup of a known workflow finds all three).
pub(crate) fn intern_each(txn: &mut WriteTxn<'_>, strings: &[&str]) -> Result<Vec<u64>> {
    let prefixes: Vec<[u8; 9]> = strings.iter().map(|s| hash_prefix(s)).collect();
    let ends: Vec<Option<Vec<u8>>> = prefixes.iter().map(|p| prefix_end(p)).collect();
    let ranges: Vec<KeyRange<'_>> = prefixes
        .iter()
        .zip(&ends)
        .map(|(p, end)| {
            (
                Bound::Included(&p[..]),
                end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
            )
        })
        .collect();
    let found = txn.index_ranges(STRINGS, &ranges, false, usize::MAX)?;
    // Every candidate's number, then its string.
    let mut candidates: Vec<(usize, u64)> = Vec::new();
    for (i, rows) in found.iter().enumerate() {
        for (k, _) in rows {
            candidates.push((i, number_of(k, prefixes[i].len())?));
        }
    }
    let keys: Vec<[u8; 9]> = candidates.iter().map(|(_, n)| number_key(*n)).collect();
    let exact: Vec<KeyRange<'_>> = keys
        .iter()
        .map(|k| (Bound::Included(&k[..]), Bound::Included(&k[..])))
        .collect();
    let values = txn.index_ranges(STRINGS, &exact, false, 1)?;
    let mut numbers: Vec<Option<u64>> = vec![None; strings.len()];
    for ((i, n), rows) in candidates.iter().zip(&values) {
        if numbers[*i].is_none()
            && rows.first().map(|(_, v)| v.as_slice()) == Some(strings[*i].as_bytes())
        {
            numbers[*i] = Some(*n);
        }
    }
    // New strings, numbered in order as `intern` would (it finds one added just before).
    strings
        .iter()
        .zip(numbers)
        .map(|(s, n)| match n {
            Some(n) => Ok(n),
            None => intern(txn, s),
        })
        .collect()
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

/// The string table's problems, from all its entries (`rows`, in key order): each string
/// (`0x01 ‖ n`) must be UTF-8 and found under the hash of its bytes (`0x00 ‖ hash ‖ n`, the
/// string's checksum), and each hash entry must name a string with that hash. Returns each
/// problem's key and what is wrong.
pub(crate) fn check_table(rows: &[(Vec<u8>, Vec<u8>)]) -> Vec<(String, String)> {
    let key_text = |k: &[u8]| format!("{STRINGS} {}", hex(k));
    let mut problems = Vec::new();
    let by_hash: std::collections::HashSet<&[u8]> = rows
        .iter()
        .filter(|(k, _)| k.first() == Some(&BY_STRING))
        .map(|(k, _)| k.as_slice())
        .collect();
    let mut numbered: HashMap<u64, [u8; 9]> = HashMap::new();
    for (k, v) in rows.iter().filter(|(k, _)| k.first() == Some(&BY_NUMBER)) {
        let (Ok(n), Ok(s)) = (number_of(k, 1), std::str::from_utf8(v)) else {
            problems.push((key_text(k), "string table: not a string entry".into()));
            continue;
        };
        let prefix = hash_prefix(s);
        let mut hashed = prefix.to_vec();
        hashed.extend_from_slice(&n.to_be_bytes());
        if !by_hash.contains(hashed.as_slice()) {
            problems.push((
                key_text(k),
                format!("string table: string {n} is not found under its hash (damaged)"),
            ));
        }
        numbered.insert(n, prefix);
    }
    for (k, v) in rows.iter().filter(|(k, _)| k.first() != Some(&BY_NUMBER)) {
        let n = number_of(k, 9)
            .ok()
            .filter(|_| k.first() == Some(&BY_STRING));
        let names = n.and_then(|n| numbered.get(&n)).map(|p| &p[..]);
        if !v.is_empty() || names != k.get(..9) {
            problems.push((
                key_text(k),
                "string table: a hash entry without its string".into(),
            ));
        }
    }
    problems
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

    #[test]
    fn interning_several_at_once_numbers_as_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path().join("s.redb"), &StoreOptions::default()).unwrap();
        let mut t = store.write().unwrap();
        assert_eq!(intern(&mut t, "/srv/configs").unwrap(), 0);
        // A simulated collision: the clash's hash prefix already names number 0, whose string
        // differs, so the clash must get a number of its own.
        let clash = "workflows/react.yaml";
        let mut k = hash_prefix(clash).to_vec();
        k.extend_from_slice(&0u64.to_be_bytes());
        t.index_insert(STRINGS, &k, b"").unwrap();
        // Known, colliding-new, new, repeated-new, known again: new ones are numbered in order,
        // a repeat finds the number given just before.
        let got = intern_each(
            &mut t,
            &["/srv/configs", clash, "tree", clash, "/srv/configs"],
        )
        .unwrap();
        assert_eq!(got, vec![0, 1, 2, 1, 0]);
        assert_eq!(intern(&mut t, clash).unwrap(), 1);
        assert_eq!(intern_each(&mut t, &["tree", clash]).unwrap(), vec![2, 1]);
        assert_eq!(intern_each(&mut t, &[]).unwrap(), Vec::<u64>::new());
        t.commit().unwrap();
        let r = store.read().unwrap();
        let mut strings = Strings::default();
        assert_eq!(strings.resolve(&r, 1).unwrap().as_deref(), Some(clash));
        assert_eq!(strings.resolve(&r, 2).unwrap().as_deref(), Some("tree"));
        assert_eq!(strings.resolve(&r, 3).unwrap(), None);
    }
}
