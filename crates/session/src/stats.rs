//! The session layer's totals ([`stats`]), in O(1): the running totals beside the store's.

use std::ops::Bound;

use cfgvault_store::{Store, StoreRead};
use chrono::{DateTime, Utc};

use crate::Result;
use crate::counters::read_counters;
use crate::keys::{self, BY_TIME, C_LOGICAL, C_SESSIONS, TALLY_START, u64_value};

/// Totals of the session layer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionStats {
    pub sessions: u64,
    /// Sum of file sizes over all sessions (a running total).
    pub logical_bytes: u64,
    /// Sum of the sizes of the distinct blobs the sessions hold (a running total kept exact by
    /// create and delete; trees are not counted).
    pub unique_bytes: u64,
    /// Stored (compressed) bytes of all objects, trees included.
    pub stored_bytes: u64,
    /// Size of the store file.
    pub file_bytes: u64,
    /// Objects in the store.
    pub objects: u64,
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
    /// `logical_bytes / unique_bytes` (0 when undefined).
    pub dedup_ratio: f64,
    /// `unique_bytes / stored_bytes` (0 when undefined).
    pub compression_ratio: f64,
    /// `logical_bytes / file_bytes` (0 when undefined).
    pub overall_ratio: f64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Totals of the session layer, in O(1).
pub fn stats(store: &Store) -> Result<SessionStats> {
    let st = store.stats()?;
    let r = store.read()?;
    let mut totals = read_counters(&r, [C_SESSIONS, C_LOGICAL].into_iter())?.into_iter();
    let sessions = u64_value(totals.next().flatten());
    let logical_bytes = u64_value(totals.next().flatten());
    let unique_bytes = st.blob_raw_bytes;
    let edge = |reverse| -> Result<Option<DateTime<Utc>>> {
        let end = Bound::Excluded(TALLY_START);
        let rows = r.index_range(BY_TIME, Bound::Unbounded, end, reverse, 1)?;
        Ok(rows.first().and_then(|(k, _)| keys::time_from_key(k)))
    };
    Ok(SessionStats {
        sessions,
        logical_bytes,
        unique_bytes,
        stored_bytes: st.stored_bytes,
        file_bytes: st.file_bytes,
        objects: st.objects,
        oldest: edge(false)?,
        newest: edge(true)?,
        dedup_ratio: ratio(logical_bytes, unique_bytes),
        compression_ratio: ratio(unique_bytes, st.stored_bytes),
        overall_ratio: ratio(logical_bytes, st.file_bytes),
    })
}
