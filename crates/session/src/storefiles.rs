//! The files of a store, which backups never read and restores never write.

use std::path::Path;

use crate::beneath::FileId;

/// A store's own files: the store file, and the `.NAME.*` files beside it (the temporary
/// file `Store::create` builds it in, the reserve `.NAME.reserve` and its temporary file). Told apart by identity (device and inode) for the store file, whatever name or
/// hard link reaches it, and by name inside the store's folder (also by identity) for the
/// temporary ones. [`StoreFiles::none`] protects nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreFiles {
    file: Option<FileId>,
    dir: Option<FileId>,
    name: String,
}

impl StoreFiles {
    /// No store: nothing is protected.
    pub fn none() -> StoreFiles {
        StoreFiles::default()
    }

    /// The files of the store at `path`, as they are now: a store file that does not exist
    /// yet is protected by name in its folder.
    pub fn of(path: &Path) -> StoreFiles {
        let id = |p: &Path| {
            rustix::fs::stat(p).ok().map(|st| FileId {
                dev: st.st_dev,
                ino: st.st_ino,
            })
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        StoreFiles {
            file: id(path),
            dir: if name.is_empty() { None } else { id(parent) },
            name,
        }
    }

    /// Whether the entry `name` of the folder `dir`, which is the file `entry` (when it
    /// exists), is one of the store's files.
    pub(crate) fn holds(&self, dir: Option<FileId>, name: &str, entry: Option<FileId>) -> bool {
        if entry.is_some() && entry == self.file {
            return true;
        }
        self.dir.is_some()
            && dir == self.dir
            && (name == self.name
                || name
                    .strip_prefix('.')
                    .and_then(|n| n.strip_prefix(self.name.as_str()))
                    .is_some_and(|rest| rest.starts_with('.')))
    }

    /// Whether a folder is the one holding the store (so names in it must be checked).
    pub(crate) fn in_dir(&self, dir: FileId) -> bool {
        self.dir == Some(dir)
    }

    /// Whether this protects anything.
    pub(crate) fn is_empty(&self) -> bool {
        self.file.is_none() && self.dir.is_none()
    }
}
