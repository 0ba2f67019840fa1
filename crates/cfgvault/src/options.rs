//! The options of every [`crate::Vault`] operation. Each is built with `new()` (the same as
//! `default()`) and chainable setters named after its fields, so an embedder can set what it
//! needs although new fields may be added.

use std::collections::BTreeMap;
use std::time::Duration;

use cfgvault_closure as closure;
use cfgvault_session as session;
use cfgvault_store::StoreOptions;

use crate::{DateTime, Overwrite, SessionId, Utc};

/// How a vault is opened.
///
/// ```
/// let options = cfgvault::Options::new().zstd_level(9).shared(false);
/// assert_eq!(options.zstd_level, 9);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// zstd level for new objects. Default: 3.
    pub zstd_level: i32,
    /// zstd level at which `gc` compresses packs (objects compressed together). Default: 19.
    pub gc_zstd_level: i32,
    /// Most uncompressed bytes `gc` puts in one pack: larger packs compress better, and reading
    /// any file of a pack decodes the whole pack once per process (it is then cached). 0 leaves
    /// every object on its own. Default: 4 MiB.
    pub pack_bytes: u64,
    /// Largest single config file accepted. Default: 64 MiB.
    pub max_file_size: u64,
    /// Let several processes use the store at once (writers take turns). Default: `true`.
    pub shared: bool,
}

impl Default for Options {
    fn default() -> Self {
        let s = StoreOptions::default();
        Options {
            zstd_level: s.zstd_level,
            gc_zstd_level: s.gc_zstd_level,
            pack_bytes: s.pack_bytes,
            max_file_size: s.max_object_size,
            shared: s.shared,
        }
    }
}

impl Options {
    /// The defaults.
    pub fn new() -> Options {
        Options::default()
    }
    /// Sets [`Options::zstd_level`].
    pub fn zstd_level(mut self, level: i32) -> Self {
        self.zstd_level = level;
        self
    }
    /// Sets [`Options::gc_zstd_level`].
    pub fn gc_zstd_level(mut self, level: i32) -> Self {
        self.gc_zstd_level = level;
        self
    }
    /// Sets [`Options::pack_bytes`].
    pub fn pack_bytes(mut self, bytes: u64) -> Self {
        self.pack_bytes = bytes;
        self
    }
    /// Sets [`Options::max_file_size`].
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }
    /// Sets [`Options::shared`].
    pub fn shared(mut self, shared: bool) -> Self {
        self.shared = shared;
        self
    }

    pub(crate) fn store(&self) -> StoreOptions {
        let mut s = StoreOptions::default();
        s.zstd_level = self.zstd_level;
        s.gc_zstd_level = self.gc_zstd_level;
        s.pack_bytes = self.pack_bytes;
        s.max_object_size = self.max_file_size;
        s.shared = self.shared;
        s
    }
}

/// What to back up and how to label it.
///
/// ```
/// use cfgvault::{BackupOptions, closure::Strategy};
/// let options = BackupOptions::new()
///     .strategy(Strategy::Minimal)
///     .exclude("**/secrets/**")
///     .label("user", "alice");
/// assert_eq!(options.labels["user"], "alice");
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BackupOptions {
    /// The session's id. Default: generated from the workflow's name and the time.
    pub session_id: Option<SessionId>,
    /// How much of the closure to keep. Default: comprehensive.
    pub strategy: closure::Strategy,
    /// Glob patterns left out of the backup. Default: none.
    pub excludes: Vec<String>,
    /// Free-form labels stored with the session: keys of at most 128 characters, values of
    /// at most 1024, neither holding control characters. Default: none.
    pub labels: BTreeMap<String, String>,
    /// The layout rules. Default: the built-in profile of the agent framework.
    pub profile: Option<closure::Profile>,
    /// The session's creation time. Default: now.
    pub created_at: Option<DateTime<Utc>>,
}

impl BackupOptions {
    /// The defaults.
    pub fn new() -> BackupOptions {
        BackupOptions::default()
    }
    /// Sets [`BackupOptions::session_id`].
    pub fn session_id(mut self, id: SessionId) -> Self {
        self.session_id = Some(id);
        self
    }
    /// Sets [`BackupOptions::strategy`].
    pub fn strategy(mut self, strategy: closure::Strategy) -> Self {
        self.strategy = strategy;
        self
    }
    /// Adds a glob to [`BackupOptions::excludes`].
    pub fn exclude(mut self, glob: impl Into<String>) -> Self {
        self.excludes.push(glob.into());
        self
    }
    /// Adds (or replaces) one label of [`BackupOptions::labels`].
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }
    /// Sets [`BackupOptions::profile`].
    pub fn profile(mut self, profile: closure::Profile) -> Self {
        self.profile = Some(profile);
        self
    }
    /// Sets [`BackupOptions::created_at`].
    pub fn created_at(mut self, at: DateTime<Utc>) -> Self {
        self.created_at = Some(at);
        self
    }
}

/// How `ensure` treats files that differ from the session.
///
/// ```
/// use cfgvault::{EnsureOptions, Overwrite};
/// let options = EnsureOptions::new().overwrite(Overwrite::Never).dry_run(true);
/// assert!(options.dry_run);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EnsureOptions {
    /// `IfUnchanged` and `Never` restore missing files and leave drifted ones; `Always` also
    /// overwrites drifted ones. Default: [`Overwrite::IfUnchanged`].
    pub overwrite: Overwrite,
    /// Attach a unified diff (session → disk) to each drifted file. Default: `false`.
    pub diff: bool,
    /// Write nothing: report what would be restored and what has drifted. Default: `false`.
    pub dry_run: bool,
}

impl EnsureOptions {
    /// The defaults.
    pub fn new() -> EnsureOptions {
        EnsureOptions::default()
    }
    /// Sets [`EnsureOptions::overwrite`].
    pub fn overwrite(mut self, overwrite: Overwrite) -> Self {
        self.overwrite = overwrite;
        self
    }
    /// Sets [`EnsureOptions::diff`].
    pub fn diff(mut self, diff: bool) -> Self {
        self.diff = diff;
        self
    }
    /// Sets [`EnsureOptions::dry_run`].
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

/// What `restore` writes.
///
/// ```
/// use cfgvault::{Overwrite, RestoreOptions};
/// let options = RestoreOptions::new().path("llms").overwrite(Overwrite::Always);
/// assert_eq!(options.paths, Some(vec!["llms".to_string()]));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreOptions {
    /// Only these paths (a directory stands for the files below it). Default: `None` (all).
    pub paths: Option<Vec<String>>,
    /// What to do with existing files. Default: [`Overwrite::IfUnchanged`].
    pub overwrite: Overwrite,
}

impl RestoreOptions {
    /// The defaults.
    pub fn new() -> RestoreOptions {
        RestoreOptions::default()
    }
    /// Adds one path to [`RestoreOptions::paths`].
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.paths.get_or_insert_with(Vec::new).push(path.into());
        self
    }
    /// Sets [`RestoreOptions::overwrite`].
    pub fn overwrite(mut self, overwrite: Overwrite) -> Self {
        self.overwrite = overwrite;
        self
    }

    pub(crate) fn session(&self) -> session::restore::Options {
        let mut o = session::restore::Options::default();
        o.paths = self.paths.clone();
        o.overwrite = self.overwrite;
        o
    }
}

/// Which sessions `sessions` lists.
///
/// ```
/// let options = cfgvault::ListOptions::new().limit(10).label("user", "alice");
/// assert_eq!(options.limit, Some(10));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// At most this many, newest first. Default: `None` (all).
    pub limit: Option<usize>,
    /// Only sessions with this label key and value. Default: `None`.
    pub label: Option<(String, String)>,
    /// Only sessions created strictly after this time. Default: `None`.
    pub newer_than: Option<DateTime<Utc>>,
    /// Only sessions created strictly before this time. Default: `None`.
    pub older_than: Option<DateTime<Utc>>,
}

impl ListOptions {
    /// The defaults.
    pub fn new() -> ListOptions {
        ListOptions::default()
    }
    /// Sets [`ListOptions::limit`].
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }
    /// Sets [`ListOptions::label`].
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.label = Some((key.into(), value.into()));
        self
    }
    /// Sets [`ListOptions::newer_than`].
    pub fn newer_than(mut self, at: DateTime<Utc>) -> Self {
        self.newer_than = Some(at);
        self
    }
    /// Sets [`ListOptions::older_than`].
    pub fn older_than(mut self, at: DateTime<Utc>) -> Self {
        self.older_than = Some(at);
        self
    }

    pub(crate) fn session(&self) -> session::ListOptions {
        let mut o = session::ListOptions::default();
        o.limit = self.limit;
        o.label = self.label.clone();
        o.newer_than = self.newer_than;
        o.older_than = self.older_than;
        o
    }
}

/// Which sessions `cleanup_plan` removes. Pinned sessions are always kept.
///
/// ```
/// use std::time::Duration;
/// let policy = cfgvault::RetentionPolicy::new()
///     .older_than(Duration::from_secs(30 * 86_400))
///     .keep_last(5);
/// assert_eq!(policy.keep_last, Some(5));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionPolicy {
    /// Sessions created more than this long before `now` are candidates for removal.
    /// Default: `None`.
    pub older_than: Option<Duration>,
    /// Keep the newest N sessions. Default: `None`.
    pub keep_last: Option<usize>,
    /// Keep the newest session of each of the last N days that have sessions. Default: `None`.
    pub keep_daily: Option<usize>,
    /// Keep the newest session of each of the last N ISO weeks that have sessions.
    /// Default: `None`.
    pub keep_weekly: Option<usize>,
}

impl RetentionPolicy {
    /// The defaults (which remove nothing).
    pub fn new() -> RetentionPolicy {
        RetentionPolicy::default()
    }
    /// Sets [`RetentionPolicy::older_than`].
    pub fn older_than(mut self, age: Duration) -> Self {
        self.older_than = Some(age);
        self
    }
    /// Sets [`RetentionPolicy::keep_last`].
    pub fn keep_last(mut self, n: usize) -> Self {
        self.keep_last = Some(n);
        self
    }
    /// Sets [`RetentionPolicy::keep_daily`].
    pub fn keep_daily(mut self, n: usize) -> Self {
        self.keep_daily = Some(n);
        self
    }
    /// Sets [`RetentionPolicy::keep_weekly`].
    pub fn keep_weekly(mut self, n: usize) -> Self {
        self.keep_weekly = Some(n);
        self
    }

    /// The session layer's policy; an age beyond what a timestamp can hold keeps everything.
    pub(crate) fn session(&self) -> session::retention::Policy {
        let mut p = session::retention::Policy::default();
        p.older_than = self
            .older_than
            .map(|d| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX));
        p.keep_last = self.keep_last;
        p.keep_daily = self.keep_daily;
        p.keep_weekly = self.keep_weekly;
        p
    }
}

/// How `verify` checks.
///
/// ```
/// let options = cfgvault::VerifyOptions::new().repair(true);
/// assert!(options.repair);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Rebuild reference counts and totals from the roots, and remove objects no root reaches.
    /// Corrupt and missing objects cannot be repaired and stay reported. Default: `false`.
    pub repair: bool,
}

impl VerifyOptions {
    /// The defaults.
    pub fn new() -> VerifyOptions {
        VerifyOptions::default()
    }
    /// Sets [`VerifyOptions::repair`].
    pub fn repair(mut self, repair: bool) -> Self {
        self.repair = repair;
        self
    }

    pub(crate) fn store(&self) -> cfgvault_store::verify::Options {
        let mut o = cfgvault_store::verify::Options::default();
        o.repair = self.repair;
        o
    }
}
