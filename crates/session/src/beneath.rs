//! File-system access beneath a directory handle, never following a symlink.
//!
//! Backups read and restores write relative to open directory handles: each step down is an
//! `openat` of one validated name with `O_NOFOLLOW | O_DIRECTORY`, each file is opened with
//! `O_NOFOLLOW`, and a restore's temporary file is created in the handle it is renamed in. A
//! folder swapped for a symlink between two steps therefore makes that step fail (`ELOOP` or
//! `ENOTDIR`): a process racing a backup or a restore can make it fail or skip a file, never
//! read from or write to a place the path does not reach through real folders. Checking a path
//! string and then using it could not promise that.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

/// An open directory. Cheap to clone (the handle is shared).
#[derive(Debug, Clone)]
pub(crate) struct Dir {
    fd: Arc<OwnedFd>,
}

/// What an entry of a directory is, without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

impl Kind {
    fn of(t: FileType) -> Kind {
        match t {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            _ => Kind::Other,
        }
    }
}

/// Device and inode: which file an entry is, whatever its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    /// The id in metadata already taken (of an open file: no further system call).
    pub(crate) fn of(m: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: m.dev(),
            ino: m.ino(),
        }
    }
}

/// An entry's own metadata (`lstat` relative to a handle).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub kind: Kind,
    pub id: FileId,
}

/// Whether an `openat` with `O_NOFOLLOW` failed because the name is a symlink (`ELOOP`) or,
/// for a directory, not a directory (`ENOTDIR`): the path changed under us, or never was a
/// chain of real folders.
pub(crate) fn is_not_followed(e: &io::Error) -> bool {
    matches!(
        rustix::io::Errno::from_io_error(e),
        Some(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR)
    )
}

impl Dir {
    /// Opens `path` as a directory. The path itself is trusted (it is what the caller named),
    /// so a symlink there is followed; nothing below it ever is.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir { fd: Arc::new(fd) })
    }

    /// The directory `name` inside this one, not following a symlink.
    pub fn dir(&self, name: &str) -> io::Result<Dir> {
        let fd = rustix::fs::openat(
            self.fd.as_fd(),
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir { fd: Arc::new(fd) })
    }

    /// The directory at `rel` (`/`-separated, validated names) below this one, each step
    /// taken without following a symlink.
    pub fn dir_at(&self, rel: &str) -> io::Result<Dir> {
        let mut d = self.clone();
        for name in rel.split('/').filter(|n| !n.is_empty()) {
            d = d.dir(name)?;
        }
        Ok(d)
    }

    /// Creates the directory `name` (mode `0o777` less the umask).
    pub fn mkdir(&self, name: &str) -> io::Result<()> {
        rustix::fs::mkdirat(self.fd.as_fd(), name, Mode::from_raw_mode(0o777))?;
        Ok(())
    }

    /// The entry `name` itself (a symlink is not followed); `None` when there is none.
    pub fn entry(&self, name: &str) -> io::Result<Option<Entry>> {
        match rustix::fs::statat(self.fd.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Entry {
                kind: Kind::of(FileType::from_raw_mode(st.st_mode)),
                id: FileId {
                    dev: st.st_dev,
                    ino: st.st_ino,
                },
            })),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens the file `name` for reading, not following a symlink and not blocking on a FIFO.
    /// The caller checks that what it opened is a regular file (`File::metadata`).
    pub fn open_file(&self, name: &str) -> io::Result<File> {
        let fd = rustix::fs::openat(
            self.fd.as_fd(),
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(File::from(fd))
    }

    /// Creates a new file named `prefix` plus a unique suffix (mode `0o600`), returning its
    /// name and the open file.
    pub fn create_temp(&self, prefix: &str) -> io::Result<(String, File)> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut attempt = 0;
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("{prefix}{}-{nanos:08x}-{n}", std::process::id());
            match rustix::fs::openat(
                self.fd.as_fd(),
                name.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            ) {
                Ok(fd) => return Ok((name, File::from(fd))),
                Err(rustix::io::Errno::EXIST) if attempt < 100 => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Renames `from` to `to`, both in this directory (replacing `to` atomically).
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        rustix::fs::renameat(self.fd.as_fd(), from, self.fd.as_fd(), to)?;
        Ok(())
    }

    /// Removes the file `name`.
    pub fn remove_file(&self, name: &str) -> io::Result<()> {
        rustix::fs::unlinkat(self.fd.as_fd(), name, AtFlags::empty())?;
        Ok(())
    }

    /// Syncs the directory's entries to disk.
    pub fn sync(&self) -> io::Result<()> {
        rustix::fs::fsync(self.fd.as_fd())?;
        Ok(())
    }

    /// This directory's device and inode.
    pub fn id(&self) -> io::Result<FileId> {
        let st = rustix::fs::fstat(self.fd.as_fd())?;
        Ok(FileId {
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }

    /// The names in this directory (not `.` and `..`) with what each is, not following
    /// symlinks. Names that are not UTF-8 are returned as `Err(bytes)`.
    #[allow(clippy::type_complexity)]
    pub fn list(&self) -> io::Result<Vec<(Result<String, Vec<u8>>, Kind)>> {
        let mut out = Vec::new();
        for entry in rustix::fs::Dir::read_from(self.fd.as_fd())? {
            let entry = entry?;
            let name: &CStr = entry.file_name();
            let bytes = name.to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let name = String::from_utf8(bytes.to_vec()).map_err(|e| e.into_bytes());
            let kind = match entry.file_type() {
                FileType::Unknown => match rustix::fs::statat(
                    self.fd.as_fd(),
                    entry.file_name(),
                    AtFlags::SYMLINK_NOFOLLOW,
                ) {
                    Ok(st) => Kind::of(FileType::from_raw_mode(st.st_mode)),
                    // Gone since it was listed: nothing to read.
                    Err(rustix::io::Errno::NOENT) => continue,
                    Err(e) => return Err(e.into()),
                },
                t => Kind::of(t),
            };
            out.push((name, kind));
        }
        Ok(out)
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl PartialEq for Dir {
    /// The same handle (not merely the same directory).
    fn eq(&self, other: &Dir) -> bool {
        Arc::ptr_eq(&self.fd, &other.fd)
    }
}

impl Eq for Dir {}
