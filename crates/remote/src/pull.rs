//! Pull: remote sessions into the local store, fetching only the packs holding blobs the
//! local store lacks; each session is created in one local transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cfgvault_session::{self as session, FileSet, NewSession, SessionId};
use cfgvault_store::{ObjectId, Store, StoreRead};
use serde::Serialize;

use crate::docs::{self, Manifest};
use crate::error::{Error, Result};
use crate::pack;
use crate::remote::Remote;

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PullReport {
    /// Sessions created in the local store.
    pub pulled: Vec<SessionId>,
    /// Sessions the local store already held with the same content.
    pub unchanged: Vec<SessionId>,
    /// Objects read (manifests and packs; the listing's index objects are not counted).
    pub objects_downloaded: u64,
    /// Bytes read, as stored.
    pub bytes_downloaded: u64,
}

/// Pulls `ids` (every remote session when empty). A session the local store holds with
/// other content is refused with `LocalConflict`; a damaged object is refused with
/// `Corrupt`, naming it, and no session needing it is created.
pub fn pull(store: &Store, remote: &Remote, ids: &[SessionId]) -> Result<PullReport> {
    let ids: Vec<SessionId> = if ids.is_empty() {
        let mut all = remote.sessions()?;
        all.reverse(); // oldest first
        all.into_iter().map(|r| r.id).collect()
    } else {
        ids.to_vec()
    };
    let mut report = PullReport::default();
    let mut packs: HashMap<String, BTreeMap<ObjectId, Vec<u8>>> = HashMap::new();
    for id in ids {
        let name = remote.seal.session_name(id.as_str());
        let object = format!("{}/{name}", docs::SESSIONS);
        let Some(stored) = remote.backend.get(&object)? else {
            return Err(Error::SessionNotFound { id: id.to_string() });
        };
        report.objects_downloaded += 1;
        report.bytes_downloaded += stored.len() as u64;
        let payload = remote.seal.unwrap(&object, &stored)?;
        let manifest: Manifest = serde_json::from_slice(&payload).map_err(|e| Error::Corrupt {
            object: object.clone(),
            detail: format!("does not decode: {e}"),
        })?;
        if manifest.session.record.id != id {
            return Err(Error::Corrupt {
                object,
                detail: format!("holds session '{}'", manifest.session.record.id),
            });
        }
        match session::get(store, &id) {
            Ok(local) if local.root == manifest.session.record.root => {
                report.unchanged.push(id);
                continue;
            }
            Ok(_) => return Err(Error::LocalConflict { id: id.to_string() }),
            Err(session::Error::SessionNotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let files = fetch_files(store, remote, &object, &manifest, &mut packs, &mut report)?;
        let record = &manifest.session.record;
        let mut new = NewSession::new(FileSet::from_memory(files)?);
        new.id = Some(id.clone());
        new.created_at = record.created_at;
        new.source_root = record.source_root.clone();
        new.workflow = record.workflow.clone();
        new.strategy = record.strategy.clone();
        new.closure = Arc::new(manifest.session.closure.clone());
        new.labels = record.labels.clone();
        let created = session::create(store, new)?;
        if created.record.root != record.root {
            // The manifest's files do not make the tree it names: refuse it, leaving nothing.
            session::delete(store, std::slice::from_ref(&id))?;
            return Err(Error::Corrupt {
                object,
                detail: "its files do not make the session's tree".into(),
            });
        }
        report.pulled.push(id);
    }
    Ok(report)
}

/// The session's files: bytes the local store has from there, the rest from the packs the
/// manifest names (each read once per pull).
fn fetch_files(
    store: &Store,
    remote: &Remote,
    object: &str,
    manifest: &Manifest,
    packs: &mut HashMap<String, BTreeMap<ObjectId, Vec<u8>>>,
    report: &mut PullReport,
) -> Result<Vec<(String, Vec<u8>, u32)>> {
    let r = store.read()?;
    let blobs: Vec<ObjectId> = manifest.session.files.iter().map(|f| f.blob).collect();
    let local = r.contains_each(&blobs)?;
    let mut out = Vec::with_capacity(blobs.len());
    for (f, have) in manifest.session.files.iter().zip(local) {
        let bytes = if have {
            r.get(&f.blob)?
        } else {
            let Some(pack_name) = manifest.packs.get(&f.blob) else {
                return Err(Error::Corrupt {
                    object: object.to_string(),
                    detail: format!("names no pack for blob {}", f.blob),
                });
            };
            if !packs.contains_key(pack_name) {
                let pack_object = format!("{}/{pack_name}", docs::PACKS);
                let Some(stored) = remote.backend.get(&pack_object)? else {
                    return Err(Error::Corrupt {
                        object: pack_object,
                        detail: format!("is missing (named by '{object}')"),
                    });
                };
                report.objects_downloaded += 1;
                report.bytes_downloaded += stored.len() as u64;
                let plain = remote.seal.unwrap(&pack_object, &stored)?;
                check_address(remote, &pack_object, pack_name, &plain)?;
                packs.insert(pack_name.clone(), pack::decode(&pack_object, &plain)?);
            }
            match packs.get(pack_name).and_then(|p| p.get(&f.blob)) {
                Some(bytes) => bytes.clone(),
                None => {
                    return Err(Error::Corrupt {
                        object: format!("{}/{pack_name}", docs::PACKS),
                        detail: format!("lacks blob {} of '{}'", f.blob, f.path),
                    });
                }
            }
        };
        out.push((f.path.clone(), bytes, f.mode));
    }
    Ok(out)
}

/// A pack's plaintext must hash to its name.
pub(crate) fn check_address(remote: &Remote, object: &str, name: &str, plain: &[u8]) -> Result<()> {
    if remote.seal.address(plain) == name {
        Ok(())
    } else {
        Err(Error::Corrupt {
            object: object.to_string(),
            detail: "does not hash to its name".into(),
        })
    }
}
