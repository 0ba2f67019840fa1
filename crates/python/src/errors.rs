//! Library errors as the exception classes of `cfgvault/errors.py`.

use std::error::Error as _;

use cfgvault::Error;
use cfgvault_closure::Error as ClosureError;
use cfgvault_session::Error as SessionError;
use cfgvault_store::Error as StoreError;
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

    /// The class an error of the library is raised as.
    pub(crate) fn of(err: &Error) -> Class {
        match err {
            Error::Store(e) | Error::Session(SessionError::Store(e)) => store(e),
            Error::Session(e) => session(e),
            Error::Closure(e) => closure(e),
            Error::WorkflowRequired { .. } => Class::InvalidInput,
            Error::NotADirectory { .. } => Class::InvalidInput,
            Error::Io { .. } => Class::IoError,
            _ => Class::Error,
        }
    }
}

fn store(e: &StoreError) -> Class {
    match e {
        StoreError::Io { .. } => Class::IoError,
        StoreError::NotFound { .. } | StoreError::ObjectMissing { .. } => Class::NotFound,
        StoreError::AlreadyExists { .. } | StoreError::RootExists { .. } => Class::SessionExists,
        StoreError::NotAStore { .. } => Class::NotAStore,
        StoreError::UnsupportedSchema { .. } => Class::UnsupportedFormat,
        StoreError::AlreadyOpen { .. } => Class::StoreBusy,
        StoreError::Corrupt { .. }
        | StoreError::CorruptPack { .. }
        | StoreError::CorruptCold { .. }
        | StoreError::CorruptPackIndex { .. }
        | StoreError::Damaged { .. } => Class::StoreDamaged,
        StoreError::TooLarge { .. }
        | StoreError::InvalidName { .. }
        | StoreError::InvalidId { .. } => Class::InvalidInput,
        StoreError::Cancelled => Class::Cancelled,
        _ => Class::Error,
    }
}

fn session(e: &SessionError) -> Class {
    match e {
        SessionError::Store(e) => store(e),
        SessionError::Io { .. } | SessionError::FileChanged { .. } => Class::IoError,
        SessionError::SessionNotFound { .. } => Class::SessionNotFound,
        SessionError::FileNotInSession { .. } => Class::NotFound,
        SessionError::SessionExists { .. } => Class::SessionExists,
        SessionError::CorruptTree { .. } | SessionError::CorruptIndex { .. } => Class::StoreDamaged,
        SessionError::InvalidPath { .. }
        | SessionError::OutsideRoot { .. }
        | SessionError::NotAFile { .. }
        | SessionError::NotADirectory { .. }
        | SessionError::PathConflict { .. }
        | SessionError::InvalidSessionId { .. }
        | SessionError::InvalidOverwrite { .. } => Class::InvalidInput,
        _ => Class::Error,
    }
}

fn closure(e: &ClosureError) -> Class {
    match e {
        ClosureError::Io { .. } => Class::IoError,
        ClosureError::WorkflowMissing { .. } => Class::NotFound,
        _ => Class::InvalidInput,
    }
}

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// An exception of `class` with `message`.
pub(crate) fn raise(class: Class, message: String) -> PyErr {
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
            Ok(cls) => PyErr::from_type(cls, message),
            Err(e) => e,
        }
    })
}

/// The exception for a library error: its class by kind, its message the error and its
/// causes (which name the path or session).
pub(crate) fn to_py(err: Error) -> PyErr {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    raise(Class::of(&err), message)
}
