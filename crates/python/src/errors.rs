//! Library errors as the exception classes of `cfgvault/errors.py`.

use std::error::Error as _;

use cfgvault::{Error, ErrorKind};
use pyo3::PyErrArguments;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyModule, PyType};

/// The exception classes, by their names in `cfgvault.errors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Error,
    NotFound,
    SessionNotFound,
    SessionExists,
    InvalidInput,
    NotAStore,
    StoreDamaged,
    UnsupportedFormat,
    StoreBusy,
    IoError,
    Cancelled,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Error => "Error",
            Class::NotFound => "NotFound",
            Class::SessionNotFound => "SessionNotFound",
            Class::SessionExists => "SessionExists",
            Class::InvalidInput => "InvalidInput",
            Class::NotAStore => "NotAStore",
            Class::StoreDamaged => "StoreDamaged",
            Class::UnsupportedFormat => "UnsupportedFormat",
            Class::StoreBusy => "StoreBusy",
            Class::IoError => "IOError",
            Class::Cancelled => "Cancelled",
        }
    }

    /// The class an error of the library is raised as: by its kind, and for a missing
    /// session (a `NotFound` naming a session and no path) `SessionNotFound`.
    pub(crate) fn of(err: &Error) -> Class {
        match err.kind() {
            ErrorKind::NotFound if err.session().is_some() && err.path().is_none() => {
                Class::SessionNotFound
            }
            ErrorKind::NotFound => Class::NotFound,
            ErrorKind::AlreadyExists => Class::SessionExists,
            ErrorKind::InvalidInput => Class::InvalidInput,
            ErrorKind::NotAStore => Class::NotAStore,
            ErrorKind::Damaged => Class::StoreDamaged,
            ErrorKind::UnsupportedFormat => Class::UnsupportedFormat,
            ErrorKind::Busy => Class::StoreBusy,
            ErrorKind::Io => Class::IoError,
            ErrorKind::Cancelled => Class::Cancelled,
            _ => Class::Error,
        }
    }
}

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// An exception of `class` with `message`.
pub(crate) fn raise(class: Class, message: String) -> PyErr {
    raise_with(class, (message,))
}

/// An exception of `class` constructed with `args`.
fn raise_with<A>(class: Class, args: A) -> PyErr
where
    A: PyErrArguments + Send + Sync + 'static,
{
    Python::attach(|py| {
        let module =
            match ERRORS.get_or_try_init(py, || py.import("cfgvault.errors").map(Bound::unbind)) {
                Ok(m) => m.bind(py),
                Err(e) => return e,
            };
        match module
            .getattr(class.name())
            .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from))
        {
            Ok(cls) => PyErr::from_type(cls, args),
            Err(e) => e,
        }
    })
}

/// The exception for a library error: its class by kind, its message the error and its
/// causes (which name the path or session). An `IOError` also carries the OS error number, as
/// `OSError(errno, message)` does.
pub(crate) fn to_py(err: Error) -> PyErr {
    let mut message = err.to_string();
    let mut errno = None;
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            errno = errno.or(io.raw_os_error());
        }
        source = cause.source();
    }
    let class = Class::of(&err);
    match (class, errno) {
        (Class::IoError, Some(code)) => raise_with(class, (code, message)),
        _ => raise_with(class, (message,)),
    }
}
