//! Builds the report objects of `cfgvault/reports.py` from the library's results.

use std::collections::BTreeMap;

use cfgvault::closure::Closure;
use cfgvault::{
    BackupReport, Diff, EnsureReport, EnsureStatus, FileChange, KeyChangeKind, Rename,
    SessionRecord,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyList, PyModule, PyString};

static REPORTS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The class `name` of `cfgvault.reports`.
pub(crate) fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let module =
        REPORTS.get_or_try_init(py, || py.import("cfgvault.reports").map(Bound::unbind))?;
    module.bind(py).getattr(name)
}

/// `report!(py, "Class" { field: value, … })` builds `cfgvault.reports.Class(field=value, …)`.
macro_rules! report {
    ($py:expr, $class:literal { $($field:ident : $value:expr),* $(,)? }) => {{
        let kwargs = pyo3::types::PyDict::new($py);
        $( kwargs.set_item(stringify!($field), $value)?; )*
        $crate::report::class($py, $class)?.call((), Some(&kwargs))
    }};
}
pub(crate) use report;

/// A list of reports built by `f` from each item.
pub(crate) fn list<'py, T>(
    py: Python<'py>,
    items: impl IntoIterator<Item = T>,
    mut f: impl FnMut(Python<'py>, T) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    items.into_iter().map(|item| f(py, item)).collect()
}

pub(crate) fn session<'py>(py: Python<'py>, r: &SessionRecord) -> PyResult<Bound<'py, PyAny>> {
    report!(py, "Session" {
        id: r.id.as_str(),
        created_at: r.created_at,
        workflow: r.workflow.as_deref(),
        strategy: r.strategy.as_str(),
        file_count: r.files,
        logical_bytes: r.logical_bytes,
        pinned: r.pinned,
        labels: &r.labels,
        source_root: r.source_root.as_str(),
        root: r.root.to_string(),
    })
}

fn unresolved<'py, 'a>(
    py: Python<'py>,
    refs: impl IntoIterator<Item = Unresolved<'a>>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    list(py, refs, |py, u| {
        report!(py, "Unresolved" {
            source: u.from,
            key: u.key,
            value: u.value,
            reason: u.reason,
        })
    })
}

/// A dangling reference, from the analysis or from a session's stored closure details.
pub(crate) struct Unresolved<'a> {
    from: &'a str,
    key: &'a str,
    value: &'a str,
    reason: &'a str,
}

impl<'a> From<&'a cfgvault::closure::Unresolved> for Unresolved<'a> {
    fn from(u: &'a cfgvault::closure::Unresolved) -> Self {
        Unresolved {
            from: &u.from,
            key: &u.key,
            value: &u.value,
            reason: &u.reason,
        }
    }
}

impl<'a> From<&'a cfgvault::UnresolvedInfo> for Unresolved<'a> {
    fn from(u: &'a cfgvault::UnresolvedInfo) -> Self {
        Unresolved {
            from: &u.from,
            key: &u.key,
            value: &u.value,
            reason: &u.reason,
        }
    }
}

pub(crate) fn backup<'py>(py: Python<'py>, r: &BackupReport) -> PyResult<Bound<'py, PyAny>> {
    let files = list(py, &r.files, |py, f| {
        report!(py, "BackedUpFile" {
            path: f.path.as_str(),
            kind: f.kind.as_str(),
            size: f.size,
            id: f.id.to_string(),
            new: f.new,
        })
    })?;
    report!(py, "BackupReport" {
        session: session(py, &r.session)?,
        files: files,
        unresolved: unresolved(py, r.unresolved.iter().map(Unresolved::from))?,
        warnings: &r.warnings,
        new_objects: r.new_objects,
        bytes_added: r.bytes_added,
    })
}

pub(crate) fn ensure<'py>(py: Python<'py>, r: &EnsureReport) -> PyResult<Bound<'py, PyAny>> {
    let errors = PyDict::new(py);
    let diffs = PyDict::new(py);
    for f in &r.files {
        if let EnsureStatus::Failed(why) = &f.status {
            errors.set_item(f.path.as_str(), why.as_str())?;
        }
        if let Some(diff) = &f.diff {
            diffs.set_item(f.path.as_str(), diff.as_str())?;
        }
    }
    report!(py, "EnsureReport" {
        session: r.session.as_str(),
        root: r.root.to_string_lossy(),
        restored: r.restored(),
        ok: r.ok(),
        drifted: r.drifted(),
        failed: r.failed(),
        errors: errors,
        diffs: diffs,
        dry_run: r.dry_run,
    })
}

pub(crate) fn deps<'py>(py: Python<'py>, c: &Closure) -> PyResult<Bound<'py, PyAny>> {
    let files = list(
        py,
        &c.files,
        |py, f| report!(py, "Dependency" { path: f.path.as_str(), kind: f.kind.as_str() }),
    )?;
    let edges = list(py, &c.edges, |py, e| {
        report!(py, "Edge" {
            source: e.from.as_str(),
            key: e.key.as_str(),
            value: e.value.as_str(),
            target: e.to.as_str(),
            rule: e.rule.as_str(),
        })
    })?;
    report!(py, "Deps" {
        workflow: c.workflow.as_deref(),
        files: files,
        edges: edges,
        unresolved: unresolved(py, c.unresolved.iter().map(Unresolved::from))?,
        cycles: &c.cycles,
    })
}

/// A diff as `Change` reports sorted by path: each added, removed, modified and renamed file,
/// with the changed key paths of the YAML and JSON files among them.
pub(crate) fn diff<'py>(py: Python<'py>, d: &Diff) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let semantic: BTreeMap<&str, &FileChange> =
        d.changes.iter().map(|c| (c.path.as_str(), c)).collect();
    let mut files: Vec<(&str, &str, Option<&Rename>)> = Vec::new();
    files.extend(d.added.iter().map(|p| (p.as_str(), "added", None)));
    files.extend(d.removed.iter().map(|p| (p.as_str(), "removed", None)));
    files.extend(d.modified.iter().map(|p| (p.as_str(), "modified", None)));
    files.extend(
        d.renamed
            .iter()
            .map(|r| (r.to.as_str(), "renamed", Some(r))),
    );
    files.sort_by_key(|&(path, status, _)| (path, status));
    list(py, files, |py, (path, status, rename)| {
        let change = semantic.get(path);
        let keys = list(py, change.map_or(&[][..], |c| &c.keys[..]), |py, k| {
            report!(py, "KeyChange" {
                key: k.key.as_str(),
                change: match k.change {
                    KeyChangeKind::Added => "added",
                    KeyChangeKind::Removed => "removed",
                    KeyChangeKind::Changed => "changed",
                },
                old: k.old.as_ref().map(|v| json(py, v)).transpose()?,
                new: k.new.as_ref().map(|v| json(py, v)).transpose()?,
            })
        })?;
        report!(py, "Change" {
            path: path,
            status: status,
            old_path: rename.map(|r| r.from.as_str()),
            similarity: rename.map(|r| r.similarity),
            keys: keys,
            formatting_only: change.is_some_and(|c| c.formatting_only),
            truncated: change.is_some_and(|c| c.truncated),
        })
    })
}

/// A JSON value as the Python value `json.loads` would give.
fn json<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u), _) => u.into_pyobject(py)?.into_any(),
            (None, None, f) => f.unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let items = items
                .iter()
                .map(|v| json(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json(py, v)?)?;
            }
            dict.into_any()
        }
    })
}
