//! The store handle: one redb file holding objects, their reference counts and links, named
//! roots and the ordered index keyspaces of the layers above. Creating, opening, the totals and
//! compaction are here; reads and writes are transactions (`txn/`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};

use redb::{Database, ReadableDatabase, ReadableTableMetadata};

use crate::error::{DbResult, map_db_error, panic_message};
use crate::options::StoreOptions;
use crate::schema::{
    K_BLOB_RAW, K_COLD_ROOTS, K_OBJECTS, K_RAW, K_STORED, META, ROOTS, check_format, initialize,
    read_counter,
};
use crate::txn::{ReadTxn, Shared, WriteTxn};
use crate::{Error, ObjectId, StoreRead};

/// Totals kept up to date by every commit, so reading them costs O(1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub objects: u64,
    pub roots: u64,
    /// Sum of the uncompressed sizes of all objects.
    pub raw_bytes: u64,
    /// Sum of the stored frame sizes of all objects.
    pub stored_bytes: u64,
    /// Sum of the uncompressed sizes of blobs alone (nodes excluded).
    pub blob_raw_bytes: u64,
    /// Size of the store file on disk.
    pub file_bytes: u64,
}

/// A cfgvault object store. `Send + Sync`: share it between threads by reference or `Arc`.
pub struct Store {
    // `RwLock` only so that `gc` can compact (which needs `&mut Database`) and
    // `release_reserve` reopen it while everything else shares the database; transactions are
    // independent of the guard once begun.
    pub(crate) db: RwLock<Closing>,
    /// What its transactions share: the path, the options, the caches, the damage flag.
    pub(crate) shared: Shared,
    /// Where the file's size comes from when the store is not a file (fault-injection tests).
    pub(crate) size_probe: Option<Box<dyn Fn() -> u64 + Send + Sync>>,
}

/// The database, closed on drop with redb's panics caught: closing writes the allocator state,
/// and redb panics on some damaged allocator states instead of returning an error (issue 22's
/// byte flips). Dropping a store never unwinds.
pub(crate) struct Closing(Option<Database>);

// The database is absent only when reopening it failed (`reserve.rs`); the store is then
// marked damaged and every use of it runs under `guarded`, which turns this panic into
// `Error::Damaged` with the message as its detail.
impl std::ops::Deref for Closing {
    type Target = Database;

    fn deref(&self) -> &Database {
        self.0
            .as_ref()
            .expect("the database is closed: reopening it failed")
    }
}

impl std::ops::DerefMut for Closing {
    fn deref_mut(&mut self) -> &mut Database {
        self.0
            .as_mut()
            .expect("the database is closed: reopening it failed")
    }
}

impl Closing {
    /// Closes the database (see `Drop`).
    pub(crate) fn close(&mut self) {
        if let Some(db) = self.0.take() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(db)));
        }
    }

    /// Holds a newly opened database.
    pub(crate) fn put(&mut self, db: Database) {
        self.close();
        self.0 = Some(db);
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Creates a new, empty store at `path`, creating missing parent directories. The file is
    /// created readable by its owner only (configs can hold credentials).
    pub fn create(path: impl AsRef<Path>, options: &StoreOptions) -> Result<Store, Error> {
        let path = path.as_ref();
        if path.exists() {
            return Err(Error::AlreadyExists {
                path: path.to_path_buf(),
            });
        }
        let parent = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(parent) => {
                fs::create_dir_all(parent).map_err(|source| Error::Io {
                    action: "create directory",
                    path: parent.to_path_buf(),
                    source,
                })?;
                parent.to_path_buf()
            }
            None => PathBuf::from("."),
        };
        // Build the store under a temporary name and give it its real name only when it is
        // complete, so no process (nor a crash) can ever see a half-made store there.
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "store".into());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let tmp = parent.join(format!(".{name}.creating-{}-{nanos}", std::process::id()));
        let built = (|| {
            create_private_file(&tmp)?;
            let db = builder(options).create(&tmp).db(&tmp)?;
            initialize(&db, &tmp)?;
            drop(db);
            fs::hard_link(&tmp, path).map_err(|source| match source.kind() {
                std::io::ErrorKind::AlreadyExists => Error::AlreadyExists {
                    path: path.to_path_buf(),
                },
                _ => Error::Io {
                    action: "name new store",
                    path: path.to_path_buf(),
                    source,
                },
            })
        })();
        let _ = fs::remove_file(&tmp);
        built?;
        let store = Store::open(path, options)?;
        store.keep_reserve();
        Ok(store)
    }

    /// Opens an existing store. A missing file, a file that is not a store, a store of another
    /// format and a store held exclusively elsewhere are each their own typed error.
    pub fn open(path: impl AsRef<Path>, options: &StoreOptions) -> Result<Store, Error> {
        let path = path.as_ref();
        match fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(Error::NotAStore {
                    path: path.to_path_buf(),
                    detail: "not a regular file".into(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    path: path.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(Error::Io {
                    action: "open",
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        // redb panics on some damaged files instead of returning an error: such a file is not
        // a store this build can open.
        let opened = std::panic::catch_unwind(|| {
            let db =
                builder(options)
                    .open(path)
                    .map_err(|e| match map_db_error(e.into(), path) {
                        Error::Database { source, .. } if !source.is_io() => Error::NotAStore {
                            path: path.to_path_buf(),
                            detail: source.to_string(),
                        },
                        other => other,
                    })?;
            let store = Store {
                db: RwLock::new(Closing(Some(db))),
                shared: Shared::new(path, options),
                size_probe: None,
            };
            check_format(&store.db(), path)?;
            Ok(store)
        });
        opened.unwrap_or_else(|payload| {
            Err(Error::NotAStore {
                path: path.to_path_buf(),
                detail: format!("damaged: {}", panic_message(payload.as_ref())),
            })
        })
    }

    /// Opens the store at `path`, creating it first if no file exists there.
    pub fn open_or_create(path: impl AsRef<Path>, options: &StoreOptions) -> Result<Store, Error> {
        let path = path.as_ref();
        match Store::open(path, options) {
            Err(Error::NotFound { .. }) => match Store::create(path, options) {
                // Another process created it between our two calls.
                Err(Error::AlreadyExists { .. }) => Store::open(path, options),
                r => r,
            },
            r => r,
        }
    }

    /// A store on a caller-supplied storage backend, for fault-injection tests.
    #[cfg(any(test, feature = "fault-injection"))]
    pub(crate) fn with_backend(
        backend: impl redb::StorageBackend + Clone,
        label: &Path,
        options: &StoreOptions,
        init: bool,
    ) -> Result<Store, Error> {
        let probe = backend.clone();
        let size_probe: Box<dyn Fn() -> u64 + Send + Sync> =
            Box::new(move || probe.len().unwrap_or(0));
        let mut b = builder(options);
        b.set_concurrency_mode(redb::ConcurrencyMode::ExclusiveWriter);
        let db = b.create_with_backend(backend).db(label)?;
        if init {
            initialize(&db, label)?;
        }
        let store = Store {
            db: RwLock::new(Closing(Some(db))),
            shared: Shared::new(label, options),
            size_probe: Some(size_probe),
        };
        check_format(&store.db(), label)?;
        Ok(store)
    }

    /// Runs `f`, turning a panic of the storage engine into [`Error::Damaged`] (see
    /// [`Shared::guarded`]).
    pub(crate) fn guarded<T>(&self, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        self.shared.guarded(f)
    }

    /// Opens the store's file again (see `release_reserve`).
    pub(crate) fn open_database(&self) -> Result<Database, Error> {
        let (options, path) = (&self.shared.options, &self.shared.path);
        std::panic::catch_unwind(|| builder(options).open(path).db(path)).unwrap_or_else(
            |payload| {
                Err(Error::Damaged {
                    path: self.shared.path.clone(),
                    detail: panic_message(payload.as_ref()),
                })
            },
        )
    }

    fn db(&self) -> RwLockReadGuard<'_, Closing> {
        self.db
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The path of the store file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.shared.options
    }

    /// Begins the one write transaction of a mutating operation. Writers take turns: this
    /// waits while another writer (thread or process) holds the store.
    pub fn write(&self) -> Result<WriteTxn<'_>, Error> {
        if self.shared.is_damaged() {
            return Err(Error::Damaged {
                path: self.shared.path.clone(),
                detail: "an earlier operation found the file damaged; writes are refused".into(),
            });
        }
        let txn = self.guarded(|| self.db().begin_write().db(&self.shared.path))?;
        Ok(WriteTxn::begin(&self.shared, txn))
    }

    /// Begins a read transaction: a consistent snapshot that never blocks writers.
    pub fn read(&self) -> Result<ReadTxn<'_>, Error> {
        let txn = self.guarded(|| self.db().begin_read().db(&self.shared.path))?;
        Ok(ReadTxn::begin(&self.shared, txn))
    }

    /// Reads and verifies one object (a read transaction of its own).
    pub fn get(&self, id: &ObjectId) -> Result<Vec<u8>, Error> {
        self.read()?.get(id)
    }

    /// The totals of the store, in O(1).
    pub fn stats(&self) -> Result<Stats, Error> {
        self.guarded(|| {
            let r = self.read()?;
            let meta = r.raw().open_table(META).db(&self.shared.path)?;
            let live = r
                .raw()
                .open_table(ROOTS)
                .db(&self.shared.path)?
                .len()
                .db(&self.shared.path)?;
            let roots = read_counter(&meta, K_COLD_ROOTS, &self.shared.path)?.saturating_add(live);
            let file_bytes = match &self.size_probe {
                Some(probe) => probe(),
                None => fs::metadata(&self.shared.path)
                    .map_err(|source| Error::Io {
                        action: "stat",
                        path: self.shared.path.clone(),
                        source,
                    })?
                    .len(),
            };
            Ok(Stats {
                objects: read_counter(&meta, K_OBJECTS, &self.shared.path)?,
                roots,
                raw_bytes: read_counter(&meta, K_RAW, &self.shared.path)?,
                stored_bytes: read_counter(&meta, K_STORED, &self.shared.path)?,
                blob_raw_bytes: read_counter(&meta, K_BLOB_RAW, &self.shared.path)?,
                file_bytes,
            })
        })
    }

    /// Shrinks the file by compacting it. Needs no transaction open in this process; in shared
    /// mode another process holding a snapshot can make it impossible, which is reported as
    /// `Ok(false)` with the reason.
    pub(crate) fn compact(&self) -> Result<Result<bool, String>, Error> {
        let mut db = self
            .db
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut any = false;
        // Each pass moves pages towards the start; a handful of passes reaches the fixpoint.
        for _ in 0..8 {
            match db.compact() {
                Ok(true) => any = true,
                Ok(false) => break,
                // A failing disk is an error; anything else (a reader or savepoint in the way)
                // only means compaction has to wait for another run.
                Err(redb::CompactionError::Storage(e)) => {
                    return Err(map_db_error(e.into(), &self.shared.path));
                }
                Err(e) => return Ok(Err(e.to_string())),
            }
        }
        Ok(Ok(any))
    }
}

fn builder(options: &StoreOptions) -> redb::Builder {
    let mut b = Database::builder();
    b.set_cache_size(options.cache_size);
    b.set_concurrency_mode(if options.shared {
        redb::ConcurrencyMode::MultiWriter
    } else {
        redb::ConcurrencyMode::ExclusiveWriter
    });
    b
}

fn create_private_file(path: &Path) -> Result<(), Error> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
        .map(drop)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => Error::AlreadyExists {
                path: path.to_path_buf(),
            },
            _ => Error::Io {
                action: "create store file",
                path: path.to_path_buf(),
                source,
            },
        })
}
