use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Back up, inspect and restore the config files of agent sessions.
#[derive(Debug, Parser)]
#[command(
    name = "cfgvault",
    version,
    about,
    max_term_width = 100,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Store file [default: .cfgvault/store.redb]
    // An OsString, not a PathBuf: an empty $CFGVAULT_STORE means "not set", not an error.
    #[arg(long, global = true, value_name = "PATH", env = "CFGVAULT_STORE")]
    pub store: Option<std::ffi::OsString>,
    /// Print one JSON document (format "cfgvault/1") instead of text
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors (and the requested bytes for `cat`)
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an empty store
    Init,
    /// Back up a workflow's config closure (or a whole tree) as a new session
    Backup(BackupArgs),
    /// List sessions, newest first
    Sessions(SessionsArgs),
    /// Show one session: record, files, closure
    Show { session: String },
    /// Restore a session's files into a directory
    Restore(RestoreArgs),
    /// Restore what a session needs that is missing; report drift
    Ensure(EnsureArgs),
    /// List the stored versions of one config path
    Log { path: String },
    /// Compare two sessions, or a session with a directory
    Diff(DiffArgs),
    /// Print a stored file (SESSION:PATH) or object (OBJECT_ID) to stdout
    Cat { spec: String },
    /// Pin sessions: cleanup never removes them
    Pin {
        #[arg(required = true)]
        sessions: Vec<String>,
    },
    /// Unpin sessions
    Unpin {
        #[arg(required = true)]
        sessions: Vec<String>,
    },
    /// Set (KEY=VALUE) or remove (KEY=) labels of a session
    Label {
        session: String,
        #[arg(required = true, value_name = "KEY=VALUE")]
        labels: Vec<String>,
    },
    /// Delete sessions
    Rm {
        #[arg(required = true)]
        sessions: Vec<String>,
    },
    /// Delete old sessions by policy
    Cleanup(CleanupArgs),
    /// Sweep unreferenced objects and compact the store file
    Gc,
    /// Re-hash every object and recompute every reference count
    Verify {
        /// Rebuild reference counts and remove unreachable objects
        #[arg(long)]
        repair: bool,
    },
    /// Sizes, counts and ratios
    Stats,
    /// Resolve a workflow's dependency closure without touching a store
    Deps(DepsArgs),
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff)
    Man,
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Init => "init",
            Command::Backup(_) => "backup",
            Command::Sessions(_) => "sessions",
            Command::Show { .. } => "show",
            Command::Restore(_) => "restore",
            Command::Ensure(_) => "ensure",
            Command::Log { .. } => "log",
            Command::Diff(_) => "diff",
            Command::Cat { .. } => "cat",
            Command::Pin { .. } => "pin",
            Command::Unpin { .. } => "unpin",
            Command::Label { .. } => "label",
            Command::Rm { .. } => "rm",
            Command::Cleanup(_) => "cleanup",
            Command::Gc => "gc",
            Command::Verify { .. } => "verify",
            Command::Stats => "stats",
            Command::Deps(_) => "deps",
            Command::Completions { .. } => "completions",
            Command::Man => "man",
        }
    }
}

#[derive(Debug, Args)]
pub struct ClosureArgs {
    /// Config root the workflow and its references are relative to
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// Workflow file, relative to the root
    #[arg(long, value_name = "PATH")]
    pub workflow: Option<String>,
    /// minimal | standard | comprehensive | tree, or a strategy YAML file
    #[arg(long, value_name = "S")]
    pub strategy: Option<String>,
    /// Leave out files matching this glob (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Layout rules (profile YAML); default: the built-in profile
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub closure: ClosureArgs,
    /// Session id (default: generated from the workflow name and the time)
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Label the session (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// Only sessions with this label
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Option<String>,
    /// At most this many sessions
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    pub session: String,
    /// Target directory (default: the session's original config root)
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Restore only this path (repeatable)
    #[arg(long, value_name = "P")]
    pub path: Vec<String>,
    /// What to do with a file that exists
    #[arg(long, value_enum, default_value_t = OverwriteArg::IfUnchanged)]
    pub overwrite: OverwriteArg,
}

/// `--overwrite`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OverwriteArg {
    /// Write only missing files
    Never,
    /// Write missing files; leave changed ones
    IfUnchanged,
    /// Write missing and changed files
    Always,
}

impl From<OverwriteArg> for cfgvault::Overwrite {
    fn from(o: OverwriteArg) -> Self {
        match o {
            OverwriteArg::Never => cfgvault::Overwrite::Never,
            OverwriteArg::IfUnchanged => cfgvault::Overwrite::IfUnchanged,
            OverwriteArg::Always => cfgvault::Overwrite::Always,
        }
    }
}

#[derive(Debug, Args)]
pub struct EnsureArgs {
    pub session: String,
    /// Config root (default: the session's original config root)
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// What to do with a file that exists
    #[arg(long, value_enum, default_value_t = OverwriteArg::IfUnchanged)]
    pub overwrite: OverwriteArg,
    /// Show a unified diff of each drifted file
    #[arg(long)]
    pub diff: bool,
    /// Write nothing: report what would be restored and what has drifted
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub a: String,
    pub b: Option<String>,
    /// Compare session A with this directory instead of a session
    #[arg(long, value_name = "DIR", conflicts_with = "b")]
    pub root: Option<PathBuf>,
    /// Add unified diffs of modified files
    #[arg(long)]
    pub patch: bool,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Remove sessions older than this (e.g. 30d, 12h, 2w, 1month)
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    /// Keep the newest N sessions
    #[arg(long, value_name = "N")]
    pub keep_last: Option<usize>,
    /// Keep the newest session of each of the last N days
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<usize>,
    /// Keep the newest session of each of the last N weeks
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<usize>,
    /// Show the plan without removing anything
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DepsArgs {
    #[command(flatten)]
    pub closure: ClosureArgs,
}
