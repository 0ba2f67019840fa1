//! Integration tests of cfgvault-session: one binary, one module per concern.
#![allow(clippy::unwrap_used, clippy::new_without_default)]

mod corpus;
mod crash;
mod diff;
mod fileset;
mod props;
mod races;
mod restore;
mod retention;
mod sessions;
mod versions;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use cfgvault_session::{self as session, FileSet, NewSession, SessionId, SessionRecord};
use cfgvault_store::{Store, StoreOptions};
use chrono::{DateTime, Utc};

/// A temporary directory with a store in it.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path().join("store.redb"), &StoreOptions::default()).unwrap();
        Fixture { dir, store }
    }

    /// A fresh directory below the fixture.
    pub fn path(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        fs::create_dir_all(&p).unwrap();
        p
    }

    /// Stores a session of in-memory files (mode 0644) at `at`.
    pub fn session(&self, id: &str, at: &str, files: &[(&str, &str)]) -> SessionRecord {
        let set = FileSet::from_memory(
            files
                .iter()
                .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec(), 0o644)),
        )
        .unwrap();
        let mut new = NewSession::new(set);
        new.id = Some(sid(id));
        new.created_at = t(at);
        session::create(&self.store, new).unwrap().record
    }
}

pub fn sid(s: &str) -> SessionId {
    s.parse().unwrap()
}

/// `2025-10-22T17:48:00Z`-style times, or a date alone for midnight.
pub fn t(s: &str) -> DateTime<Utc> {
    let s = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    s.parse().unwrap()
}

/// Writes files below `root` (creating directories).
pub fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let full = root.join(p);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, c).unwrap();
    }
}

/// Every regular file below `root`: relative path → (bytes, permission bits).
pub fn read_tree(root: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    fn go(dir: &Path, rel: &str, out: &mut BTreeMap<String, (Vec<u8>, u32)>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                go(&e.path(), &rel, out);
            } else if ft.is_file() {
                out.insert(rel, (fs::read(e.path()).unwrap(), mode(&e.path())));
            }
        }
    }
    let mut out = BTreeMap::new();
    go(root, "", &mut out);
    out
}

#[cfg(unix)]
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(not(unix))]
pub fn mode(_: &Path) -> u32 {
    0
}

#[cfg(unix)]
pub fn set_mode(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
}
