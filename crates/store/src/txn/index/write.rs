//! Writes to the index keyspaces: inserting (a space new to the `index` table gets the next
//! number) and removing, with the tombstones that keep a removed cold entry hidden.

use super::space_key;
use crate::Error;
use crate::cold::{self, NS_INDEX};
use crate::error::DbResult;
use crate::schema::{INDEX, K_INDEX_SPACES, META, read_counter};
use crate::txn::WriteTxn;
use crate::txn::read::ReadPath;
use crate::varint;

impl WriteTxn<'_> {
    /// Sets a value in an index keyspace, returning the previous one.
    pub fn index_insert(
        &mut self,
        space: &str,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .index_insert_each(space, &[(key, value)])?
            .pop()
            .flatten())
    }

    /// [`WriteTxn::index_insert`] for each of `entries`, in order, returning the previous
    /// values: one call for many entries costs little more than one.
    pub fn index_insert_each(
        &mut self,
        space: &str,
        entries: &[(&[u8], &[u8])],
    ) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let shared = self.shared;
        shared.guarded(|| {
            let path = self.path();
            let Some(prefix) = self.index_key(space, &[], true)? else {
                return Ok(vec![None; entries.len()]);
            };
            let mut olds = Vec::with_capacity(entries.len());
            {
                let mut t = self.txn.open_table(INDEX).db(path)?;
                let mut key = prefix.clone();
                for (k, v) in entries {
                    key.truncate(prefix.len());
                    key.extend_from_slice(k);
                    olds.push(
                        t.insert(key.as_slice(), *v)
                            .db(path)?
                            .map(|v| v.value().to_vec()),
                    );
                }
            }
            for ((k, _), old) in entries.iter().zip(olds.iter_mut()) {
                if old.is_some() {
                    continue;
                }
                // Not live: it may be cold, or removed since the last gc.
                let ck = cold::cold_key(NS_INDEX, &[prefix.as_slice(), k].concat());
                if !self.untomb(&ck)? {
                    *old = self
                        .merged()
                        .with_cold(|c| c.map_or(Ok(None), |c| c.get(&ck)))?;
                }
            }
            Ok(olds)
        })
    }

    /// Removes a key from an index keyspace, returning its value.
    pub fn index_remove(&mut self, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let shared = self.shared;
        shared.guarded(|| {
            let path = self.path();
            let Some(key) = self.index_key(space, key, false)? else {
                return Ok(None);
            };
            let old = self
                .txn
                .open_table(INDEX)
                .db(path)?
                .remove(key.as_slice())
                .db(path)?
                .map(|v| v.value().to_vec());
            let ck = cold::cold_key(NS_INDEX, &key);
            let was_tombed = self.merged().tombstoned(&ck)?;
            let cold = self.tomb_if_cold(&ck)?;
            Ok(old.or(if was_tombed { None } else { cold }))
        })
    }

    /// The key in the `index` table of `key` in index keyspace `space`; a space new to the
    /// table gets the next number (in this transaction) when `allocate`, else is `None`.
    fn index_key(
        &mut self,
        space: &str,
        key: &[u8],
        allocate: bool,
    ) -> Result<Option<Vec<u8>>, Error> {
        let path = self.path();
        let k = space_key(space)?;
        let prefix = match super::space(self, &k)? {
            Some(prefix) => prefix,
            None if !allocate => return Ok(None),
            None => {
                let mut meta = self.txn.open_table(META).db(path)?;
                let n = read_counter(&meta, K_INDEX_SPACES, path)? + 1;
                meta.insert(K_INDEX_SPACES, n.to_le_bytes().as_slice())
                    .db(path)?;
                meta.insert(k.as_str(), n.to_le_bytes().as_slice())
                    .db(path)?;
                let mut prefix = Vec::with_capacity(2);
                varint::write(&mut prefix, n);
                self.memo
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .spaces
                    .insert(k.clone(), Some(prefix.clone()));
                prefix
            }
        };
        Ok(Some([prefix.as_slice(), key].concat()))
    }
}
