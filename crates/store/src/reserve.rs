//! The reserve: space set aside beside the store so that deleting sessions and `gc` can run
//! on a full disk.
//!
//! redb writes copy-on-write: even a deletion needs free pages, and pages freed by a
//! transaction become reusable only after it commits. On a full device a store file without
//! free pages therefore cannot delete anything, and so cannot free anything. The reserve is a
//! file `.NAME.reserve` beside the store file `NAME` (docs/FORMAT.md, "The reserve") holding
//! incompressible bytes. It is created with the store and again by each `gc` when space allows,
//! and deleted only by [`Store::release_reserve`], which the operations that free space call
//! when they meet [`Error::NoSpace`] before they retry once. Backups never touch it.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use crate::{Error, Store};

/// Smallest reserve: room for deleting a few sessions (a few hundred B-tree pages).
const MIN_BYTES: u64 = 1 << 20;
/// Largest reserve.
const MAX_BYTES: u64 = 64 << 20;

impl Store {
    /// The path of the store's reserve: `.NAME.reserve` beside the store file `NAME`.
    pub fn reserve_path(&self) -> PathBuf {
        let name = self
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "store".into());
        self.path().with_file_name(format!(".{name}.reserve"))
    }

    /// How large the reserve is made for a store file of `file_bytes`: a thirty-second of it,
    /// at least 1 MiB and at most 64 MiB.
    pub fn reserve_bytes(file_bytes: u64) -> u64 {
        (file_bytes / 32).clamp(MIN_BYTES, MAX_BYTES)
    }

    /// Creates the reserve if it is missing and the device has room for it; returns whether
    /// a reserve exists afterwards. Never fails: a reserve that cannot be made (a full device,
    /// a read-only folder) is simply absent, and a partly written one is deleted again.
    pub(crate) fn keep_reserve(&self) -> bool {
        if self.size_probe.is_some() {
            // A store on a test backend has no folder to hold a reserve.
            return false;
        }
        let path = self.reserve_path();
        if fs::symlink_metadata(&path).is_ok() {
            return true;
        }
        let size = fs::metadata(self.path())
            .map(|m| Store::reserve_bytes(m.len()))
            .unwrap_or(MIN_BYTES);
        // Built under a temporary name and renamed, so that a reserve by its name is whole.
        let tmp = path.with_file_name(format!(
            "{}.tmp-{}",
            reserve_file_name(&path),
            std::process::id()
        ));
        let written = (|| -> std::io::Result<()> {
            let mut o = fs::OpenOptions::new();
            o.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                o.mode(0o600);
            }
            let mut f = o.open(&tmp)?;
            // Incompressible bytes (a xorshift sequence): a compressing file system would
            // store zeros in no space at all.
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut buf = vec![0u8; 64 << 10];
            let mut left = size;
            while left > 0 {
                for chunk in buf.chunks_exact_mut(8) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    chunk.copy_from_slice(&x.to_le_bytes());
                }
                let n = left.min(buf.len() as u64) as usize;
                f.write_all(&buf[..n])?;
                left -= n as u64;
            }
            f.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
            return false;
        }
        true
    }

    /// Gives up the reserve, so that an operation that frees space can run on a full device,
    /// and reopens the database (redb refuses every operation after an I/O error until it is
    /// reopened). Returns `false`, doing nothing, when there is no reserve to give up.
    ///
    /// Needs no transaction open on this store in this process. If the database cannot be
    /// reopened, the store answers every later operation with [`Error::Damaged`].
    pub fn release_reserve(&self) -> Result<bool, Error> {
        let path = self.reserve_path();
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(source) => {
                return Err(Error::Io {
                    action: "remove the reserve",
                    path,
                    source,
                });
            }
        }
        self.reopen()?;
        Ok(true)
    }

    /// Compacts the file alone, with no transaction of its own first: what `gc` does last,
    /// and the one part of it that needs no new pages beyond those it frees, so it can run on
    /// a full device once sessions were deleted. Returns whether the file changed, or why
    /// compaction could not run (another process holding a snapshot).
    pub fn shrink(&self) -> Result<Result<bool, String>, Error> {
        self.guarded(|| self.compact())
    }

    /// Closes the database and opens it again.
    fn reopen(&self) -> Result<(), Error> {
        let mut db = self
            .db
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // The old handle must be closed before the file is opened again in this process.
        db.close();
        match self.open_database() {
            Ok(new) => {
                db.put(new);
                Ok(())
            }
            Err(e) => {
                self.shared.mark_damaged();
                Err(e)
            }
        }
    }
}

fn reserve_file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
