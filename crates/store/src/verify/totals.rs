//! Phase 4: the totals `meta` keeps (objects, raw bytes, stored bytes, blob raw bytes) equal
//! the sums the object phase made.

use std::path::Path;

use redb::ReadableTable;

use super::{ProblemKind, Scan, problem};
use crate::Error;
use crate::schema::{K_BLOB_RAW, K_OBJECTS, K_RAW, K_STORED, read_counter};

/// The stored totals: objects, raw bytes, stored bytes, blob raw bytes.
pub(super) fn stored(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    path: &Path,
) -> Result<(u64, u64, u64, u64), Error> {
    Ok((
        read_counter(meta, K_OBJECTS, path)?,
        read_counter(meta, K_RAW, path)?,
        read_counter(meta, K_STORED, path)?,
        read_counter(meta, K_BLOB_RAW, path)?,
    ))
}

/// Compares the stored totals with the recomputed ones. Objects in a damaged pack have sizes
/// nobody can read: totals cannot be recomputed then (`sizes_known` false), and a repair must
/// not overwrite them with a partial sum.
pub(super) fn compare(s: &mut Scan, stored: (u64, u64, u64, u64), sizes_known: bool) {
    if stored != s.totals && sizes_known {
        let detail = format!(
            "stored (objects, raw, stored, blob raw) = {stored:?}, recomputed {:?}",
            s.totals
        );
        problem(s, ProblemKind::Totals, None, detail);
    }
}
