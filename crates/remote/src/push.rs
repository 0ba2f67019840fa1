//! Push: local sessions to a remote. Packs first, then each session's manifest
//! (create-if-absent), then one index object; a session is visible once its manifest is.

use std::collections::BTreeMap;
use std::time::Instant;

use cfgvault_session::{self as session, SessionId};
use cfgvault_store::{ObjectId, Store, StoreRead};
use serde::Serialize;

use crate::backend::Created;
use crate::docs::{
    self, Index, IndexedPack, IndexedSession, Manifest, ManifestFile, SessionContent,
};
use crate::error::{Error, Result};
use crate::pack;
use crate::remote::Remote;

/// Packs are cut at about this many bytes of blobs.
const PACK_TARGET: usize = 8 << 20;

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PushReport {
    /// Sessions this push made visible on the remote.
    pub pushed: Vec<SessionId>,
    /// Sessions the remote already held with the same content (nothing written for them).
    pub unchanged: Vec<SessionId>,
    /// Objects written (packs, manifests, the index object, the config of a new remote).
    pub objects_uploaded: u64,
    /// Bytes written, as stored.
    pub bytes_uploaded: u64,
}

/// The content of a local session, as a manifest records it.
pub(crate) fn local_content(store: &Store, id: &SessionId) -> Result<SessionContent> {
    let mut record = session::get(store, id)?;
    let closure = record
        .closure
        .take()
        .map(|c| (*c).clone())
        .unwrap_or_default();
    record.pinned = false;
    let files = session::files(store, id)?
        .into_iter()
        .map(|f| ManifestFile {
            path: f.path,
            blob: f.id,
            size: f.size,
            mode: f.mode,
        })
        .collect();
    Ok(SessionContent {
        record,
        closure,
        files,
    })
}

/// Pushes `ids` (every local session when empty). A session the remote holds with other
/// content is refused with `AlreadyExists` before anything is written.
pub fn push(store: &Store, remote: &Remote, ids: &[SessionId]) -> Result<PushReport> {
    let started = Instant::now();
    let ids: Vec<SessionId> = if ids.is_empty() {
        let mut all = session::list(store, &Default::default())?;
        all.reverse(); // oldest first
        all.into_iter().map(|r| r.id).collect()
    } else {
        ids.to_vec()
    };
    let mut report = PushReport::default();
    let snap = remote.snapshot()?;
    // Sort out what is there already; refuse conflicts before writing.
    let mut todo = Vec::new();
    for id in ids {
        let content = local_content(store, &id)?;
        let name = remote.seal.session_name(id.as_str());
        if snap.manifests.contains_key(&name) {
            match remote.manifest(&name)? {
                Some(m) if m.session == content => {
                    report.unchanged.push(id);
                    continue;
                }
                Some(_) => return Err(Error::AlreadyExists { id: id.to_string() }),
                None => {} // removed since the listing: push it again
            }
        }
        todo.push((id, name, content));
    }
    if todo.is_empty() {
        return Ok(report);
    }
    // The grace period of the remote's config (read when the remote was opened, or written
    // now by the first push, or by a concurrent first push with another value).
    let grace = if snap.has_config {
        remote.configured_grace()?
    } else {
        let (grace, written) = remote.ensure_config()?;
        if let Some(size) = written {
            report.objects_uploaded += 1;
            report.bytes_uploaded += size;
        }
        grace
    };

    // Blobs the remote lacks, into packs.
    let mut placed = snap.blob_packs();
    let mut missing = BTreeMap::new();
    {
        let r = store.read()?;
        for (_, _, content) in &todo {
            for f in &content.files {
                if !placed.contains_key(&f.blob) && !missing.contains_key(&f.blob) {
                    let bytes = r.get(&f.blob)?;
                    missing.insert(f.blob, bytes);
                }
            }
        }
    }
    let mut new_packs = Vec::new();
    let mut batch = BTreeMap::new();
    let mut batch_bytes = 0usize;
    let mut flush =
        |batch: &mut BTreeMap<ObjectId, Vec<u8>>, report: &mut PushReport| -> Result<()> {
            if batch.is_empty() {
                return Ok(());
            }
            // A pack whose name a gc condemned is uploaded afresh under another salt.
            let mut salt = 0u32;
            let (name, plain) = loop {
                let plain = pack::encode(salt, batch);
                let name = remote.seal.address(&plain);
                if !snap.condemned.contains(&name) {
                    break (name, plain);
                }
                salt += 1;
            };
            let object = format!("{}/{name}", docs::PACKS);
            if let (Created::Written, size) = remote.put_wrapped(&object, &plain)? {
                report.objects_uploaded += 1;
                report.bytes_uploaded += size;
            }
            for blob in batch.keys() {
                placed.insert(*blob, name.clone());
            }
            new_packs.push(IndexedPack {
                name,
                blobs: batch.keys().copied().collect(),
            });
            batch.clear();
            Ok(())
        };
    for (blob, bytes) in missing {
        batch_bytes += bytes.len();
        batch.insert(blob, bytes);
        if batch_bytes >= PACK_TARGET {
            flush(&mut batch, &mut report)?;
            batch_bytes = 0;
        }
    }
    flush(&mut batch, &mut report)?;

    // Manifests, each after every pack it names.
    let limit = grace / 2;
    if started.elapsed() > limit {
        return Err(Error::PushTooSlow {
            elapsed_secs: started.elapsed().as_secs(),
        });
    }
    let mut indexed = Vec::new();
    for (id, name, content) in todo {
        let packs: BTreeMap<ObjectId, String> = content
            .files
            .iter()
            .filter_map(|f| placed.get(&f.blob).map(|p| (f.blob, p.clone())))
            .collect();
        let record = content.record.clone();
        let manifest = Manifest {
            session: content,
            packs,
        };
        let object = format!("{}/{name}", docs::SESSIONS);
        let payload = remote.encode_doc(&object, &manifest)?;
        match remote.put_wrapped(&object, &payload)? {
            (Created::Written, size) => {
                report.objects_uploaded += 1;
                report.bytes_uploaded += size;
                report.pushed.push(id);
            }
            // A concurrent push of the same id won the create.
            (Created::AlreadyThere, _) => match remote.manifest(&name)? {
                Some(m) if m.session == manifest.session => report.unchanged.push(id),
                _ => return Err(Error::AlreadyExists { id: id.to_string() }),
            },
        }
        indexed.push(IndexedSession {
            manifest: name,
            record,
        });
    }

    // The index object: what this push added, so listings need not read the manifests.
    let index = Index {
        sessions: indexed,
        packs: new_packs,
    };
    if let (_, Created::Written, size) = remote.put_doc(docs::INDEX, &index)? {
        report.objects_uploaded += 1;
        report.bytes_uploaded += size;
    }
    Ok(report)
}
