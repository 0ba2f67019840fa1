//! A path's versions followed across renames (`log PATH --follow`).

use serde::Serialize;

use crate::diff::{self, Rename};
use crate::tree::EntryKind;
use crate::walk::lookup;
use cfgvault_store::Store;

use crate::{ListOptions, Result, SessionId, Version, list, validate_path, versions};

/// The versions a file had under each of its names, newest name first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    /// Each name with its versions (as [`versions`] lists them), from the path asked for back
    /// to the oldest name found.
    pub names: Vec<(String, Vec<Version>)>,
    /// The renames crossed, newest first, each with the session where the new name first
    /// appears.
    pub renames: Vec<FollowedRename>,
}

/// One rename crossed while following a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowedRename {
    pub from: String,
    pub to: String,
    pub similarity: u8,
    /// The oldest session holding `to` (the one after it holds `from` instead).
    pub session: String,
}

/// The versions of `path`, and of the paths it was renamed from (as [`diff::diff_sessions`]
/// detects renames), going back through the sessions. Costs one tree lookup per session and a
/// diff per rename crossed.
pub fn versions_following(store: &Store, path: &str) -> Result<Followed> {
    validate_path(path)?;
    let sessions = list(store, &ListOptions::default())?;
    let mut current = path.to_owned();
    let mut renames = Vec::new();
    let mut newer: Option<SessionId> = None;
    let mut seen = std::collections::HashSet::new();
    seen.insert(current.clone());
    for rec in &sessions {
        let holds = {
            let r = store.read()?;
            matches!(lookup(&r, &rec.root, &current)?, Some(e) if e.kind != EntryKind::Dir)
        };
        if holds {
            newer = Some(rec.id.clone());
            continue;
        }
        // The newer session holds the name, this one does not: a rename if the diff says so.
        let Some(n) = newer.take() else {
            continue;
        };
        let d = diff::diff_sessions(store, &rec.id, &n)?;
        let Some(Rename {
            from, similarity, ..
        }) = d.renamed.into_iter().find(|r| r.to == current)
        else {
            break;
        };
        if !seen.insert(from.clone()) {
            break;
        }
        renames.push(FollowedRename {
            from: from.clone(),
            to: current.clone(),
            similarity,
            session: n.to_string(),
        });
        current = from;
        newer = Some(rec.id.clone());
    }
    let mut names = vec![(path.to_owned(), versions(store, path)?)];
    for r in &renames {
        names.push((r.from.clone(), versions(store, &r.from)?));
    }
    Ok(Followed { names, renames })
}
