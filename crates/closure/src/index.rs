//! The one walk of the config root an analysis makes (or reuses from the cache).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::stamp::Stamp;
use crate::{Error, Unresolved};

/// Every regular file under the root, found once per analysis.
pub(crate) struct Index {
    pub(crate) files: BTreeSet<String>,
    /// Names that cannot be stored (not UTF-8), symlinks leading out, unreadable folders;
    /// reported only when the whole tree is asked for.
    pub(crate) problems: Vec<Unresolved>,
}

fn problem(dir: &str, name: String, reason: &str) -> Unresolved {
    Unresolved {
        from: if dir.is_empty() {
            ".".to_owned()
        } else {
            dir.to_owned()
        },
        key: String::new(),
        value: name,
        reason: reason.to_owned(),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// Walks with an explicit stack (no recursion, whatever the depth) and never follows a directory
/// symlink, so link loops cannot trap it; a file symlink counts only if it stays inside the root.
/// With `dirs`, records the stamp of every folder before listing it, or sets it to `None` when
/// the walk cannot be reused (a symlink, a folder that cannot be stamped).
pub(crate) fn walk(
    root: &Path,
    canon_root: &Path,
    dirs: &mut Option<Vec<(PathBuf, Stamp)>>,
) -> Result<Index, Error> {
    let mut index = Index {
        files: BTreeSet::new(),
        problems: Vec::new(),
    };
    let mut stack = vec![String::new()];
    while let Some(dir) = stack.pop() {
        let abs = root.join(&dir);
        if let Some(list) = dirs {
            match fs::symlink_metadata(&abs) {
                Ok(m) => list.push((abs.clone(), Stamp::of(&m))),
                Err(_) => *dirs = None,
            }
        }
        let entries = match fs::read_dir(&abs) {
            Ok(e) => e,
            Err(source) if dir.is_empty() => {
                return Err(Error::Io {
                    action: "read config root",
                    path: root.to_owned(),
                    source,
                });
            }
            Err(e) => {
                let reason = format!("could not read directory: {e}");
                index.problems.push(problem(&dir, String::new(), &reason));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let reason = format!("could not read directory: {e}");
                    index.problems.push(problem(&dir, String::new(), &reason));
                    continue;
                }
            };
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                let lossy = name.to_string_lossy().into_owned();
                index
                    .problems
                    .push(problem(&dir, lossy, "file name is not valid UTF-8"));
                continue;
            };
            let rel = join(&dir, name);
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(rel);
            } else if ft.is_file() {
                index.files.insert(rel);
            } else if ft.is_symlink() {
                *dirs = None;
                match fs::canonicalize(entry.path()) {
                    Ok(target) if !target.starts_with(canon_root) => index.problems.push(problem(
                        &dir,
                        name.to_owned(),
                        "symlink leads outside the config root",
                    )),
                    Ok(target) if target.is_file() => {
                        index.files.insert(rel);
                    }
                    // A link to a folder inside the root: its files are found by their real path.
                    Ok(_) => {}
                    Err(_) => {
                        index
                            .problems
                            .push(problem(&dir, name.to_owned(), "dangling symlink"))
                    }
                }
            }
        }
    }
    Ok(index)
}
