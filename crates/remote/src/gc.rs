//! Remote retention (`cleanup`) and garbage collection (`gc`).
//!
//! Cleanup deletes manifests only. Gc deletes a pack in two steps a grace period apart: a
//! run lists the packs no manifest names in a new `condemned/` object; a later run, once
//! that list is older than the grace period, deletes those still named by no manifest. A
//! push writes its manifests within half the grace period of reading the remote and never
//! reuses a condemned pack, so a manifest naming a pack exists before any gc could delete
//! it (docs/REMOTE.md has the argument).

use std::collections::{BTreeMap, HashSet};

use cfgvault_session::SessionId;
use cfgvault_session::retention::{self, Policy};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::backend::Created;
use crate::docs::{self, Condemned, Index};
use crate::error::Result;
use crate::remote::{Remote, now};

/// What a remote cleanup did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CleanupReport {
    /// Sessions whose manifests were deleted, newest first.
    pub removed: Vec<SessionId>,
    /// Sessions kept, newest first.
    pub kept: Vec<SessionId>,
}

/// Deletes the manifests of the sessions `policy` removes at `now` (the same rules as a
/// local cleanup; a remote has no pins). Their packs go at later gc runs.
pub fn cleanup(remote: &Remote, policy: &Policy, now: DateTime<Utc>) -> Result<CleanupReport> {
    let records = remote.sessions()?; // newest first
    let (removed, kept) = retention::select(&records, policy, now);
    for id in &removed {
        let name = remote.seal.session_name(id.as_str());
        remote
            .backend
            .delete(&format!("{}/{name}", docs::SESSIONS))?;
    }
    Ok(CleanupReport { removed, kept })
}

/// What a remote gc did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GcReport {
    /// Packs deleted (condemned at least a grace period ago, still named by no manifest).
    pub packs_deleted: u64,
    /// Stored bytes of those packs.
    pub bytes_deleted: u64,
    /// Packs newly listed as condemned.
    pub packs_condemned: u64,
    /// Index objects merged into one.
    pub indexes_merged: u64,
}

/// One gc run; see the module documentation.
pub fn gc(remote: &Remote) -> Result<GcReport> {
    let mut report = GcReport::default();
    // Lists older than the grace period at the moment before the listing are ripe, so every
    // manifest written before their packs can be deleted is in the listing.
    let listed_at = now();
    let snap = remote.snapshot()?;
    let grace = chrono::Duration::from_std(remote.grace()).unwrap_or(chrono::Duration::MAX);
    // Object stores may round modification times down to the second.
    let slack = chrono::Duration::seconds(1);

    let mut referenced = HashSet::new();
    for name in snap.manifests.keys() {
        if let Some(m) = remote.manifest(name)? {
            referenced.extend(m.packs.into_values());
        }
    }

    let mut deleted = HashSet::new();
    let mut still_condemned = HashSet::new();
    for (listed, list) in &snap.condemned_lists {
        let ripe = listed
            .modified
            .checked_add_signed(grace + slack)
            .is_some_and(|t| t <= listed_at);
        if !ripe {
            still_condemned.extend(list.packs.iter().cloned());
            continue;
        }
        for pack in &list.packs {
            if referenced.contains(pack) || deleted.contains(pack) {
                continue;
            }
            if let Some(obj) = snap.packs.get(pack) {
                remote.backend.delete(&format!("{}/{pack}", docs::PACKS))?;
                report.packs_deleted += 1;
                report.bytes_deleted += obj.size;
            }
            deleted.insert(pack.clone());
        }
        remote.backend.delete(&listed.name)?;
    }

    let mut condemn: Vec<String> = snap
        .packs
        .keys()
        .filter(|p| {
            !referenced.contains(*p) && !still_condemned.contains(*p) && !deleted.contains(*p)
        })
        .cloned()
        .collect();
    if !condemn.is_empty() {
        condemn.sort();
        report.packs_condemned = condemn.len() as u64;
        remote.put_doc(docs::CONDEMNED, &Condemned { packs: condemn })?;
    }

    if snap.index_names.len() > 1 {
        let mut sessions = BTreeMap::new();
        let mut packs = BTreeMap::new();
        for index in &snap.indexes {
            for s in &index.sessions {
                if snap.manifests.contains_key(&s.manifest) {
                    sessions.insert(s.manifest.clone(), s.clone());
                }
            }
            for p in &index.packs {
                if snap.packs.contains_key(&p.name) && !deleted.contains(&p.name) {
                    packs.insert(p.name.clone(), p.clone());
                }
            }
        }
        let merged = Index {
            sessions: sessions.into_values().collect(),
            packs: packs.into_values().collect(),
        };
        let (name, created, _) = remote.put_doc(docs::INDEX, &merged)?;
        if created == Created::Written || snap.index_names.contains(&name) {
            for old in snap.index_names.iter().filter(|n| **n != name) {
                remote.backend.delete(&format!("{}/{old}", docs::INDEX))?;
                report.indexes_merged += 1;
            }
        }
    }
    Ok(report)
}
