//! [`Remote`]: an opened remote, its config and key, and a snapshot of what it holds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use cfgvault_store::ObjectId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{Backend, Created, Listed};
use crate::docs::{self, Condemned, Config, Index, Manifest};
use crate::error::{Error, Result};
use crate::seal::{Key, Seal};

/// How a remote is opened. Construct with `RemoteOptions::default()` and set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RemoteOptions {
    /// The remote's key; `None` for an unencrypted remote. Default: from
    /// `CFGVAULT_REMOTE_KEY_FILE` or `CFGVAULT_REMOTE_KEY` (see [`Key::from_env`]) when opened
    /// with [`Remote::open`].
    pub key: Option<Key>,
    /// The gc grace period written into a new remote's config by its first push (an existing
    /// remote keeps its own). Default: one hour.
    pub grace: Duration,
    /// S3 settings that override the `AWS_*` environment variables, named as those are,
    /// lowercase: `aws_endpoint_url`, `aws_region`, `aws_allow_http`, `aws_access_key_id` …
    /// Default: none.
    pub s3: BTreeMap<String, String>,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            key: None,
            grace: Duration::from_secs(3600),
            s3: BTreeMap::new(),
        }
    }
}

/// A shared cfgvault remote: `s3://BUCKET[/PREFIX]` or `file:///PATH`. See docs/REMOTE.md for
/// its layout and consistency model.
pub struct Remote {
    url: String,
    pub(crate) backend: Backend,
    pub(crate) seal: Seal,
    grace: Duration,
    /// Whether `grace` is the remote config's (else the options', the remote had no config).
    configured: bool,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url)
            .field("encrypted", &self.seal.encrypted())
            .finish()
    }
}

/// What a remote holds at one moment: one listing, every index object and condemned list.
pub(crate) struct Snapshot {
    pub packs: HashMap<String, Listed>,
    pub manifests: HashMap<String, Listed>,
    pub index_names: Vec<String>,
    pub indexes: Vec<Index>,
    pub condemned_lists: Vec<(Listed, Condemned)>,
    /// Packs named by any condemned list.
    pub condemned: HashSet<String>,
    /// Whether the remote has its config (written by the first push).
    pub has_config: bool,
}

impl Snapshot {
    /// For each blob the index objects place in a pack that exists and is not condemned,
    /// that pack.
    pub fn blob_packs(&self) -> HashMap<ObjectId, String> {
        let mut out = HashMap::new();
        for index in &self.indexes {
            for pack in &index.packs {
                if self.packs.contains_key(&pack.name) && !self.condemned.contains(&pack.name) {
                    for blob in &pack.blobs {
                        out.insert(*blob, pack.name.clone());
                    }
                }
            }
        }
        out
    }
}

impl Remote {
    /// Opens a remote, with the key from `CFGVAULT_REMOTE_KEY_FILE` / `CFGVAULT_REMOTE_KEY`
    /// if one is set. Fails with `KeyMissing`, `KeyWrong` or `KeyUnexpected` (reading no
    /// session data) when the key does not fit the remote.
    pub fn open(url: &str) -> Result<Remote> {
        let options = RemoteOptions {
            key: Key::from_env()?,
            ..RemoteOptions::default()
        };
        Remote::open_with(url, &options)
    }

    /// Opens a remote with explicit options (the environment is not read).
    pub fn open_with(url: &str, options: &RemoteOptions) -> Result<Remote> {
        let backend = Backend::open(url, &options.s3)?;
        let remote = Remote {
            url: url.to_string(),
            backend,
            seal: Seal::new(options.key.as_ref()),
            grace: options.grace,
            configured: false,
        };
        match remote.read_config()? {
            Some(config) => Ok(Remote {
                grace: Duration::from_secs(config.grace_secs),
                configured: true,
                ..remote
            }),
            None => Ok(remote),
        }
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether objects are sealed with a key.
    pub fn encrypted(&self) -> bool {
        self.seal.encrypted()
    }

    /// The gc grace period: the remote's own, or for a remote nobody has pushed to yet, the
    /// one its first push will record.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// The grace period of the remote's config, read again if the remote had none when it
    /// was opened.
    pub(crate) fn configured_grace(&self) -> Result<Duration> {
        if self.configured {
            return Ok(self.grace);
        }
        Ok(self
            .read_config()?
            .map_or(self.grace, |c| Duration::from_secs(c.grace_secs)))
    }

    fn read_config(&self) -> Result<Option<Config>> {
        let Some(bytes) = self.backend.get(docs::CONFIG)? else {
            return Ok(None);
        };
        let config: Config = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            object: docs::CONFIG.into(),
            detail: e.to_string(),
        })?;
        self.check_key(&config)?;
        Ok(Some(config))
    }

    fn check_key(&self, config: &Config) -> Result<()> {
        let url = self.url.clone();
        match (config.key_check.as_deref(), self.seal.key_check()) {
            (None, None) => Ok(()),
            (Some(want), Some(have)) if want == have => Ok(()),
            (Some(_), Some(_)) => Err(Error::KeyWrong { url }),
            (Some(_), None) => Err(Error::KeyMissing { url }),
            (None, Some(_)) => Err(Error::KeyUnexpected { url }),
        }
    }

    /// Writes the config if the remote has none (create-if-absent: of concurrent first
    /// pushes one config wins and the others check their key against it). Returns the
    /// remote's grace period and, when this call wrote the config, its size.
    pub(crate) fn ensure_config(&self) -> Result<(Duration, Option<u64>)> {
        let config = Config {
            format: docs::FORMAT,
            key_check: self.seal.key_check().map(str::to_string),
            grace_secs: self.grace.as_secs(),
        };
        let bytes = serde_json::to_vec_pretty(&config).map_err(|e| Error::Corrupt {
            object: docs::CONFIG.into(),
            detail: e.to_string(),
        })?;
        let size = bytes.len() as u64;
        match self.backend.create(docs::CONFIG, bytes)? {
            Created::Written => Ok((self.grace, Some(size))),
            Created::AlreadyThere => match self.read_config()? {
                Some(theirs) => Ok((Duration::from_secs(theirs.grace_secs), None)),
                None => Err(Error::Corrupt {
                    object: docs::CONFIG.into(),
                    detail: "vanished".into(),
                }),
            },
        }
    }

    /// Writes `doc` sealed under `dir/<address>` (create-if-absent), returning the name
    /// below `dir/`, what the put found and the stored size.
    pub(crate) fn put_doc<T: Serialize>(
        &self,
        dir: &str,
        doc: &T,
    ) -> Result<(String, Created, u64)> {
        let json = self.encode_doc(dir, doc)?;
        let name = self.seal.address(&json);
        let (created, size) = self.put_wrapped(&format!("{dir}/{name}"), &json)?;
        Ok((name, created, size))
    }

    pub(crate) fn encode_doc<T: Serialize>(&self, dir: &str, doc: &T) -> Result<Vec<u8>> {
        serde_json::to_vec(doc).map_err(|e| Error::Corrupt {
            object: dir.to_string(),
            detail: e.to_string(),
        })
    }

    /// Seals `payload` for `object` and writes it create-if-absent; returns what the put
    /// found and the stored size.
    pub(crate) fn put_wrapped(&self, object: &str, payload: &[u8]) -> Result<(Created, u64)> {
        let stored = self.seal.wrap(object, payload)?;
        let size = stored.len() as u64;
        Ok((self.backend.create(object, stored)?, size))
    }

    /// The payload of `object`, `None` if it does not exist.
    pub(crate) fn get_wrapped(&self, object: &str) -> Result<Option<Vec<u8>>> {
        match self.backend.get(object)? {
            Some(stored) => Ok(Some(self.seal.unwrap(object, &stored)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn get_doc<T: DeserializeOwned>(&self, object: &str) -> Result<Option<T>> {
        let Some(payload) = self.get_wrapped(object)? else {
            return Ok(None);
        };
        serde_json::from_slice(&payload)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                object: object.to_string(),
                detail: format!("does not decode: {e}"),
            })
    }

    pub(crate) fn manifest(&self, name: &str) -> Result<Option<Manifest>> {
        self.get_doc(&format!("{}/{name}", docs::SESSIONS))
    }

    /// One listing of the whole remote, then every index object and condemned list. An
    /// index object or list deleted by a concurrent gc between the listing and its read is
    /// passed over (gc deletes only what it merged into a newer one or acted on).
    pub(crate) fn snapshot(&self) -> Result<Snapshot> {
        let mut snap = Snapshot {
            packs: HashMap::new(),
            manifests: HashMap::new(),
            index_names: Vec::new(),
            indexes: Vec::new(),
            condemned_lists: Vec::new(),
            condemned: HashSet::new(),
            has_config: false,
        };
        let mut condemned_listed = Vec::new();
        for obj in self.backend.list(None)? {
            let Some((dir, name)) = obj.name.split_once('/') else {
                snap.has_config |= obj.name == docs::CONFIG;
                continue;
            };
            let name = name.to_string();
            match dir {
                docs::PACKS => {
                    snap.packs.insert(name, obj);
                }
                docs::SESSIONS => {
                    snap.manifests.insert(name, obj);
                }
                docs::INDEX => snap.index_names.push(name),
                docs::CONDEMNED => condemned_listed.push(obj),
                _ => {}
            }
        }
        snap.index_names.sort();
        for name in &snap.index_names {
            if let Some(index) = self.get_doc::<Index>(&format!("{}/{name}", docs::INDEX))? {
                snap.indexes.push(index);
            }
        }
        for obj in condemned_listed {
            if let Some(list) = self.get_doc::<Condemned>(&obj.name)? {
                snap.condemned.extend(list.packs.iter().cloned());
                snap.condemned_lists.push((obj, list));
            }
        }
        Ok(snap)
    }

    /// The remote's sessions, newest first: the records the index objects carry for every
    /// manifest that exists, and for a manifest no index names yet (its push stopped before
    /// writing the index) the manifest itself.
    pub fn sessions(&self) -> Result<Vec<cfgvault_session::SessionRecord>> {
        let snap = self.snapshot()?;
        let mut by_name = BTreeMap::new();
        for index in &snap.indexes {
            for s in &index.sessions {
                if snap.manifests.contains_key(&s.manifest) {
                    by_name.insert(s.manifest.clone(), s.record.clone());
                }
            }
        }
        for name in snap.manifests.keys() {
            if !by_name.contains_key(name)
                && let Some(m) = self.manifest(name)?
            {
                by_name.insert(name.clone(), m.session.record);
            }
        }
        let mut out: Vec<_> = by_name.into_values().collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(out)
    }
}

/// The current time, for grace-period arithmetic.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now()
}
