//! Integrity check: re-hash every object and recompute every reference count from the roots.
//!
//! [`Store::verify`] reads one snapshot and runs these phases in order (the first four in
//! `scan`), each in its own file:
//! 1. `objects.rs`: every entry (`ids`, then the pack index) names an object whose frame or
//!    pack member exists, decodes and hashes to its id; nodes' links are read; frames no entry
//!    names are orphans;
//! 2. `packs.rs`: every pack is complete;
//! 3. `refs.rs`: a walk from the roots recomputes every reference count, and each stored count
//!    is compared with it;
//! 4. `totals.rs`: the stored totals are compared with the sums;
//! 5. `cold.rs`: the cold directory and blocks read, and no block is outside the directory.
//!
//! With [`Options::repair`], `repair.rs` scans again inside one write transaction and rebuilds
//! what can be rebuilt.

mod cold;
mod numbers;
mod objects;
mod packs;
mod refs;
mod repair;
mod totals;

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::error::DbResult;
use crate::pack::PACKS;
use crate::schema::{META, ROOTS};
use crate::txn::{ReadPath, Src};
use crate::{Error, ObjectId, Progress, Store};

/// How to verify. Construct with `Options::default()` and set fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Rebuild reference counts and totals from the roots, and remove objects no root reaches.
    /// Corrupt and missing objects cannot be repaired and stay reported. Default: `false`.
    pub repair: bool,
}

/// The kind of a problem `verify` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The stored frame does not decode to bytes hashing to the id (invariant I4).
    Corrupt,
    /// A root or a link names an object that does not exist (invariant I2).
    Missing,
    /// The stored reference count differs from the count recomputed from the roots (I1).
    RefcountMismatch,
    /// An object that no root reaches survived a commit (I3).
    Unreachable,
    /// A stored frame no object id names (left by a damaged index).
    RefcountOrphan,
    /// The stored totals (objects, raw bytes, stored bytes) differ from the sums.
    Totals,
    /// Metadata of a layer above (a session record, an index entry, a string) that is
    /// unreadable or disagrees with what it is derived from; reported by that layer's check.
    Metadata,
}

impl ProblemKind {
    /// A stable kebab-case name, used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Corrupt => "corrupt",
            ProblemKind::Missing => "missing",
            ProblemKind::RefcountMismatch => "refcount-mismatch",
            ProblemKind::Unreachable => "unreachable",
            ProblemKind::RefcountOrphan => "refcount-orphan",
            ProblemKind::Totals => "totals",
            ProblemKind::Metadata => "metadata",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One discrepancy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The object concerned, when there is one.
    pub id: Option<ObjectId>,
    pub detail: String,
}

/// What `verify` found (and, with `repair`, fixed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub objects_checked: u64,
    /// Uncompressed bytes re-hashed.
    pub bytes_checked: u64,
    pub roots_checked: u64,
    pub problems: Vec<Problem>,
    /// Whether a repair was committed.
    pub repaired: bool,
}

impl Outcome {
    /// Whether no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What a scan found, and what a repair needs of it.
#[derive(Default)]
struct Scan {
    outcome: Outcome,
    expected: HashMap<ObjectId, u64>,
    reachable: HashSet<ObjectId>,
    /// Objects with an entry that could be read.
    stored: HashSet<ObjectId>,
    unreachable: Vec<ObjectId>,
    orphan_frames: Vec<u64>,
    /// (objects, raw bytes, stored bytes, blob raw bytes)
    totals: (u64, u64, u64, u64),
    /// Raw size and whether it is a blob, of every object whose size could be read.
    sizes: HashMap<ObjectId, (u64, bool)>,
}

/// Runs the phases over one transaction's view (`src`): the pack index's items, every root,
/// the stored totals and the chunks of every pack, read beforehand by the caller.
fn scan<I, O>(
    src: &Src<'_, I, O>,
    items: Result<Vec<(u64, crate::entries::Item)>, Error>,
    roots: Vec<(String, Vec<u8>)>,
    stored: (u64, u64, u64, u64),
    packs: &packs::Chunks,
    progress: &dyn Progress,
) -> Result<Scan, Error>
where
    I: redb::ReadableTable<[u8; 32], (u64, u64)>,
    O: redb::ReadableTable<u64, &'static [u8]>,
{
    let mut s = Scan::default();
    // The `objects` table is opened first: a store without one is damaged.
    (src.objects)()?;
    // 1. Objects.
    let entries = objects::entries(src, items, &mut s)?;
    objects::check_hot_pin(&mut s, src, &entries.list);
    let hashed = objects::hash(&mut s, src, entries.list, progress)?;
    objects::orphan_frames(&mut s, src, &hashed.used_seqs)?;
    // 2. Packs.
    packs::check(&mut s, packs);
    // 3. References.
    progress.start("walk", None);
    refs::walk_roots(
        &mut s,
        roots,
        &hashed.counts,
        &hashed.links,
        &entries.unreadable,
    );
    s.stored = hashed.counts.keys().copied().collect();
    refs::compare_counts(&mut s, &hashed.counts);
    // 4. Totals.
    totals::compare(&mut s, stored, entries.unreadable.is_empty());
    s.outcome.problems.sort_by_key(|p| (p.kind, p.id));
    Ok(s)
}

fn problem(s: &mut Scan, kind: ProblemKind, id: Option<ObjectId>, detail: String) {
    s.outcome.problems.push(Problem { kind, id, detail });
}

impl Store {
    /// Re-hashes every object and recomputes every reference count from the roots, reporting
    /// each discrepancy. With `options.repair`, rebuilds counts and totals and removes
    /// unreachable objects and orphan frames in one transaction.
    pub fn verify(&self, options: &Options, progress: &dyn Progress) -> Result<Outcome, Error> {
        match self.guarded(|| self.verify_unguarded(options, progress)) {
            Err(Error::Damaged { detail, .. }) => Ok(Outcome {
                problems: vec![Problem {
                    kind: ProblemKind::Corrupt,
                    id: None,
                    detail: format!("the storage engine failed reading the file: {detail}"),
                }],
                ..Outcome::default()
            }),
            other => other,
        }
    }

    fn verify_unguarded(
        &self,
        options: &Options,
        progress: &dyn Progress,
    ) -> Result<Outcome, Error> {
        let path = self.path().to_path_buf();
        let r = self.read()?;
        let t = r.raw();
        let packs = packs::chunks(t.open_table(PACKS), &path)?;
        let (roots, cold_problem) = refs::roots_of(r.all_roots(), || {
            refs::live_roots(&t.open_table(ROOTS).db(&path)?, &path)
        })?;
        let stored = totals::stored(&t.open_table(META).db(&path)?, &path)?;
        let items = r.pack_items();
        let numbers = match &items {
            Ok(items) => numbers::check(t, items, &path)?,
            Err(_) => Vec::new(),
        };
        let mut s = r.with_src(|src| scan(src, items, roots, stored, &packs, progress))?;
        s.outcome.problems.extend(numbers);
        s.outcome.problems.extend(cold_problem);
        s.outcome.problems.extend(cold::check(&r, t, &path)?);
        s.outcome.problems.sort_by_key(|p| (p.kind, p.id));
        s.outcome.problems.dedup();
        drop(r);
        let repairable = s
            .outcome
            .problems
            .iter()
            .any(|p| !matches!(p.kind, ProblemKind::Corrupt | ProblemKind::Missing));
        if !options.repair || !repairable {
            return Ok(s.outcome);
        }
        self.repair(progress)
    }
}
