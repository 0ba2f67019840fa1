//! Dependency closure of an agent-framework workflow: which config files a workflow needs.
//!
//! Given a config root and a workflow path inside it, [`resolve`] follows every reference the
//! [`Profile`] knows (LLM names, token counters, groups, `inherits_from`, tool sets, registries…)
//! transitively and returns a [`Closure`]: the files, each with the [`Edge`]s that pulled it in,
//! plus every reference it could not follow ([`Unresolved`]), every file that does not parse
//! ([`ParseError`]) and every cycle. A [`Strategy`] decides how much of that graph to keep;
//! [`resolve_tree`] takes every file under the root. The crate reads files and YAML only; it never
//! writes and never stores anything.
//!
//! Only a missing or misplaced workflow (or a bad profile, strategy or glob) is an [`Error`]:
//! real config trees dangle, cycle and contain files that do not parse, and the closure reports
//! all of that while still listing those files, so their bytes can be backed up.
//!
//! ```
//! use std::path::Path;
//! use cfgvault_closure::{Options, Strategy, resolve};
//!
//! // fixtures/closure/basic: a workflow, an LLM with its provider's common.yaml, a token counter
//! // with a group, a tool set with two tools, an agent and global.yaml.
//! let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/closure/basic/configs");
//! let closure = resolve(&root, "workflows/react.yaml", &Options::default())?;
//! assert!(closure.contains("llms/provider/openai/common.yaml"));
//! assert!(closure.contains("tools/rest/weather.yaml"));
//! assert_eq!(closure.unresolved[0].value, "gpt-missing"); // a dangling fallback model
//!
//! let minimal = Options::new().strategy(Strategy::Minimal);
//! let closure = resolve(&root, "workflows/react.yaml", &minimal)?;
//! assert_eq!(closure.to_string(), "file workflows/react.yaml [workflow]");
//! # Ok::<(), cfgvault_closure::Error>(())
//! ```

mod cache;
mod cycles;
mod error;
mod hints;
mod index;
mod load;
mod model;
mod nesting;
mod place;
mod profile;
mod resolve;
pub mod semantic;
mod stamp;
mod strategy;
mod template;
mod wildcard;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use cache::Cache;
pub use error::Error;
pub use model::{Closure, Dropped, Edge, FileEntry, FileKind, Hint, ParseError, Unresolved};
pub use profile::Profile;
pub use strategy::{CustomStrategy, Strategy};

/// How to analyse: what to keep, what to leave out, which layout.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// How much of the graph to keep. Default: [`Strategy::Comprehensive`].
    pub strategy: Strategy,
    /// Glob patterns of files left out of the closure (they are still analysed, so the files they
    /// reference are found). A pattern without `/` matches a file name at any depth (`*_test.yaml`),
    /// one with `/` is anchored at the root (`llms/provider/*/dev-*.yaml`). Default: empty.
    pub excludes: Vec<String>,
    /// The layout's reference rules. Default: [`Profile::builtin`].
    pub profile: Profile,
    /// Whether to report [`Hint`]s. A hint may name any file under the root, so with hints a
    /// result kept by a [`Cache`] is checked against every folder under the root, not only
    /// those its analysis consulted. Default: `true`.
    pub hints: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            strategy: Strategy::default(),
            excludes: Vec::new(),
            profile: Profile::default(),
            hints: true,
        }
    }
}

impl Options {
    /// The defaults: comprehensive, no excludes, built-in profile.
    pub fn new() -> Options {
        Options::default()
    }

    /// Sets [`Options::strategy`].
    pub fn strategy(mut self, strategy: Strategy) -> Options {
        self.strategy = strategy;
        self
    }

    /// Adds one pattern to [`Options::excludes`].
    pub fn exclude(mut self, pattern: impl Into<String>) -> Options {
        self.excludes.push(pattern.into());
        self
    }

    /// Sets [`Options::profile`].
    pub fn profile(mut self, profile: Profile) -> Options {
        self.profile = profile;
        self
    }

    /// Sets [`Options::hints`].
    pub fn hints(mut self, hints: bool) -> Options {
        self.hints = hints;
        self
    }
}

/// The closure of `workflow` (relative to `root`, `/`-separated) under `options`.
///
/// Fails only when the root cannot be read, the workflow is missing, not a regular file or outside
/// the root, or an exclude glob is invalid.
pub fn resolve(root: &Path, workflow: &str, options: &Options) -> Result<Closure, Error> {
    resolve::run(root, Some(workflow), options, None).map(|(c, _)| Arc::unwrap_or_clone(c))
}

/// Every regular file under `root` (minus excludes), without a workflow: no references are
/// followed, YAML files are parsed only to report the ones that do not parse, and names that
/// cannot be stored (not UTF-8) or symlinks leading out of the root are reported as unresolved.
/// `options.strategy` is ignored except for a custom strategy's excludes.
pub fn resolve_tree(root: &Path, options: &Options) -> Result<Closure, Error> {
    resolve::run(root, None, options, None).map(|(c, _)| Arc::unwrap_or_clone(c))
}

/// [`resolve`], reusing parses from `cache` for files unchanged since they were parsed. The
/// result is the same as `resolve`'s; only the time differs. It is shared with the cache, which
/// returns it again while nothing it read has changed.
pub fn resolve_cached(
    root: &Path,
    workflow: &str,
    options: &Options,
    cache: &Cache,
) -> Result<Arc<Closure>, Error> {
    resolve::run(root, Some(workflow), options, Some(cache)).map(|(c, _)| c)
}

/// [`resolve_cached`], also telling what the analysis saw on disk ([`Checked`]), so that a
/// caller about to read the closure's files (a backup) need not look at them again.
pub fn resolve_checked(
    root: &Path,
    workflow: &str,
    options: &Options,
    cache: &Cache,
) -> Result<(Arc<Closure>, Checked), Error> {
    resolve::run(root, Some(workflow), options, Some(cache))
}

/// What [`resolve_checked`] saw on disk. When it returned a kept result, it first checked that
/// nothing the result depends on had changed: every folder whose list of files the analysis
/// consulted, and every folder above those (each a real folder, not a symlink, with the entries
/// it had), and every file the analysis parsed. That metadata, taken moments ago, is passed on
/// here.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct Checked {
    /// The config root, canonical.
    pub canonical_root: PathBuf,
    /// Whether every folder on the way to each of the closure's files was just found to be a
    /// real folder (no symlink): true exactly when a kept result was returned.
    pub folders_real: bool,
    /// Each file the kept result's analysis parsed, by path relative to the root, with its
    /// metadata as just checked (`lstat`; each is a regular file), sorted by path. Empty when
    /// the result was computed afresh.
    pub files: Vec<(String, std::fs::Metadata)>,
}
