//! Reference counts and the entries that hold them: an object's entry is in `ids` (loose) or
//! in the pack index (packed, `entries.rs`); the hot object's root references are in the hot
//! pin instead.

use super::locate::{Entry, Slot, entry_of, item_id_of, pack_ids_cold_key};
use super::read::ReadPath;
use redb::ReadableTable;

use super::WriteTxn;
use crate::entries::{self, PACK_IDS};
use crate::error::DbResult;
use crate::pack::Loc;
use crate::schema::IDS;
use crate::{Error, ObjectId};

impl WriteTxn<'_> {
    pub(crate) fn incref(&mut self, id: &ObjectId) -> Result<(), Error> {
        let e = self.entry(id)?.ok_or(Error::ObjectMissing { id: *id })?;
        self.set_count(id, &e, e.count + 1)?;
        self.zero.remove(id);
        Ok(())
    }

    pub(crate) fn decref(&mut self, id: &ObjectId) -> Result<(), Error> {
        match self.entry(id)? {
            Some(e) if e.count > 0 => {
                self.set_count(id, &e, e.count - 1)?;
                if e.count == 1 {
                    self.zero.insert(*id);
                }
                Ok(())
            }
            // A reference to an object that is gone or already at zero: the counts were
            // wrong before this transaction. Refuse rather than make them worse; `verify
            // --repair` rebuilds them.
            Some(_) => Err(Error::Corrupt {
                id: *id,
                detail: "reference count underflow".into(),
            }),
            None => Err(Error::ObjectMissing { id: *id }),
        }
    }

    /// `id`'s entry, if it has one (this transaction's changes included).
    pub(crate) fn entry(&self, id: &ObjectId) -> Result<Option<Entry>, Error> {
        self.with_src(|src| entry_of(src, id))
    }

    /// The id of a pack index item (see [`item_id_of`]).
    pub(crate) fn item_id(&self, key: u64, item: &entries::Item) -> Result<ObjectId, Error> {
        self.with_src(|src| item_id_of(src, key, item))
    }

    /// Sets the reference count of `id`, whose entry is `e`: what the hot pin does not hold
    /// goes to the entry (a count below the hot pin's takes the hot pin down to it).
    pub(crate) fn set_count(&mut self, id: &ObjectId, e: &Entry, count: u64) -> Result<(), Error> {
        let mut pin = self.hot_pin()?;
        let held = pin.count_of(id);
        let count = if count >= held {
            count - held
        } else {
            pin.hot = pin.hot.filter(|_| count > 0).map(|(h, _)| (h, count));
            self.set_hot_pin(pin);
            0
        };
        match e.slot {
            Slot::Ids => {
                let Loc::Loose(seq) = e.loc else {
                    return Err(Error::Corrupt {
                        id: *id,
                        detail: "an entry of `ids` names a pack".into(),
                    });
                };
                let path = self.path();
                self.txn
                    .open_table(IDS)
                    .db(path)?
                    .insert(id.as_bytes(), (seq, count))
                    .db(path)?;
                Ok(())
            }
            Slot::PackIds { pack, member } => self.edit_pack_ids(id, |items| {
                for item in items.iter_mut().filter(|i| i.at(pack, member)) {
                    item.count = count;
                }
            }),
        }
    }

    /// Removes `id`'s entry `e` (not its bytes).
    pub(crate) fn remove_entry(&mut self, id: &ObjectId, e: &Entry) -> Result<(), Error> {
        match e.slot {
            Slot::Ids => {
                let path = self.path();
                self.txn
                    .open_table(IDS)
                    .db(path)?
                    .remove(id.as_bytes())
                    .db(path)?;
                Ok(())
            }
            Slot::PackIds { pack, member } => {
                self.edit_pack_ids(id, |items| items.retain(|i| !i.at(pack, member)))
            }
        }
    }

    /// Gives `id` an entry in the pack index at `pack`/`member` with `count` references.
    pub(crate) fn add_packed(
        &mut self,
        id: &ObjectId,
        pack: u64,
        member: u32,
        count: u64,
    ) -> Result<(), Error> {
        self.edit_pack_ids(id, |items| {
            items.push(entries::Item {
                pack,
                member,
                count,
            })
        })
    }

    /// Rewrites the pack index's value at `id`'s key through `f` (removing an emptied key).
    pub(crate) fn edit_pack_ids(
        &mut self,
        id: &ObjectId,
        f: impl FnOnce(&mut Vec<entries::Item>),
    ) -> Result<(), Error> {
        let path = self.path();
        let key = entries::key(id);
        let ck = pack_ids_cold_key(key);
        let live = self
            .txn
            .open_table(PACK_IDS)
            .db(path)?
            .get(key)
            .db(path)?
            .map(|v| v.value().to_vec());
        let mut items = match self.merged().get(live, &ck)? {
            None => Vec::new(),
            Some(v) => entries::decode(&v).ok_or_else(|| Error::Corrupt {
                id: *id,
                detail: format!("its pack index entry {key:016x} is malformed"),
            })?,
        };
        f(&mut items);
        if items.is_empty() {
            self.txn
                .open_table(PACK_IDS)
                .db(path)?
                .remove(key)
                .db(path)?;
            self.tomb_if_cold(&ck)?;
        } else {
            self.txn
                .open_table(PACK_IDS)
                .db(path)?
                .insert(key, entries::encode(&items).as_slice())
                .db(path)?;
            self.untomb(&ck)?;
        }
        Ok(())
    }
}
