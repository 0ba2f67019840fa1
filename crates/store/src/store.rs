//! The store: one redb file holding objects, their reference counts and links, named roots
//! and the ordered index keyspaces of the layers above. This is the only module that names redb.

use std::collections::BTreeSet;
use std::fs;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableError,
};

use crate::codec::{self, ObjectKind};
use crate::cold::{self, COLD, K_COLD, NS_INDEX, NS_PACK_IDS, NS_ROOTS, TOMBS};
use crate::entries::{self, PACK_IDS};
use crate::hotpin::HotPin;
use crate::pack::{self, Loc, PACKS, Pack, PackCache};
use crate::{Error, ObjectId};

/// The one store format this build reads and writes. See docs/FORMAT.md.
pub const FORMAT_VERSION: u32 = 1;
/// How a file says it is in format 1: `meta.schema_version` holds this number (the layouts
/// before format 1 were numbered 1 to 9; no build reads them).
const FORMAT_1_MARK: u32 = 10;
const MAGIC: &[u8] = b"cfgvault-store";

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Frames by sequence number: keys grow with every new object, so pages fill densely.
pub(crate) const OBJECTS: TableDefinition<u64, &[u8]> = TableDefinition::new("objects");
/// Object id → (sequence number of its frame, reference count).
pub(crate) const IDS: TableDefinition<[u8; 32], (u64, u64)> = TableDefinition::new("ids");
pub(crate) const ROOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("roots");
/// The one table every index keyspace lives in: a key is the space's number (LEB128, so no
/// number's bytes start another's) then the caller's key.
pub(crate) const INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("index");
/// In `meta`: always `shared` (the index keyspaces share [`INDEX`]).
const K_INDEX_LAYOUT: &str = "index_layout";
const SHARED_LAYOUT: &[u8] = b"shared";
/// In `meta`: the last space number given out; `index_space:<name>` holds each space's.
const K_INDEX_SPACES: &str = "index_spaces";
const K_INDEX_SPACE: &str = "index_space:";
/// The first key after every `index_space:` key.
const K_INDEX_SPACE_END: &str = "index_space;";

const K_MAGIC: &str = "magic";
pub(crate) const K_SCHEMA: &str = "schema_version";
pub(crate) const K_OBJECTS: &str = "count.objects";
pub(crate) const K_RAW: &str = "count.raw_bytes";
pub(crate) const K_STORED: &str = "count.stored_bytes";
pub(crate) const K_BLOB_RAW: &str = "count.blob_raw_bytes";
pub(crate) const K_NEXT_SEQ: &str = "next_seq";
/// The number of roots less the length of the `roots` table: a new root does not change it.
pub(crate) const K_COLD_ROOTS: &str = "count.cold_roots";
/// The hot pin (`hotpin.rs`); absent when there is none.
pub(crate) const K_HOT_PIN: &str = "hot_pin";

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

/// A named root: holds one reference to `id`, with small caller-defined metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub name: String,
    pub id: ObjectId,
    pub meta: Vec<u8>,
}

/// The result of putting an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Put {
    pub id: ObjectId,
    /// Whether the object was new to the store (false: only the caller's link will count).
    pub new: bool,
    /// Bytes of the stored frame, 0 when the object already existed.
    pub stored_bytes: u64,
}

/// What a committed write transaction changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitOutcome {
    pub objects_added: u64,
    pub objects_removed: u64,
    /// Stored (compressed) bytes of objects added.
    pub bytes_added: u64,
    /// Stored bytes of objects removed. For a packed object, its share of its pack (in
    /// proportion to its size), which the store file gives back when `gc` next repacks.
    pub bytes_freed: u64,
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
    // `RwLock` only so that `gc` can compact (which needs `&mut Database`) while everything
    // else shares the database; transactions are independent of the guard once begun.
    db: RwLock<Database>,
    path: PathBuf,
    options: StoreOptions,
    /// Where the file's size comes from when the store is not a file (fault-injection tests).
    size_probe: Option<Box<dyn Fn() -> u64 + Send + Sync>>,
    /// Set once the storage engine failed on this file: writes are refused from then on.
    damaged: std::sync::atomic::AtomicBool,
    /// Packs decoded lately (reading one member decodes its whole pack).
    pub(crate) packs: PackCache,
    /// The cold directory and blocks decoded lately.
    pub(crate) cold: cold::ColdCache,
    /// The shared index's space numbers (name → prefix) and the `meta.index_spaces` count they
    /// were read at (see `space`).
    spaces: SpaceMap,
}

/// See [`Store`]'s `spaces`.
type SpaceMap = Mutex<Option<(u64, Arc<std::collections::HashMap<String, Vec<u8>>>)>>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

pub(crate) trait DbResult<T> {
    fn db(self, path: &Path) -> Result<T, Error>;
}

impl<T, E: Into<redb::Error>> DbResult<T> for Result<T, E> {
    fn db(self, path: &Path) -> Result<T, Error> {
        self.map_err(|e| map_db_error(e.into(), path))
    }
}

fn map_db_error(e: redb::Error, path: &Path) -> Error {
    match e {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
            Error::AlreadyOpen {
                path: path.to_path_buf(),
            }
        }
        other => Error::Database {
            path: path.to_path_buf(),
            source: crate::error::DatabaseError::new(other),
        },
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
        Store::open(path, options)
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
                db: RwLock::new(db),
                path: path.to_path_buf(),
                options: options.clone(),
                size_probe: None,
                damaged: Default::default(),
                packs: PackCache::default(),
                cold: Default::default(),
                spaces: Default::default(),
            };
            store.check_format()?;
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

    /// Refuses a file that is not a cfgvault store, or not one of [`FORMAT_VERSION`].
    fn check_format(&self) -> Result<(), Error> {
        let not_a_store = |detail: &str| Error::NotAStore {
            path: self.path.clone(),
            detail: detail.to_string(),
        };
        let txn = self.db().begin_read().db(&self.path)?;
        let meta = match txn.open_table(META) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => {
                return Err(not_a_store("no cfgvault metadata table"));
            }
            Err(e) => return Err(not_a_store(&e.to_string())),
        };
        let magic = meta.get(K_MAGIC).db(&self.path)?;
        if magic.as_ref().map(|v| v.value()) != Some(MAGIC) {
            return Err(not_a_store("metadata lacks the cfgvault magic"));
        }
        let mark = meta
            .get(K_SCHEMA)
            .db(&self.path)?
            .and_then(|v| <[u8; 4]>::try_from(v.value()).ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| not_a_store("schema version missing"))?;
        if mark != FORMAT_1_MARK {
            return Err(Error::UnsupportedFormat {
                path: self.path.clone(),
                found: mark,
                supported: FORMAT_VERSION,
            });
        }
        Ok(())
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
            db: RwLock::new(db),
            path: label.to_path_buf(),
            options: options.clone(),
            size_probe: Some(size_probe),
            damaged: Default::default(),
            packs: PackCache::default(),
            cold: Default::default(),
            spaces: Default::default(),
        };
        store.check_format()?;
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

    fn db(&self) -> RwLockReadGuard<'_, Database> {
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
        Ok(WriteTxn {
            store: self,
            txn,
            zero: BTreeSet::new(),
            next_seq: None,
            delta: Delta::default(),
            outcome: CommitOutcome::default(),
            memo: Memo::default(),
            hot_changed: false,
            roots_total: None,
        })
    }

    /// Begins a read transaction: a consistent snapshot that never blocks writers.
    pub fn read(&self) -> Result<ReadTxn<'_>, Error> {
        let txn = self.guarded(|| self.db().begin_read().db(&self.path))?;
        Ok(ReadTxn {
            store: self,
            txn,
            memo: Memo::default(),
        })
    }

    /// Reads and verifies one object (a read transaction of its own).
    pub fn get(&self, id: &ObjectId) -> Result<Vec<u8>, Error> {
        self.read()?.get(id)
    }

    /// The totals of the store, in O(1).
    pub fn stats(&self) -> Result<Stats, Error> {
        self.guarded(|| {
            let r = self.read()?;
            let meta = r.txn.open_table(META).db(&self.path)?;
            let live = r
                .txn
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

/// Writes the metadata and creates the fixed tables of a new store, in one transaction.
fn initialize(db: &Database, path: &Path) -> Result<(), Error> {
    let txn = db.begin_write().db(path)?;
    {
        let mut meta = txn.open_table(META).db(path)?;
        meta.insert(K_MAGIC, MAGIC).db(path)?;
        meta.insert(K_SCHEMA, FORMAT_1_MARK.to_le_bytes().as_slice())
            .db(path)?;
        for k in [
            K_OBJECTS,
            K_RAW,
            K_STORED,
            K_BLOB_RAW,
            K_NEXT_SEQ,
            K_COLD_ROOTS,
        ] {
            meta.insert(k, 0u64.to_le_bytes().as_slice()).db(path)?;
        }
        meta.insert(K_INDEX_LAYOUT, SHARED_LAYOUT).db(path)?;
        // Create every fixed table so that read transactions find them.
        txn.open_table(OBJECTS).db(path)?;
        txn.open_table(IDS).db(path)?;
        txn.open_table(PACK_IDS).db(path)?;
        txn.open_table(TOMBS).db(path)?;
        txn.open_table(ROOTS).db(path)?;
        txn.open_table(INDEX).db(path)?;
    }
    txn.commit().db(path)?;
    Ok(())
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
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

pub(crate) fn read_counter(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
    path: &Path,
) -> Result<u64, Error> {
    Ok(read_counter_opt(meta, key, path)?.unwrap_or(0))
}

/// A counter of `meta` (0 when absent).
fn read_counter_opt(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
    path: &Path,
) -> Result<Option<u64>, Error> {
    Ok(meta
        .get(key)
        .db(path)?
        .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
        .map(u64::from_le_bytes))
}

fn validate_name(name: &str, what: &'static str) -> Result<(), Error> {
    let bad = |reason| Error::InvalidName {
        name: name.chars().take(200).collect(),
        reason,
    };
    if name.is_empty() {
        return Err(bad(what));
    }
    if name.len() > 1024 {
        return Err(bad("longer than 1024 bytes"));
    }
    if name.contains('\0') {
        return Err(bad("contains NUL"));
    }
    Ok(())
}

pub(crate) fn decode_root(name: &str, value: &[u8]) -> Option<Root> {
    let id = ObjectId::from_slice(value.get(..32)?)?;
    Some(Root {
        name: name.to_string(),
        id,
        meta: value[32..].to_vec(),
    })
}

/// Reads shared by [`ReadTxn`] and [`WriteTxn`], so layers above can write code once for both.
pub trait StoreRead {
    /// Reads an object and checks its hash (invariant I4).
    fn get(&self, id: &ObjectId) -> Result<Vec<u8>, Error>;
    /// Whether the object exists.
    fn contains(&self, id: &ObjectId) -> Result<bool, Error>;
    /// Whether each object exists, in order: one call for many objects costs little more than
    /// one [`StoreRead::contains`].
    fn contains_each(&self, ids: &[ObjectId]) -> Result<Vec<bool>, Error>;
    /// The object's uncompressed size, from its header, without decoding it.
    fn raw_size(&self, id: &ObjectId) -> Result<u64, Error>;
    /// The size of the object's stored frame, in bytes.
    fn stored_size(&self, id: &ObjectId) -> Result<u64, Error>;
    /// The object's reference count, `None` when absent.
    fn refcount(&self, id: &ObjectId) -> Result<Option<u64>, Error>;
    /// Everything this object holds a reference to: a node's links (in order), then the base
    /// of a delta frame. Empty for a whole blob.
    fn links(&self, id: &ObjectId) -> Result<Vec<ObjectId>, Error>;
    /// One root by name.
    fn root(&self, name: &str) -> Result<Option<Root>, Error>;
    /// Roots whose names start with `prefix`, in name order.
    fn roots(&self, prefix: &str) -> Result<Vec<Root>, Error>;
    /// One value of an index keyspace.
    fn index_get(&self, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Error>;
    /// Entries of an index keyspace within bounds, in key order (or reversed), at most `limit`.
    fn index_range(
        &self,
        space: &str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, Error> {
        Ok(self
            .index_ranges(space, &[(start, end)], reverse, limit)?
            .pop()
            .unwrap_or_default())
    }
    /// [`StoreRead::index_range`] for each of `ranges`, in order: one call for many ranges
    /// costs little more than one.
    fn index_ranges(
        &self,
        space: &str,
        ranges: &[KeyRange<'_>],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Vec<IndexEntry>>, Error>;
    /// Entries whose keys start with `prefix`, in key order, at most `limit`.
    fn index_prefix(
        &self,
        space: &str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<IndexEntry>, Error> {
        match prefix_end(prefix) {
            Some(end) => self.index_range(
                space,
                Bound::Included(prefix),
                Bound::Excluded(&end),
                false,
                limit,
            ),
            None => self.index_range(
                space,
                Bound::Included(prefix),
                Bound::Unbounded,
                false,
                limit,
            ),
        }
    }
    /// Number of entries in an index keyspace: O(1) in a store created before schema 3 (a
    /// table per space), a count over the space's range in one created since (one table shared
    /// by all spaces, which saves a partly filled page or more per space).
    fn index_len(&self, space: &str) -> Result<u64, Error>;

    /// What releasing one reference to each of `ids` would free (objects, stored bytes),
    /// computed without writing: the same cascade a commit performs, run on a copy of the
    /// counts it touches. Used to show a retention plan before applying it.
    fn simulate_release(&self, ids: &[ObjectId]) -> Result<Freed, Error> {
        let mut counts: std::collections::HashMap<ObjectId, u64> = std::collections::HashMap::new();
        let mut stack: Vec<ObjectId> = ids.to_vec();
        let mut freed = Freed::default();
        while let Some(id) = stack.pop() {
            let n = match counts.get(&id) {
                Some(n) => *n,
                None => match self.refcount(&id)? {
                    Some(n) => n,
                    None => continue,
                },
            };
            let n = n.saturating_sub(1);
            counts.insert(id, n);
            if n == 0 {
                freed.objects += 1;
                freed.bytes += self.stored_size(&id)?;
                stack.extend(self.links(&id)?);
            }
        }
        Ok(freed)
    }
}

/// One key and value of an index keyspace.
pub type IndexEntry = (Vec<u8>, Vec<u8>);

/// Bounds of a key range of an index keyspace.
pub type KeyRange<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// Objects and stored bytes a release would free.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freed {
    pub objects: u64,
    pub bytes: u64,
}

/// The smallest key greater than every key starting with `prefix` (None: no such key).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The `meta` key holding index keyspace `space`'s number in the shared [`INDEX`] table.
fn space_key(space: &str) -> Result<String, Error> {
    validate_name(space, "empty index space name")?;
    Ok(format!("{K_INDEX_SPACE}{space}"))
}

// Shared table readers: redb's `ReadableTable` is implemented by write-transaction tables and
// read-only tables alike.

/// Gives decoded pack `pack`; the id is the object being read, named in errors.
pub(crate) type PackReader<'a> = dyn Fn(u64, &ObjectId) -> Result<Arc<Pack>, Error> + 'a;

/// Gives the pack index's value at a key (`None`: no such key, or no pack index yet).
pub(crate) type PackIdsReader<'a> = dyn Fn(u64) -> Result<Option<Vec<u8>>, Error> + 'a;

/// Gives the `objects` table (opened on first use).
pub(crate) type ObjectsReader<'a, O> = dyn Fn() -> Result<&'a O, Error> + 'a;

/// What a read of objects needs: the `ids` and `objects` tables, the pack index, a way to get
/// a decoded pack (through the store's cache), the size limit and the path for errors.
pub(crate) struct Src<'a, I, O> {
    /// References counted in the hot pin rather than in the hot object's entry.
    pub hot: HotPin,
    pub ids: &'a I,
    pub objects: &'a ObjectsReader<'a, O>,
    pub pack_ids: &'a PackIdsReader<'a>,
    pub packs: &'a PackReader<'a>,
    pub max: u64,
    pub path: &'a Path,
}

/// Which table holds an object's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// `ids`, under the full id: a loose object.
    Ids,
    /// An item of the pack index, under the id's first 8 bytes (`entries.rs`).
    PackIds { pack: u64, member: u32 },
}

/// An object's entry: where it is and how many references it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub loc: Loc,
    pub count: u64,
    pub slot: Slot,
}

/// An object as stored: a frame of its own, or a member of a pack.
pub(crate) enum Stored {
    Frame(Vec<u8>),
    Member { pack: Arc<Pack>, member: u32 },
}

/// What an object's stored form says about it without decoding it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Info {
    pub kind: ObjectKind,
    pub raw_len: u64,
    pub base: Option<ObjectId>,
    pub depth: u64,
    /// Its frame's bytes; for a pack member, its share of the pack's.
    pub stored: u64,
}

impl Stored {
    pub(crate) fn info(&self, id: &ObjectId) -> Result<Info, Error> {
        match self {
            Stored::Frame(frame) => {
                let h = codec::header(id, frame)?;
                Ok(Info {
                    kind: h.kind,
                    raw_len: h.raw_len,
                    base: h.base(),
                    depth: h.depth(),
                    stored: frame.len() as u64,
                })
            }
            Stored::Member { pack, member } => {
                let (kind, bytes) = member_of(pack, *member, id)?;
                Ok(Info {
                    kind,
                    raw_len: bytes.len() as u64,
                    base: None,
                    depth: 0,
                    stored: pack.stored_share(bytes.len() as u64),
                })
            }
        }
    }
}

fn member_of<'p>(
    pack: &'p Pack,
    member: u32,
    id: &ObjectId,
) -> Result<(ObjectKind, &'p [u8]), Error> {
    pack.member(member).ok_or_else(|| Error::Corrupt {
        id: *id,
        detail: format!("its pack has no member {member}"),
    })
}

/// `id`'s entry, if it has one: in `ids`, else in the pack index, where an item counts only if
/// the member it names hashes to `id`.
pub(crate) fn t_entry<I, O>(src: &Src<'_, I, O>, id: &ObjectId) -> Result<Option<Entry>, Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    if let Some(v) = src.ids.get(id.as_bytes()).db(src.path)? {
        let (seq, count) = v.value();
        return Ok(Some(Entry {
            loc: Loc::Loose(seq),
            count: count.saturating_add(src.hot.count_of(id)),
            slot: Slot::Ids,
        }));
    }
    let key = entries::key(id);
    let Some(value) = (src.pack_ids)(key)? else {
        return Ok(None);
    };
    let items = entries::decode(&value).ok_or_else(|| Error::Corrupt {
        id: *id,
        detail: format!("its pack index entry {key:016x} is malformed"),
    })?;
    for item in items {
        let pack = (src.packs)(item.pack, id)?;
        if pack.member_id(item.member) == Some(*id) {
            return Ok(Some(Entry {
                loc: Loc::Packed {
                    pack: item.pack,
                    member: item.member,
                },
                count: item.count.saturating_add(src.hot.count_of(id)),
                slot: Slot::PackIds {
                    pack: item.pack,
                    member: item.member,
                },
            }));
        }
    }
    Ok(None)
}

/// The id of the pack index's `item` under `key`: the hash of the member it names, which must
/// begin with `key`.
pub(crate) fn t_item_id<I, O>(
    src: &Src<'_, I, O>,
    key: u64,
    item: &entries::Item,
) -> Result<ObjectId, Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    let corrupt = |detail: String| Error::CorruptPack {
        pack: item.pack,
        detail,
    };
    // No id is known before the member is hashed; errors name the pack instead.
    let pack = (src.packs)(item.pack, &ObjectId::from_bytes([0; 32])).map_err(|e| match e {
        Error::Corrupt { detail, .. } => {
            let prefix = format!("pack {}: ", item.pack);
            corrupt(detail.strip_prefix(&prefix).unwrap_or(&detail).to_string())
        }
        other => other,
    })?;
    let id = pack.member_id(item.member).ok_or_else(|| {
        corrupt(format!(
            "the pack index names member {}, which it does not have",
            item.member
        ))
    })?;
    if entries::key(&id) != key {
        return Err(corrupt(format!(
            "member {} hashes to {id}, which the pack index key {key:016x} does not begin",
            item.member
        )));
    }
    Ok(id)
}

/// Empties table `def`.
fn clear<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
    path: &Path,
) -> Result<(), Error> {
    txn.open_table(def).db(path)?.retain(|_, _| false).db(path)
}

/// The cold key of pack index key `key`.
pub(crate) fn pack_ids_cold_key(key: u64) -> Vec<u8> {
    cold::cold_key(NS_PACK_IDS, &key.to_be_bytes())
}

/// [`t_entry`], an absent object being [`Error::ObjectMissing`].
pub(crate) fn t_entry_req<I, O>(src: &Src<'_, I, O>, id: &ObjectId) -> Result<Entry, Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    t_entry(src, id)?.ok_or(Error::ObjectMissing { id: *id })
}

/// `id` as stored (its frame copied out, or its pack).
pub(crate) fn t_stored<I, O>(src: &Src<'_, I, O>, id: &ObjectId) -> Result<Stored, Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    match t_entry_req(src, id)?.loc {
        Loc::Loose(seq) => {
            let frame = (src.objects)()?
                .get(seq)
                .db(src.path)?
                .ok_or_else(|| Error::Corrupt {
                    id: *id,
                    detail: format!("its frame {seq} is missing"),
                })?;
            Ok(Stored::Frame(frame.value().to_vec()))
        }
        Loc::Packed { pack, member } => Ok(Stored::Member {
            pack: (src.packs)(pack, id)?,
            member,
        }),
    }
}

/// Decodes `id`, following its delta chain down to a whole frame (or a pack member) and back
/// up, checking every level's hash. The chain is bounded by `MAX_DEPTH_LIMIT` and its depths
/// must descend.
pub(crate) fn t_load<I, O>(
    src: &Src<'_, I, O>,
    id: &ObjectId,
) -> Result<(ObjectKind, Vec<u8>), Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    t_load_cached(src, id, None)
}

/// Decoded bases kept while walking many objects (verify): a delta chain's lower levels are
/// then decoded once, not once per object above them. Bounded in bytes; starts over when full.
#[derive(Default)]
pub(crate) struct BaseCache {
    bytes: std::collections::HashMap<ObjectId, (ObjectKind, std::sync::Arc<Vec<u8>>)>,
    size: usize,
}

impl BaseCache {
    const BUDGET: usize = 64 << 20;

    fn get(&self, id: &ObjectId) -> Option<(ObjectKind, std::sync::Arc<Vec<u8>>)> {
        self.bytes.get(id).cloned()
    }

    pub(crate) fn put(&mut self, id: ObjectId, kind: ObjectKind, bytes: std::sync::Arc<Vec<u8>>) {
        if self.size + bytes.len() > Self::BUDGET {
            self.bytes.clear();
            self.size = 0;
        }
        self.size += bytes.len();
        self.bytes.insert(id, (kind, bytes));
    }
}

/// [`t_load`], reading and filling `cache` with the bases it decodes on the way.
pub(crate) fn t_load_cached<I, O>(
    src: &Src<'_, I, O>,
    id: &ObjectId,
    mut cache: Option<&mut BaseCache>,
) -> Result<(ObjectKind, Vec<u8>), Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    let mut chain: Vec<(ObjectId, Vec<u8>)> = Vec::new();
    let mut cur = *id;
    let mut want_depth: Option<u64> = None;
    let mut start: Option<(ObjectKind, std::sync::Arc<Vec<u8>>)> = None;
    loop {
        if cur != *id
            && let Some(hit) = cache.as_ref().and_then(|c| c.get(&cur))
        {
            start = Some(hit);
            break;
        }
        let frame = match t_stored(src, &cur)? {
            Stored::Frame(frame) => frame,
            Stored::Member { pack, member } => {
                // A pack member is whole: the bottom of any chain.
                let (kind, bytes) = member_of(&pack, member, &cur)?;
                let actual = pack.member_id(member).unwrap_or_else(|| kind.id_of(bytes));
                if actual != cur {
                    return Err(Error::Corrupt {
                        id: cur,
                        detail: format!("its pack member hashes to {actual}"),
                    });
                }
                start = Some((kind, std::sync::Arc::new(bytes.to_vec())));
                break;
            }
        };
        let h = codec::header(&cur, &frame)?;
        // Depths must strictly descend along a chain (a base re-encoded whole by gc sits lower
        // than its dependents claim), which bounds every read by the top frame's depth.
        if want_depth.is_some_and(|d| h.depth() >= d) {
            return Err(Error::Corrupt {
                id: cur,
                detail: "delta chain depth does not descend".into(),
            });
        }
        let base = h.base();
        chain.push((cur, frame));
        match base {
            Some(b) => {
                want_depth = Some(h.depth());
                cur = b;
            }
            None => break,
        }
    }
    let mut bytes: Option<(ObjectKind, std::sync::Arc<Vec<u8>>)> = start;
    while let Some((cid, frame)) = chain.pop() {
        let base = bytes.as_ref().map(|(_, b)| b.as_slice());
        let (kind, decoded) = codec::decode_with(&cid, &frame, src.max, base)?;
        let decoded = std::sync::Arc::new(decoded);
        // Keep what others may be based on (everything below the top of this chain).
        if cid != *id
            && let Some(c) = cache.as_deref_mut()
        {
            c.put(cid, kind, decoded.clone());
        }
        bytes = Some((kind, decoded));
    }
    let (kind, bytes) = bytes.ok_or(Error::ObjectMissing { id: *id })?;
    Ok((
        kind,
        std::sync::Arc::try_unwrap(bytes).unwrap_or_else(|shared| (*shared).clone()),
    ))
}

/// Everything `id` holds a reference to: a node's links, then a delta frame's base.
pub(crate) fn t_refs<I, O>(src: &Src<'_, I, O>, id: &ObjectId) -> Result<Vec<ObjectId>, Error>
where
    I: ReadableTable<[u8; 32], (u64, u64)>,
    O: ReadableTable<u64, &'static [u8]>,
{
    let info = t_stored(src, id)?.info(id)?;
    let mut refs = Vec::new();
    if info.kind == ObjectKind::Node {
        let (_, bytes) = t_load(src, id)?;
        refs = codec::split_node(&bytes)
            .map(|(links, _)| links)
            .ok_or_else(|| Error::Corrupt {
                id: *id,
                detail: "malformed node links".into(),
            })?;
    }
    refs.extend(info.base);
    Ok(refs)
}

/// The table in `cell`, opened by `open` on first use; `None` when the store has no such table
/// yet. Opening a redb table costs more than most lookups made in it, so a read opens only what
/// it comes to need.
fn lazy<'c, T>(
    cell: &'c std::cell::OnceCell<Option<T>>,
    open: impl FnOnce() -> Result<T, TableError>,
    path: &Path,
) -> Result<Option<&'c T>, Error> {
    if let Some(t) = cell.get() {
        return Ok(t.as_ref());
    }
    let t = match open() {
        Ok(t) => Some(t),
        Err(TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(e).db(path),
    };
    Ok(cell.get_or_init(|| t).as_ref())
}

/// The key prefix of the space whose `meta` entry `key` holds `value`.
fn space_number(key: &str, value: &[u8], path: &Path) -> Result<Vec<u8>, Error> {
    let n = <[u8; 8]>::try_from(value)
        .map(u64::from_le_bytes)
        .map_err(|_| Error::Damaged {
            path: path.to_path_buf(),
            detail: format!("meta '{key}' is not a u64"),
        })?;
    let mut prefix = Vec::with_capacity(2);
    codec::write_varint(&mut prefix, n);
    Ok(prefix)
}

/// Bounds within a space of the shared index table: `prefix` (the space's number) before each
/// key; unbounded ends stop at the space's first and last keys.
fn shared_bounds(
    prefix: &[u8],
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let with = |k: &[u8]| [prefix, k].concat();
    let start = match start {
        Bound::Included(k) => Bound::Included(with(k)),
        Bound::Excluded(k) => Bound::Excluded(with(k)),
        Bound::Unbounded => Bound::Included(prefix.to_vec()),
    };
    // The prefix with its last byte raised sorts after every key of the space and before any
    // other space's: a LEB128 number's last byte is below 0x80, and no number's bytes start
    // another's.
    let mut past = prefix.to_vec();
    if let Some(last) = past.last_mut() {
        *last += 1;
    }
    let end = match end {
        Bound::Included(k) => Bound::Included(with(k)),
        Bound::Excluded(k) => Bound::Excluded(with(k)),
        Bound::Unbounded => Bound::Excluded(past),
    };
    (start, end)
}

fn borrowed(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    b.as_ref().map(Vec::as_slice)
}

/// The key of a range that holds one key at most (both bounds included and equal), when
/// entries are asked for.
fn point_key<'k>(r: &KeyRange<'k>, limit: usize) -> Option<&'k [u8]> {
    match r {
        (Bound::Included(a), Bound::Included(b)) if a == b && limit > 0 => Some(a),
        _ => None,
    }
}

/// [`t_range`] within one space of the shared index table, keys returned without the prefix.
fn t_range_shared(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
    reverse: bool,
    limit: usize,
    path: &Path,
) -> Result<Vec<IndexEntry>, Error> {
    let (start, end) = shared_bounds(prefix, start, end);
    let mut out = t_range(t, borrowed(&start), borrowed(&end), reverse, limit, path)?;
    for (k, _) in &mut out {
        k.drain(..prefix.len());
    }
    Ok(out)
}

/// Entries of one space of the shared index table: a count over its range.
fn t_len_shared(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
    path: &Path,
) -> Result<u64, Error> {
    let (start, end) = shared_bounds(prefix, Bound::Unbounded, Bound::Unbounded);
    let range = t
        .range::<&[u8]>((borrowed(&start), borrowed(&end)))
        .db(path)?;
    let mut n = 0u64;
    for item in range {
        item.db(path)?;
        n += 1;
    }
    Ok(n)
}

fn t_range(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
    reverse: bool,
    limit: usize,
    path: &Path,
) -> Result<Vec<IndexEntry>, Error> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let range = t.range::<&[u8]>((start, end)).db(path)?;
    let items: Box<dyn Iterator<Item = _>> = if reverse {
        Box::new(range.rev())
    } else {
        Box::new(range)
    };
    let mut out = Vec::new();
    for item in items.take(limit) {
        let (k, v) = item.db(path)?;
        out.push((k.value().to_vec(), v.value().to_vec()));
    }
    Ok(out)
}

/// A read-only snapshot of the store.
pub struct ReadTxn<'s> {
    store: &'s Store,
    txn: redb::ReadTransaction,
    memo: Memo,
}

/// What one transaction has read and keeps instead of reading again: opening a redb table and
/// reading `meta` cost more than the lookups that need them, and a backup makes dozens.
///
/// - Index space numbers, and which spaces have none: a number never changes once given, and
///   one given out by this transaction is seen by it alone (and kept here when given).
/// - The cold directory: only [`WriteTxn::fold_cold`] changes it, and forgets it then.
/// - Whether `tombs` is empty: only tombstoning changes that, and forgets it then. An empty
///   table (the usual case between gcs) spares every merged read a table open per cold entry.
/// - The packs read: a pack number is given once and its pack never changes; only gc writes
///   or deletes packs, through [`WriteTxn::raw`], which forgets everything kept here.
type Memo = std::sync::Mutex<TxnMemo>;

/// Most packs a transaction keeps in its memo.
const MEMO_PACKS: usize = 4;

#[derive(Default)]
struct TxnMemo {
    /// `None`: the space has no number yet.
    spaces: std::collections::HashMap<String, Option<Vec<u8>>>,
    /// Every space numbered when the transaction began (name → prefix), once read; `spaces`
    /// (which comes first) adds those this transaction numbers.
    all_spaces: Option<Arc<std::collections::HashMap<String, Vec<u8>>>>,
    /// `Some(None)`: the store has no cold side.
    cold_dir: Option<Option<Arc<cold::Dir>>>,
    tombs_empty: Option<bool>,
    /// Packs decoded (or found in the store's cache) by number.
    packs: std::collections::HashMap<u64, Arc<Pack>>,
    /// The hot pin, once read (a write transaction keeps its changes here until commit).
    hot: Option<HotPin>,
    /// The length of `roots` when the transaction began, once read: what the stored hot
    /// count and root count are relative to. A write transaction reads it before it first
    /// changes that table.
    live_roots: Option<u64>,
}

impl ReadTxn<'_> {
    fn path(&self) -> &Path {
        &self.store.path
    }

    pub(crate) fn raw(&self) -> &redb::ReadTransaction {
        &self.txn
    }

    #[cfg(test)]
    pub(crate) fn frame_for_tests(&self, id: &ObjectId) -> Vec<u8> {
        match self.with_src(|src| t_stored(src, id)) {
            Ok(Stored::Frame(f)) => f,
            _ => Vec::new(),
        }
    }
}

/// `with_src` for both transaction kinds: runs `f` with the transaction's tables (a write
/// transaction's as they are now, its uncommitted changes included) and the store's pack cache.
macro_rules! impl_with_src {
    ($t:ty, $ids:ty, $objects:ty) => {
        impl $t {
            /// The hot pin: as this transaction left it, else as `meta` holds it.
            pub(crate) fn hot_pin(&self) -> Result<HotPin, Error> {
                if let Some(pin) = self.memo.lock().unwrap_or_else(|p| p.into_inner()).hot {
                    return Ok(pin);
                }
                let live = self.live_roots()?;
                let path = self.path();
                let meta = self.txn.open_table(META).db(path)?;
                let pin = match meta.get(K_HOT_PIN).db(path)? {
                    None => HotPin::default(),
                    Some(v) => HotPin::decode(v.value(), live).ok_or_else(|| Error::Damaged {
                        path: path.to_path_buf(),
                        detail: format!("meta.{K_HOT_PIN} is malformed"),
                    })?,
                };
                self.memo.lock().unwrap_or_else(|p| p.into_inner()).hot = Some(pin);
                Ok(pin)
            }

            /// The length of `roots` when the transaction began (see [`TxnMemo`]).
            pub(crate) fn live_roots(&self) -> Result<u64, Error> {
                if let Some(n) = self
                    .memo
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .live_roots
                {
                    return Ok(n);
                }
                let path = self.path();
                let n = self.txn.open_table(ROOTS).db(path)?.len().db(path)?;
                self.memo
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .live_roots = Some(n);
                Ok(n)
            }

            /// The prefix of the shared index space named by `key` (`index_space:<name>`),
            /// when it has one. The first call of a transaction reads `meta.index_spaces` (the
            /// last number given out) and takes every space's number from the store's map when
            /// that map was read at the same count, else reads them all in one range: spaces
            /// are only ever added, each with a new count, so equal counts mean equal maps.
            fn space(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
                let mut cache = self.memo.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(prefix) = cache.spaces.get(key) {
                    return Ok(prefix.clone());
                }
                if cache.all_spaces.is_none() {
                    let path = self.path();
                    let meta = self.txn.open_table(META).db(path)?;
                    let count = read_counter(&meta, K_INDEX_SPACES, path)?;
                    let known = self
                        .store
                        .spaces
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone();
                    let all = match known {
                        Some((n, all)) if n == count => all,
                        _ => {
                            let mut all = std::collections::HashMap::new();
                            // Every key starting with `index_space:` (`;` follows `:`).
                            for entry in meta.range(K_INDEX_SPACE..K_INDEX_SPACE_END).db(path)? {
                                let (k, v) = entry.db(path)?;
                                let prefix = space_number(k.value(), v.value(), path)?;
                                all.insert(k.value().to_string(), prefix);
                            }
                            // What is published here is committed: a write transaction
                            // reads the numbers before it gives out any (`index_key` asks this
                            // first), and only gc and verify forget the memo (`raw`), and
                            // they give out none.
                            let all = Arc::new(all);
                            *self.store.spaces.lock().unwrap_or_else(|p| p.into_inner()) =
                                Some((count, all.clone()));
                            all
                        }
                    };
                    cache.all_spaces = Some(all);
                }
                Ok(cache
                    .all_spaces
                    .as_ref()
                    .and_then(|all| all.get(key))
                    .cloned())
            }

            /// Runs `f` with the cold side, if a gc has made one (`cold.rs`).
            pub(crate) fn with_cold<T>(
                &self,
                f: impl FnOnce(Option<&cold::View<'_>>) -> Result<T, Error>,
            ) -> Result<T, Error> {
                let path = self.path();
                let known = self
                    .memo
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .cold_dir
                    .clone();
                let dir = match known {
                    Some(d) => d,
                    None => {
                        let meta = self.txn.open_table(META).db(path)?;
                        let d = match meta.get(K_COLD).db(path)? {
                            Some(v) => Some(self.store.cold.dir(v.value())?),
                            None => None,
                        };
                        self.memo.lock().unwrap_or_else(|p| p.into_inner()).cold_dir =
                            Some(d.clone());
                        d
                    }
                };
                let Some(dir) = dir else {
                    return f(None);
                };
                let read = |i: usize| {
                    let (number, hash) = (dir.numbers[i], dir.hashes[i]);
                    self.store.cold.block((number, hash), || {
                        let corrupt = |detail: String| Error::CorruptCold {
                            detail: format!("block {number}: {detail}"),
                        };
                        let t = self.txn.open_table(COLD).db(path)?;
                        // Errors name the block (there is no object id); a throwaway pack
                        // cache, since the parsed block is what is kept.
                        let pack = pack::load(
                            &t,
                            number,
                            &PackCache::default(),
                            &ObjectId::from_bytes([0; 32]),
                            path,
                        )
                        .map_err(|e| match e {
                            Error::Corrupt { detail, .. } => corrupt(detail),
                            other => other,
                        })?;
                        let bytes = match pack.member(0) {
                            Some((_, b)) if pack.member(1).is_none() => b,
                            _ => return Err(corrupt("not a pack of one member".into())),
                        };
                        if cold::block_hash(bytes) != hash {
                            return Err(corrupt("its hash is not the directory's".into()));
                        }
                        cold::Block::parse(bytes.to_vec()).map_err(corrupt)
                    })
                };
                f(Some(&cold::View {
                    dir: dir.clone(),
                    read: &read,
                }))
            }

            /// Whether cold key `ck` was removed since the last gc.
            pub(crate) fn tombstoned(&self, ck: &[u8]) -> Result<bool, Error> {
                let path = self.path();
                let empty = self
                    .memo
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .tombs_empty;
                if empty == Some(true) {
                    return Ok(false);
                }
                let t = match self.txn.open_table(TOMBS) {
                    Ok(t) => t,
                    Err(TableError::TableDoesNotExist(_)) => return Ok(false),
                    Err(e) => return Err(e).db(path),
                };
                if empty.is_none() {
                    let is_empty = t.is_empty().db(path)?;
                    self.memo
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .tombs_empty = Some(is_empty);
                    if is_empty {
                        return Ok(false);
                    }
                }
                Ok(t.get(ck).db(path)?.is_some())
            }

            /// A point read: the live value, else the cold one unless tombstoned.
            pub(crate) fn merged_get(
                &self,
                live: Option<Vec<u8>>,
                ck: &[u8],
            ) -> Result<Option<Vec<u8>>, Error> {
                if live.is_some() {
                    return Ok(live);
                }
                self.with_cold(|cold| match cold {
                    None => Ok(None),
                    Some(c) => match c.get(ck)? {
                        Some(v) if !self.tombstoned(ck)? => Ok(Some(v)),
                        _ => Ok(None),
                    },
                })
            }

            /// Merges `live`, the first `limit` live entries of a range (keys without the cold
            /// namespace, in scan order), with the cold entries between `start` and `end`
            /// (cold keys, of which the first `strip` bytes are dropped): a live entry wins, a
            /// tombstoned cold one is skipped. At most `limit` entries.
            pub(crate) fn merged_range(
                &self,
                live: Vec<IndexEntry>,
                start: Bound<&[u8]>,
                end: Bound<&[u8]>,
                strip: usize,
                reverse: bool,
                limit: usize,
            ) -> Result<Vec<IndexEntry>, Error> {
                self.with_cold(|cold| {
                    let Some(c) = cold else {
                        return Ok(live);
                    };
                    let mut out: Vec<IndexEntry> = Vec::new();
                    let mut live = live.into_iter().peekable();
                    let before = |a: &[u8], b: &[u8]| if reverse { a > b } else { a < b };
                    c.scan(start, end, reverse, &mut |ck, v| {
                        let uk = ck.get(strip..).unwrap_or_default();
                        while out.len() < limit && live.peek().is_some_and(|(lk, _)| before(lk, uk))
                        {
                            out.extend(live.next());
                        }
                        if out.len() >= limit {
                            return Ok(false);
                        }
                        if live.peek().is_some_and(|(lk, _)| lk.as_slice() == uk) {
                            out.extend(live.next());
                        } else if !self.tombstoned(ck)? {
                            out.push((uk.to_vec(), v.to_vec()));
                        }
                        Ok(out.len() < limit)
                    })?;
                    out.extend(live.take(limit.saturating_sub(out.len())));
                    Ok(out)
                })
            }

            /// Every root, live and cold, in name order.
            pub(crate) fn all_roots(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
                self.named_roots("")
            }

            /// Roots (name, raw value) whose names start with `prefix`, in name order.
            fn named_roots(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
                let path = self.path();
                let live: Vec<IndexEntry> = {
                    let t = self.txn.open_table(ROOTS).db(path)?;
                    let mut out = Vec::new();
                    for item in t.range::<&str>(prefix..).db(path)? {
                        let (k, v) = item.db(path)?;
                        if !k.value().starts_with(prefix) {
                            break;
                        }
                        out.push((k.value().as_bytes().to_vec(), v.value().to_vec()));
                    }
                    out
                };
                let start = cold::cold_key(NS_ROOTS, prefix.as_bytes());
                let end = prefix_end(&start);
                let merged = self.merged_range(
                    live,
                    Bound::Included(&start),
                    end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
                    1,
                    false,
                    usize::MAX,
                )?;
                let mut out = Vec::with_capacity(merged.len());
                for (k, v) in merged {
                    let name = String::from_utf8(k).map_err(|_| Error::CorruptCold {
                        detail: "a root name is not UTF-8".into(),
                    })?;
                    out.push((name, v));
                }
                Ok(out)
            }

            /// Every item of the pack index (live and cold), with its key, in key order.
            pub(crate) fn pack_items(&self) -> Result<Vec<(u64, entries::Item)>, Error> {
                let path = self.path();
                let live: Vec<IndexEntry> = match self.txn.open_table(PACK_IDS) {
                    Ok(t) => {
                        let mut out = Vec::new();
                        for item in t.iter().db(path)? {
                            let (k, v) = item.db(path)?;
                            out.push((k.value().to_be_bytes().to_vec(), v.value().to_vec()));
                        }
                        out
                    }
                    Err(TableError::TableDoesNotExist(_)) => Vec::new(),
                    Err(e) => return Err(e).db(path),
                };
                let merged = self.merged_range(
                    live,
                    Bound::Included(&[NS_PACK_IDS]),
                    Bound::Excluded(&[NS_PACK_IDS + 1]),
                    1,
                    false,
                    usize::MAX,
                )?;
                let mut out = Vec::with_capacity(merged.len());
                for (k, v) in merged {
                    let key = <[u8; 8]>::try_from(k.as_slice())
                        .map(u64::from_be_bytes)
                        .map_err(|_| Error::CorruptCold {
                            detail: "a pack index key is not 8 bytes".into(),
                        })?;
                    let items = entries::decode(&v).ok_or_else(|| Error::CorruptPackIndex {
                        key,
                        detail: "malformed value".into(),
                    })?;
                    out.extend(items.into_iter().map(|i| (key, i)));
                }
                Ok(out)
            }

            pub(crate) fn with_src<T>(
                &self,
                f: impl FnOnce(&Src<'_, $ids, $objects>) -> Result<T, Error>,
            ) -> Result<T, Error> {
                let path = self.path();
                let ids = self.txn.open_table(IDS).db(path)?;
                // The other tables are opened when first needed: an existence check or a count
                // of a loose object needs `ids` alone.
                let objects_t = std::cell::OnceCell::new();
                let objects = || -> Result<&$objects, Error> {
                    lazy(&objects_t, || self.txn.open_table(OBJECTS), path)?.ok_or_else(|| {
                        Error::Damaged {
                            path: path.to_path_buf(),
                            detail: "the objects table is missing".into(),
                        }
                    })
                };
                // Stores before schema 4 may have no pack index yet (it is empty then).
                let index_t = std::cell::OnceCell::new();
                let pack_ids = |key: u64| -> Result<Option<Vec<u8>>, Error> {
                    let live = match lazy(&index_t, || self.txn.open_table(PACK_IDS), path)? {
                        None => None,
                        Some(t) => t.get(key).db(path)?.map(|v| v.value().to_vec()),
                    };
                    self.merged_get(live, &pack_ids_cold_key(key))
                };
                let packs_t = std::cell::OnceCell::new();
                let packs = |pack: u64, id: &ObjectId| {
                    let known = self
                        .memo
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .packs
                        .get(&pack)
                        .cloned();
                    if let Some(p) = known {
                        return Ok(p);
                    }
                    let p = match lazy(&packs_t, || self.txn.open_table(PACKS), path)? {
                        Some(t) => pack::load(t, pack, &self.store.packs, id, path)?,
                        None => {
                            return Err(Error::Corrupt {
                                id: *id,
                                detail: format!("pack {pack}: missing"),
                            });
                        }
                    };
                    let mut memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
                    // A few packs: a backup touches one or two; a walk over every pack (gc,
                    // verify) must not hold them all.
                    if memo.packs.len() >= MEMO_PACKS {
                        memo.packs.clear();
                    }
                    memo.packs.insert(pack, p.clone());
                    Ok(p)
                };
                f(&Src {
                    hot: self.hot_pin()?,
                    ids: &ids,
                    objects: &objects,
                    pack_ids: &pack_ids,
                    packs: &packs,
                    max: self.store.options.max_object_size,
                    path,
                })
            }
        }
    };
}

impl_with_src!(
    ReadTxn<'_>,
    redb::ReadOnlyTable<[u8; 32], (u64, u64)>,
    redb::ReadOnlyTable<u64, &'static [u8]>
);
impl_with_src!(
    WriteTxn<'_>,
    redb::Table<'_, [u8; 32], (u64, u64)>,
    redb::Table<'_, u64, &'static [u8]>
);

/// One implementation of [`StoreRead`] for both transaction kinds: their redb transactions
/// differ in type but not in the calls made here. (A write transaction's `open_table` creates a
/// missing index table instead of reporting it; both answers mean "empty".) Every call is
/// guarded against storage-engine panics on damaged files.
macro_rules! impl_store_read {
    ($t:ty) => {
        impl StoreRead for $t {
            fn stored_size(&self, id: &ObjectId) -> Result<u64, Error> {
                self.store
                    .guarded(|| self.with_src(|src| Ok(t_stored(src, id)?.info(id)?.stored)))
            }

            fn get(&self, id: &ObjectId) -> Result<Vec<u8>, Error> {
                self.store
                    .guarded(|| self.with_src(|src| t_load(src, id).map(|(_, b)| b)))
            }

            fn contains(&self, id: &ObjectId) -> Result<bool, Error> {
                self.store.guarded(|| Ok(self.refcount(id)?.is_some()))
            }

            fn contains_each(&self, ids: &[ObjectId]) -> Result<Vec<bool>, Error> {
                self.store.guarded(|| {
                    self.with_src(|src| {
                        ids.iter()
                            .map(|id| Ok(t_entry(src, id)?.is_some()))
                            .collect()
                    })
                })
            }

            fn raw_size(&self, id: &ObjectId) -> Result<u64, Error> {
                self.store
                    .guarded(|| self.with_src(|src| Ok(t_stored(src, id)?.info(id)?.raw_len)))
            }

            fn refcount(&self, id: &ObjectId) -> Result<Option<u64>, Error> {
                self.store
                    .guarded(|| self.with_src(|src| Ok(t_entry(src, id)?.map(|e| e.count))))
            }

            fn links(&self, id: &ObjectId) -> Result<Vec<ObjectId>, Error> {
                self.store.guarded(|| self.with_src(|src| t_refs(src, id)))
            }

            fn root(&self, name: &str) -> Result<Option<Root>, Error> {
                self.store.guarded(|| {
                    let live = {
                        let t = self.txn.open_table(ROOTS).db(self.path())?;
                        t.get(name).db(self.path())?.map(|v| v.value().to_vec())
                    };
                    let v = self.merged_get(live, &cold::cold_key(NS_ROOTS, name.as_bytes()))?;
                    Ok(v.and_then(|v| decode_root(name, &v)))
                })
            }

            fn roots(&self, prefix: &str) -> Result<Vec<Root>, Error> {
                self.store.guarded(|| {
                    Ok(self
                        .named_roots(prefix)?
                        .into_iter()
                        .filter_map(|(name, v)| decode_root(&name, &v))
                        .collect())
                })
            }

            fn index_get(&self, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
                self.store.guarded(|| {
                    let path = self.path();
                    let Some(prefix) = self.space(&space_key(space)?)? else {
                        return Ok(None);
                    };
                    let key = [prefix.as_slice(), key].concat();
                    let live = {
                        let t = self.txn.open_table(INDEX).db(path)?;
                        t.get(key.as_slice()).db(path)?.map(|v| v.value().to_vec())
                    };
                    self.merged_get(live, &cold::cold_key(NS_INDEX, &key))
                })
            }

            fn index_ranges(
                &self,
                space: &str,
                ranges: &[KeyRange<'_>],
                reverse: bool,
                limit: usize,
            ) -> Result<Vec<Vec<IndexEntry>>, Error> {
                self.store.guarded(|| {
                    let path = self.path();
                    {
                        {
                            let Some(prefix) = self.space(&space_key(space)?)? else {
                                return Ok(vec![Vec::new(); ranges.len()]);
                            };
                            // A range of one key is a point read (a range costs a cursor).
                            if ranges.iter().all(|r| point_key(r, limit).is_some()) {
                                let keys: Vec<Vec<u8>> = ranges
                                    .iter()
                                    .filter_map(|r| point_key(r, limit))
                                    .map(|k| [prefix.as_slice(), k].concat())
                                    .collect();
                                let live = {
                                    let t = self.txn.open_table(INDEX).db(path)?;
                                    keys.iter()
                                        .map(|k| {
                                            Ok(t.get(k.as_slice())
                                                .db(path)?
                                                .map(|v| v.value().to_vec()))
                                        })
                                        .collect::<Result<Vec<_>, Error>>()?
                                };
                                return keys
                                    .iter()
                                    .zip(live)
                                    .map(|(k, live)| {
                                        let ck = cold::cold_key(NS_INDEX, k);
                                        Ok(self
                                            .merged_get(live, &ck)?
                                            .map(|v| vec![(k[prefix.len()..].to_vec(), v)])
                                            .unwrap_or_default())
                                    })
                                    .collect();
                            }
                            let live = {
                                let t = self.txn.open_table(INDEX).db(path)?;
                                ranges
                                    .iter()
                                    .map(|(start, end)| {
                                        t_range_shared(
                                            &t, &prefix, *start, *end, reverse, limit, path,
                                        )
                                    })
                                    .collect::<Result<Vec<_>, Error>>()?
                            };
                            let cold_bound = |b: &Bound<Vec<u8>>| {
                                b.as_ref().map(|k| cold::cold_key(NS_INDEX, k))
                            };
                            ranges
                                .iter()
                                .zip(live)
                                .map(|((start, end), live)| {
                                    let (s, e) = shared_bounds(&prefix, *start, *end);
                                    let (s, e) = (cold_bound(&s), cold_bound(&e));
                                    self.merged_range(
                                        live,
                                        borrowed(&s),
                                        borrowed(&e),
                                        1 + prefix.len(),
                                        reverse,
                                        limit,
                                    )
                                })
                                .collect()
                        }
                    }
                })
            }

            fn index_len(&self, space: &str) -> Result<u64, Error> {
                self.store.guarded(|| {
                    let path = self.path();
                    {
                        {
                            let Some(prefix) = self.space(&space_key(space)?)? else {
                                return Ok(0);
                            };
                            let live = {
                                let t = self.txn.open_table(INDEX).db(path)?;
                                t_len_shared(&t, &prefix, path)?
                            };
                            if self.with_cold(|c| Ok(c.is_none()))? {
                                return Ok(live);
                            }
                            // With cold entries: a count of the merged range.
                            let all = self.index_range(
                                space,
                                Bound::Unbounded,
                                Bound::Unbounded,
                                false,
                                usize::MAX,
                            )?;
                            Ok(all.len() as u64)
                        }
                    }
                })
            }
        }
    };
}

impl_store_read!(ReadTxn<'_>);
impl_store_read!(WriteTxn<'_>);

#[derive(Debug, Default, Clone, Copy)]
struct Delta {
    objects: i64,
    raw: i64,
    stored: i64,
    blob_raw: i64,
    /// Roots pinned minus unpinned.
    roots: i64,
}

/// The single write transaction of one mutating operation (invariant I5).
///
/// Objects put here start with no references; links from nodes and roots add them. At
/// [`WriteTxn::commit`] every object left with a reference count of zero is removed, and its
/// links released in turn (invariant I3), so a caller can never leak an object by forgetting
/// it. Dropping the transaction without committing discards everything it did.
pub struct WriteTxn<'s> {
    store: &'s Store,
    txn: redb::WriteTransaction,
    /// Objects whose count is (or may be) zero, checked at commit.
    zero: BTreeSet<ObjectId>,
    /// The next frame sequence number, once read.
    next_seq: Option<u64>,
    delta: Delta,
    outcome: CommitOutcome,
    memo: Memo,
    /// Whether the hot pin (kept in `memo`) changed and is written at commit.
    hot_changed: bool,
    /// The number of roots, counted exactly by a gc's fold (which empties `roots`).
    roots_total: Option<u64>,
}

impl<'s> WriteTxn<'s> {
    fn path(&self) -> &'s Path {
        &self.store.path
    }

    fn memo_mut(&mut self) -> &mut TxnMemo {
        self.memo.get_mut().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a blob (no links). An object already present costs one lookup, no compression.
    pub fn put_blob(&mut self, bytes: &[u8]) -> Result<Put, Error> {
        let store = self.store;
        store.guarded(|| self.put(ObjectKind::Blob, bytes, &[], None))
    }

    /// [`WriteTxn::put_blob`], storing a new object as a delta against `base` (for example
    /// the previous version of the same file) when that is smaller. When `base`'s chain is
    /// already [`StoreOptions::max_delta_depth`] long, the delta is taken against the whole
    /// object at the bottom of that chain instead. The base used holds one more reference.
    pub fn put_blob_near(&mut self, bytes: &[u8], base: Option<&ObjectId>) -> Result<Put, Error> {
        let store = self.store;
        store.guarded(|| self.put(ObjectKind::Blob, bytes, &[], base))
    }

    /// [`WriteTxn::put_node`] with a delta base, as [`WriteTxn::put_blob_near`].
    pub fn put_node_near(
        &mut self,
        payload: &[u8],
        links: &[ObjectId],
        base: Option<&ObjectId>,
    ) -> Result<Put, Error> {
        let store = self.store;
        store.guarded(|| self.put(ObjectKind::Node, payload, links, base))
    }

    /// Stores a node: bytes plus the objects it links to, each of which gains one reference
    /// per link when the node is new. Every linked object must already exist.
    pub fn put_node(&mut self, bytes: &[u8], links: &[ObjectId]) -> Result<Put, Error> {
        let store = self.store;
        store.guarded(|| self.put(ObjectKind::Node, bytes, links, None))
    }

    fn put(
        &mut self,
        kind: ObjectKind,
        bytes: &[u8],
        links: &[ObjectId],
        base: Option<&ObjectId>,
    ) -> Result<Put, Error> {
        let path = self.path();
        let node;
        let data: &[u8] = match kind {
            ObjectKind::Blob => bytes,
            ObjectKind::Node => {
                node = codec::node_bytes(links, bytes);
                &node
            }
        };
        let limit = self.store.options.max_object_size;
        if data.len() as u64 > limit {
            return Err(Error::TooLarge {
                size: data.len() as u64,
                limit,
            });
        }
        let id = kind.id_of(data);
        let present = self.with_src(|src| {
            if t_entry(src, &id)?.is_some() {
                return Ok(true);
            }
            // Every link must exist before anything changes.
            for link in links {
                t_entry_req(src, link)?;
            }
            Ok(false)
        })?;
        if present {
            return Ok(Put {
                id,
                new: false,
                stored_bytes: 0,
            });
        }
        let seq = self.take_seq()?;
        // One at a time: a node may link the same object twice.
        for link in links {
            self.incref(link)?;
        }
        self.txn
            .open_table(IDS)
            .db(path)?
            .insert(id.as_bytes(), (seq, 0))
            .db(path)?;
        let mut frame = codec::encode(kind, data, self.store.options.zstd_level);
        let mut used_base = None;
        if let Some(base) = base
            && let Some((delta, used)) = self.try_delta(kind, data, base)?
            && delta.len() < frame.len()
        {
            frame = delta;
            used_base = Some(used);
        }
        self.txn
            .open_table(OBJECTS)
            .db(path)?
            .insert(seq, frame.as_slice())
            .db(path)?;
        self.zero.insert(id);
        if let Some(base) = used_base {
            self.incref(&base)?;
        }
        let stored = frame.len() as u64;
        self.delta.objects += 1;
        self.delta.raw += data.len() as i64;
        if kind == ObjectKind::Blob {
            self.delta.blob_raw += data.len() as i64;
        }
        self.delta.stored += stored as i64;
        self.outcome.objects_added += 1;
        self.outcome.bytes_added += stored;
        Ok(Put {
            id,
            new: true,
            stored_bytes: stored,
        })
    }

    /// The next frame sequence number (read once per transaction, written at commit).
    pub(crate) fn take_seq(&mut self) -> Result<u64, Error> {
        let seq = match self.next_seq {
            Some(s) => s,
            None => {
                let meta = self.txn.open_table(META).db(self.path())?;
                read_counter(&meta, K_NEXT_SEQ, self.path())?
            }
        };
        self.next_seq = Some(seq + 1);
        Ok(seq)
    }

    fn info(&self, id: &ObjectId) -> Result<Info, Error> {
        self.with_src(|src| t_stored(src, id)?.info(id))
    }

    /// `data` encoded as a delta, with the base it was encoded against: `base` itself when its
    /// chain leaves room, else the whole object at the bottom of `base`'s chain (depth 1 again;
    /// it shares most of its content with `base` in a history of small edits).
    fn try_delta(
        &self,
        kind: ObjectKind,
        data: &[u8],
        base: &ObjectId,
    ) -> Result<Option<(Vec<u8>, ObjectId)>, Error> {
        let max_depth = u64::from(self.store.options.max_delta_depth).min(codec::MAX_DEPTH_LIMIT);
        if max_depth == 0 || self.refcount(base)?.is_none() {
            return Ok(None);
        }
        let mut base = *base;
        let mut info = self.info(&base)?;
        if info.depth + 1 > max_depth {
            // Descend to the chain's whole frame; depths strictly descend, so this ends.
            while let Some(below) = info.base {
                base = below;
                info = self.info(&base)?;
            }
        }
        let depth = info.depth + 1;
        let (_, base_bytes) = self.with_src(|src| t_load(src, &base))?;
        Ok(codec::encode_delta(
            kind,
            data,
            self.store.options.zstd_level,
            &base,
            &base_bytes,
            depth,
        )
        .map(|frame| (frame, base)))
    }

    /// Adds a named root holding one reference to `id`.
    pub fn pin(&mut self, name: &str, id: &ObjectId, meta: &[u8]) -> Result<(), Error> {
        let store = self.store;
        store.guarded(|| {
            validate_name(name, "empty root name")?;
            let path = self.path();
            // Check the target before touching the roots table, so a failed pin changes nothing.
            let e = self.entry(id)?.ok_or(Error::ObjectMissing { id: *id })?;
            if self.root(name)?.is_some() {
                return Err(Error::RootExists {
                    name: name.to_string(),
                });
            }
            let mut value = Vec::with_capacity(32 + meta.len());
            value.extend_from_slice(id.as_bytes());
            value.extend_from_slice(meta);
            // The length of `roots` before this transaction changes it.
            self.live_roots()?;
            self.txn
                .open_table(ROOTS)
                .db(path)?
                .insert(name, value.as_slice())
                .db(path)?;
            self.untomb(&cold::cold_key(NS_ROOTS, name.as_bytes()))?;
            self.delta.roots += 1;
            self.add_root_ref(id, &e)?;
            self.zero.remove(id);
            Ok(())
        })
    }

    /// Removes a named root and releases its reference; objects nobody else holds go at commit.
    pub fn unpin(&mut self, name: &str) -> Result<Option<Root>, Error> {
        let store = self.store;
        store.guarded(|| {
            let path = self.path();
            let Some(root) = self.root(name)? else {
                return Ok(None);
            };
            self.live_roots()?;
            self.txn.open_table(ROOTS).db(path)?.remove(name).db(path)?;
            self.tomb_if_cold(&cold::cold_key(NS_ROOTS, name.as_bytes()))?;
            self.delta.roots -= 1;
            self.release_root_ref(&root.id)?;
            Ok(Some(root))
        })
    }

    /// Counts a new root's reference to `id` (whose entry is `e`): in the hot pin when `id` is
    /// hot or was the object pinned last, else in its entry (see `hotpin.rs`).
    fn add_root_ref(&mut self, id: &ObjectId, e: &Entry) -> Result<(), Error> {
        let mut pin = self.hot_pin()?;
        match pin.hot {
            Some((h, n)) if h == *id => {
                pin.hot = Some((h, n + 1));
                // Another object pinned between two pins of the hot one does not take over.
                pin.next = None;
            }
            _ if pin.next == Some(*id) => {
                // The second pin of `id` in a row: it becomes hot, and what the previous hot
                // object's references counted here goes to its entry.
                self.settle_hot_pin()?;
                pin = HotPin {
                    hot: Some((*id, 1)),
                    next: None,
                };
            }
            _ => {
                self.set_count(id, e, e.count + 1)?;
                pin.next = Some(*id);
            }
        }
        self.set_hot_pin(pin);
        Ok(())
    }

    /// Releases a root's reference to `id`: from the hot pin when it holds any for `id`.
    fn release_root_ref(&mut self, id: &ObjectId) -> Result<(), Error> {
        let mut pin = self.hot_pin()?;
        match pin.hot {
            Some((h, n)) if h == *id => {
                pin.hot = (n > 1).then_some((h, n - 1));
                self.set_hot_pin(pin);
                if self.refcount(id)? == Some(0) {
                    self.zero.insert(*id);
                }
                Ok(())
            }
            _ => self.decref(id),
        }
    }

    pub(crate) fn set_hot_pin(&mut self, pin: HotPin) {
        if self.memo_mut().hot != Some(pin) {
            self.memo_mut().hot = Some(pin);
            self.hot_changed = true;
        }
    }

    /// Adds the hot pin's references to the hot object's entry and clears the pin, so that
    /// every entry holds its object's whole count (gc moves entries and their counts).
    pub(crate) fn settle_hot_pin(&mut self) -> Result<(), Error> {
        let pin = self.hot_pin()?;
        self.set_hot_pin(HotPin::default());
        if let Some((h, n)) = pin.hot {
            // Read with the pin cleared: the entry's own count.
            let e = self.entry(&h)?.ok_or(Error::ObjectMissing { id: h })?;
            self.set_count(&h, &e, e.count + n)?;
        }
        Ok(())
    }

    fn incref(&mut self, id: &ObjectId) -> Result<(), Error> {
        let e = self.entry(id)?.ok_or(Error::ObjectMissing { id: *id })?;
        self.set_count(id, &e, e.count + 1)?;
        self.zero.remove(id);
        Ok(())
    }

    pub(crate) fn decref(&mut self, id: &ObjectId) -> Result<(), Error> {
        match self.entry(id)? {
            Some(e) if e.count > 0 => {
                self.set_count(id, &e, e.count - 1)?;
                if e.count == 1 {
                    self.zero.insert(*id);
                }
                Ok(())
            }
            // A reference to an object that is gone or already at zero: the counts were
            // wrong before this transaction. Refuse rather than make them worse; `verify
            // --repair` rebuilds them.
            Some(_) => Err(Error::Corrupt {
                id: *id,
                detail: "reference count underflow".into(),
            }),
            None => Err(Error::ObjectMissing { id: *id }),
        }
    }

    /// `id`'s entry, if it has one (this transaction's changes included).
    pub(crate) fn entry(&self, id: &ObjectId) -> Result<Option<Entry>, Error> {
        self.with_src(|src| t_entry(src, id))
    }

    /// The id of a pack index item (see [`t_item_id`]).
    pub(crate) fn item_id(&self, key: u64, item: &entries::Item) -> Result<ObjectId, Error> {
        self.with_src(|src| t_item_id(src, key, item))
    }

    /// Sets the reference count of `id`, whose entry is `e`: what the hot pin does not hold
    /// goes to the entry (a count below the hot pin's takes the hot pin down to it).
    pub(crate) fn set_count(&mut self, id: &ObjectId, e: &Entry, count: u64) -> Result<(), Error> {
        let mut pin = self.hot_pin()?;
        let held = pin.count_of(id);
        let count = if count >= held {
            count - held
        } else {
            pin.hot = pin.hot.filter(|_| count > 0).map(|(h, _)| (h, count));
            self.set_hot_pin(pin);
            0
        };
        match e.slot {
            Slot::Ids => {
                let Loc::Loose(seq) = e.loc else {
                    return Err(Error::Corrupt {
                        id: *id,
                        detail: "an entry of `ids` names a pack".into(),
                    });
                };
                let path = self.path();
                self.txn
                    .open_table(IDS)
                    .db(path)?
                    .insert(id.as_bytes(), (seq, count))
                    .db(path)?;
                Ok(())
            }
            Slot::PackIds { pack, member } => self.edit_pack_ids(id, |items| {
                for item in items.iter_mut().filter(|i| i.at(pack, member)) {
                    item.count = count;
                }
            }),
        }
    }

    /// Removes `id`'s entry `e` (not its bytes).
    pub(crate) fn remove_entry(&mut self, id: &ObjectId, e: &Entry) -> Result<(), Error> {
        match e.slot {
            Slot::Ids => {
                let path = self.path();
                self.txn
                    .open_table(IDS)
                    .db(path)?
                    .remove(id.as_bytes())
                    .db(path)?;
                Ok(())
            }
            Slot::PackIds { pack, member } => {
                self.edit_pack_ids(id, |items| items.retain(|i| !i.at(pack, member)))
            }
        }
    }

    /// Gives `id` an entry in the pack index at `pack`/`member` with `count` references.
    pub(crate) fn add_packed(
        &mut self,
        id: &ObjectId,
        pack: u64,
        member: u32,
        count: u64,
    ) -> Result<(), Error> {
        self.edit_pack_ids(id, |items| {
            items.push(entries::Item {
                pack,
                member,
                count,
            })
        })
    }

    /// Rewrites the pack index's value at `id`'s key through `f` (removing an emptied key).
    fn edit_pack_ids(
        &mut self,
        id: &ObjectId,
        f: impl FnOnce(&mut Vec<entries::Item>),
    ) -> Result<(), Error> {
        let path = self.path();
        let key = entries::key(id);
        let ck = pack_ids_cold_key(key);
        let live = self
            .txn
            .open_table(PACK_IDS)
            .db(path)?
            .get(key)
            .db(path)?
            .map(|v| v.value().to_vec());
        let mut items = match self.merged_get(live, &ck)? {
            None => Vec::new(),
            Some(v) => entries::decode(&v).ok_or_else(|| Error::Corrupt {
                id: *id,
                detail: format!("its pack index entry {key:016x} is malformed"),
            })?,
        };
        f(&mut items);
        if items.is_empty() {
            self.txn
                .open_table(PACK_IDS)
                .db(path)?
                .remove(key)
                .db(path)?;
            self.tomb_if_cold(&ck)?;
        } else {
            self.txn
                .open_table(PACK_IDS)
                .db(path)?
                .insert(key, entries::encode(&items).as_slice())
                .db(path)?;
            self.untomb(&ck)?;
        }
        Ok(())
    }

    /// Drops the tombstone of cold key `ck`; returns whether there was one.
    fn untomb(&mut self, ck: &[u8]) -> Result<bool, Error> {
        let path = self.path();
        if self.memo_mut().tombs_empty == Some(true) {
            return Ok(false);
        }
        let mut t = self.txn.open_table(TOMBS).db(path)?;
        let removed = t.remove(ck).db(path)?.is_some();
        let empty = t.is_empty().db(path)?;
        drop(t);
        self.memo_mut().tombs_empty = Some(empty);
        Ok(removed)
    }

    /// Tombstones cold key `ck` when the cold side has it (so that it stays hidden until the
    /// next gc drops it); returns the cold value.
    fn tomb_if_cold(&mut self, ck: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let path = self.path();
        let cold = self.with_cold(|c| c.map_or(Ok(None), |c| c.get(ck)))?;
        if cold.is_some() {
            self.memo_mut().tombs_empty = None;
            self.txn
                .open_table(TOMBS)
                .db(path)?
                .insert(ck, ())
                .db(path)?;
        }
        Ok(cold)
    }

    /// Moves every live root, index entry and pack index entry, merged with the cold entries and less the
    /// tombstoned ones, into cold blocks (`cold.rs`), and empties the live tables and the
    /// tombstones. A block whose bytes an existing block already has keeps that block, so a gc
    /// with nothing new writes nothing, and one with a few changes rewrites the blocks around
    /// them. Returns the blocks written.
    pub(crate) fn fold_cold(&mut self) -> Result<u64, Error> {
        let path = self.path();
        let txn = &self.txn;
        let idle = txn.open_table(ROOTS).db(path)?.is_empty().db(path)?
            && txn.open_table(INDEX).db(path)?.is_empty().db(path)?
            && txn.open_table(PACK_IDS).db(path)?.is_empty().db(path)?
            && txn.open_table(TOMBS).db(path)?.is_empty().db(path)?;
        if idle {
            return Ok(0);
        }
        // Tombstones are what was removed since the last gc: few, kept in memory. Everything
        // else streams: live entries from their tables, cold ones block by block, and each new
        // block is compressed and written as soon as it is cut, so memory holds one block.
        self.live_roots()?;
        let txn = &self.txn;
        let tombs: std::collections::HashSet<Vec<u8>> = {
            let t = txn.open_table(TOMBS).db(path)?;
            let mut out = std::collections::HashSet::new();
            for item in t.iter().db(path)? {
                out.insert(item.db(path)?.0.value().to_vec());
            }
            out
        };
        let first_number = self.take_seq()?;
        let (dir, written, roots, next_number) = {
            let txn = &self.txn;
            let level = self.store.options.gc_zstd_level;
            let (roots_t, index_t, pack_ids_t) = (
                txn.open_table(ROOTS).db(path)?,
                txn.open_table(INDEX).db(path)?,
                txn.open_table(PACK_IDS).db(path)?,
            );
            type Live<'a> = Box<dyn Iterator<Item = Result<IndexEntry, Error>> + 'a>;
            let roots_live: Live<'_> = Box::new(roots_t.iter().db(path)?.map(|item| {
                let (k, v) = item.db(path)?;
                Ok((
                    cold::cold_key(NS_ROOTS, k.value().as_bytes()),
                    v.value().to_vec(),
                ))
            }));
            let index_live: Live<'_> = Box::new(index_t.iter().db(path)?.map(|item| {
                let (k, v) = item.db(path)?;
                Ok((cold::cold_key(NS_INDEX, k.value()), v.value().to_vec()))
            }));
            let pack_ids_live: Live<'_> = Box::new(pack_ids_t.iter().db(path)?.map(|item| {
                let (k, v) = item.db(path)?;
                Ok((pack_ids_cold_key(k.value()), v.value().to_vec()))
            }));
            // Namespaces in order (roots, index, pack index), each in key order.
            let mut live = roots_live.chain(index_live).chain(pack_ids_live).peekable();
            let mut builder = cold::Builder::default();
            let mut dir = cold::Dir::default();
            let mut kept: std::collections::HashMap<[u8; 16], u64> = Default::default();
            let (mut written, mut roots, mut next) = (0u64, 0u64, first_number);
            // Keeps a block whose bytes an existing block has, else compresses and writes it.
            let mut flush = |blocks: Vec<(Vec<u8>, Vec<u8>)>,
                             kept: &mut std::collections::HashMap<[u8; 16], u64>,
                             dir: &mut cold::Dir|
             -> Result<(), Error> {
                for (first, bytes) in blocks {
                    let hash = cold::block_hash(&bytes);
                    let number = match kept.remove(&hash) {
                        Some(n) => n,
                        None => {
                            let mut b = pack::Builder::default();
                            b.push(
                                ObjectId::from_bytes(*blake3::hash(&bytes).as_bytes()),
                                ObjectKind::Blob,
                                &bytes,
                            );
                            let e = b.finish(level)?;
                            let number = next;
                            next += 1;
                            let mut t = txn.open_table(COLD).db(path)?;
                            for (i, chunk) in e.chunks.iter().enumerate() {
                                let i = u32::try_from(i).map_err(|_| Error::Pack {
                                    detail: "too many chunks in a cold block".into(),
                                })?;
                                t.insert((number, i), chunk.as_slice()).db(path)?;
                            }
                            written += 1;
                            number
                        }
                    };
                    dir.firsts.push(first);
                    dir.numbers.push(number);
                    dir.hashes.push(hash);
                }
                Ok(())
            };
            let mut push = |k: Vec<u8>,
                            v: Vec<u8>,
                            kept: &mut std::collections::HashMap<[u8; 16], u64>,
                            dir: &mut cold::Dir|
             -> Result<(), Error> {
                roots += u64::from(k.first() == Some(&NS_ROOTS));
                builder.push(k, v);
                flush(builder.take_done(), kept, dir)
            };
            let old = self.with_cold(|c| {
                let old = c.map(|c| c.dir.clone());
                if let Some(d) = &old {
                    kept = d
                        .hashes
                        .iter()
                        .copied()
                        .zip(d.numbers.iter().copied())
                        .collect();
                }
                if let Some(c) = c {
                    c.scan(Bound::Unbounded, Bound::Unbounded, false, &mut |ck, v| {
                        while let Some(item) =
                            live.next_if(|e| e.as_ref().map_or(true, |(lk, _)| lk.as_slice() < ck))
                        {
                            let (k, v) = item?;
                            push(k, v, &mut kept, &mut dir)?;
                        }
                        match live.next_if(|e| e.as_ref().is_ok_and(|(lk, _)| lk.as_slice() == ck))
                        {
                            Some(item) => {
                                let (k, v) = item?;
                                push(k, v, &mut kept, &mut dir)?;
                            }
                            None if !tombs.contains(ck) => {
                                push(ck.to_vec(), v.to_vec(), &mut kept, &mut dir)?;
                            }
                            None => {}
                        }
                        Ok(true)
                    })?;
                }
                for item in live.by_ref() {
                    let (k, v) = item?;
                    push(k, v, &mut kept, &mut dir)?;
                }
                Ok(old)
            })?;
            flush(builder.finish(), &mut kept, &mut dir)?;
            // The blocks no longer listed.
            let gone: std::collections::HashSet<u64> = kept.into_values().collect();
            drop(live);
            drop((roots_t, index_t, pack_ids_t));
            if !gone.is_empty() {
                txn.open_table(COLD)
                    .db(path)?
                    .retain(|(n, _), _| !gone.contains(&n))
                    .db(path)?;
            }
            let _ = old;
            (dir, written, roots, next)
        };
        self.next_seq = Some(next_number.max(first_number + 1));
        // Exact here (written at commit): every root is now in a cold block.
        self.roots_total = Some(roots);
        self.delta.roots = 0;
        let mut meta = self.txn.open_table(META).db(path)?;
        if dir.len() == 0 {
            meta.remove(K_COLD).db(path)?;
        } else {
            meta.insert(K_COLD, dir.encode().as_slice()).db(path)?;
        }
        drop(meta);
        clear(&self.txn, ROOTS, path)?;
        clear(&self.txn, INDEX, path)?;
        clear(&self.txn, PACK_IDS, path)?;
        clear(&self.txn, TOMBS, path)?;
        let memo = self.memo_mut();
        memo.cold_dir = None;
        memo.tombs_empty = None;
        Ok(written)
    }

    /// Sets a value in an index keyspace, returning the previous one.
    pub fn index_insert(
        &mut self,
        space: &str,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .index_insert_each(space, &[(key, value)])?
            .pop()
            .flatten())
    }

    /// [`WriteTxn::index_insert`] for each of `entries`, in order, returning the previous
    /// values: one call for many entries costs little more than one.
    pub fn index_insert_each(
        &mut self,
        space: &str,
        entries: &[(&[u8], &[u8])],
    ) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let store = self.store;
        store.guarded(|| {
            let path = self.path();
            let Some((name, prefix)) = self.index_key(space, &[], true)? else {
                return Ok(vec![None; entries.len()]);
            };
            let mut olds = Vec::with_capacity(entries.len());
            {
                let mut t = self
                    .txn
                    .open_table(TableDefinition::<&[u8], &[u8]>::new(&name))
                    .db(path)?;
                let mut key = prefix.clone();
                for (k, v) in entries {
                    key.truncate(prefix.len());
                    key.extend_from_slice(k);
                    olds.push(
                        t.insert(key.as_slice(), *v)
                            .db(path)?
                            .map(|v| v.value().to_vec()),
                    );
                }
            }
            if name != redb::TableHandle::name(&INDEX) {
                return Ok(olds);
            }
            for ((k, _), old) in entries.iter().zip(olds.iter_mut()) {
                if old.is_some() {
                    continue;
                }
                // Not live: it may be cold, or removed since the last gc.
                let ck = cold::cold_key(NS_INDEX, &[prefix.as_slice(), k].concat());
                if !self.untomb(&ck)? {
                    *old = self.with_cold(|c| c.map_or(Ok(None), |c| c.get(&ck)))?;
                }
            }
            Ok(olds)
        })
    }

    /// Removes a key from an index keyspace, returning its value.
    pub fn index_remove(&mut self, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let store = self.store;
        store.guarded(|| {
            let path = self.path();
            let Some((name, key)) = self.index_key(space, key, false)? else {
                return Ok(None);
            };
            let old = self
                .txn
                .open_table(TableDefinition::<&[u8], &[u8]>::new(&name))
                .db(path)?
                .remove(key.as_slice())
                .db(path)?
                .map(|v| v.value().to_vec());
            if name != redb::TableHandle::name(&INDEX) {
                return Ok(old);
            }
            let ck = cold::cold_key(NS_INDEX, &key);
            let was_tombed = self.tombstoned(&ck)?;
            let cold = self.tomb_if_cold(&ck)?;
            Ok(old.or(if was_tombed { None } else { cold }))
        })
    }

    /// The table and the key in it of `key` in index keyspace `space`; a space new to the
    /// shared table gets the next number (in this transaction).
    fn index_key(
        &mut self,
        space: &str,
        key: &[u8],
        allocate: bool,
    ) -> Result<Option<(String, Vec<u8>)>, Error> {
        let path = self.path();
        let k = space_key(space)?;
        Ok(Some({
            {
                let prefix = match self.space(&k)? {
                    Some(prefix) => prefix,
                    None if !allocate => return Ok(None),
                    None => {
                        let mut meta = self.txn.open_table(META).db(path)?;
                        let n = read_counter(&meta, K_INDEX_SPACES, path)? + 1;
                        meta.insert(K_INDEX_SPACES, n.to_le_bytes().as_slice())
                            .db(path)?;
                        meta.insert(k.as_str(), n.to_le_bytes().as_slice())
                            .db(path)?;
                        let mut prefix = Vec::with_capacity(2);
                        codec::write_varint(&mut prefix, n);
                        self.memo
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .spaces
                            .insert(k.clone(), Some(prefix.clone()));
                        prefix
                    }
                };
                (
                    redb::TableHandle::name(&INDEX).to_string(),
                    [prefix.as_slice(), key].concat(),
                )
            }
        }))
    }

    /// Releases every object left unreferenced (cascading through links), updates the totals
    /// and commits durably. Nothing is visible to others before this returns.
    pub fn commit(mut self) -> Result<CommitOutcome, Error> {
        let store = self.store;
        store.guarded(move || {
            self.sweep()?;
            let path = self.path();
            let d = self.delta;
            // The root count and the hot count are stored relative to the length of `roots`
            // (schema 10): a new root naming the hot object changes neither stored value.
            let start = self.memo_mut().live_roots;
            let live = match start.is_some() || self.hot_changed {
                true => {
                    let end = self.txn.open_table(ROOTS).db(path)?.len().db(path)?;
                    // Not read yet: `roots` is as the transaction found it.
                    Some((start.unwrap_or(end), end))
                }
                false => None,
            };
            let live_moved = live.is_some_and(|(start, end)| start != end);
            let hot = match self.hot_changed || live_moved {
                true => Some(self.hot_pin()?),
                false => None,
            };
            let mut meta = self.txn.open_table(META).db(path)?;
            if d.objects != 0 || d.raw != 0 || d.stored != 0 || d.blob_raw != 0 {
                for (k, dv) in [
                    (K_OBJECTS, d.objects),
                    (K_RAW, d.raw),
                    (K_STORED, d.stored),
                    (K_BLOB_RAW, d.blob_raw),
                ] {
                    let cur = read_counter(&meta, k, path)?;
                    let new = cur.saturating_add_signed(dv);
                    meta.insert(k, new.to_le_bytes().as_slice()).db(path)?;
                }
            }
            if let Some(seq) = self.next_seq {
                meta.insert(K_NEXT_SEQ, seq.to_le_bytes().as_slice())
                    .db(path)?;
            }
            if let Some(pin) = hot {
                let end = live.map_or(0, |(_, end)| end); // `live` is set with `hot`
                let new = (pin != HotPin::default()).then(|| pin.encode(end));
                let old = meta.get(K_HOT_PIN).db(path)?.map(|v| v.value().to_vec());
                if new != old {
                    match new {
                        Some(v) => meta.insert(K_HOT_PIN, v.as_slice()).db(path)?,
                        None => meta.remove(K_HOT_PIN).db(path)?,
                    };
                }
            }
            if let Some((start, end)) = live
                && (d.roots != 0 || live_moved || self.roots_total.is_some())
            {
                let cold = read_counter(&meta, K_COLD_ROOTS, path)?;
                let total = match self.roots_total {
                    Some(n) => n,
                    None => cold.saturating_add(start).saturating_add_signed(d.roots),
                };
                let now = total.saturating_sub(end);
                if cold != now {
                    meta.insert(K_COLD_ROOTS, now.to_le_bytes().as_slice())
                        .db(path)?;
                }
            }
            drop(meta);
            let outcome = self.outcome;
            self.txn.commit().db(path)?;
            Ok(outcome)
        })
    }

    /// Removes what is unreferenced now (commit does this too).
    pub(crate) fn sweep_now(&mut self) -> Result<(), Error> {
        self.sweep()
    }

    fn sweep(&mut self) -> Result<(), Error> {
        while let Some(id) = self.zero.pop_first() {
            if self.refcount(&id)? == Some(0) {
                self.remove_object(&id)?;
            }
        }
        Ok(())
    }

    /// Removes an object (its id entry and frame), releasing what it linked to. A pack
    /// member's bytes stay in its pack until `gc` next repacks.
    fn remove_object(&mut self, id: &ObjectId) -> Result<(), Error> {
        let path = self.path();
        // Read what it references while its delta base still exists.
        let Some(entry) = self.entry(id)? else {
            return Ok(());
        };
        let (refs, info) =
            self.with_src(|src| Ok((t_refs(src, id)?, t_stored(src, id)?.info(id)?)))?;
        self.remove_entry(id, &entry)?;
        let stored = match entry.loc {
            Loc::Loose(seq) => {
                let frame = self
                    .txn
                    .open_table(OBJECTS)
                    .db(path)?
                    .remove(seq)
                    .db(path)?
                    .map(|v| v.value().len() as u64);
                frame.ok_or_else(|| Error::Corrupt {
                    id: *id,
                    detail: format!("its frame {seq} is missing"),
                })?
            }
            Loc::Packed { .. } => 0,
        };
        self.delta.objects -= 1;
        self.delta.raw -= info.raw_len as i64;
        if info.kind == ObjectKind::Blob {
            self.delta.blob_raw -= info.raw_len as i64;
        }
        self.delta.stored -= stored as i64;
        self.outcome.objects_removed += 1;
        // A pack member frees its share of the pack, given back when gc repacks.
        self.outcome.bytes_freed += info.stored;
        for r in refs {
            self.decref(&r)?;
        }
        Ok(())
    }

    /// Re-encodes the object at `id` as a whole frame (no delta), releasing its base. Used by
    /// `gc` to free bases that only deltas still hold.
    pub(crate) fn rewrite_whole(&mut self, id: &ObjectId) -> Result<(), Error> {
        let path = self.path();
        let info = self.info(id)?;
        let Some(base) = info.base else {
            return Ok(());
        };
        let (kind, bytes) = self.with_src(|src| t_load(src, id))?;
        let whole = codec::encode(kind, &bytes, self.store.options.zstd_level);
        // Only a loose frame can be a delta.
        let Some(Entry {
            loc: Loc::Loose(seq),
            ..
        }) = self.entry(id)?
        else {
            return Ok(());
        };
        self.txn
            .open_table(OBJECTS)
            .db(path)?
            .insert(seq, whole.as_slice())
            .db(path)?;
        self.add_stored(whole.len() as i64 - info.stored as i64);
        self.decref(&base)
    }

    /// Adjusts the stored-bytes total by `d` at commit.
    pub(crate) fn add_stored(&mut self, d: i64) {
        self.delta.stored += d;
    }

    /// The redb transaction, for gc and verify to change tables directly; what the
    /// transaction had kept of them ([`TxnMemo`]) is forgotten.
    pub(crate) fn raw(&mut self) -> &mut redb::WriteTransaction {
        // The hot pin is not a table's contents, and a change to it is not yet written.
        let (hot, live_roots) = (self.memo_mut().hot, self.memo_mut().live_roots);
        *self.memo_mut() = TxnMemo {
            hot,
            live_roots,
            ..TxnMemo::default()
        };
        &mut self.txn
    }

    pub(crate) fn raw_ref(&self) -> &redb::WriteTransaction {
        &self.txn
    }

    pub(crate) fn mark_zero(&mut self, id: ObjectId) {
        self.zero.insert(id);
    }
}
