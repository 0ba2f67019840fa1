//! The Rust side of `bench/hot_backup.py` (feature `bench`): the same backup as
//! `Vault.backup`, timed inside Rust, so the script can compare it with the call from Python.

use std::path::PathBuf;
use std::time::Instant;

use pyo3::prelude::*;

use crate::{errors, vault::Vault};

/// Seconds one `cfgvault::Vault::backup` of `workflow` under `root` takes, measured around
/// the Rust call alone (GIL released, no argument conversion, no report objects).
#[pyfunction]
#[pyo3(name = "_rust_backup_seconds")]
pub(crate) fn rust_backup_seconds(
    py: Python<'_>,
    vault: &Vault,
    root: PathBuf,
    workflow: String,
) -> PyResult<f64> {
    let vault = vault.handle()?;
    let options = cfgvault::BackupOptions::default();
    py.detach(move || {
        let start = Instant::now();
        let done = vault.backup(&root, Some(&workflow), &options);
        let seconds = start.elapsed().as_secs_f64();
        done.map(|_| seconds)
    })
    .map_err(errors::to_py)
}
