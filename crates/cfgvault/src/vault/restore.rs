//! Giving a session back: `Vault::restore`, `Vault::ensure` (restore with fallback, drift
//! reported with diffs), and the diffs themselves.

use std::path::{Path, PathBuf};

use cfgvault_session as session;

use super::Vault;
use crate::{
    Diff, DiffScope, DiffSide, EnsureFile, EnsureOptions, EnsureReport, EnsureStatus, Error,
    ObjectId, Overwrite, Progress, RestoreOptions, RestoreReport, SessionId,
};

impl Vault {
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
        self.in_store(|| {
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
                let report =
                    session::restore::restore_with(&self.store, id, &root, &ropts, progress)?;
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
        self.in_store(|| {
            let target = match target {
                Some(t) => t.as_ref().to_path_buf(),
                None => PathBuf::from(session::get(&self.store, id)?.source_root),
            };
            let report = session::restore::restore_with(
                &self.store,
                id,
                &target,
                &options.session(),
                progress,
            )?;
            Ok(RestoreReport::new(id.clone(), target, report))
        })
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
        self.in_store(|| Ok(session::diff::diff_sessions(&self.store, a, b)?.into()))
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
        self.in_store(|| Ok(session::diff::diff_dir(&self.store, a, dir.as_ref(), scope)?.into()))
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
        self.in_store(|| Ok(session::diff::unified(&self.store, old, new, path)?))
    }
}
