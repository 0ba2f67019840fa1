//! `cfgvault._native`: the extension module under the `cfgvault` Python package.
//!
//! It wraps the embedding API of the `cfgvault` crate one to one: `vault.rs` is the Python
//! `cfgvault.Vault`, `deps.rs` is `cfgvault.deps`. Every call that touches the disk runs with
//! the GIL released. What the calls return are the plain report classes of
//! `cfgvault/reports.py`, built in `report.rs`; failures become the exception classes of
//! `cfgvault/errors.py`, chosen in `errors.rs` (docs/ARCHITECTURE.md, "crates/python").

mod args;
#[cfg(feature = "bench")]
mod bench;
mod deps;
mod errors;
mod progress;
mod report;
mod vault;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<vault::Vault>()?;
    m.add_function(wrap_pyfunction!(deps::deps, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    #[cfg(feature = "bench")]
    m.add_function(wrap_pyfunction!(bench::rust_backup_seconds, m)?)?;
    Ok(())
}
