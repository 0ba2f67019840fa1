//! Retention: which sessions a policy removes, computed first as a [`Plan`] without writing,
//! then applied in one transaction.
//!
//! A session is removed when it is not pinned, not kept by `keep_last` / `keep_daily` /
//! `keep_weekly`, and is a candidate: older than `now - older_than` when that is set,
//! otherwise any session as soon as one `keep_*` rule is set. With no rule at all nothing is
//! removed. `keep_daily: N` keeps the newest session of each of the last N UTC days that have
//! sessions, `keep_weekly: N` the same over ISO weeks (restic's `forget`).

use std::collections::{BTreeSet, HashSet};

use cfgvault_store::{CommitOutcome, Store, StoreRead};
use chrono::{DateTime, Datelike, Utc};

use crate::delete::delete_in;
use crate::keys::root_name;
use crate::records::RecordReader;
use crate::{Result, SessionId, SessionRecord};

/// A retention policy. Construct with `Policy::default()` and set fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// Sessions created before `now - older_than` are candidates for removal. Default: `None`.
    pub older_than: Option<chrono::Duration>,
    /// Keep the newest N sessions. Default: `None`.
    pub keep_last: Option<usize>,
    /// Keep the newest session of each of the last N days that have sessions. Default: `None`.
    pub keep_daily: Option<usize>,
    /// Keep the newest session of each of the last N ISO weeks that have sessions.
    /// Default: `None`.
    pub keep_weekly: Option<usize>,
}

/// What applying a policy would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Sessions to remove, newest first.
    pub remove: Vec<SessionId>,
    /// Sessions kept, newest first.
    pub keep: Vec<SessionId>,
    /// Objects removing them frees.
    pub objects_freed: u64,
    /// Stored bytes removing them frees.
    pub bytes_freed: u64,
}

/// Computes what `policy` removes at time `now`, without writing.
pub fn plan(store: &Store, policy: &Policy, now: DateTime<Utc>) -> Result<Plan> {
    let r = store.read()?;
    let records = RecordReader::without_closure().all(&r)?; // newest first
    let (remove, keep) = select(&records, policy, now);
    let mut roots = Vec::new();
    for id in &remove {
        if let Some(root) = r.root(&root_name(id))? {
            roots.push(root.id);
        }
    }
    let mut out = Plan {
        remove,
        keep,
        ..Plan::default()
    };
    let freed = r.simulate_release(&roots)?;
    out.objects_freed = freed.objects;
    out.bytes_freed = freed.bytes;
    Ok(out)
}

/// Splits `records` (newest first) into the sessions `policy` removes at time `now` and
/// those it keeps, both newest first. [`plan`] applies it to a store; a remote applies it to
/// the records its index lists.
pub fn select(
    records: &[SessionRecord],
    policy: &Policy,
    now: DateTime<Utc>,
) -> (Vec<SessionId>, Vec<SessionId>) {
    let mut kept: HashSet<&SessionId> = HashSet::new();
    for rec in records {
        if rec.pinned {
            kept.insert(&rec.id);
        }
    }
    if let Some(n) = policy.keep_last {
        kept.extend(records.iter().take(n).map(|r| &r.id));
    }
    let mut keep_buckets = |n: Option<usize>, bucket: &dyn Fn(DateTime<Utc>) -> (i32, u32)| {
        let Some(n) = n else { return };
        let mut seen = BTreeSet::new();
        for rec in records {
            if seen.len() >= n && !seen.contains(&bucket(rec.created_at)) {
                break;
            }
            if seen.insert(bucket(rec.created_at)) {
                kept.insert(&rec.id);
            }
        }
    };
    keep_buckets(policy.keep_daily, &|t| (t.year(), t.ordinal()));
    keep_buckets(policy.keep_weekly, &|t| {
        let w = t.iso_week();
        (w.year(), w.week())
    });
    let any_keep =
        policy.keep_last.is_some() || policy.keep_daily.is_some() || policy.keep_weekly.is_some();
    let cutoff = policy.older_than.and_then(|d| now.checked_sub_signed(d));
    let (mut remove, mut keep) = (Vec::new(), Vec::new());
    for rec in records {
        let candidate = match (policy.older_than, cutoff) {
            (Some(_), Some(cutoff)) => rec.created_at < cutoff,
            (Some(_), None) => false,
            (None, _) => any_keep,
        };
        if candidate && !kept.contains(&rec.id) {
            remove.push(rec.id.clone());
        } else {
            keep.push(rec.id.clone());
        }
    }
    (remove, keep)
}

/// Removes the plan's sessions in one transaction. Sessions deleted or pinned since the plan
/// was made are passed over.
pub fn apply(store: &Store, plan: &Plan) -> Result<CommitOutcome> {
    let mut txn = store.write()?;
    delete_in(&mut txn, &plan.remove, false)?;
    Ok(txn.commit()?)
}
