//! How a failed command is reported: its kind, exit code and the `--json` error object
//! (docs/CLI.md, "Errors").

use cfgvault::ErrorKind;
use serde::Serialize;

/// Bad input the binary itself detects (a malformed flag value, a missing choice).
#[derive(Debug)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// Returns early with an [`Invalid`] error: `invalid!("give a second session or --root DIR")`.
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new(crate::error::Invalid(format!($($arg)*))))
    };
}
pub(crate) use invalid;

/// A failed command, as the `error` object of the `--json` document.
#[derive(Debug, Serialize)]
pub struct Failure {
    pub kind: ErrorKind,
    /// The error and its causes, outermost first, joined by `: `.
    pub message: String,
    pub session: Option<String>,
    pub path: Option<String>,
    pub object: Option<String>,
    /// The ids an ambiguous prefix matches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
}

impl Failure {
    /// An invalid-input failure with this message.
    pub fn invalid(message: String) -> Failure {
        Failure {
            kind: ErrorKind::InvalidInput,
            message,
            session: None,
            path: None,
            object: None,
            candidates: Vec::new(),
        }
    }

    /// The failure an error chain stands for: the kind and fields of the library error in it,
    /// else invalid input for the binary's own checks, else I/O.
    pub fn of(e: &anyhow::Error) -> Failure {
        let mut message = e.to_string();
        for cause in e.chain().skip(1) {
            message.push_str(": ");
            message.push_str(&cause.to_string());
        }
        let mut f = Failure::invalid(message);
        if let Some(lib) = e.chain().find_map(|c| c.downcast_ref::<cfgvault::Error>()) {
            f.kind = lib.kind();
            f.session = lib.session().map(str::to_string);
            f.path = lib.path().map(|p| p.display().to_string());
            f.object = lib.object().map(|o| o.to_string());
            f.candidates = lib.candidates().to_vec();
        } else if e.chain().any(|c| {
            c.downcast_ref::<Invalid>().is_some() || c.downcast_ref::<clap::Error>().is_some()
        }) {
            f.kind = ErrorKind::InvalidInput;
        } else {
            f.kind = ErrorKind::Io;
        }
        f
    }

    /// The exit code of docs/CLI.md for this failure.
    pub fn exit_code(&self) -> u8 {
        exit_code(self.kind)
    }
}

/// The exit code of each kind of failure.
pub fn exit_code(kind: ErrorKind) -> u8 {
    use crate::{EXIT_BUSY, EXIT_CANCELLED, EXIT_INVALID, EXIT_IO, EXIT_NOT_FOUND, EXIT_UNUSABLE};
    match kind {
        ErrorKind::Cancelled => EXIT_CANCELLED,
        ErrorKind::InvalidInput | ErrorKind::AlreadyExists => EXIT_INVALID,
        ErrorKind::NotFound => EXIT_NOT_FOUND,
        ErrorKind::NotAStore | ErrorKind::Damaged | ErrorKind::UnsupportedFormat => EXIT_UNUSABLE,
        ErrorKind::Busy => EXIT_BUSY,
        _ => EXIT_IO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_documented_exit_code() {
        let codes = [
            (ErrorKind::InvalidInput, 2),
            (ErrorKind::AlreadyExists, 2),
            (ErrorKind::NotFound, 3),
            (ErrorKind::NotAStore, 4),
            (ErrorKind::Damaged, 4),
            (ErrorKind::UnsupportedFormat, 4),
            (ErrorKind::Busy, 5),
            (ErrorKind::Io, 6),
            (ErrorKind::Cancelled, 130),
        ];
        for (kind, code) in codes {
            assert_eq!(exit_code(kind), code, "{kind:?}");
        }
    }
}
