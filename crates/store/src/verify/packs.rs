//! Phase 2: packs are complete, and their chunks count in the stored-bytes total.

use std::collections::HashMap;
use std::path::Path;

use redb::ReadableTable;

use super::{ProblemKind, Scan, problem};
use crate::Error;
use crate::error::DbResult;
use crate::pack;

/// Every chunk of every pack: its key, its length, and the header of a first chunk.
pub(super) type Chunks = Vec<((u64, u32), u64, Option<pack::PackHeader>)>;

/// The chunks of the `packs` table (none when it does not exist yet).
pub(super) fn chunks<T: ReadableTable<(u64, u32), &'static [u8]>>(
    t: Result<T, redb::TableError>,
    path: &Path,
) -> Result<Chunks, Error> {
    let t = match t {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e).db(path),
    };
    let mut out = Vec::new();
    for item in t.iter().db(path)? {
        let (k, v) = item.db(path)?;
        let key = k.value();
        let header = if key.1 == 0 {
            pack::parse_header(v.value())
        } else {
            None
        };
        out.push((key, v.value().len() as u64, header));
    }
    Ok(out)
}

/// Packs must be complete: every chunk their header counts, no more. Their chunks count in the
/// stored-bytes total.
pub(super) fn check(s: &mut Scan, packs: &Chunks) {
    let mut declared: HashMap<u64, u32> = HashMap::new();
    let mut present: HashMap<u64, Vec<u32>> = HashMap::new();
    for ((p, i), len, header) in packs {
        s.totals.2 += len;
        present.entry(*p).or_default().push(*i);
        if let Some(h) = header {
            declared.insert(*p, h.chunks);
        }
    }
    let mut numbers: Vec<&u64> = present.keys().collect();
    numbers.sort();
    for p in numbers {
        let have = &present[p];
        let detail = match declared.get(p) {
            None => "its first chunk is missing or unreadable".to_string(),
            Some(&n) if have.len() != n as usize || have.iter().any(|&i| i >= n) => {
                format!("has {} chunks, its header says {n}", have.len())
            }
            Some(_) => continue,
        };
        problem(s, ProblemKind::Corrupt, None, format!("pack {p} {detail}"));
    }
}
