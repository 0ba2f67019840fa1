//! `cfgvault.deps`: a workflow's config closure, without a store.

use std::path::PathBuf;

use cfgvault::closure;
use pyo3::prelude::*;

use crate::{args, errors, report};

/// The config closure of `workflow` under `root`: its files (each `.path`, `.kind`), the
/// references that pulled them in, and what could not be resolved. Reads the files with the
/// GIL released.
#[pyfunction]
#[pyo3(signature = (root, workflow, *, strategy = "comprehensive", exclude = Vec::new()))]
pub(crate) fn deps<'py>(
    py: Python<'py>,
    root: PathBuf,
    workflow: PathBuf,
    strategy: &str,
    exclude: Vec<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let workflow = args::relative(&workflow)?;
    let mut options = closure::Options::default();
    options.strategy = args::strategy(strategy)?;
    options.excludes = exclude;
    let found = py
        .detach(|| closure::resolve(&root, &workflow, &options))
        .map_err(|e| errors::to_py(e.into()))?;
    report::deps(py, &found)
}
