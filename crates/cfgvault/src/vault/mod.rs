//! The embedding API: one `Vault` per store file. The operations with phases of their own are
//! in `backup.rs` (backup) and `restore.rs` (restore, ensure, diff); the rest pass through to
//! the session and store layers here.

mod backup;
mod restore;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cfgvault_closure as closure;
use cfgvault_session as session;
use cfgvault_store::Store;

use crate::error::VaultError;
use crate::{
    CleanupPlan, DateTime, Error, GcReport, ListOptions, ObjectId, Options, Progress, Removed,
    SessionFile, SessionId, SessionRecord, Stats, Utc, VerifyOptions, VerifyReport, Version,
};

/// An open cfgvault store. `Send + Sync`: share one between threads.
#[derive(Debug)]
pub struct Vault {
    pub(crate) store: Store,
    /// Parsed configs reused by later backups while the files are unchanged.
    closures: closure::Cache,
    /// Ids of files read by earlier backups, reused while a file's stamp is unchanged.
    stamps: session::StampCache,
    /// String numbers and the latest session's ids, reused by the next backup.
    sessions: session::SessionCache,
    /// The session layer's form of the latest analyses, by the analysis it was made from
    /// (`closure::resolve_cached` returns the one it keeps while it is valid), so a backup of
    /// an unchanged closure does not convert it again. Holding each analysis keeps its
    /// address from being reused.
    infos: Mutex<Vec<(Arc<closure::Closure>, Arc<session::ClosureInfo>)>>,
    /// The store file's canonical path, to keep it out of backups of a root that holds it.
    canonical_path: Option<PathBuf>,
}

impl Vault {
    /// The store path used when none is given: `.cfgvault/store.redb` under the current directory.
    ///
    /// ```
    /// assert!(cfgvault::Vault::default_path().ends_with(".cfgvault/store.redb"));
    /// ```
    pub fn default_path() -> PathBuf {
        PathBuf::from(".cfgvault").join("store.redb")
    }

    fn with(store: Store) -> Vault {
        Vault {
            canonical_path: std::fs::canonicalize(store.path()).ok(),
            store,
            closures: closure::Cache::new(),
            stamps: session::StampCache::default(),
            sessions: session::SessionCache::default(),
            infos: Mutex::default(),
        }
    }

    /// Creates a new store (and its parent directories); a file already there is an
    /// [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists) error.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &cfgvault::Options::new())?;
    /// assert_eq!(vault.stats()?.sessions, 0);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn create(path: impl AsRef<Path>, options: &Options) -> Result<Vault, Error> {
        Ok(Vault::with(Store::create(path, &options.store())?))
    }

    /// Opens an existing store; no file there is an
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) error.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let path = dir.path().join("store.redb");
    /// # drop(cfgvault::Vault::create(&path, &Default::default())?);
    /// let vault = cfgvault::Vault::open(&path, &cfgvault::Options::new())?;
    /// assert_eq!(vault.path(), path);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>, options: &Options) -> Result<Vault, Error> {
        Ok(Vault::with(Store::open(path, &options.store())?))
    }

    /// Opens a store, creating it when no file exists there.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// let path = dir.path().join(".cfgvault/store.redb");
    /// cfgvault::Vault::open_or_create(&path, &Default::default())?;
    /// assert!(path.exists());
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn open_or_create(path: impl AsRef<Path>, options: &Options) -> Result<Vault, Error> {
        Ok(Vault::with(Store::open_or_create(path, &options.store())?))
    }

    /// The path of the store file.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// let vault = cfgvault::Vault::create(dir.path().join("s.redb"), &Default::default())?;
    /// assert!(vault.path().ends_with("s.redb"));
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// Runs `op`, naming the store in a damaged-metadata error of the session layer (which
    /// knows the table and entry, not the file).
    pub(crate) fn in_store<T>(&self, op: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        op().map_err(|e| e.in_store(self.path()))
    }

    /// Every stored version of one config path, oldest first.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// let versions = vault.versions("workflows/react.yaml")?;
    /// assert_eq!(versions.len(), 1);
    /// assert_eq!(versions[0].sessions, 1);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn versions(&self, path: &str) -> Result<Vec<Version>, Error> {
        self.in_store(|| {
            Ok(session::versions(&self.store, path)?
                .into_iter()
                .map(Version::from)
                .collect())
        })
    }

    /// The versions of `path` and of the names it was renamed from (`log --follow`).
    pub fn versions_following(&self, path: &str) -> Result<crate::Followed, Error> {
        self.in_store(|| Ok(session::versions_following(&self.store, path)?.into()))
    }

    /// Sessions, newest first.
    ///
    /// ```
    /// use cfgvault::ListOptions;
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// let all = vault.sessions(&ListOptions::new())?;
    /// assert_eq!(all[0].id, id);
    /// assert!(vault.sessions(&ListOptions::new().label("user", "bob"))?.is_empty());
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn sessions(&self, options: &ListOptions) -> Result<Vec<SessionRecord>, Error> {
        self.in_store(|| Ok(session::list(&self.store, &options.session())?))
    }

    /// One session's record, with its closure details.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// let record = vault.session(&id)?;
    /// assert_eq!(record.workflow.as_deref(), Some("workflows/react.yaml"));
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn session(&self, id: &SessionId) -> Result<SessionRecord, Error> {
        self.in_store(|| Ok(session::get(&self.store, id)?))
    }

    /// The session whose id is `prefix` or, failing that, the one session whose id starts
    /// with it. No match is a `NotFound` error; several are an `InvalidInput` error whose
    /// [`Error::candidates`] lists them.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// assert_eq!(vault.resolve_session("react")?, id);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn resolve_session(&self, prefix: &str) -> Result<SessionId, Error> {
        self.in_store(|| {
            if let Ok(id) = prefix.parse::<SessionId>()
                && session::get(&self.store, &id).is_ok()
            {
                return Ok(id);
            }
            let all = session::list(&self.store, &session::ListOptions::default())?;
            let hits: Vec<SessionId> = all
                .into_iter()
                .map(|r| r.id)
                .filter(|id| id.as_str().starts_with(prefix))
                .collect();
            if hits.is_empty() {
                return Err(session::Error::SessionNotFound {
                    id: prefix.to_string(),
                }
                .into());
            }
            unique("session", prefix, hits)
        })
    }

    /// The object whose full id starts with `prefix` (at least 4 hex digits), among the
    /// files and roots of the stored sessions. No match is a `NotFound` error; several are
    /// an `InvalidInput` error whose [`Error::candidates`] lists them.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// let file = &vault.files(&id)?[0];
    /// assert_eq!(vault.resolve_object(&file.id.to_hex_with_len(12))?, file.id);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn resolve_object(&self, prefix: &str) -> Result<ObjectId, Error> {
        if let Ok(id) = prefix.parse::<ObjectId>() {
            return Ok(id);
        }
        let prefix = prefix.to_ascii_lowercase();
        if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::vault(VaultError::PrefixTooShort {
                what: "object id",
                prefix,
                min: 4,
            }));
        }
        let mut hits = std::collections::BTreeSet::new();
        for rec in session::list(&self.store, &session::ListOptions::default())? {
            if rec.root.to_string().starts_with(&prefix) {
                hits.insert(rec.root);
            }
            for f in session::files(&self.store, &rec.id)? {
                if f.id.to_string().starts_with(&prefix) {
                    hits.insert(f.id);
                }
            }
        }
        unique("object", &prefix, hits.into_iter().collect())
    }

    /// The files of a session.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// let files = vault.files(&id)?;
    /// assert_eq!(files[0].path, "workflows/react.yaml");
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn files(&self, id: &SessionId) -> Result<Vec<SessionFile>, Error> {
        self.in_store(|| {
            Ok(session::files(&self.store, id)?
                .into_iter()
                .map(SessionFile::from)
                .collect())
        })
    }

    /// The bytes of one file of a session.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// assert_eq!(vault.read_file(&id, "workflows/react.yaml")?, b"name: react\n");
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn read_file(&self, id: &SessionId, path: &str) -> Result<Vec<u8>, Error> {
        self.in_store(|| Ok(session::read_file(&self.store, id, path)?))
    }

    /// The bytes of one object (a blob, or a tree's encoding).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// let file = &vault.files(&id)?[0];
    /// assert_eq!(vault.read_object(&file.id)?, b"name: react\n");
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn read_object(&self, id: &ObjectId) -> Result<Vec<u8>, Error> {
        Ok(self.store.get(id)?)
    }

    /// Deletes sessions in one transaction; objects nobody else uses go with them. Every id
    /// must exist; pinned sessions are deleted too (pinning only protects from retention).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// let removed = vault.delete(&[id])?;
    /// assert!(removed.objects_freed > 0);
    /// assert_eq!(vault.stats()?.sessions, 0);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn delete(&self, ids: &[SessionId]) -> Result<Removed, Error> {
        self.in_store(|| self.freeing(|| Ok(session::delete(&self.store, ids)?.into()), || Ok(())))
    }

    /// Pins a session: retention (`cleanup_plan`) never removes it.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// vault.pin(&id)?;
    /// assert!(vault.session(&id)?.pinned);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn pin(&self, id: &SessionId) -> Result<(), Error> {
        self.in_store(|| Ok(session::set_pinned(&self.store, id, true)?))
    }

    /// Unpins a session.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// vault.pin(&id)?;
    /// vault.unpin(&id)?;
    /// assert!(!vault.session(&id)?.pinned);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn unpin(&self, id: &SessionId) -> Result<(), Error> {
        self.in_store(|| Ok(session::set_pinned(&self.store, id, false)?))
    }

    /// Replaces a session's labels, in one transaction. Keys hold at most 128 characters,
    /// values 1024, neither control characters.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// vault.set_labels(&id, [("user", "alice"), ("env", "prod")])?;
    /// assert_eq!(vault.session(&id)?.labels["env"], "prod");
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn set_labels<K: Into<String>, V: Into<String>>(
        &self,
        id: &SessionId,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), Error> {
        self.in_store(|| {
            let labels: BTreeMap<String, String> = labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect();
            session::set_labels(&self.store, id, |l| *l = labels)?;
            Ok(())
        })
    }

    /// Sets (`Some`) or removes (`None`) some of a session's labels, keeping the others, in
    /// one transaction; returns the labels now held.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// vault.set_labels(&id, [("user", "alice"), ("env", "prod")])?;
    /// let now = vault.update_labels(&id, [("env", None), ("team", Some("infra"))])?;
    /// assert_eq!(now.keys().collect::<Vec<_>>(), ["team", "user"]);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn update_labels<K: Into<String>, V: Into<String>>(
        &self,
        id: &SessionId,
        changes: impl IntoIterator<Item = (K, Option<V>)>,
    ) -> Result<BTreeMap<String, String>, Error> {
        self.in_store(|| {
            let changes: Vec<(String, Option<String>)> = changes
                .into_iter()
                .map(|(k, v)| (k.into(), v.map(Into::into)))
                .collect();
            Ok(session::set_labels(&self.store, id, |labels| {
                for (k, v) in changes {
                    match v {
                        Some(v) => labels.insert(k, v),
                        None => labels.remove(&k),
                    };
                }
            })?)
        })
    }

    /// What a retention policy would remove and free at time `now`, computed without writing.
    ///
    /// ```
    /// use cfgvault::RetentionPolicy;
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// let plan = vault.cleanup_plan(&RetentionPolicy::new().keep_last(0), cfgvault::Utc::now())?;
    /// assert_eq!(plan.remove, [id]);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn cleanup_plan(
        &self,
        policy: &crate::RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<CleanupPlan, Error> {
        self.in_store(|| Ok(session::retention::plan(&self.store, &policy.session(), now)?.into()))
    }

    /// Applies a plan in one transaction (sessions pinned or deleted since it was made are
    /// passed over).
    ///
    /// ```
    /// use cfgvault::RetentionPolicy;
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// let plan = vault.cleanup_plan(&RetentionPolicy::new().keep_last(0), cfgvault::Utc::now())?;
    /// vault.cleanup_apply(&plan)?;
    /// assert_eq!(vault.stats()?.sessions, 0);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn cleanup_apply(&self, plan: &CleanupPlan) -> Result<Removed, Error> {
        self.in_store(|| {
            self.freeing(
                || Ok(session::retention::apply(&self.store, &plan.session())?.into()),
                || Ok(()),
            )
        })
    }

    /// Sweeps unreferenced objects and compacts the file (after folding the session layer's
    /// pending version tallies into the version entries, so the compacted file holds none).
    /// `file_bytes_after` is the file's size on disk once the compaction is done.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// vault.delete(&[id])?;
    /// let report = vault.gc(&cfgvault::NoProgress)?;
    /// assert!(report.file_bytes_after > 0);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn gc(&self, progress: &dyn Progress) -> Result<GcReport, Error> {
        self.in_store(|| self.gc_freeing(progress))
    }

    fn gc_freeing(&self, progress: &dyn Progress) -> Result<GcReport, Error> {
        // On a full device: free first (compaction alone returns the pages deleted sessions
        // left), then the whole gc once more.
        let mut report = self.freeing(
            || {
                session::settle(&self.store)?;
                Ok(GcReport::from(self.store.gc(progress)?))
            },
            || {
                // Compaction that another process's snapshot holds up is left to the retry.
                let _ = self.store.shrink()?;
                Ok(())
            },
        )?;
        if let Ok(m) = std::fs::metadata(self.path()) {
            report.file_bytes_after = m.len();
        }
        Ok(report)
    }

    /// Re-hashes every object and recomputes every reference count (and repairs counts on
    /// request), then checks the sessions' records, indexes, totals and string table against
    /// each other and the sessions' trees (problems of kind `metadata`, not repaired).
    ///
    /// ```
    /// use cfgvault::VerifyOptions;
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// let report = vault.verify(&VerifyOptions::new(), &cfgvault::NoProgress)?;
    /// assert!(report.is_clean());
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn verify(
        &self,
        options: &VerifyOptions,
        progress: &dyn Progress,
    ) -> Result<VerifyReport, Error> {
        self.in_store(|| {
            let mut report = VerifyReport::from(self.store.verify(&options.store(), progress)?);
            report.add_session_problems(session::verify::verify(&self.store)?);
            Ok(report)
        })
    }

    /// Sessions, sizes and ratios.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// let stats = vault.stats()?;
    /// assert_eq!(stats.sessions, 1);
    /// assert!(stats.file_bytes > 0);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn stats(&self) -> Result<Stats, Error> {
        self.in_store(|| Ok(session::stats(&self.store)?.into()))
    }
}

fn unique<T: ToString>(what: &'static str, prefix: &str, mut hits: Vec<T>) -> Result<T, Error> {
    match hits.len() {
        0 => Err(Error::vault(VaultError::NoMatch {
            what,
            prefix: prefix.to_string(),
        })),
        1 => Ok(hits.remove(0)),
        _ => Err(Error::vault(VaultError::Ambiguous {
            what,
            prefix: prefix.to_string(),
            candidates: {
                let mut c: Vec<String> = hits.iter().map(ToString::to_string).collect();
                c.sort();
                c
            },
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BackupOptions;

    /// `Options::pack_bytes` reaches the store: 0 packs nothing, the default packs everything.
    #[test]
    fn pack_bytes_reaches_gc() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("configs");
        std::fs::create_dir_all(&root)?;
        std::fs::write(root.join("global.yaml"), "a: 1\n")?;
        let o = BackupOptions {
            strategy: closure::Strategy::Tree,
            ..BackupOptions::default()
        };
        for (name, pack_bytes) in [("none.redb", Some(0)), ("default.redb", None)] {
            let mut options = Options::default();
            if let Some(n) = pack_bytes {
                options.pack_bytes = n;
            }
            let vault = Vault::create(dir.path().join(name), &options)?;
            vault.backup(&root, None, &o)?;
            let g = vault.gc(&crate::NoProgress)?;
            assert_eq!(g.packs_written > 0, pack_bytes.is_none(), "{name}: {g:?}");
        }
        Ok(())
    }

    #[test]
    fn vault_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Vault>();
    }
}
