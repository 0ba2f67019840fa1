//! `Vault::backup`: the closure analysis, reading the files, the session, the report.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use cfgvault_closure as closure;
use cfgvault_session as session;

use super::Vault;
use crate::error::VaultError;
use crate::{BackedUpFile, BackupOptions, BackupReport, Error, Progress, SessionId, Utc};

impl Vault {
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
        self.in_store(|| {
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
        })
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
    use crate::Options;

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
}
