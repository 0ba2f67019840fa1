//! Each path's version history: the distinct contents it had, each with the sessions that
//! hold it, so that [`versions`] costs O(versions), not O(sessions).
//!
//! Two places count sessions: the version entries (`index.rs`) and, for backups repeating a
//! stored session node, the repeat tally (`repeats.rs`), one entry however many files. A
//! version's count is its entry's plus the repeat tally's when the repeated node holds it.

pub(crate) mod index;
pub(crate) mod repeats;

use cfgvault_store::{ObjectId, Store, StoreRead};
use chrono::{DateTime, Utc};

use crate::keys::{PATH_VERSIONS, VersionValue, path_prefix, time_from_micros};
use crate::{Result, validate_path};

/// One distinct content a path had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub id: ObjectId,
    pub size: u64,
    /// Earliest `created_at` of a session that held this version.
    pub first_seen: DateTime<Utc>,
    /// Latest `created_at` of a session that held this version.
    pub last_seen: DateTime<Utc>,
    /// Number of sessions holding it now.
    pub sessions: u64,
}

/// The distinct contents `path` had, in the order they first appeared, in O(versions).
pub fn versions(store: &Store, path: &str) -> Result<Vec<Version>> {
    validate_path(path)?;
    let r = store.read()?;
    let rows = r.index_prefix(PATH_VERSIONS, &path_prefix(path), usize::MAX)?;
    let mut out = rows
        .iter()
        .map(|(k, v)| Ok(version(&VersionValue::decode(k, v)?)))
        .collect::<Result<Vec<Version>>>()?;
    add_repeats(&r, path, &mut out)?;
    Ok(out)
}

/// The version a version entry's value describes (as the entry counts it).
pub(crate) fn version(v: &VersionValue) -> Version {
    Version {
        id: v.blob,
        size: v.size,
        first_seen: time_from_micros(v.first),
        last_seen: time_from_micros(v.last),
        sessions: v.sessions,
    }
}

/// Adds the repeat tally to the version of `path` that the repeated node holds, among
/// `versions` (the path's versions as their entries count them).
pub(crate) fn add_repeats(r: &impl StoreRead, path: &str, versions: &mut [Version]) -> Result<()> {
    let Some((blob, tally)) = repeats::pending(r, path)? else {
        return Ok(());
    };
    if let Some(v) = versions.iter_mut().find(|v| v.id == blob) {
        v.sessions = v.sessions.saturating_add(tally.sessions);
        v.first_seen = v.first_seen.min(time_from_micros(tally.first));
        v.last_seen = v.last_seen.max(time_from_micros(tally.last));
    }
    Ok(())
}
