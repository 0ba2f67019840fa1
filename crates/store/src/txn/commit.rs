//! The commit: the sweep of objects left without references, then the totals, the hot pin and
//! the root count written to `meta`, then redb's durable commit.

use redb::{ReadableTable, ReadableTableMetadata};

use super::locate::{refs_of, stored_of};
use super::read::ReadPath;
use std::path::Path;

use super::write::TotalsChange;
use super::{CommitOutcome, WriteTxn};
use crate::codec::ObjectKind;
use crate::error::DbResult;
use crate::hotpin::HotPin;
use crate::pack::Loc;
use crate::schema::{
    K_BLOB_RAW, K_COLD_ROOTS, K_HOT_PIN, K_NEXT_SEQ, K_OBJECTS, K_RAW, K_STORED, META, OBJECTS,
    ROOTS, read_counter,
};
use crate::{Error, ObjectId, StoreRead};

impl WriteTxn<'_> {
    /// Releases every object left unreferenced (cascading through links), updates the totals
    /// and commits durably. Nothing is visible to others before this returns.
    pub fn commit(mut self) -> Result<CommitOutcome, Error> {
        let shared = self.shared;
        shared.guarded(move || {
            self.sweep()?;
            let path = self.path();
            // The root count and the hot count are stored relative to the length of `roots`:
            // a new root naming the hot object changes neither stored value.
            let roots_len = self.roots_len()?;
            let moved = roots_len.is_some_and(|(start, end)| start != end);
            let hot = match self.hot_changed || moved {
                true => Some(self.hot_pin()?),
                false => None,
            };
            let totals = self.totals;
            let mut meta = self.txn.open_table(META).db(path)?;
            write_totals(&mut meta, &totals, self.next_seq, path)?;
            if let Some(pin) = hot {
                // `roots_len` is known whenever `hot` is.
                let end = roots_len.map_or(0, |(_, end)| end);
                write_hot_pin(&mut meta, pin, end, path)?;
            }
            if let Some((start, end)) = roots_len
                && (totals.roots != 0 || moved || self.roots_total.is_some())
            {
                let total = self.roots_total;
                write_root_count(&mut meta, (start, end), totals.roots, total, path)?;
            }
            drop(meta);
            let outcome = self.outcome;
            self.txn.commit().db(path)?;
            Ok(outcome)
        })
    }

    /// The length of `roots` when the transaction began and now, when the stored values that
    /// are relative to it may need writing: once the transaction has read it (it changes
    /// `roots` only after reading it) or changed the hot pin.
    fn roots_len(&mut self) -> Result<Option<(u64, u64)>, Error> {
        let start = self.memo_mut().live_roots;
        if start.is_none() && !self.hot_changed {
            return Ok(None);
        }
        let path = self.path();
        let end = self.txn.open_table(ROOTS).db(path)?.len().db(path)?;
        // Not read yet: `roots` is as the transaction found it.
        Ok(Some((start.unwrap_or(end), end)))
    }

    /// Removes what is unreferenced now (commit does this too).
    pub(crate) fn sweep_now(&mut self) -> Result<(), Error> {
        self.sweep()
    }

    pub(crate) fn sweep(&mut self) -> Result<(), Error> {
        while let Some(id) = self.zero.pop_first() {
            if self.refcount(&id)? == Some(0) {
                self.remove_object(&id)?;
            }
        }
        Ok(())
    }

    /// Removes an object (its id entry and frame), releasing what it linked to. A pack
    /// member's bytes stay in its pack until `gc` next repacks.
    pub(crate) fn remove_object(&mut self, id: &ObjectId) -> Result<(), Error> {
        let path = self.path();
        // Read what it references while its delta base still exists.
        let Some(entry) = self.entry(id)? else {
            return Ok(());
        };
        let (refs, info) =
            self.with_src(|src| Ok((refs_of(src, id)?, stored_of(src, id)?.info(id)?)))?;
        self.remove_entry(id, &entry)?;
        let stored = match entry.loc {
            Loc::Loose(seq) => {
                let frame = self
                    .txn
                    .open_table(OBJECTS)
                    .db(path)?
                    .remove(seq)
                    .db(path)?
                    .map(|v| v.value().len() as u64);
                frame.ok_or_else(|| Error::Corrupt {
                    id: *id,
                    detail: format!("its frame {seq} is missing"),
                })?
            }
            Loc::Packed { .. } => 0,
        };
        self.totals.objects -= 1;
        self.totals.raw -= info.raw_len as i64;
        if info.kind == ObjectKind::Blob {
            self.totals.blob_raw -= info.raw_len as i64;
        }
        self.totals.stored -= stored as i64;
        self.outcome.objects_removed += 1;
        // A pack member frees its share of the pack, given back when gc repacks.
        self.outcome.bytes_freed += info.stored;
        for r in refs {
            self.decref(&r)?;
        }
        Ok(())
    }
}

type Meta<'t> = redb::Table<'t, &'static str, &'static [u8]>;

/// Adds the transaction's changes to the object totals, and stores the next sequence number.
fn write_totals(
    meta: &mut Meta<'_>,
    d: &TotalsChange,
    next_seq: Option<u64>,
    path: &Path,
) -> Result<(), Error> {
    if d.objects != 0 || d.raw != 0 || d.stored != 0 || d.blob_raw != 0 {
        for (k, dv) in [
            (K_OBJECTS, d.objects),
            (K_RAW, d.raw),
            (K_STORED, d.stored),
            (K_BLOB_RAW, d.blob_raw),
        ] {
            let cur = read_counter(meta, k, path)?;
            let new = cur.saturating_add_signed(dv);
            meta.insert(k, new.to_le_bytes().as_slice()).db(path)?;
        }
    }
    if let Some(seq) = next_seq {
        meta.insert(K_NEXT_SEQ, seq.to_le_bytes().as_slice())
            .db(path)?;
    }
    Ok(())
}

/// Stores the hot pin relative to `roots_len`, the length of `roots` at commit; an unchanged
/// value is not written again.
fn write_hot_pin(
    meta: &mut Meta<'_>,
    pin: HotPin,
    roots_len: u64,
    path: &Path,
) -> Result<(), Error> {
    let new = (pin != HotPin::default()).then(|| pin.encode(roots_len));
    let old = meta.get(K_HOT_PIN).db(path)?.map(|v| v.value().to_vec());
    if new != old {
        match new {
            Some(v) => meta.insert(K_HOT_PIN, v.as_slice()).db(path)?,
            None => meta.remove(K_HOT_PIN).db(path)?,
        };
    }
    Ok(())
}

/// Stores the number of roots less the length of `roots` (`end`): the total is the one a gc's
/// fold counted, else the stored count plus the length at the start, plus the roots added.
fn write_root_count(
    meta: &mut Meta<'_>,
    (start, end): (u64, u64),
    added: i64,
    counted: Option<u64>,
    path: &Path,
) -> Result<(), Error> {
    let cold = read_counter(meta, K_COLD_ROOTS, path)?;
    let total = match counted {
        Some(n) => n,
        None => cold.saturating_add(start).saturating_add_signed(added),
    };
    let now = total.saturating_sub(end);
    if cold != now {
        meta.insert(K_COLD_ROOTS, now.to_le_bytes().as_slice())
            .db(path)?;
    }
    Ok(())
}
