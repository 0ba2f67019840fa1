//! Validation of the relative, `/`-separated UTF-8 paths stored in sessions.

use crate::{Error, Result};

/// Why a single path component (a tree entry name) is invalid, `None` when it is valid.
pub(crate) fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("empty name")
    } else if name == "." || name == ".." {
        Some("'.' and '..' are not allowed")
    } else if name.contains('/') {
        Some("name contains '/'")
    } else if name.contains('\0') {
        Some("name contains NUL")
    } else if name.contains('\\') && cfg!(windows) {
        Some("name contains '\\'")
    } else {
        None
    }
}

/// Checks a stored path: relative, `/`-separated, no empty, `.` or `..` components, no NUL.
pub fn validate_path(path: &str) -> Result<()> {
    let bad = |reason| Error::InvalidPath {
        path: path.chars().take(300).collect(),
        reason,
    };
    if path.is_empty() {
        return Err(bad("empty path"));
    }
    if path.starts_with('/') {
        return Err(bad("absolute path"));
    }
    if path.len() > 4096 {
        return Err(bad("longer than 4096 bytes"));
    }
    for c in path.split('/') {
        if let Some(reason) = name_problem(c) {
            return Err(bad(reason));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, ok: bool) {
        assert_eq!(validate_path(path).is_ok(), ok, "{path:?}");
    }

    #[test]
    fn paths() {
        check("a", true);
        check("workflows/react.yaml", true);
        check("DS-R1(qwen2.5)-7B.yaml", true);
        check("café/ü.yaml", true);
        check("", false);
        check("/etc/passwd", false);
        check("a//b", false);
        check("a/", false);
        check("./a", false);
        check("a/../b", false);
        check("..", false);
        check("a\0b", false);
    }
}
