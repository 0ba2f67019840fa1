//! The embedding API: one `Vault` per store file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cfgvault_closure as closure;
use cfgvault_session as session;
use cfgvault_session::{SessionId, SessionRecord};
use cfgvault_store::{ObjectId, Progress, Store, StoreOptions};
use chrono::{DateTime, Utc};

use crate::Error;

/// How a vault is opened. Construct with `Options::default()` and set fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// zstd level for new objects. Default: 3.
    pub zstd_level: i32,
    /// zstd level at which `gc` compresses packs (objects compressed together). Default: 19.
    pub gc_zstd_level: i32,
    /// Most uncompressed bytes `gc` puts in one pack: larger packs compress better, and reading
    /// any file of a pack decodes the whole pack once per process (it is then cached). 0 leaves
    /// every object on its own. Default: 4 MiB.
    pub pack_bytes: u64,
    /// Largest single config file accepted. Default: 64 MiB.
    pub max_file_size: u64,
    /// Let several processes use the store at once (writers take turns). Default: `true`.
    pub shared: bool,
}

impl Default for Options {
    fn default() -> Self {
        let s = StoreOptions::default();
        Options {
            zstd_level: s.zstd_level,
            gc_zstd_level: s.gc_zstd_level,
            pack_bytes: s.pack_bytes,
            max_file_size: s.max_object_size,
            shared: s.shared,
        }
    }
}

impl Options {
    fn store(&self) -> StoreOptions {
        let mut s = StoreOptions::default();
        s.zstd_level = self.zstd_level;
        s.gc_zstd_level = self.gc_zstd_level;
        s.pack_bytes = self.pack_bytes;
        s.max_object_size = self.max_file_size;
        s.shared = self.shared;
        s
    }
}

/// What to back up and how to label it.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BackupOptions {
    /// The session's id. Default: generated from the workflow's name and the time.
    pub session_id: Option<SessionId>,
    /// How much of the closure to keep. Default: comprehensive.
    pub strategy: closure::Strategy,
    /// Glob patterns left out of the backup. Default: none.
    pub excludes: Vec<String>,
    /// Free-form labels stored with the session. Default: none.
    pub labels: BTreeMap<String, String>,
    /// The layout rules. Default: the built-in profile of the agent framework.
    pub profile: Option<closure::Profile>,
    /// The session's creation time. Default: now.
    pub created_at: Option<DateTime<Utc>>,
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackedUpFile {
    pub path: String,
    pub id: ObjectId,
    pub size: u64,
    /// Whether its content was new to the store.
    pub new: bool,
    /// What the closure analysis says the file is.
    pub kind: closure::FileKind,
}

/// What a backup stored and what it could not resolve.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub session: SessionRecord,
    pub files: Vec<BackedUpFile>,
    /// The full analysis, with every edge, dangling reference, parse error and cycle.
    pub closure: Arc<closure::Closure>,
    /// Objects (blobs and trees) added to the store.
    pub new_objects: u64,
    /// Stored bytes those objects take.
    pub bytes_added: u64,
}

/// How `ensure` treats files that differ from the session.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EnsureOptions {
    /// `if-unchanged` restores only missing files; `always` also overwrites drifted ones;
    /// `never` only reports. Default: `if-unchanged`.
    pub overwrite: session::restore::Overwrite,
    /// Attach a unified diff (session → disk) to each drifted file. Default: `false`.
    pub diff: bool,
}

/// The state of one file after `ensure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnsureStatus {
    /// It was missing (or drifted, under `always`) and was written back.
    Restored,
    /// It was present with the session's content.
    Ok,
    /// It is present with other content and was left alone.
    Drifted,
    /// It could not be checked or written.
    Failed(String),
}

/// One file of an `ensure` report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsureFile {
    pub path: String,
    pub status: EnsureStatus,
    /// For drifted files with `EnsureOptions::diff`: the unified diff session → disk.
    pub diff: Option<String>,
}

/// What `ensure` did, per file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsureReport {
    pub session: SessionId,
    pub root: PathBuf,
    pub files: Vec<EnsureFile>,
}

impl EnsureReport {
    fn with(&self, want: impl Fn(&EnsureStatus) -> bool) -> Vec<&str> {
        self.files
            .iter()
            .filter(|f| want(&f.status))
            .map(|f| f.path.as_str())
            .collect()
    }
    /// Paths written back.
    pub fn restored(&self) -> Vec<&str> {
        self.with(|s| *s == EnsureStatus::Restored)
    }
    /// Paths already as in the session.
    pub fn ok(&self) -> Vec<&str> {
        self.with(|s| *s == EnsureStatus::Ok)
    }
    /// Paths that differ from the session and were left alone.
    pub fn drifted(&self) -> Vec<&str> {
        self.with(|s| *s == EnsureStatus::Drifted)
    }
    /// Paths that could not be checked or written.
    pub fn failed(&self) -> Vec<&str> {
        self.with(|s| matches!(s, EnsureStatus::Failed(_)))
    }
}

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

    /// Creates a new store (and its parent directories).
    pub fn create(path: impl AsRef<Path>, options: &Options) -> Result<Vault, Error> {
        Ok(Vault::with(Store::create(path, &options.store())?))
    }

    /// Opens an existing store.
    pub fn open(path: impl AsRef<Path>, options: &Options) -> Result<Vault, Error> {
        Ok(Vault::with(Store::open(path, &options.store())?))
    }

    /// Opens a store, creating it when no file exists there.
    pub fn open_or_create(path: impl AsRef<Path>, options: &Options) -> Result<Vault, Error> {
        Ok(Vault::with(Store::open_or_create(path, &options.store())?))
    }

    /// The path of the store file.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// Resolves the closure of `workflow` (relative to `config_root`; `None` backs up every file
    /// under the root, which needs the `tree` strategy) and stores it as one session, in one
    /// transaction. Dangling references and unparsable files are reported, not fatal.
    pub fn backup(
        &self,
        config_root: &Path,
        workflow: Option<&str>,
        options: &BackupOptions,
    ) -> Result<BackupReport, Error> {
        let not_a_directory = || Error::NotADirectory {
            path: config_root.to_path_buf(),
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
                return Err(Error::WorkflowRequired {
                    strategy: options.strategy.to_string(),
                });
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
        // A store kept inside the config root (the default `.cfgvault/store.redb` under a
        // project directory) must not back itself up.
        let canon_root = seen.canonical_root().map(Path::to_path_buf);
        let own_file = canon_root.as_deref().and_then(|root| self.path_under(root));
        let paths: Vec<String> = analysis
            .files
            .iter()
            .map(|f| f.path.clone())
            .filter(|p| Some(p) != own_file.as_ref())
            .collect();
        // Read and hash before the write transaction, so the store is held only for the commit.
        let files = session::FileSet::read_seen(
            config_root,
            &session::Selection::Paths(paths),
            &self.stamps,
            &seen,
        )?;
        let created_at = options.created_at.unwrap_or_else(Utc::now);
        let id = match &options.session_id {
            Some(id) => id.clone(),
            None => SessionId::generate(&id_prefix(workflow), created_at),
        };
        let source_root = canon_root
            .unwrap_or_else(|| config_root.to_path_buf())
            .to_string_lossy()
            .into_owned();
        let mut new = session::NewSession::new(files);
        new.id = Some(id);
        new.created_at = created_at;
        new.source_root = source_root;
        new.workflow = workflow.map(str::to_string);
        new.strategy = options.strategy.to_string();
        new.closure = self.closure_info(&analysis);
        new.labels = options.labels.clone();
        let created = session::create_cached(&self.store, new, &self.sessions)?;
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
        Ok(BackupReport {
            session: created.record,
            files,
            closure: analysis,
            new_objects: created.commit.objects_added,
            bytes_added: created.commit.bytes_added,
        })
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
    /// reported (with a diff on request) and left alone unless `overwrite` is `always`.
    /// `config_root` defaults to the root the session was taken from.
    pub fn ensure(
        &self,
        id: &SessionId,
        config_root: Option<&Path>,
        options: &EnsureOptions,
    ) -> Result<EnsureReport, Error> {
        let record = session::get(&self.store, id)?;
        let root = config_root
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(&record.source_root));
        let mut ropts = session::restore::Options::default();
        ropts.overwrite = options.overwrite;
        let report = session::restore::restore(&self.store, id, &root, &ropts)?;
        let mut files = Vec::with_capacity(report.files.len());
        for f in report.files {
            use session::restore::Action;
            let (status, diff) = match f.action {
                Action::Restored => (EnsureStatus::Restored, None),
                Action::Unchanged => (EnsureStatus::Ok, None),
                Action::SkippedChanged => {
                    let diff = if options.diff {
                        Some(self.drift_diff(id, &root, &f.path)?)
                    } else {
                        None
                    };
                    (EnsureStatus::Drifted, diff)
                }
                Action::Failed(why) => (EnsureStatus::Failed(why), None),
            };
            files.push(EnsureFile {
                path: f.path,
                status,
                diff,
            });
        }
        Ok(EnsureReport {
            session: id.clone(),
            root,
            files,
        })
    }

    fn drift_diff(&self, id: &SessionId, root: &Path, path: &str) -> Result<String, Error> {
        use session::diff::Side;
        Ok(session::diff::unified(
            &self.store,
            Side::Session(id),
            Side::Dir(root),
            path,
        )?)
    }

    /// Restores a session (or some of its paths) into `target` (default: its source root).
    pub fn restore(
        &self,
        id: &SessionId,
        target: Option<&Path>,
        options: &session::restore::Options,
    ) -> Result<session::restore::Report, Error> {
        let target = match target {
            Some(t) => t.to_path_buf(),
            None => PathBuf::from(session::get(&self.store, id)?.source_root),
        };
        Ok(session::restore::restore(
            &self.store,
            id,
            &target,
            options,
        )?)
    }

    /// Added, removed and modified paths from session `a` to session `b`.
    pub fn diff(&self, a: &SessionId, b: &SessionId) -> Result<session::diff::Diff, Error> {
        Ok(session::diff::diff_sessions(&self.store, a, b)?)
    }

    /// Added, removed and modified paths from session `a` to what is on disk under `dir`:
    /// the session's paths only (`Scope::Session`), or every file under `dir` (`Scope::All`).
    pub fn diff_dir(
        &self,
        a: &SessionId,
        dir: &Path,
        scope: session::diff::Scope,
    ) -> Result<session::diff::Diff, Error> {
        Ok(session::diff::diff_dir(&self.store, a, dir, scope)?)
    }

    /// A unified diff of one path between two sides (a session or a directory).
    pub fn unified(
        &self,
        old: session::diff::Side<'_>,
        new: session::diff::Side<'_>,
        path: &str,
    ) -> Result<String, Error> {
        Ok(session::diff::unified(&self.store, old, new, path)?)
    }

    /// Every stored version of one config path, oldest first.
    pub fn versions(&self, path: &str) -> Result<Vec<session::Version>, Error> {
        Ok(session::versions(&self.store, path)?)
    }

    /// Sessions, newest first.
    pub fn sessions(&self, options: &session::ListOptions) -> Result<Vec<SessionRecord>, Error> {
        Ok(session::list(&self.store, options)?)
    }

    /// One session's record.
    pub fn session(&self, id: &SessionId) -> Result<SessionRecord, Error> {
        Ok(session::get(&self.store, id)?)
    }

    /// The files of a session.
    pub fn files(&self, id: &SessionId) -> Result<Vec<session::TreeFile>, Error> {
        Ok(session::files(&self.store, id)?)
    }

    /// The bytes of one file of a session.
    pub fn read_file(&self, id: &SessionId, path: &str) -> Result<Vec<u8>, Error> {
        Ok(session::read_file(&self.store, id, path)?)
    }

    /// The bytes of one object (a blob, or a tree's encoding).
    pub fn read_object(&self, id: &ObjectId) -> Result<Vec<u8>, Error> {
        Ok(self.store.get(id)?)
    }

    /// Deletes sessions in one transaction; objects nobody else uses go with them.
    pub fn delete(&self, ids: &[SessionId]) -> Result<cfgvault_store::CommitOutcome, Error> {
        Ok(session::delete(&self.store, ids)?)
    }

    /// What a retention policy would remove and free, computed without writing.
    pub fn cleanup_plan(
        &self,
        policy: &session::retention::Policy,
        now: DateTime<Utc>,
    ) -> Result<session::retention::Plan, Error> {
        Ok(session::retention::plan(&self.store, policy, now)?)
    }

    /// Applies a plan in one transaction.
    pub fn cleanup_apply(
        &self,
        plan: &session::retention::Plan,
    ) -> Result<cfgvault_store::CommitOutcome, Error> {
        Ok(session::retention::apply(&self.store, plan)?)
    }

    /// Sweeps unreferenced objects and compacts the file (after folding the session layer's
    /// pending version tallies into the version entries, so the compacted file holds none).
    pub fn gc(&self, progress: &dyn Progress) -> Result<cfgvault_store::gc::Outcome, Error> {
        session::settle(&self.store)?;
        Ok(self.store.gc(progress)?)
    }

    /// Re-hashes every object and recomputes every reference count (and repairs counts on
    /// request).
    pub fn verify(
        &self,
        options: &cfgvault_store::verify::Options,
        progress: &dyn Progress,
    ) -> Result<cfgvault_store::verify::Outcome, Error> {
        Ok(self.store.verify(options, progress)?)
    }

    /// Sessions, sizes and ratios.
    pub fn stats(&self) -> Result<session::SessionStats, Error> {
        Ok(session::stats(&self.store)?)
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
    fn a_store_inside_the_root_does_not_back_itself_up() -> Result<(), Error> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            action: "create temp dir",
            path: PathBuf::new(),
            source,
        })?;
        let root = dir.path();
        std::fs::write(root.join("global.yaml"), "a: 1\n").map_err(|source| Error::Io {
            action: "write",
            path: root.join("global.yaml"),
            source,
        })?;
        let vault = Vault::create(root.join(".cfgvault/store.redb"), &Options::default())?;
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
    fn pack_bytes_reaches_gc() -> Result<(), Error> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            action: "create temp dir",
            path: PathBuf::new(),
            source,
        })?;
        let root = dir.path().join("configs");
        std::fs::create_dir_all(&root).map_err(|source| Error::Io {
            action: "create",
            path: root.clone(),
            source,
        })?;
        std::fs::write(root.join("global.yaml"), "a: 1\n").map_err(|source| Error::Io {
            action: "write",
            path: root.join("global.yaml"),
            source,
        })?;
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
            let g = vault.gc(&cfgvault_store::NoProgress)?;
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
