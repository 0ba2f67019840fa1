//! Phase 3: a walk from the roots recomputes every reference count; each stored count is
//! compared with it. Also how the roots are read for it.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use redb::ReadableTable;

use super::{Problem, ProblemKind, Scan, problem};
use crate::error::DbResult;
use crate::txn::decode_root;
use crate::{Error, ObjectId, entries};

/// Walks from every root, counting each link of every reachable object in `s.expected`; an
/// object reached but not stored is missing (or, under an unreadable pack index key, in a
/// damaged pack).
pub(super) fn walk_roots(
    s: &mut Scan,
    roots: Vec<(String, Vec<u8>)>,
    stored_counts: &HashMap<ObjectId, u64>,
    links: &HashMap<ObjectId, Vec<ObjectId>>,
    unreadable: &HashMap<u64, String>,
) {
    let mut stack: Vec<ObjectId> = Vec::new();
    for (name, value) in roots {
        s.outcome.roots_checked += 1;
        match decode_root(&name, &value) {
            Some(root) => {
                *s.expected.entry(root.id).or_insert(0) += 1;
                stack.push(root.id);
            }
            None => problem(
                s,
                ProblemKind::Missing,
                None,
                format!("root '{name}' has an unreadable value"),
            ),
        }
    }
    let mut missing_reported: HashSet<ObjectId> = HashSet::new();
    while let Some(id) = stack.pop() {
        if !s.reachable.insert(id) {
            continue;
        }
        if !stored_counts.contains_key(&id) {
            if missing_reported.insert(id) {
                match unreadable.get(&entries::key(&id)) {
                    Some(why) => problem(s, ProblemKind::Corrupt, Some(id), why.clone()),
                    None => problem(
                        s,
                        ProblemKind::Missing,
                        Some(id),
                        "referenced but absent".into(),
                    ),
                }
            }
            continue;
        }
        for child in links.get(&id).into_iter().flatten() {
            *s.expected.entry(*child).or_insert(0) += 1;
            stack.push(*child);
        }
    }
}

/// Compares every stored count with the recomputed one; an object no root reaches is
/// unreachable.
pub(super) fn compare_counts(s: &mut Scan, stored_counts: &HashMap<ObjectId, u64>) {
    let mut ids_sorted: Vec<(&ObjectId, &u64)> = stored_counts.iter().collect();
    ids_sorted.sort();
    for (id, stored) in ids_sorted {
        if !s.reachable.contains(id) {
            s.unreachable.push(*id);
            problem(
                s,
                ProblemKind::Unreachable,
                Some(*id),
                format!("no root reaches it (stored count {stored})"),
            );
            continue;
        }
        let expected = s.expected.get(id).copied().unwrap_or(0);
        if *stored != expected {
            problem(
                s,
                ProblemKind::RefcountMismatch,
                Some(*id),
                format!("stored {stored}, recomputed {expected}"),
            );
        }
    }
}

/// A root's name and stored value.
pub(super) type NamedRoot = (String, Vec<u8>);

/// Every root: live and cold when the cold side reads, else the live ones and a problem
/// saying why the cold ones could not be read.
pub(super) fn roots_of(
    all: Result<Vec<NamedRoot>, Error>,
    live: impl FnOnce() -> Result<Vec<NamedRoot>, Error>,
) -> Result<(Vec<NamedRoot>, Option<Problem>), Error> {
    match all {
        Ok(roots) => Ok((roots, None)),
        Err(
            e @ (Error::Corrupt { .. } | Error::ObjectMissing { .. } | Error::CorruptCold { .. }),
        ) => {
            let id = match &e {
                Error::Corrupt { id, .. } | Error::ObjectMissing { id } => Some(*id),
                _ => None,
            };
            let problem = Problem {
                kind: ProblemKind::Corrupt,
                id,
                detail: format!("the cold roots and index entries do not read: {e}"),
            };
            Ok((live()?, Some(problem)))
        }
        Err(e) => Err(e),
    }
}

/// The live roots alone (when the cold ones do not read).
pub(super) fn live_roots(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    path: &Path,
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut out = Vec::new();
    for item in t.iter().db(path)? {
        let (k, v) = item.db(path)?;
        out.push((k.value().to_string(), v.value().to_vec()));
    }
    Ok(out)
}
