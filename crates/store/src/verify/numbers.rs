//! `verify`'s cross-checks of the numbers that name stored things: loose frames, packs and cold
//! blocks all take their number from `meta.next_seq`, so each must lie below it (a damaged
//! `next_seq` would let the next write take a number again and overwrite what holds it), and
//! each pack member is named by at most one item of the pack index.

use std::collections::HashMap;
use std::path::Path;

use redb::ReadableTable;

use crate::Error;
use crate::cold::COLD;
use crate::entries;
use crate::error::DbResult;
use crate::pack::PACKS;
use crate::schema::{K_NEXT_SEQ, META, OBJECTS, read_counter};
use crate::verify::{Problem, ProblemKind};

/// The problems of the numbers in `t`; `items` is the pack index (live and cold).
pub(crate) fn check(
    t: &redb::ReadTransaction,
    items: &[(u64, entries::Item)],
    path: &Path,
) -> Result<Vec<Problem>, Error> {
    let mut out = Vec::new();
    let next = read_counter(&t.open_table(META).db(path)?, K_NEXT_SEQ, path)?;
    let corrupt = |detail: String| Problem {
        kind: ProblemKind::Corrupt,
        id: None,
        detail,
    };
    let too_high = |what: &str, n: u64| {
        corrupt(format!(
            "{what} {n} is numbered at or above meta.next_seq ({next}): a later write could take its number again"
        ))
    };
    if let Some(last) = last_key(t.open_table(OBJECTS), |n| n, path)?
        && last >= next
    {
        out.push(too_high("loose frame", last));
    }
    for (what, table) in [("pack", PACKS), ("cold block", COLD)] {
        if let Some(last) = last_key(t.open_table(table), |(n, _)| n, path)?
            && last >= next
        {
            out.push(too_high(what, last));
        }
    }
    let mut named: HashMap<(u64, u32), u64> = HashMap::new();
    for (key, item) in items {
        if let Some(first) = named.insert((item.pack, item.member), *key) {
            out.push(corrupt(format!(
                "pack {} member {} is named by two pack index entries ({first:016x} and {key:016x})",
                item.pack, item.member
            )));
        }
    }
    Ok(out)
}

/// The number in the greatest key of a table, `number` taking it out of the key (none when
/// the table is empty or does not exist yet).
fn last_key<K: redb::Key + 'static>(
    table: Result<redb::ReadOnlyTable<K, &'static [u8]>, redb::TableError>,
    number: impl Fn(K::SelfType<'_>) -> u64,
    path: &Path,
) -> Result<Option<u64>, Error> {
    let table = match table {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e).db(path),
    };
    Ok(table.last().db(path)?.map(|(k, _)| number(k.value())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{NoProgress, Store, StoreOptions, verify};

    /// A store of three objects under roots, after a gc (packs and cold blocks) and then a
    /// loose object; `verify` is clean.
    fn store(dir: &Path) -> Store {
        let store = Store::create(dir.join("s.redb"), &StoreOptions::default()).unwrap();
        let mut t = store.write().unwrap();
        for (i, bytes) in [&b"one"[..], b"two", b"three"].into_iter().enumerate() {
            let id = t.put_blob(bytes).unwrap().id;
            t.pin(&format!("r{i}"), &id, b"").unwrap();
        }
        t.commit().unwrap();
        store.gc(&NoProgress).unwrap();
        let mut t = store.write().unwrap();
        let id = t.put_blob(b"four").unwrap().id;
        t.pin("r3", &id, b"").unwrap();
        t.commit().unwrap();
        assert_eq!(problems(&store), Vec::<String>::new());
        store
    }

    fn problems(store: &Store) -> Vec<String> {
        let o = store
            .verify(&verify::Options::default(), &NoProgress)
            .unwrap();
        o.problems.iter().map(|p| p.detail.clone()).collect()
    }

    #[test]
    fn issue_22_a_next_seq_at_or_below_a_used_number_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let mut t = store.write().unwrap();
        t.raw()
            .open_table(META)
            .unwrap()
            .insert(K_NEXT_SEQ, 1u64.to_le_bytes().as_slice())
            .unwrap();
        t.commit().unwrap();
        let found = problems(&store);
        for what in ["loose frame", "pack", "cold block"] {
            assert!(
                found
                    .iter()
                    .any(|p| p.starts_with(&format!("{what} ")) && p.contains("meta.next_seq (1)")),
                "{what}: {found:?}"
            );
        }
    }

    #[test]
    fn issue_22_a_pack_member_named_twice_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let r = store.read().unwrap();
        let items = crate::txn::ReadPath::pack_items(&r).unwrap();
        assert!(items.len() >= 3, "{items:?}");
        let t = r.raw();
        assert_eq!(check(t, &items, Path::new("s")).unwrap(), Vec::new());
        // The same item under a second key, as a damaged index would hold it.
        let mut twice = items.clone();
        twice.push((items[0].0 ^ 1, items[0].1));
        let found = check(t, &twice, Path::new("s")).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .detail
                .contains("is named by two pack index entries"),
            "{found:?}"
        );
    }
}
