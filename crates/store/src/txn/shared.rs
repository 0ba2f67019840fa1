//! What every transaction of one store shares: [`Shared`], owned by the store handle
//! ([`Store`](crate::Store)) and lent to each transaction it begins.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::Error;
use crate::cold::ColdCache;
use crate::error::panic_message;
use crate::options::StoreOptions;
use crate::pack::PackCache;

/// The shared index's space numbers (name → prefix) and the `meta.index_spaces` count they
/// were read at (see `index::space`).
pub(crate) type SpaceMap = Mutex<Option<(u64, Arc<HashMap<String, Vec<u8>>>)>>;

/// The part of a store its transactions read and fill: the file's path and options, the
/// caches kept between transactions, and whether the storage engine has failed on the file.
pub(crate) struct Shared {
    pub(crate) path: PathBuf,
    pub(crate) options: StoreOptions,
    /// Set once the storage engine failed on this file: writes are refused from then on.
    damaged: AtomicBool,
    /// Packs decoded lately (reading one member decodes its whole pack).
    pub(crate) packs: PackCache,
    /// The cold directory and blocks decoded lately.
    pub(crate) cold: ColdCache,
    /// See [`SpaceMap`].
    pub(crate) spaces: SpaceMap,
}

impl Shared {
    pub(crate) fn new(path: &Path, options: &StoreOptions) -> Shared {
        Shared {
            path: path.to_path_buf(),
            options: options.clone(),
            damaged: AtomicBool::new(false),
            packs: PackCache::default(),
            cold: ColdCache::default(),
            spaces: SpaceMap::default(),
        }
    }

    /// Whether an earlier call found the file damaged (see [`Shared::guarded`]).
    pub(crate) fn is_damaged(&self) -> bool {
        self.damaged.load(Ordering::SeqCst)
    }

    /// Marks the file damaged: writes are refused from then on.
    pub(crate) fn mark_damaged(&self) {
        self.damaged.store(true, Ordering::SeqCst);
    }

    /// Runs `f`, turning a panic of the storage engine (redb panics on some damaged files
    /// instead of returning an error) into [`Error::Damaged`]; the store then refuses writes.
    pub(crate) fn guarded<T>(&self, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(r) => r,
            Err(payload) => {
                self.damaged.store(true, Ordering::SeqCst);
                Err(Error::Damaged {
                    path: self.path.clone(),
                    detail: panic_message(payload.as_ref()),
                })
            }
        }
    }
}
