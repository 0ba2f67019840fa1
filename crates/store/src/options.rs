//! How a store is opened: [`StoreOptions`].

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
    /// [`Error::AlreadyOpen`](crate::Error::AlreadyOpen). Default: `true`.
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
