//! Integrity check of the session layer's metadata: what the store's own `verify` cannot see,
//! because records, index entries and the string table are not objects (no hash covers them).
//!
//! Everything that can be derived is derived again and compared with what is stored:
//! - every session root has a record that decodes in full (its strings resolve, its session
//!   node links its root tree and a closure node that decodes), and exactly one by-time entry
//!   at its `created_at`; every by-time entry names such a root;
//! - the record's file count and logical bytes equal those of its tree, walked in full;
//! - the label index holds exactly the records' labels;
//! - the running totals (sessions, logical bytes) equal the sums over the records;
//! - the per-path version index (with the repeat tally merged) holds exactly the versions the
//!   sessions' trees hold, each counting the sessions that hold it, its size that of the
//!   trees, its first and last sighting no later and no earlier than the sessions' (deletes do
//!   not narrow them); the `session.path_blobs` entries name the versions of their blobs;
//! - the string table's two halves agree: each string is found under the hash of its bytes
//!   and that entry gives its number back — the hash is the string's checksum.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use cfgvault_store::{ObjectId, Store, StoreRead};
use chrono::{DateTime, Utc};

use crate::counters::read_counters;
use crate::keys::*;
use crate::records::{RecordReader, session_links};
use crate::strings;
use crate::versions::{Version, add_repeats, version};
use crate::walk::walk;
use crate::{Result, SessionId};

/// One discrepancy in the session layer's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is damaged: a session id, an index space and key, or a string-table entry.
    pub key: String,
    /// A sentence saying what was found.
    pub detail: String,
}

/// Checks the session layer's records, indexes, totals and string table against each other and
/// against the sessions' trees (see the module docs). Returns the problems found; an `Err` only
/// when the store cannot be read at all.
pub fn verify(store: &Store) -> Result<Vec<Problem>> {
    let r = store.read()?;
    let mut check = Check {
        r: &r,
        problems: Vec::new(),
    };
    check.run();
    Ok(check.problems)
}

/// What the sessions' trees say one path's version is.
struct Derived {
    size: u64,
    sessions: u64,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
}

struct Check<'r, R: StoreRead> {
    r: &'r R,
    problems: Vec<Problem>,
}

impl<R: StoreRead> Check<'_, R> {
    fn problem(&mut self, key: impl Into<String>, detail: impl Into<String>) {
        self.problems.push(Problem {
            key: key.into().chars().take(200).collect(),
            detail: detail.into(),
        });
    }

    /// `f`'s value, or `None` with its error recorded as a problem of `key`.
    fn read<T>(&mut self, key: &str, f: impl FnOnce(&R) -> Result<T>) -> Option<T> {
        match f(self.r) {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(key, e.to_string());
                None
            }
        }
    }

    fn run(&mut self) {
        let Some(roots) = self.read("roots", |r| Ok(r.roots(ROOT_PREFIX)?)) else {
            return;
        };
        let by_time = self.by_time();
        let mut labels = BTreeSet::new();
        let mut versions: BTreeMap<String, BTreeMap<ObjectId, Derived>> = BTreeMap::new();
        let (mut sessions, mut logical) = (0u64, 0u64);
        let mut records = RecordReader::without_closure();
        let mut seen = BTreeSet::new();
        for root in &roots {
            let name = root.name.as_str();
            let Some(id) = name
                .strip_prefix(ROOT_PREFIX)
                .and_then(|s| s.parse::<SessionId>().ok())
            else {
                self.problem(name, "a session root whose name is not a session id");
                continue;
            };
            seen.insert(id.to_string());
            let Some(rec) = self.read(id.as_str(), |r| records.require(r, &id)) else {
                continue;
            };
            sessions += 1;
            logical = logical.saturating_add(rec.logical_bytes);
            match by_time.get(id.as_str()) {
                None => self.problem(id.as_str(), "session.by_time: the session has no entry"),
                Some(t) if *t != rec.created_at => self.problem(
                    id.as_str(),
                    format!(
                        "session.by_time: entry at {t}, record created at {}",
                        rec.created_at
                    ),
                ),
                Some(_) => {}
            }
            for (k, v) in &rec.labels {
                labels.insert(label_key(k, v, rec.created_at, &id));
            }
            let links = self.read(id.as_str(), |r| session_links(r, &id));
            if let Some((tree, _)) = links
                && tree != rec.root
            {
                self.problem(
                    id.as_str(),
                    format!("record names tree {}, session node links {tree}", rec.root),
                );
            }
            self.read(id.as_str(), |r| records.add_closure(r, rec.clone()));
            let Some(files) = self.read(id.as_str(), |r| walk(r, &rec.root)) else {
                continue;
            };
            let size: u64 = files.iter().map(|f| f.size).fold(0, u64::saturating_add);
            if files.len() as u64 != rec.files || size != rec.logical_bytes {
                self.problem(
                    id.as_str(),
                    format!(
                        "record says {} files of {} bytes, its tree holds {} of {size}",
                        rec.files,
                        rec.logical_bytes,
                        files.len()
                    ),
                );
            }
            for f in files {
                let d = versions
                    .entry(f.path)
                    .or_default()
                    .entry(f.id)
                    .or_insert(Derived {
                        size: f.size,
                        sessions: 0,
                        first: rec.created_at,
                        last: rec.created_at,
                    });
                d.sessions += 1;
                d.first = d.first.min(rec.created_at);
                d.last = d.last.max(rec.created_at);
            }
        }
        for id in by_time.keys().filter(|id| !seen.contains(*id)) {
            self.problem(id.as_str(), "session.by_time: an entry without a session");
        }
        self.labels(&labels);
        self.totals(sessions, logical);
        self.versions(&versions);
        self.path_blobs();
        self.string_table();
    }

    /// The by-time entries, by session id.
    fn by_time(&mut self) -> BTreeMap<String, DateTime<Utc>> {
        let end = Bound::Excluded(TALLY_START);
        let rows = self.read(BY_TIME, |r| {
            Ok(r.index_range(BY_TIME, Bound::Unbounded, end, false, usize::MAX)?)
        });
        let mut out = BTreeMap::new();
        for (k, v) in rows.unwrap_or_default() {
            let key = String::from_utf8_lossy(&k).into_owned();
            let id = std::str::from_utf8(k.get(8..).unwrap_or_default())
                .ok()
                .and_then(|s| s.parse::<SessionId>().ok());
            match (time_from_key(&k), id) {
                (Some(t), Some(id)) if v.is_empty() => {
                    if out.insert(id.to_string(), t).is_some() {
                        self.problem(id.as_str(), "session.by_time: two entries");
                    }
                }
                _ => self.problem(key, "session.by_time: not a session entry"),
            }
        }
        out
    }

    fn labels(&mut self, expected: &BTreeSet<Vec<u8>>) {
        let rows = self.read(BY_LABEL, |r| {
            Ok(r.index_range(
                BY_LABEL,
                Bound::Unbounded,
                Bound::Unbounded,
                false,
                usize::MAX,
            )?)
        });
        let Some(rows) = rows else { return };
        let mut stored = BTreeSet::new();
        for (k, v) in rows {
            if !expected.contains(&k) || !v.is_empty() {
                let key = String::from_utf8_lossy(&k).into_owned();
                self.problem(key, "session.by_label: an entry no session's labels make");
            }
            stored.insert(k);
        }
        for k in expected.difference(&stored) {
            let key = String::from_utf8_lossy(k).into_owned();
            self.problem(key, "session.by_label: a session's label has no entry");
        }
    }

    fn totals(&mut self, sessions: u64, logical: u64) {
        let keys = [C_SESSIONS, C_LOGICAL];
        let Some(values) = self.read(BY_TIME, |r| read_counters(r, keys.into_iter())) else {
            return;
        };
        for ((key, value), derived) in keys.iter().zip(values).zip([sessions, logical]) {
            let name = String::from_utf8_lossy(&key[1..]).into_owned();
            let stored = value
                .as_deref()
                .and_then(|v| <[u8; 8]>::try_from(v).ok())
                .map(u64::from_be_bytes);
            // A store without sessions may never have written its totals.
            if stored.unwrap_or(0) != derived || value.as_ref().is_some_and(|v| v.len() != 8) {
                self.problem(
                    format!("session.by_time {name}"),
                    format!("total {stored:?}, the sessions sum to {derived}"),
                );
            }
        }
        let rows = self.read(BY_TIME, |r| {
            Ok(r.index_range(
                BY_TIME,
                Bound::Included(TALLY_START),
                Bound::Unbounded,
                false,
                usize::MAX,
            )?)
        });
        for (k, _) in rows.unwrap_or_default() {
            if ![C_SESSIONS, C_LOGICAL, C_REPEATS, C_REPEAT_FILES].contains(&k.as_slice()) {
                let key = String::from_utf8_lossy(&k).into_owned();
                self.problem(key, "session.by_time: an unknown tally key");
            }
        }
    }

    fn versions(&mut self, derived: &BTreeMap<String, BTreeMap<ObjectId, Derived>>) {
        let rows = self.read(PATH_VERSIONS, |r| {
            Ok(r.index_range(
                PATH_VERSIONS,
                Bound::Unbounded,
                Bound::Unbounded,
                false,
                usize::MAX,
            )?)
        });
        let Some(rows) = rows else { return };
        let mut stored: BTreeMap<String, Vec<Version>> = BTreeMap::new();
        for (k, v) in rows {
            let key = String::from_utf8_lossy(&k).into_owned();
            let path = k
                .len()
                .checked_sub(5)
                .filter(|&n| k[n] == 0)
                .and_then(|n| std::str::from_utf8(&k[..n]).ok());
            let Some(path) = path else {
                self.problem(key, "session.path_versions: not a version key");
                continue;
            };
            let Some(v) = self.read(&key, |_| VersionValue::decode(&k, &v)) else {
                continue;
            };
            stored.entry(path.to_owned()).or_default().push(version(&v));
        }
        let empty = BTreeMap::new();
        for (path, mut versions) in stored {
            if self
                .read(&path, |r| add_repeats(r, &path, &mut versions))
                .is_none()
            {
                continue;
            }
            let want = derived.get(&path).unwrap_or(&empty);
            let mut found = BTreeSet::new();
            for v in &versions {
                let Some(d) = want.get(&v.id) else {
                    self.problem(
                        path.as_str(),
                        format!("session.path_versions: version {} no session holds", v.id),
                    );
                    continue;
                };
                if !found.insert(v.id) {
                    self.problem(
                        path.as_str(),
                        format!("session.path_versions: version {} twice", v.id),
                    );
                }
                if v.size != d.size
                    || v.sessions != d.sessions
                    || v.first_seen > d.first
                    || v.last_seen < d.last
                {
                    self.problem(
                        path.as_str(),
                        format!(
                            "session.path_versions: version {} of {} bytes in {} sessions seen \
                             {}..{}; the sessions hold {} bytes in {} sessions at {}..{}",
                            v.id,
                            v.size,
                            v.sessions,
                            v.first_seen,
                            v.last_seen,
                            d.size,
                            d.sessions,
                            d.first,
                            d.last
                        ),
                    );
                }
            }
            for id in want.keys().filter(|id| !found.contains(*id)) {
                self.problem(
                    path.as_str(),
                    format!("session.path_versions: no entry for version {id}"),
                );
            }
        }
        // Paths the sessions hold that have no entry at all.
        let rows = self.read(PATH_VERSIONS, |r| {
            let mut missing = Vec::new();
            for path in derived.keys() {
                if r.index_prefix(PATH_VERSIONS, &path_prefix(path), 1)?
                    .is_empty()
                {
                    missing.push(path.clone());
                }
            }
            Ok(missing)
        });
        for path in rows.unwrap_or_default() {
            self.problem(path, "session.path_versions: the path has no versions");
        }
    }

    /// Each `session.path_blobs` entry names the version holding its blob, and a path with its
    /// marker has an entry for every version.
    fn path_blobs(&mut self) {
        let rows = self.read(PATH_BLOBS, |r| {
            Ok(r.index_range(
                PATH_BLOBS,
                Bound::Unbounded,
                Bound::Unbounded,
                false,
                usize::MAX,
            )?)
        });
        let mut marked: BTreeMap<String, usize> = BTreeMap::new();
        let mut entries: BTreeMap<String, usize> = BTreeMap::new();
        for (k, v) in rows.unwrap_or_default() {
            let key = String::from_utf8_lossy(&k).into_owned();
            let Some(nul) = k.iter().position(|b| *b == 0) else {
                self.problem(key, "session.path_blobs: not a path key");
                continue;
            };
            let Ok(path) = std::str::from_utf8(&k[..nul]) else {
                self.problem(key, "session.path_blobs: not a path key");
                continue;
            };
            let rest = &k[nul + 1..];
            if rest.is_empty() && v.is_empty() {
                marked.insert(path.to_owned(), 0);
                continue;
            }
            let blob = ObjectId::from_slice(rest);
            let seq = <[u8; 4]>::try_from(v.as_slice()).map(u32::from_be_bytes);
            let (Some(blob), Ok(seq)) = (blob, seq) else {
                self.problem(key, "session.path_blobs: not a blob entry");
                continue;
            };
            let version_key = path_version_key(path, seq);
            let value = self.read(&key, |r| Ok(r.index_get(PATH_VERSIONS, &version_key)?));
            let named = value
                .flatten()
                .and_then(|v| VersionValue::decode(&version_key, &v).ok())
                .map(|v| v.blob);
            if named != Some(blob) {
                self.problem(
                    path,
                    format!("session.path_blobs: the entry of {blob} names another version"),
                );
            }
            *entries.entry(path.to_owned()).or_default() += 1;
        }
        for path in marked.keys() {
            let n = self.read(path, |r| {
                Ok(
                    r.index_prefix(PATH_VERSIONS, &path_prefix(path), usize::MAX)?
                        .len(),
                )
            });
            let have = entries.get(path).copied().unwrap_or(0);
            if n.is_some_and(|n| n != have) {
                self.problem(
                    path.as_str(),
                    format!("session.path_blobs: {have} entries for {n:?} versions"),
                );
            }
        }
        for path in entries.keys().filter(|p| !marked.contains_key(*p)) {
            self.problem(
                path.as_str(),
                "session.path_blobs: entries without the marker",
            );
        }
    }

    fn string_table(&mut self) {
        let rows = self.read(STRINGS, |r| {
            Ok(r.index_range(
                STRINGS,
                Bound::Unbounded,
                Bound::Unbounded,
                false,
                usize::MAX,
            )?)
        });
        for (key, detail) in strings::check_table(&rows.unwrap_or_default()) {
            self.problem(key, detail);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{FileSet, NewSession, create, delete, set_labels};
    use cfgvault_store::StoreOptions;

    /// A store with five sessions: two contents of one file, a shared node (the repeat tally), a
    /// label, a deleted session.
    fn store(dir: &std::path::Path) -> Store {
        let store = Store::create(dir.join("s.redb"), &StoreOptions::default()).unwrap();
        let mut ids = Vec::new();
        for (i, model) in ["a", "b", "b", "b", "c"].iter().enumerate() {
            let files = FileSet::from_memory([
                ("top.yaml", b"name: top\n".to_vec(), 0o644),
                (
                    "llms/m.yaml",
                    format!("model: {model}\n").into_bytes(),
                    0o644,
                ),
            ])
            .unwrap();
            let mut new = NewSession::new(files);
            new.source_root = "/srv/configs".into();
            new.strategy = "tree".into();
            new.created_at = DateTime::from_timestamp(1_764_000_000 + i as i64 * 60, 0).unwrap();
            new.labels.insert("env".into(), "prod".into());
            ids.push(create(&store, new).unwrap().record.id);
        }
        set_labels(&store, &ids[1], |l| {
            l.insert("team".into(), "infra".into());
        })
        .unwrap();
        delete(&store, &ids[..1]).unwrap();
        store
    }

    fn damage(store: &Store, f: impl FnOnce(&mut cfgvault_store::WriteTxn<'_>)) -> Vec<Problem> {
        let mut txn = store.write().unwrap();
        f(&mut txn);
        txn.commit().unwrap();
        verify(store).unwrap()
    }

    fn by_time_keys(store: &Store) -> Vec<Vec<u8>> {
        let r = store.read().unwrap();
        let end = Bound::Excluded(TALLY_START);
        let rows = r
            .index_range(BY_TIME, Bound::Unbounded, end, false, 10)
            .unwrap();
        rows.into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn a_store_of_created_relabelled_and_deleted_sessions_is_clean() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        assert_eq!(verify(&store).unwrap(), Vec::new());
        crate::settle(&store).unwrap();
        store.gc(&cfgvault_store::NoProgress).unwrap();
        assert_eq!(verify(&store).unwrap(), Vec::new());
    }

    #[test]
    fn a_missing_by_time_entry_is_reported_naming_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let key = by_time_keys(&store).remove(0);
        let id = String::from_utf8(key[8..].to_vec()).unwrap();
        let problems = damage(&store, |t| {
            t.index_remove(BY_TIME, &key).unwrap();
        });
        assert!(
            problems
                .iter()
                .any(|p| p.key == id && p.detail.contains("no entry")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_changed_string_is_reported_by_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let problems = damage(&store, |t| {
            let mut key = vec![0x01];
            key.extend_from_slice(&0u64.to_be_bytes());
            t.index_insert(STRINGS, &key, b"/srv/elsewhere").unwrap();
        });
        assert!(
            problems
                .iter()
                .any(|p| p.detail.contains("not found under its hash")),
            "{problems:?}"
        );
    }

    #[test]
    fn wrong_totals_labels_and_versions_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let problems = damage(&store, |t| {
            t.index_insert(BY_TIME, C_LOGICAL, &7u64.to_be_bytes())
                .unwrap();
        });
        assert!(
            problems.iter().any(|p| p.key.contains("logical_bytes")),
            "{problems:?}"
        );

        let store = self::store(&subdir(dir.path(), "2"));
        let label = label_prefix("team", "infra");
        let problems = damage(&store, |t| {
            let rows = t.index_prefix(BY_LABEL, &label, 10).unwrap();
            t.index_remove(BY_LABEL, &rows[0].0).unwrap();
        });
        assert!(
            problems
                .iter()
                .any(|p| p.detail.contains("label has no entry")),
            "{problems:?}"
        );

        let store = self::store(&subdir(dir.path(), "3"));
        let problems = damage(&store, |t| {
            let rows = t
                .index_prefix(PATH_VERSIONS, &path_prefix("top.yaml"), 10)
                .unwrap();
            let (k, v) = &rows[0];
            let mut v = VersionValue::decode(k, v).unwrap();
            v.sessions += 1;
            t.index_insert(PATH_VERSIONS, k, &v.encode()).unwrap();
        });
        assert!(
            problems
                .iter()
                .any(|p| p.key == "top.yaml" && p.detail.contains("path_versions")),
            "{problems:?}"
        );
    }

    fn subdir(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
