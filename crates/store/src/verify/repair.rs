//! Repair: scans again inside one write transaction and rebuilds reference counts and totals,
//! removing unreachable objects, orphan frames and cold blocks outside the directory. Corrupt
//! and missing objects cannot be repaired and stay reported.

use super::{Outcome, packs, refs, scan, totals};
use crate::cold::COLD;
use crate::error::DbResult;
use crate::pack::{Loc, PACKS};
use crate::schema::{K_BLOB_RAW, K_OBJECTS, K_RAW, K_STORED, META, OBJECTS, ROOTS};
use crate::txn::ReadPath;
use crate::{Error, Progress, Store};

impl Store {
    pub(super) fn repair(&self, progress: &dyn Progress) -> Result<Outcome, Error> {
        let path = self.path().to_path_buf();
        let mut txn = self.write()?;
        // Scan again inside the write transaction, so the repair matches what it changes.
        let s = {
            let t = txn.raw_ref();
            let packs = packs::chunks(t.open_table(PACKS), &path)?;
            let (roots, _) = refs::roots_of(txn.all_roots(), || {
                refs::live_roots(&t.open_table(ROOTS).db(&path)?, &path)
            })?;
            let stored = totals::stored(&t.open_table(META).db(&path)?, &path)?;
            let items = txn.pack_items();
            txn.with_src(|src| scan(src, items, roots, stored, &packs, progress))?
        };
        // Unreachable objects go without cascading: the counts below are computed from the
        // reachable graph alone, so they never included links from these.
        let (mut removed, mut removed_raw, mut removed_stored, mut removed_blob) =
            (0u64, 0u64, 0u64, 0u64);
        for id in &s.unreachable {
            let Some(e) = txn.entry(id)? else {
                continue;
            };
            txn.remove_entry(id, &e)?;
            removed += 1;
            if let Some(&(raw, blob)) = s.sizes.get(id) {
                removed_raw += raw;
                if blob {
                    removed_blob += raw;
                }
            }
            // A pack member's bytes stay in its pack until gc repacks.
            if let Loc::Loose(seq) = e.loc
                && let Some(v) = txn
                    .raw()
                    .open_table(OBJECTS)
                    .db(&path)?
                    .remove(seq)
                    .db(&path)?
            {
                removed_stored += v.value().len() as u64;
            }
        }
        // A hot pin naming an object that is not stored goes; the counts below then hold.
        let mut pin = txn.hot_pin()?;
        if let Some((h, _)) = pin.hot
            && txn.entry(&h)?.is_none()
        {
            pin.hot = None;
            txn.set_hot_pin(pin);
        }
        for id in s.reachable.intersection(&s.stored) {
            if let Some(e) = txn.entry(id)? {
                let n = s.expected.get(id).copied().unwrap_or(0);
                if e.count != n {
                    txn.set_count(id, &e, n)?;
                }
            }
        }
        // Cold blocks no directory lists (a readable directory: a damaged one is not
        // repairable, and then nothing is dropped).
        if let Ok(listed) = txn
            .merged()
            .with_cold(|c| Ok(c.map(|c| c.dir.numbers.clone())))
        {
            let listed = listed.unwrap_or_default();
            txn.raw()
                .open_table(COLD)
                .db(&path)?
                .retain(|(n, _), _| listed.contains(&n))
                .db(&path)?;
        }
        {
            let t = txn.raw();
            let mut objects = t.open_table(OBJECTS).db(&path)?;
            for seq in &s.orphan_frames {
                objects.remove(*seq).db(&path)?;
            }
            let mut meta = t.open_table(META).db(&path)?;
            let (o, r, st, b) = s.totals;
            for (k, v) in [
                (K_OBJECTS, o.saturating_sub(removed)),
                (K_RAW, r.saturating_sub(removed_raw)),
                (K_STORED, st.saturating_sub(removed_stored)),
                (K_BLOB_RAW, b.saturating_sub(removed_blob)),
            ] {
                meta.insert(k, v.to_le_bytes().as_slice()).db(&path)?;
            }
        }
        // The write transaction's own counters saw none of this; commit without adjustments.
        txn.commit()?;
        let mut outcome = s.outcome;
        outcome.repaired = true;
        Ok(outcome)
    }
}
