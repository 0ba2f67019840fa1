//! The JSON documents a remote holds: its config, session manifests, index objects and gc's
//! condemned lists. Every one but the config is wrapped by [`crate::seal::Seal`].

use std::collections::BTreeMap;

use cfgvault_session::{ClosureInfo, SessionRecord};
use cfgvault_store::ObjectId;
use serde::{Deserialize, Serialize};

/// Object name prefixes below the remote's URL.
pub(crate) const CONFIG: &str = "config";
pub(crate) const PACKS: &str = "packs";
pub(crate) const SESSIONS: &str = "sessions";
pub(crate) const INDEX: &str = "index";
pub(crate) const CONDEMNED: &str = "condemned";

/// The remote's config (`config`, plain JSON, written once by the first push).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Config {
    pub format: u32,
    /// The key check of an encrypted remote (a keyed hash of a constant), else `None`.
    pub key_check: Option<String>,
    /// How long gc waits between condemning an unreferenced pack and deleting it, and so
    /// twice the longest a push may take between reading the remote and writing manifests.
    pub grace_secs: u64,
}

pub(crate) const FORMAT: u32 = 1;

/// One file of a session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ManifestFile {
    pub path: String,
    pub blob: ObjectId,
    pub size: u64,
    pub mode: u32,
}

/// What a session is: the same on every host that holds it, whatever the remote held when it
/// was pushed. Two pushes of one id conflict when these differ.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct SessionContent {
    /// The record, unpinned (pinning is a local matter) and without the closure.
    pub record: SessionRecord,
    pub closure: ClosureInfo,
    pub files: Vec<ManifestFile>,
}

/// A session manifest (`sessions/<id or keyed hash of it>`): the session and, for each of
/// its blobs, the pack holding it. Written after every pack it names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub session: SessionContent,
    pub packs: BTreeMap<ObjectId, String>,
}

/// A listing entry of a session, as index objects carry it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IndexedSession {
    /// The manifest's name (below `sessions/`).
    pub manifest: String,
    pub record: SessionRecord,
}

/// The blobs one pack holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IndexedPack {
    pub name: String,
    pub blobs: Vec<ObjectId>,
}

/// An index object (`index/<address>`), written by each push after its manifests (and by gc
/// when it merges them): the sessions and packs that push added, so listing the remote and
/// finding which blobs it holds need not read every manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Index {
    pub sessions: Vec<IndexedSession>,
    pub packs: Vec<IndexedPack>,
}

/// A gc's list of packs no manifest named (`condemned/<address>`); a later gc deletes those
/// still unnamed once the list is older than the grace period.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Condemned {
    pub packs: Vec<String>,
}
