//! The store handle: one redb file holding objects, their reference counts and links, named
//! roots and the ordered index keyspaces of the layers above. Creating, opening, the totals and
//! compaction are here; reads and writes are transactions (`txn/`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use redb::{Database, ReadableDatabase, ReadableTableMetadata};

use crate::cold;
use crate::error::{DbResult, map_db_error, panic_message};
use crate::pack::PackCache;
use crate::schema::{
    K_BLOB_RAW, K_COLD_ROOTS, K_OBJECTS, K_RAW, K_STORED, META, ROOTS, check_format, initialize,
    read_counter,
};
use crate::txn::{ReadTxn, WriteTxn};
use crate::{Error, ObjectId, StoreRead};

/// How a store is opened. Construct with `StoreOptions::default()` and set fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreOptions {
    /// zstd level for new objects. Default: 3.
    pub zstd_level: i32,
    /// zstd level at which `gc` compresses packs. Backups stay fast, gc compresses hard, as
    /// `git gc` does. Default: 19.
    pub gc_zstd_level: i32,
    /// Most uncompressed bytes `gc` puts in one pack (an object larger than this gets a pack of
    /// its own). Larger packs compress better; reading any member of a pack decodes the whole
    /// pack once (decoded packs are cached, up to 4 of them). 0 leaves every object in a frame
    /// of its own. Default: 4 MiB.
    pub pack_bytes: u64,
    /// Largest object `put` accepts, and the most a stored frame may claim to decode to.
    /// Default: 64 MiB.
    pub max_object_size: u64,
    /// Page cache of the embedded database, in bytes. Default: 64 MiB.
    pub cache_size: usize,
    /// Longest chain of deltas a read may have to follow (objects put with a base are stored
    /// as a delta only below this depth); 0 stores everything whole. At most 64. Default: 16.
    pub max_delta_depth: u32,
    /// Let other processes open the store at the same time (writers take turns, readers never
    /// block). When `false` the first opener holds the file exclusively and others get
    /// [`Error::AlreadyOpen`]. Default: `true`.
    pub shared: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            zstd_level: 3,
            gc_zstd_level: 19,
            pack_bytes: 4 << 20,
            max_object_size: 64 << 20,
            cache_size: 64 << 20,
            max_delta_depth: 16,
            shared: true,
        }
    }
}

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
    pub(crate) path: PathBuf,
    pub(crate) options: StoreOptions,
    /// Where the file's size comes from when the store is not a file (fault-injection tests).
    pub(crate) size_probe: Option<Box<dyn Fn() -> u64 + Send + Sync>>,
    /// Set once the storage engine failed on this file: writes are refused from then on.
    pub(crate) damaged: std::sync::atomic::AtomicBool,
    /// Packs decoded lately (reading one member decodes its whole pack).
    pub(crate) packs: PackCache,
    /// The cold directory and blocks decoded lately.
    pub(crate) cold: cold::ColdCache,
    /// The shared index's space numbers (name → prefix) and the `meta.index_spaces` count they
    /// were read at (see `space`).
    pub(crate) spaces: SpaceMap,
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

/// See [`Store`]'s `spaces`.
pub(crate) type SpaceMap = Mutex<Option<(u64, Arc<std::collections::HashMap<String, Vec<u8>>>)>>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
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
                path: path.to_path_buf(),
                options: options.clone(),
                size_probe: None,
                damaged: Default::default(),
                packs: PackCache::default(),
                cold: Default::default(),
                spaces: Default::default(),
            };
            check_format(&store.db(), &store.path)?;
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
            path: label.to_path_buf(),
            options: options.clone(),
            size_probe: Some(size_probe),
            damaged: Default::default(),
            packs: PackCache::default(),
            cold: Default::default(),
            spaces: Default::default(),
        };
        check_format(&store.db(), &store.path)?;
        Ok(store)
    }

    /// Runs `f`, turning a panic of the storage engine (redb panics on some damaged files
    /// instead of returning an error) into [`Error::Damaged`]; the store then refuses writes.
    pub(crate) fn guarded<T>(&self, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(r) => r,
            Err(payload) => {
                self.damaged
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                Err(Error::Damaged {
                    path: self.path.clone(),
                    detail: panic_message(payload.as_ref()),
                })
            }
        }
    }

    /// Opens the store's file again (see `release_reserve`).
    pub(crate) fn open_database(&self) -> Result<Database, Error> {
        let (options, path) = (&self.options, &self.path);
        std::panic::catch_unwind(|| builder(options).open(path).db(path)).unwrap_or_else(
            |payload| {
                Err(Error::Damaged {
                    path: self.path.clone(),
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
        &self.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// Begins the one write transaction of a mutating operation. Writers take turns: this
    /// waits while another writer (thread or process) holds the store.
    pub fn write(&self) -> Result<WriteTxn<'_>, Error> {
        if self.damaged.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Damaged {
                path: self.path.clone(),
                detail: "an earlier operation found the file damaged; writes are refused".into(),
            });
        }
        let txn = self.guarded(|| self.db().begin_write().db(&self.path))?;
        Ok(WriteTxn::begin(self, txn))
    }

    /// Begins a read transaction: a consistent snapshot that never blocks writers.
    pub fn read(&self) -> Result<ReadTxn<'_>, Error> {
        let txn = self.guarded(|| self.db().begin_read().db(&self.path))?;
        Ok(ReadTxn::begin(self, txn))
    }

    /// Reads and verifies one object (a read transaction of its own).
    pub fn get(&self, id: &ObjectId) -> Result<Vec<u8>, Error> {
        self.read()?.get(id)
    }

    /// The totals of the store, in O(1).
    pub fn stats(&self) -> Result<Stats, Error> {
        self.guarded(|| {
            let r = self.read()?;
            let meta = r.raw().open_table(META).db(&self.path)?;
            let live = r
                .raw()
                .open_table(ROOTS)
                .db(&self.path)?
                .len()
                .db(&self.path)?;
            let roots = read_counter(&meta, K_COLD_ROOTS, &self.path)?.saturating_add(live);
            let file_bytes = match &self.size_probe {
                Some(probe) => probe(),
                None => fs::metadata(&self.path)
                    .map_err(|source| Error::Io {
                        action: "stat",
                        path: self.path.clone(),
                        source,
                    })?
                    .len(),
            };
            Ok(Stats {
                objects: read_counter(&meta, K_OBJECTS, &self.path)?,
                roots,
                raw_bytes: read_counter(&meta, K_RAW, &self.path)?,
                stored_bytes: read_counter(&meta, K_STORED, &self.path)?,
                blob_raw_bytes: read_counter(&meta, K_BLOB_RAW, &self.path)?,
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
                    return Err(map_db_error(e.into(), &self.path));
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
