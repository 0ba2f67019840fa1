//! Where an analysis starts: the config root (a directory, by its canonical path) and the
//! workflow's place under it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::index::Index;
use crate::template::normalize;

/// The canonical path of the config root; an error unless it is a directory.
pub(crate) fn open_root(root: &Path) -> Result<PathBuf, Error> {
    let meta = fs::metadata(root).map_err(|source| Error::Io {
        action: "read config root",
        path: root.to_owned(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(Error::RootNotDirectory {
            path: root.to_owned(),
        });
    }
    fs::canonicalize(root).map_err(|source| Error::Io {
        action: "resolve config root",
        path: root.to_owned(),
        source,
    })
}

/// The workflow as a root-relative path: a relative one as given, an absolute one when it
/// names a place under the root (as given, or once symlinks are resolved).
fn relative_workflow(root: &Path, canon_root: &Path, workflow: &str) -> Result<String, Error> {
    let outside = || Error::WorkflowOutsideRoot {
        path: workflow.to_owned(),
    };
    let abs = Path::new(workflow);
    if !abs.is_absolute() {
        return Ok(workflow.to_owned());
    }
    let under = |base: &Path, p: &Path| -> Option<String> {
        let rel = p.strip_prefix(base).ok()?;
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        Some(parts?.join("/"))
    };
    if let Some(rel) = under(root, abs).or_else(|| under(canon_root, abs)) {
        return Ok(rel);
    }
    match fs::canonicalize(abs) {
        Ok(c) => under(canon_root, &c).ok_or_else(outside),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::WorkflowMissing {
            path: workflow.to_owned(),
            root: root.to_owned(),
        }),
        Err(_) => Err(outside()),
    }
}

/// The workflow as a normalized root-relative path of a file under the root.
pub(crate) fn check_workflow(
    root: &Path,
    canon_root: &Path,
    index: &Index,
    workflow: &str,
) -> Result<String, Error> {
    let outside = || Error::WorkflowOutsideRoot {
        path: workflow.to_owned(),
    };
    let relative = relative_workflow(root, canon_root, workflow)?;
    let rel = normalize(&relative).ok_or_else(outside)?;
    if rel.is_empty() {
        return Err(Error::WorkflowNotFile {
            path: workflow.to_owned(),
        });
    }
    if index.files.contains(&rel) {
        return Ok(rel);
    }
    // Not found by the walk: missing, a folder, or reached through a symlinked folder.
    match fs::canonicalize(root.join(&rel)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::WorkflowMissing {
            path: rel,
            root: root.to_owned(),
        }),
        Err(source) => Err(Error::Io {
            action: "read workflow",
            path: root.join(&rel),
            source,
        }),
        Ok(c) if !c.starts_with(canon_root) => Err(outside()),
        Ok(c) if c.is_file() => Ok(rel),
        Ok(_) => Err(Error::WorkflowNotFile { path: rel }),
    }
}
