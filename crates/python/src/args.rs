//! Python arguments turned into the library's types; what does not parse is `InvalidInput`.

use std::path::Path;

use cfgvault::SessionId;
use cfgvault::closure::Strategy;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::errors::{self, Class};

/// A session id given as a `str`, or as anything with an `id` attribute (a `Session` record).
pub(crate) fn session_id(value: &Bound<'_, PyAny>) -> PyResult<SessionId> {
    let text: String = if value.is_instance_of::<PyString>() {
        value.extract()?
    } else {
        value.getattr("id")?.extract()?
    };
    text.parse::<SessionId>()
        .map_err(|e| errors::to_py(cfgvault::Error::from(e)))
}

/// Session ids from a `str`, a `Session` or an iterable of them.
pub(crate) fn session_ids(value: &Bound<'_, PyAny>) -> PyResult<Vec<SessionId>> {
    if value.is_instance_of::<PyString>() || value.hasattr("id")? {
        return Ok(vec![session_id(value)?]);
    }
    value.try_iter()?.map(|item| session_id(&item?)).collect()
}

/// A path inside a config root or a session (`str` or `os.PathLike`), `/`-separated.
pub(crate) fn relative(path: &Path) -> PyResult<String> {
    match path.to_str() {
        Some(s) => Ok(s.replace(std::path::MAIN_SEPARATOR, "/")),
        None => Err(errors::raise(
            Class::InvalidInput,
            format!("path '{}' is not valid UTF-8", path.display()),
        )),
    }
}

/// A built-in strategy by name: minimal, standard, comprehensive or tree.
pub(crate) fn strategy(name: &str) -> PyResult<Strategy> {
    name.parse::<Strategy>()
        .map_err(|e| errors::to_py(cfgvault::Error::from(e)))
}

/// An overwrite policy by name: never, if-unchanged or always.
pub(crate) fn overwrite(name: &str) -> PyResult<cfgvault::Overwrite> {
    name.parse::<cfgvault::Overwrite>()
        .map_err(|e| errors::to_py(cfgvault::Error::from(e)))
}
