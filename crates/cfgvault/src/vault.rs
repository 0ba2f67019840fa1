//! The embedding API: one `Vault` per store file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cfgvault_closure as closure;
use cfgvault_session as session;
use cfgvault_store::Store;

use crate::error::VaultError;
use crate::{
    BackedUpFile, BackupOptions, BackupReport, CleanupPlan, DateTime, Diff, DiffScope, DiffSide,
    EnsureFile, EnsureOptions, EnsureReport, EnsureStatus, Error, GcReport, ListOptions, ObjectId,
    Options, Overwrite, Progress, Removed, RestoreOptions, RestoreReport, SessionFile, SessionId,
    SessionRecord, Stats, Utc, VerifyOptions, VerifyReport, Version,
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

    /// Resolves the closure of `workflow` (relative to `config_root`; `None` backs up every file
    /// under the root, which needs the `tree` strategy) and stores it as one session, in one
    /// transaction. Dangling references and unparsable files are reported, not fatal.
    ///
    /// ```
    /// use cfgvault::BackupOptions;
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// let options = BackupOptions::new().label("user", "alice");
    /// let report = vault.backup(&root, Some("workflows/react.yaml"), &options)?;
    /// assert_eq!(report.files[0].path, "workflows/react.yaml");
    /// assert_eq!(report.session.labels["user"], "alice");
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn backup(
        &self,
        config_root: impl AsRef<Path>,
        workflow: Option<&str>,
        options: &BackupOptions,
    ) -> Result<BackupReport, Error> {
        self.backup_with(config_root.as_ref(), workflow, options, &crate::NoProgress)
    }

    /// [`Vault::backup`] reporting each file read to `progress` (phase `read`), which may
    /// cancel it: a cancelled backup stores nothing.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// let stop = std::sync::atomic::AtomicBool::new(true);
    /// let err = vault
    ///     .backup_with(&root, Some("workflows/react.yaml"), &Default::default(), &stop)
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), cfgvault::ErrorKind::Cancelled);
    /// assert_eq!(vault.stats()?.sessions, 0);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn backup_with(
        &self,
        config_root: impl AsRef<Path>,
        workflow: Option<&str>,
        options: &BackupOptions,
        progress: &dyn Progress,
    ) -> Result<BackupReport, Error> {
        let config_root = config_root.as_ref();
        for (k, v) in &options.labels {
            session::validate_label(k, v)?;
        }
        let (analysis, seen) = self.analyse(config_root, workflow, options)?;
        let files = self.read_files(config_root, &analysis, &seen, progress)?;
        // The last point a backup can stop: past it, the commit stores the session.
        if progress.should_cancel() {
            return Err(cfgvault_store::Error::Cancelled.into());
        }
        let new = self.new_session(files, config_root, workflow, options, &analysis, &seen);
        let created = session::create_cached(&self.store, new, &self.sessions)?;
        Ok(backup_report(created, analysis))
    }

    /// A backup's first phase: the closure analysis of `workflow` (or the whole tree), and
    /// what it has just checked on disk.
    fn analyse(
        &self,
        config_root: &Path,
        workflow: Option<&str>,
        options: &BackupOptions,
    ) -> Result<(Arc<closure::Closure>, session::Seen), Error> {
        let not_a_directory = || {
            if config_root.exists() {
                Error::vault(VaultError::NotADirectory {
                    path: config_root.to_path_buf(),
                })
            } else {
                Error::vault(VaultError::RootMissing {
                    path: config_root.to_path_buf(),
                })
            }
        };
        let mut copts = closure::Options::default();
        copts.strategy = options.strategy.clone();
        copts.excludes = options.excludes.clone();
        if let Some(p) = &options.profile {
            copts.profile = p.clone();
        }
        let analysis = match workflow {
            Some(wf) => closure::resolve_checked(config_root, wf, &copts, &self.closures)
                .map(|(c, checked)| (c, Some(checked))),
            None if options.strategy == closure::Strategy::Tree => {
                closure::resolve_tree(config_root, &copts).map(|c| (Arc::new(c), None))
            }
            None if !config_root.is_dir() => return Err(not_a_directory()),
            None => {
                return Err(Error::vault(VaultError::WorkflowRequired {
                    strategy: options.strategy.to_string(),
                }));
            }
        };
        // The analysis stats the root first: a root that is not a directory is told apart
        // only when it fails (one `stat` fewer per backup).
        let (analysis, checked) = match analysis {
            Ok(a) => a,
            Err(_) if !config_root.is_dir() => return Err(not_a_directory()),
            Err(e) => return Err(e.into()),
        };
        // What the analysis has just checked on disk need not be looked at again (for a kept
        // analysis: the folders on the way to its files, and every file it parsed).
        let seen = match checked {
            Some(c) => session::Seen::new(c.canonical_root, c.folders_real, c.files),
            None => match std::fs::canonicalize(config_root) {
                Ok(c) => session::Seen::new(c, false, Vec::new()),
                Err(_) => session::Seen::nothing(),
            },
        };
        Ok((analysis, seen))
    }

    /// A backup's second phase: reads and hashes the analysis's files, before the write
    /// transaction, so the store is held only for the commit. Each file read is one unit of
    /// progress (phase `read`).
    fn read_files(
        &self,
        config_root: &Path,
        analysis: &closure::Closure,
        seen: &session::Seen,
        progress: &dyn Progress,
    ) -> Result<session::FileSet, Error> {
        // A store kept inside the config root (the default `.cfgvault/store.redb` under a
        // project directory) must not back itself up.
        let own_file = seen.canonical_root().and_then(|root| self.path_under(root));
        let paths: Vec<String> = analysis
            .files
            .iter()
            .map(|f| f.path.clone())
            .filter(|p| Some(p) != own_file.as_ref())
            .collect();
        progress.start("read", Some(paths.len() as u64));
        // The store's own files are passed over whatever path reaches them (a symlink, a hard
        // link, its temporary files).
        Ok(session::FileSet::read_seen_with(
            config_root,
            &session::Selection::Paths(paths),
            &self.stamps,
            seen,
            &session::StoreFiles::of(self.store.path()),
            progress,
        )?)
    }

    /// A backup's session: `files`, with its id, time, source, strategy, closure and labels.
    fn new_session(
        &self,
        files: session::FileSet,
        config_root: &Path,
        workflow: Option<&str>,
        options: &BackupOptions,
        analysis: &Arc<closure::Closure>,
        seen: &session::Seen,
    ) -> session::NewSession {
        let created_at = options.created_at.unwrap_or_else(Utc::now);
        let id = match &options.session_id {
            Some(id) => id.clone(),
            None => SessionId::generate(&id_prefix(workflow), created_at),
        };
        let mut new = session::NewSession::new(files);
        new.id = Some(id);
        new.created_at = created_at;
        new.source_root = (seen.canonical_root().unwrap_or(config_root))
            .to_string_lossy()
            .into_owned();
        new.workflow = workflow.map(str::to_string);
        new.strategy = options.strategy.to_string();
        new.closure = self.closure_info(analysis);
        new.labels = options.labels.clone();
        new
    }

    /// `closure_info(analysis)`, kept for the latest few analyses.
    fn closure_info(&self, analysis: &Arc<closure::Closure>) -> Arc<session::ClosureInfo> {
        let mut kept = self.infos.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = kept.iter().position(|(a, _)| Arc::ptr_eq(a, analysis)) {
            let found = kept.remove(i);
            let info = found.1.clone();
            kept.insert(0, found);
            return info;
        }
        let info = Arc::new(closure_info(analysis));
        kept.truncate(KEPT_INFOS - 1);
        kept.insert(0, (analysis.clone(), info.clone()));
        info
    }

    /// The store file's path relative to the canonical `root`, `/`-separated, when it lies
    /// inside it.
    fn path_under(&self, root: &Path) -> Option<String> {
        let rel = self.canonical_path.as_deref()?.strip_prefix(root).ok()?;
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        Some(parts?.join("/"))
    }

    /// Brings a session's configs back where they are missing (the restore-with-fallback of a
    /// resumed session): missing files are restored, identical ones are left, drifted ones are
    /// reported (with a diff on request) and left alone unless `overwrite` is `Always`. With
    /// `dry_run` nothing is written: the report says what would be restored and what drifted.
    /// `config_root` defaults to the root the session was taken from.
    ///
    /// ```
    /// use cfgvault::EnsureOptions;
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// std::fs::remove_file(root.join("workflows/react.yaml")).expect("rm");
    /// let preview = vault.ensure(&id, None::<&std::path::Path>, &EnsureOptions::new().dry_run(true))?;
    /// assert_eq!(preview.restored(), ["workflows/react.yaml"]);
    /// assert!(!root.join("workflows/react.yaml").exists());
    /// vault.ensure(&id, None::<&std::path::Path>, &EnsureOptions::new())?;
    /// assert!(root.join("workflows/react.yaml").exists());
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn ensure(
        &self,
        id: &SessionId,
        config_root: Option<impl AsRef<Path>>,
        options: &EnsureOptions,
    ) -> Result<EnsureReport, Error> {
        self.ensure_with(id, config_root, options, &crate::NoProgress)
    }

    /// [`Vault::ensure`] telling `progress` of each file checked (phase `write`, or `check`
    /// in a dry run; one unit per file), which may stop it before any file: a cancelled
    /// ensure is [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled), the files written
    /// before it are whole and the others untouched (no partial or temporary file is left).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// std::fs::remove_file(root.join("workflows/react.yaml")).expect("rm");
    /// let stop = std::sync::atomic::AtomicBool::new(true);
    /// let err = vault.ensure_with(&id, Some(&root), &Default::default(), &stop).unwrap_err();
    /// assert_eq!(err.kind(), cfgvault::ErrorKind::Cancelled);
    /// assert!(!root.join("workflows/react.yaml").exists());
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn ensure_with(
        &self,
        id: &SessionId,
        config_root: Option<impl AsRef<Path>>,
        options: &EnsureOptions,
        progress: &dyn Progress,
    ) -> Result<EnsureReport, Error> {
        let record = session::get(&self.store, id)?;
        let root = match config_root {
            Some(r) => r.as_ref().to_path_buf(),
            None => PathBuf::from(&record.source_root),
        };
        let statuses: Vec<(String, EnsureStatus)> = if options.dry_run {
            self.ensure_preview(id, &root, options.overwrite, progress)?
        } else {
            let mut ropts = session::restore::Options::default();
            ropts.overwrite = options.overwrite;
            let report = session::restore::restore_with(&self.store, id, &root, &ropts, progress)?;
            report
                .files
                .into_iter()
                .map(|f| {
                    use session::restore::Action;
                    let status = match f.action {
                        Action::Restored => EnsureStatus::Restored,
                        Action::Unchanged => EnsureStatus::Ok,
                        Action::SkippedChanged => EnsureStatus::Drifted,
                        Action::Failed(why) => EnsureStatus::Failed(why),
                    };
                    (f.path, status)
                })
                .collect()
        };
        let mut files = Vec::with_capacity(statuses.len());
        for (path, status) in statuses {
            let (diff, changes) = if options.diff && status == EnsureStatus::Drifted {
                use session::diff::Side;
                let diff = self.drift_diff(id, &root, &path)?;
                let changes = session::diff::file_changes(
                    &self.store,
                    Side::Session(id),
                    Side::Dir(&root),
                    &path,
                )?;
                (Some(diff), changes)
            } else {
                (None, None)
            };
            files.push(EnsureFile {
                path,
                status,
                diff,
                changes,
            });
        }
        Ok(EnsureReport {
            session: id.clone(),
            root,
            dry_run: options.dry_run,
            files,
        })
    }

    /// What `ensure` would make of each file of the session, reading only.
    fn ensure_preview(
        &self,
        id: &SessionId,
        root: &Path,
        overwrite: Overwrite,
        progress: &dyn Progress,
    ) -> Result<Vec<(String, EnsureStatus)>, Error> {
        let files = session::files(&self.store, id)?;
        progress.start("check", Some(files.len() as u64));
        let mut out = Vec::with_capacity(files.len());
        for f in files {
            if progress.should_cancel() {
                return Err(cfgvault_store::Error::Cancelled.into());
            }
            let on_disk = root.join(&f.path);
            let status = match std::fs::symlink_metadata(&on_disk) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => EnsureStatus::Restored,
                Err(e) => EnsureStatus::Failed(format!("could not stat: {e}")),
                Ok(m) if !m.is_file() => EnsureStatus::Failed("not a regular file".into()),
                Ok(_) => match std::fs::read(&on_disk) {
                    Err(e) => EnsureStatus::Failed(format!("could not read: {e}")),
                    Ok(bytes) if ObjectId::for_blob(&bytes) == f.id => EnsureStatus::Ok,
                    Ok(_) if overwrite == Overwrite::Always => EnsureStatus::Restored,
                    Ok(_) => EnsureStatus::Drifted,
                },
            };
            out.push((f.path, status));
            progress.inc(1);
        }
        Ok(out)
    }

    fn drift_diff(&self, id: &SessionId, root: &Path, path: &str) -> Result<String, Error> {
        Ok(session::diff::unified(
            &self.store,
            DiffSide::Session(id),
            DiffSide::Dir(root),
            path,
        )?)
    }

    /// Restores a session (or some of its paths) into `target` (default: its source root).
    ///
    /// ```
    /// use cfgvault::{RestoreAction, RestoreOptions};
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// let elsewhere = dir.path().join("copy");
    /// let report = vault.restore(&id, Some(&elsewhere), &RestoreOptions::new())?;
    /// assert_eq!(report.with(RestoreAction::Restored), ["workflows/react.yaml"]);
    /// assert!(elsewhere.join("workflows/react.yaml").exists());
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn restore(
        &self,
        id: &SessionId,
        target: Option<impl AsRef<Path>>,
        options: &RestoreOptions,
    ) -> Result<RestoreReport, Error> {
        self.restore_with(id, target, options, &crate::NoProgress)
    }

    /// [`Vault::restore`] telling `progress` of each file (phase `write`, one unit per file),
    /// which may stop it before any file: a cancelled restore is
    /// [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled), the files written before it are
    /// whole and the others untouched (no partial or temporary file is left).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// let elsewhere = dir.path().join("copy");
    /// let stop = std::sync::atomic::AtomicBool::new(true);
    /// let err = vault.restore_with(&id, Some(&elsewhere), &Default::default(), &stop).unwrap_err();
    /// assert_eq!(err.kind(), cfgvault::ErrorKind::Cancelled);
    /// assert!(!elsewhere.join("workflows/react.yaml").exists());
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn restore_with(
        &self,
        id: &SessionId,
        target: Option<impl AsRef<Path>>,
        options: &RestoreOptions,
        progress: &dyn Progress,
    ) -> Result<RestoreReport, Error> {
        let target = match target {
            Some(t) => t.as_ref().to_path_buf(),
            None => PathBuf::from(session::get(&self.store, id)?.source_root),
        };
        let report =
            session::restore::restore_with(&self.store, id, &target, &options.session(), progress)?;
        Ok(RestoreReport::new(id.clone(), target, report))
    }

    /// Added, removed and modified paths from session `a` to session `b`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// std::fs::write(root.join("workflows/react.yaml"), "name: react2\n").expect("write");
    /// let b = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// assert_eq!(vault.diff(&id, &b)?.modified, ["workflows/react.yaml"]);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn diff(&self, a: &SessionId, b: &SessionId) -> Result<Diff, Error> {
        Ok(session::diff::diff_sessions(&self.store, a, b)?.into())
    }

    /// Added, removed and modified paths from session `a` to what is on disk under `dir`:
    /// the session's paths only (`DiffScope::Session`), or every file under `dir`
    /// (`DiffScope::All`).
    ///
    /// ```
    /// use cfgvault::DiffScope;
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// std::fs::write(root.join("notes.yaml"), "a: 1\n").expect("write");
    /// assert!(vault.diff_dir(&id, &root, DiffScope::Session)?.is_empty());
    /// assert_eq!(vault.diff_dir(&id, &root, DiffScope::All)?.added, ["notes.yaml"]);
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn diff_dir(
        &self,
        a: &SessionId,
        dir: impl AsRef<Path>,
        scope: DiffScope,
    ) -> Result<Diff, Error> {
        Ok(session::diff::diff_dir(&self.store, a, dir.as_ref(), scope)?.into())
    }

    /// A unified diff of one path between two sides (a session or a directory).
    ///
    /// ```
    /// use cfgvault::DiffSide;
    /// # let dir = tempfile::tempdir().expect("temp dir");
    /// # let root = dir.path().join("configs");
    /// # std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    /// # std::fs::write(root.join("workflows/react.yaml"), "name: react\n").expect("write");
    /// # let vault = cfgvault::Vault::create(dir.path().join("store.redb"), &Default::default())?;
    /// # let id = vault.backup(&root, Some("workflows/react.yaml"), &Default::default())?.session.id;
    /// std::fs::write(root.join("workflows/react.yaml"), "name: other\n").expect("write");
    /// let patch = vault.unified(DiffSide::Session(&id), DiffSide::Dir(&root), "workflows/react.yaml")?;
    /// assert!(patch.contains("+name: other"));
    /// # Ok::<(), cfgvault::Error>(())
    /// ```
    pub fn unified(
        &self,
        old: DiffSide<'_>,
        new: DiffSide<'_>,
        path: &str,
    ) -> Result<String, Error> {
        Ok(session::diff::unified(&self.store, old, new, path)?)
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
        Ok(session::versions(&self.store, path)?
            .into_iter()
            .map(Version::from)
            .collect())
    }

    /// The versions of `path` and of the names it was renamed from (`log --follow`).
    pub fn versions_following(&self, path: &str) -> Result<crate::Followed, Error> {
        Ok(session::versions_following(&self.store, path)?.into())
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
        Ok(session::list(&self.store, &options.session())?)
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
        Ok(session::get(&self.store, id)?)
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
        Ok(session::files(&self.store, id)?
            .into_iter()
            .map(SessionFile::from)
            .collect())
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
        Ok(session::read_file(&self.store, id, path)?)
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
        Ok(session::delete(&self.store, ids)?.into())
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
        Ok(session::set_pinned(&self.store, id, true)?)
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
        Ok(session::set_pinned(&self.store, id, false)?)
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
        let labels: BTreeMap<String, String> = labels
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        session::set_labels(&self.store, id, |l| *l = labels)?;
        Ok(())
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
        Ok(session::retention::plan(&self.store, &policy.session(), now)?.into())
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
        Ok(session::retention::apply(&self.store, &plan.session())?.into())
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
        session::settle(&self.store)?;
        let mut report = GcReport::from(self.store.gc(progress)?);
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
        let mut report = VerifyReport::from(self.store.verify(&options.store(), progress)?);
        report.add_session_problems(session::verify::verify(&self.store)?);
        Ok(report)
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
        Ok(session::stats(&self.store)?.into())
    }
}

/// The one id of `hits`, or the error naming none or all of them.
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

/// What a backup reports: the session, each file with its kind in the analysis, and what the
/// commit added.
fn backup_report(created: session::Created, analysis: Arc<closure::Closure>) -> BackupReport {
    let kinds: BTreeMap<&str, closure::FileKind> = analysis
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.kind))
        .collect();
    let files = created
        .files
        .iter()
        .map(|f| BackedUpFile {
            path: f.path.clone(),
            id: f.id,
            size: f.size,
            new: f.new,
            kind: kinds
                .get(f.path.as_str())
                .copied()
                .unwrap_or(closure::FileKind::Other),
        })
        .collect();
    let details = created.record.closure.clone().unwrap_or_default();
    BackupReport {
        session: created.record,
        files,
        unresolved: details.unresolved.clone(),
        warnings: details.warnings.clone(),
        closure: analysis,
        new_objects: created.commit.objects_added,
        bytes_added: created.commit.bytes_added,
    }
}

/// The prefix of a generated session id: the workflow's file stem, or `tree`.
fn id_prefix(workflow: Option<&str>) -> String {
    let stem = workflow
        .and_then(|w| w.rsplit('/').next())
        .map(|n| {
            n.strip_suffix(".yaml")
                .or_else(|| n.strip_suffix(".yml"))
                .unwrap_or(n)
        })
        .unwrap_or("tree");
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    if clean.is_empty() {
        "session".into()
    } else {
        clean
    }
}

/// Most analyses whose [`session::ClosureInfo`] a [`Vault`] keeps.
const KEPT_INFOS: usize = 8;

fn closure_info(c: &closure::Closure) -> session::ClosureInfo {
    session::ClosureInfo {
        deps: c.files.iter().map(|f| f.path.clone()).collect(),
        edges: c
            .edges
            .iter()
            .map(|e| session::EdgeInfo {
                from: e.from.clone(),
                key: e.key.clone(),
                value: e.value.clone(),
                to: e.to.clone(),
                rule: e.rule.clone(),
            })
            .collect(),
        unresolved: c
            .unresolved
            .iter()
            .map(|u| session::UnresolvedInfo {
                from: u.from.clone(),
                key: u.key.clone(),
                value: u.value.clone(),
                reason: u.reason.clone(),
            })
            .collect(),
        warnings: c
            .parse_errors
            .iter()
            .map(|p| match (p.line, p.column) {
                (Some(l), Some(col)) => format!("{}:{l}:{col}: {}", p.path, p.message),
                _ => format!("{}: {}", p.path, p.message),
            })
            .chain(
                c.cycles
                    .iter()
                    .map(|cy| format!("reference cycle: {}", cy.join(" -> "))),
            )
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_id_prefixes_are_valid_session_id_material() {
        assert_eq!(id_prefix(Some("workflows/react.yaml")), "react");
        assert_eq!(
            id_prefix(Some("workflows/DS-R1(qwen2.5).yaml")),
            "DS-R1-qwen2-5-"
        );
        assert_eq!(id_prefix(None), "tree");
        assert_eq!(id_prefix(Some("workflows/.yaml")), "session");
    }

    #[test]
    fn a_store_inside_the_root_does_not_back_itself_up() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        std::fs::write(root.join("global.yaml"), "a: 1\n")?;
        let vault = Vault::create(root.join(".cfgvault/store.redb"), &Options::default())?;
        // Nor through a symlink in the root pointing at it (issue 22).
        #[cfg(unix)]
        std::os::unix::fs::symlink(".cfgvault/store.redb", root.join("live.redb"))?;
        let o = BackupOptions {
            strategy: closure::Strategy::Tree,
            ..BackupOptions::default()
        };
        let r = vault.backup(root, None, &o)?;
        let paths: Vec<&str> = r.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["global.yaml"]);
        Ok(())
    }

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
