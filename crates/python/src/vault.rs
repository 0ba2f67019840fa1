//! `cfgvault.Vault`: one open store, shared by every thread of the interpreter.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cfgvault::remote::Remote;
use cfgvault::{DateTime, Utc};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::args;
use crate::errors::{self, Class};
use crate::progress::PyProgress;
use crate::report::{self, report};

/// An open cfgvault store. The store file is opened (or created) by the constructor and
/// released by `close()` or at the end of a `with` block; one `Vault` may be shared by any
/// number of threads (writers take turns inside the library, readers run in parallel).
#[pyclass(module = "cfgvault", frozen)]
pub(crate) struct Vault {
    path: PathBuf,
    inner: RwLock<Option<Arc<cfgvault::Vault>>>,
}

/// Runs `f` on the library's vault with the GIL released, and turns its error into an
/// exception.
fn run<T: Send>(
    py: Python<'_>,
    vault: Arc<cfgvault::Vault>,
    f: impl Send + FnOnce(&cfgvault::Vault) -> Result<T, cfgvault::Error>,
) -> PyResult<T> {
    py.detach(move || f(&vault)).map_err(errors::to_py)
}

/// The remote at `url`, with the key from the environment as the library reads it.
fn open_remote(url: &str) -> Result<Remote, cfgvault::Error> {
    Ok(Remote::open(url)?)
}

/// Session ids as the `str`s Python sees.
fn ids_of(ids: &[cfgvault::SessionId]) -> Vec<String> {
    ids.iter().map(|i| i.as_str().to_owned()).collect()
}

impl Vault {
    /// The library's vault, or `InvalidInput` once closed.
    pub(crate) fn handle(&self) -> PyResult<Arc<cfgvault::Vault>> {
        let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
        guard.clone().ok_or_else(|| {
            errors::raise(
                Class::InvalidInput,
                format!("vault '{}' is closed", self.path.display()),
            )
        })
    }
}

#[pymethods]
impl Vault {
    /// Opens the store at `path`, creating it (and its parent folders) when no file is there;
    /// with `create=False` a missing store raises `NotFound`. `shared=False` holds the file
    /// exclusively: other openers get `StoreBusy` until it is closed.
    #[new]
    #[pyo3(signature = (path, *, create = true, shared = true))]
    fn new(py: Python<'_>, path: PathBuf, create: bool, shared: bool) -> PyResult<Vault> {
        let options = cfgvault::Options::new().shared(shared);
        let vault = py
            .detach(|| {
                if create {
                    cfgvault::Vault::open_or_create(&path, &options)
                } else {
                    cfgvault::Vault::open(&path, &options)
                }
            })
            .map_err(errors::to_py)?;
        Ok(Vault {
            path,
            inner: RwLock::new(Some(Arc::new(vault))),
        })
    }

    /// The store file's path.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Whether `close()` has been called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// Releases the store file once the calls running in other threads have finished. Later
    /// calls raise `InvalidInput`; closing twice is allowed.
    fn close(&self) {
        let taken = self.inner.write().unwrap_or_else(|p| p.into_inner()).take();
        drop(taken);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        let state = if self.closed() { "closed" } else { "open" };
        format!("<cfgvault.Vault '{}' ({state})>", self.path.display())
    }

    /// Resolves the closure of `workflow` (relative to `root`) and stores it as one session,
    /// in one transaction. Without a workflow every file under `root` is stored (the `tree`
    /// strategy, the default then). Dangling references are reported in `.unresolved`, not
    /// raised. `progress(phase, done, total)` is called as files are read; an exception
    /// raised in it cancels the backup (nothing stored) and propagates.
    #[pyo3(signature = (
        root, workflow = None, *, session = None, strategy = None, exclude = Vec::new(),
        labels = None, created_at = None, progress = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn backup<'py>(
        &self,
        py: Python<'py>,
        root: PathBuf,
        workflow: Option<PathBuf>,
        session: Option<&Bound<'py, PyAny>>,
        strategy: Option<&str>,
        exclude: Vec<String>,
        labels: Option<BTreeMap<String, String>>,
        created_at: Option<DateTime<Utc>>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let workflow = workflow.as_deref().map(args::relative).transpose()?;
        let strategy = match (strategy, &workflow) {
            (Some(name), _) => name,
            (None, Some(_)) => "comprehensive",
            (None, None) => "tree",
        };
        let mut options = cfgvault::BackupOptions::new().strategy(args::strategy(strategy)?);
        if let Some(id) = session {
            options = options.session_id(args::session_id(id)?);
        }
        for glob in exclude {
            options = options.exclude(glob);
        }
        for (key, value) in labels.unwrap_or_default() {
            options = options.label(key, value);
        }
        if let Some(at) = created_at {
            options = options.created_at(at);
        }
        let vault = self.handle()?;
        let done = match progress {
            None => run(py, vault, move |v| {
                v.backup(&root, workflow.as_deref(), &options)
            })?,
            Some(callback) => {
                let progress = PyProgress::new(Some(callback));
                let (progress, result) = py.detach(move || {
                    let result = vault.backup_with(&root, workflow.as_deref(), &options, &progress);
                    (progress, result)
                });
                progress.finish(result)?
            }
        };
        report::backup(py, &done)
    }

    /// Brings a session's configs back under `root` (default: the root it was taken from):
    /// missing files are restored, files with the session's content are `ok`, changed ones are
    /// `drifted` and left alone unless `overwrite="always"`. With `dry_run=True` nothing is
    /// written and the report tells what would be; with `diff=True` the report's `diffs` holds
    /// a unified diff (session → disk) of each drifted file. With `remote=URL` a session the
    /// local store lacks is pulled from that remote first (as `pull` does).
    /// `progress(phase, done, total)` is called per file; an exception raised in it stops
    /// the ensure between whole files and propagates.
    #[pyo3(signature = (
        session, root = None, *, overwrite = "never", dry_run = false, diff = false,
        remote = None, progress = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn ensure<'py>(
        &self,
        py: Python<'py>,
        session: &Bound<'py, PyAny>,
        root: Option<PathBuf>,
        overwrite: &str,
        dry_run: bool,
        diff: bool,
        remote: Option<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let id = args::session_id(session)?;
        let options = cfgvault::EnsureOptions::new()
            .overwrite(args::overwrite(overwrite)?)
            .dry_run(dry_run)
            .diff(diff);
        let vault = self.handle()?;
        let progress = PyProgress::new(progress);
        let (progress, result) = py.detach(move || {
            let result = (|| {
                if let Some(url) = remote {
                    // As `Vault::ensure_from`: pulled first when the store lacks it.
                    match vault.session(&id) {
                        Err(e) if e.kind() == cfgvault::ErrorKind::NotFound => {
                            vault.pull(&open_remote(&url)?, std::slice::from_ref(&id))?;
                        }
                        Err(e) => return Err(e),
                        Ok(_) => {}
                    }
                }
                vault.ensure_with(&id, root.as_deref(), &options, &progress)
            })();
            (progress, result)
        });
        let done = progress.finish(result)?;
        report::ensure(py, &done)
    }

    /// Pushes `sessions` (an id, a `Session` or an iterable of them; every local session when
    /// `None`) to the remote at `url` (`s3://BUCKET/PREFIX` or `file:///PATH`; the key, if the
    /// remote is encrypted, from `CFGVAULT_REMOTE_KEY_FILE` or `CFGVAULT_REMOTE_KEY`). Only
    /// what the remote lacks is uploaded. A session the remote holds under the same id with
    /// other content raises `SessionExists`, nothing written.
    #[pyo3(signature = (url, sessions = None))]
    fn push<'py>(
        &self,
        py: Python<'py>,
        url: String,
        sessions: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ids = sessions
            .map(args::session_ids)
            .transpose()?
            .unwrap_or_default();
        let vault = self.handle()?;
        let done = run(py, vault, move |v| v.push(&open_remote(&url)?, &ids))?;
        report!(py, "PushReport" {
            pushed: ids_of(&done.pushed),
            unchanged: ids_of(&done.unchanged),
            objects_uploaded: done.objects_uploaded,
            bytes_uploaded: done.bytes_uploaded,
        })
    }

    /// Pulls `sessions` (every remote session when `None`) from the remote at `url` into this
    /// store, downloading only the packs holding files the store lacks. A session this store
    /// holds under the same id with other content raises `SessionExists`.
    #[pyo3(signature = (url, sessions = None))]
    fn pull<'py>(
        &self,
        py: Python<'py>,
        url: String,
        sessions: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ids = sessions
            .map(args::session_ids)
            .transpose()?
            .unwrap_or_default();
        let vault = self.handle()?;
        let done = run(py, vault, move |v| v.pull(&open_remote(&url)?, &ids))?;
        report!(py, "PullReport" {
            pulled: ids_of(&done.pulled),
            unchanged: ids_of(&done.unchanged),
            objects_downloaded: done.objects_downloaded,
            bytes_downloaded: done.bytes_downloaded,
        })
    }

    /// Restores a session (or only `paths`, where a folder stands for the files below it) into
    /// `target` (default: the root it was taken from). `progress(phase, done, total)` is
    /// called per file; an exception raised in it stops the restore between whole files and
    /// propagates.
    #[pyo3(signature = (
        session, target = None, *, paths = None, overwrite = "if-unchanged", progress = None
    ))]
    fn restore<'py>(
        &self,
        py: Python<'py>,
        session: &Bound<'py, PyAny>,
        target: Option<PathBuf>,
        paths: Option<Vec<PathBuf>>,
        overwrite: &str,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let id = args::session_id(session)?;
        let mut options = cfgvault::RestoreOptions::new().overwrite(args::overwrite(overwrite)?);
        for path in paths.unwrap_or_default() {
            options = options.path(args::relative(&path)?);
        }
        let vault = self.handle()?;
        let progress = PyProgress::new(progress);
        let (progress, result) = py.detach(move || {
            let result = vault.restore_with(&id, target.as_deref(), &options, &progress);
            (progress, result)
        });
        let done = progress.finish(result)?;
        use cfgvault::RestoreAction;
        let errors = PyDict::new(py);
        for f in &done.files {
            if let (RestoreAction::Failed, Some(why)) = (f.action, &f.reason) {
                errors.set_item(f.path.as_str(), why.as_str())?;
            }
        }
        report!(py, "RestoreReport" {
            session: done.session.as_str(),
            target: done.target.to_string_lossy(),
            restored: done.with(RestoreAction::Restored),
            unchanged: done.with(RestoreAction::Unchanged),
            skipped: done.with(RestoreAction::SkippedChanged),
            failed: done.with(RestoreAction::Failed),
            errors: errors,
        })
    }

    /// The bytes of one file of a session.
    fn read_file<'py>(
        &self,
        py: Python<'py>,
        session: &Bound<'py, PyAny>,
        path: PathBuf,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let id = args::session_id(session)?;
        let path = args::relative(&path)?;
        let vault = self.handle()?;
        let bytes = run(py, vault, move |v| v.read_file(&id, &path))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// What changed from session `a` to session `b`, or to the files under `root` (only the
    /// session's paths, unless `all_files=True`): a list of changes sorted by path, each
    /// `.path` and `.status` (added, removed, modified or renamed; a renamed file's
    /// `.old_path` and `.similarity`), and for a YAML or JSON file whose content changed its
    /// changed key paths (`.keys`, `.formatting_only`, `.truncated`).
    #[pyo3(signature = (a, b = None, *, root = None, all_files = false))]
    fn diff<'py>(
        &self,
        py: Python<'py>,
        a: &Bound<'py, PyAny>,
        b: Option<&Bound<'py, PyAny>>,
        root: Option<PathBuf>,
        all_files: bool,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let a = args::session_id(a)?;
        let b = b.map(args::session_id).transpose()?;
        let vault = self.handle()?;
        let d = match (b, root) {
            (Some(b), None) => run(py, vault, move |v| v.diff(&a, &b))?,
            (None, Some(root)) => {
                let scope = if all_files {
                    cfgvault::DiffScope::All
                } else {
                    cfgvault::DiffScope::Session
                };
                run(py, vault, move |v| v.diff_dir(&a, &root, scope))?
            }
            _ => {
                return Err(errors::raise(
                    Class::InvalidInput,
                    "diff needs a second session or root=, not both".into(),
                ));
            }
        };
        report::diff(py, &d)
    }

    /// Every stored version of one config path, oldest first.
    fn versions<'py>(&self, py: Python<'py>, path: PathBuf) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let path = args::relative(&path)?;
        let vault = self.handle()?;
        let query = path.clone();
        let found = run(py, vault, move |v| v.versions(&query))?;
        report::list(py, &found, |py, ver| {
            report!(py, "Version" {
                path: path.as_str(),
                id: ver.id.to_string(),
                size: ver.size,
                first_seen: ver.first_seen,
                last_seen: ver.last_seen,
                sessions: ver.sessions,
            })
        })
    }

    /// One session's record.
    fn session<'py>(&self, py: Python<'py>, id: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let id = args::session_id(id)?;
        let vault = self.handle()?;
        let record = run(py, vault, move |v| v.session(&id))?;
        report::session(py, &record)
    }

    /// Sessions, newest first: at most `limit`, only those with label `label=(key, value)`.
    #[pyo3(signature = (*, limit = None, label = None))]
    fn sessions<'py>(
        &self,
        py: Python<'py>,
        limit: Option<usize>,
        label: Option<(String, String)>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let mut options = cfgvault::ListOptions::new();
        if let Some(n) = limit {
            options = options.limit(n);
        }
        if let Some((key, value)) = label {
            options = options.label(key, value);
        }
        let vault = self.handle()?;
        let records = run(py, vault, move |v| v.sessions(&options))?;
        report::list(py, &records, report::session)
    }

    /// The files of a session, sorted by path.
    fn files<'py>(
        &self,
        py: Python<'py>,
        session: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let id = args::session_id(session)?;
        let vault = self.handle()?;
        let files = run(py, vault, move |v| v.files(&id))?;
        report::list(py, &files, |py, f| {
            report!(py, "SessionFile" {
                path: f.path.as_str(),
                id: f.id.to_string(),
                size: f.size,
                mode: f.mode,
            })
        })
    }

    /// Pins a session: retention (`cleanup`) never removes it.
    fn pin(&self, py: Python<'_>, session: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = args::session_id(session)?;
        let vault = self.handle()?;
        run(py, vault, move |v| v.pin(&id))
    }

    /// Unpins a session.
    fn unpin(&self, py: Python<'_>, session: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = args::session_id(session)?;
        let vault = self.handle()?;
        run(py, vault, move |v| v.unpin(&id))
    }

    /// Replaces a session's labels.
    fn set_labels(
        &self,
        py: Python<'_>,
        session: &Bound<'_, PyAny>,
        labels: BTreeMap<String, String>,
    ) -> PyResult<()> {
        let id = args::session_id(session)?;
        let vault = self.handle()?;
        run(py, vault, move |v| v.set_labels(&id, labels))
    }

    /// Sets the labels given a `str` value and removes those given `None`; returns the
    /// session's labels after the change.
    fn update_labels(
        &self,
        py: Python<'_>,
        session: &Bound<'_, PyAny>,
        changes: BTreeMap<String, Option<String>>,
    ) -> PyResult<BTreeMap<String, String>> {
        let id = args::session_id(session)?;
        let vault = self.handle()?;
        run(py, vault, move |v| v.update_labels(&id, changes))
    }

    /// The full id of the one session whose id starts with `prefix`.
    fn resolve_session(&self, py: Python<'_>, prefix: String) -> PyResult<String> {
        let vault = self.handle()?;
        let id = run(py, vault, move |v| v.resolve_session(&prefix))?;
        Ok(id.as_str().to_owned())
    }

    /// Deletes sessions (an id, a `Session` or an iterable of them) in one transaction;
    /// objects no other session uses go with them.
    fn delete(&self, py: Python<'_>, sessions: &Bound<'_, PyAny>) -> PyResult<()> {
        let ids = args::session_ids(sessions)?;
        let vault = self.handle()?;
        run(py, vault, move |v| v.delete(&ids).map(drop))
    }

    /// Removes the sessions a retention policy does not keep, in one transaction (pinned
    /// sessions are always kept): those older than `older_than` (a `timedelta`) that are not
    /// among the newest `keep_last`, nor the newest of one of the last `keep_daily` days or
    /// `keep_weekly` ISO weeks. With `dry_run=True` only the plan is returned.
    #[pyo3(signature = (
        *, older_than = None, keep_last = None, keep_daily = None, keep_weekly = None,
        dry_run = false
    ))]
    fn cleanup<'py>(
        &self,
        py: Python<'py>,
        older_than: Option<Duration>,
        keep_last: Option<usize>,
        keep_daily: Option<usize>,
        keep_weekly: Option<usize>,
        dry_run: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut policy = cfgvault::RetentionPolicy::new();
        if let Some(age) = older_than {
            policy = policy.older_than(age);
        }
        if let Some(n) = keep_last {
            policy = policy.keep_last(n);
        }
        if let Some(n) = keep_daily {
            policy = policy.keep_daily(n);
        }
        if let Some(n) = keep_weekly {
            policy = policy.keep_weekly(n);
        }
        let vault = self.handle()?;
        let plan = run(py, vault, move |v| {
            let plan = v.cleanup_plan(&policy, Utc::now())?;
            if !dry_run {
                v.cleanup_apply(&plan)?;
            }
            Ok(plan)
        })?;
        report!(py, "CleanupPlan" {
            removed: ids_of(&plan.remove),
            kept: ids_of(&plan.keep),
            objects_freed: plan.objects_freed,
            bytes_freed: plan.bytes_freed,
            dry_run: dry_run,
        })
    }

    /// Sweeps unreferenced objects, packs objects together and compacts the file.
    /// `progress(phase, done, total)` is called as it goes; an exception raised in it stops
    /// gc before it commits and propagates.
    #[pyo3(signature = (*, progress = None))]
    fn gc<'py>(&self, py: Python<'py>, progress: Option<Py<PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let vault = self.handle()?;
        let progress = PyProgress::new(progress);
        let (progress, result) = py.detach(move || {
            let result = vault.gc(&progress);
            (progress, result)
        });
        let g = progress.finish(result)?;
        report!(py, "GcReport" {
            objects_removed: g.objects_removed,
            bytes_freed: g.bytes_freed,
            packed: g.packed,
            packs_written: g.packs_written,
            file_bytes_before: g.file_bytes_before,
            file_bytes_after: g.file_bytes_after,
            compacted: g.compacted,
            compaction_skipped: g.compaction_skipped,
        })
    }

    /// Re-hashes every object and recomputes every reference count; `repair=True` commits
    /// corrected counts. `progress` as for `gc`.
    #[pyo3(signature = (*, repair = false, progress = None))]
    fn verify<'py>(
        &self,
        py: Python<'py>,
        repair: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let vault = self.handle()?;
        let progress = PyProgress::new(progress);
        let options = cfgvault::VerifyOptions::new().repair(repair);
        let (progress, result) = py.detach(move || {
            let result = vault.verify(&options, &progress);
            (progress, result)
        });
        let out = progress.finish(result)?;
        let problems = report::list(py, &out.problems, |py, p| {
            report!(py, "Problem" {
                kind: p.kind.as_str(),
                id: p.id.map(|id| id.to_string()),
                detail: p.detail.as_str(),
            })
        })?;
        report!(py, "VerifyReport" {
            ok: out.is_clean(),
            problems: problems,
            objects_checked: out.objects_checked,
            bytes_checked: out.bytes_checked,
            roots_checked: out.roots_checked,
            repaired: out.repaired,
        })
    }

    /// Sessions, sizes and ratios.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let vault = self.handle()?;
        let s = run(py, vault, |v| v.stats())?;
        report!(py, "Stats" {
            sessions: s.sessions,
            logical_bytes: s.logical_bytes,
            unique_bytes: s.unique_bytes,
            stored_bytes: s.stored_bytes,
            file_bytes: s.file_bytes,
            objects: s.objects,
            oldest: s.oldest,
            newest: s.newest,
            dedup_ratio: s.dedup_ratio,
            compression_ratio: s.compression_ratio,
            overall_ratio: s.overall_ratio,
        })
    }
}
