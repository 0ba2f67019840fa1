//! Phase 5: the cold side reads (directory and blocks, in order), and no block in `cold` is
//! outside the directory.

use std::collections::HashSet;
use std::path::Path;

use redb::ReadableTable;

use super::{Problem, ProblemKind};
use crate::Error;
use crate::cold::COLD;
use crate::error::DbResult;
use crate::txn::ReadPath;

/// Problems of the cold side: a block that does not read or sits out of order, and blocks
/// the directory does not list.
pub(super) fn check(
    r: &crate::ReadTxn<'_>,
    t: &redb::ReadTransaction,
    path: &Path,
) -> Result<Vec<Problem>, Error> {
    let mut out = Vec::new();
    let listed = match r.merged().with_cold(|c| match c {
        None => Ok(None),
        Some(c) => c.check().map(|()| Some(c.dir.numbers.clone())),
    }) {
        Ok(listed) => listed.unwrap_or_default(),
        Err(e @ Error::CorruptCold { .. }) => {
            out.push(Problem {
                kind: ProblemKind::Corrupt,
                id: None,
                detail: e.to_string(),
            });
            return Ok(out);
        }
        Err(e) => return Err(e),
    };
    let table = match t.open_table(COLD) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(out),
        Err(e) => return Err(e).db(path),
    };
    let mut seen = HashSet::new();
    for item in table.iter().db(path)? {
        let ((number, _), _) = {
            let (k, v) = item.db(path)?;
            (k.value(), v.value().len())
        };
        if !listed.contains(&number) && seen.insert(number) {
            out.push(Problem {
                kind: ProblemKind::RefcountOrphan,
                id: None,
                detail: format!("cold block {number} is in no directory"),
            });
        }
    }
    Ok(out)
}
