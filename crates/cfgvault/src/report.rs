//! What [`crate::Vault`] operations return: plain data that serializes (serde) with stable
//! snake_case field names, the same the command line's `--json` prints (docs/CLI.md).

use std::path::PathBuf;
use std::sync::Arc;

use cfgvault_closure as closure;
use cfgvault_session as session;
use cfgvault_store as store;
use serde::{Serialize, Serializer};

use crate::{DateTime, ObjectId, ProblemKind, SessionId, SessionRecord, UnresolvedInfo, Utc};

fn kind_str<S: Serializer>(kind: &closure::FileKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BackedUpFile {
    /// The path relative to the config root, `/`-separated.
    pub path: String,
    /// The content's id.
    pub id: ObjectId,
    /// Bytes.
    pub size: u64,
    /// Whether its content was new to the store.
    pub new: bool,
    /// What the closure analysis says the file is.
    #[serde(serialize_with = "kind_str")]
    pub kind: closure::FileKind,
}

/// What a backup stored and what it could not resolve. Serializes as the command line's
/// `backup` document: `{session (the id), root, files, unresolved, warnings, workflow_error,
/// hints, dropped, new_objects, bytes_added, logical_bytes}`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BackupReport {
    /// The new session.
    pub session: SessionRecord,
    /// Its files.
    pub files: Vec<BackedUpFile>,
    /// References that point nowhere (also in the full analysis).
    pub unresolved: Vec<UnresolvedInfo>,
    /// Files that did not parse and reference cycles, one line each.
    pub warnings: Vec<String>,
    /// Objects (blobs and trees) added to the store.
    pub new_objects: u64,
    /// Stored bytes those objects take.
    pub bytes_added: u64,
    /// The full analysis, with every edge, dangling reference, parse error and cycle.
    pub closure: Arc<closure::Closure>,
}

impl Serialize for BackupReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            session: &'a SessionId,
            root: &'a ObjectId,
            files: &'a [BackedUpFile],
            unresolved: &'a [UnresolvedInfo],
            warnings: &'a [String],
            workflow_error: &'a Option<closure::ParseError>,
            hints: &'a [closure::Hint],
            dropped: &'a [closure::Dropped],
            new_objects: u64,
            bytes_added: u64,
            logical_bytes: u64,
        }
        View {
            session: &self.session.id,
            root: &self.session.root,
            files: &self.files,
            unresolved: &self.unresolved,
            warnings: &self.warnings,
            workflow_error: &self.closure.workflow_error,
            hints: &self.closure.hints,
            dropped: &self.closure.dropped,
            new_objects: self.new_objects,
            bytes_added: self.bytes_added,
            logical_bytes: self.session.logical_bytes,
        }
        .serialize(s)
    }
}

/// The state of one file after `ensure` (or, in a dry run, what `ensure` would make of it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnsureStatus {
    /// It was missing (or drifted, under `Overwrite::Always`) and was (or would be) written
    /// back.
    Restored,
    /// It was present with the session's content.
    Ok,
    /// It is present with other content and was left alone.
    Drifted,
    /// It could not be checked or written, with the reason.
    Failed(String),
}

impl EnsureStatus {
    /// `restored`, `ok`, `drifted` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            EnsureStatus::Restored => "restored",
            EnsureStatus::Ok => "ok",
            EnsureStatus::Drifted => "drifted",
            EnsureStatus::Failed(_) => "failed",
        }
    }
}

/// One file of an `ensure` report. Serializes as `{path, status, reason, diff}`, and
/// `changes` when there are some.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnsureFile {
    /// The path relative to the config root.
    pub path: String,
    /// What happened to it.
    pub status: EnsureStatus,
    /// For drifted files with `EnsureOptions::diff`: the unified diff session → disk.
    pub diff: Option<String>,
    /// For drifted YAML/JSON files with `EnsureOptions::diff`: the changed key paths (or that
    /// only formatting changed), as `diff` reports them.
    pub changes: Option<crate::FileChange>,
}

impl Serialize for EnsureFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            path: &'a str,
            status: &'static str,
            reason: Option<&'a str>,
            diff: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            changes: Option<&'a crate::FileChange>,
        }
        View {
            path: &self.path,
            status: self.status.as_str(),
            reason: match &self.status {
                EnsureStatus::Failed(why) => Some(why),
                _ => None,
            },
            diff: self.diff.as_deref(),
            changes: self.changes.as_ref(),
        }
        .serialize(s)
    }
}

/// What `ensure` did (or, with `dry_run`, would do), per file. Serializes as the command
/// line's `ensure` document: `{session, root, dry_run, files}` and, drawn from `files`,
/// `restored`, `ok`, `drifted` (paths), `failed` (`{path, reason}`), `diffs` (`{path,
/// patch}`) and `changes` (key changes).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnsureReport {
    /// The session ensured.
    pub session: SessionId,
    /// The config root checked.
    pub root: PathBuf,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// One entry per file of the session.
    pub files: Vec<EnsureFile>,
}

impl Serialize for EnsureReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Failed<'a> {
            path: &'a str,
            reason: &'a str,
        }
        #[derive(Serialize)]
        struct Patch<'a> {
            path: &'a str,
            patch: &'a str,
        }
        #[derive(Serialize)]
        struct View<'a> {
            session: &'a SessionId,
            root: &'a PathBuf,
            dry_run: bool,
            files: &'a [EnsureFile],
            restored: Vec<&'a str>,
            ok: Vec<&'a str>,
            drifted: Vec<&'a str>,
            failed: Vec<Failed<'a>>,
            diffs: Vec<Patch<'a>>,
            changes: Vec<&'a crate::FileChange>,
        }
        View {
            session: &self.session,
            root: &self.root,
            dry_run: self.dry_run,
            files: &self.files,
            restored: self.restored(),
            ok: self.ok(),
            drifted: self.drifted(),
            failed: self
                .files
                .iter()
                .filter_map(|f| match &f.status {
                    EnsureStatus::Failed(why) => Some(Failed {
                        path: &f.path,
                        reason: why,
                    }),
                    _ => None,
                })
                .collect(),
            diffs: self
                .files
                .iter()
                .filter_map(|f| {
                    f.diff.as_deref().map(|patch| Patch {
                        path: &f.path,
                        patch,
                    })
                })
                .collect(),
            changes: self
                .files
                .iter()
                .filter_map(|f| f.changes.as_ref())
                .collect(),
        }
        .serialize(s)
    }
}

impl EnsureReport {
    fn with(&self, want: impl Fn(&EnsureStatus) -> bool) -> Vec<&str> {
        self.files
            .iter()
            .filter(|f| want(&f.status))
            .map(|f| f.path.as_str())
            .collect()
    }
    /// Paths written back (in a dry run: that would be).
    pub fn restored(&self) -> Vec<&str> {
        self.with(|s| *s == EnsureStatus::Restored)
    }
    /// Paths already as in the session.
    pub fn ok(&self) -> Vec<&str> {
        self.with(|s| *s == EnsureStatus::Ok)
    }
    /// Paths that differ from the session and were left alone.
    pub fn drifted(&self) -> Vec<&str> {
        self.with(|s| *s == EnsureStatus::Drifted)
    }
    /// Paths that could not be checked or written.
    pub fn failed(&self) -> Vec<&str> {
        self.with(|s| matches!(s, EnsureStatus::Failed(_)))
    }
}

/// What `restore` did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RestoreAction {
    /// Written.
    Restored,
    /// Already had the session's content.
    Unchanged,
    /// Exists with other content and the policy forbade overwriting it.
    SkippedChanged,
    /// Could not be restored (see [`RestoredFile::reason`]).
    Failed,
}

/// One file of a `restore` report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RestoredFile {
    /// The path relative to the target.
    pub path: String,
    /// What happened to it.
    pub action: RestoreAction,
    /// Why it failed.
    pub reason: Option<String>,
}

/// What `restore` did, one entry per file (and per requested path that matched none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RestoreReport {
    /// The session restored.
    pub session: SessionId,
    /// The directory written into.
    pub target: PathBuf,
    /// The files.
    pub files: Vec<RestoredFile>,
}

impl RestoreReport {
    pub(crate) fn new(session: SessionId, target: PathBuf, r: session::restore::Report) -> Self {
        use session::restore::Action;
        let files = r
            .files
            .into_iter()
            .map(|f| {
                let (action, reason) = match f.action {
                    Action::Restored => (RestoreAction::Restored, None),
                    Action::Unchanged => (RestoreAction::Unchanged, None),
                    Action::SkippedChanged => (RestoreAction::SkippedChanged, None),
                    Action::Failed(why) => (RestoreAction::Failed, Some(why)),
                };
                RestoredFile {
                    path: f.path,
                    action,
                    reason,
                }
            })
            .collect();
        RestoreReport {
            session,
            target,
            files,
        }
    }

    /// Paths with this action.
    pub fn with(&self, action: RestoreAction) -> Vec<&str> {
        self.files
            .iter()
            .filter(|f| f.action == action)
            .map(|f| f.path.as_str())
            .collect()
    }

    /// Whether any file failed.
    pub fn has_failures(&self) -> bool {
        self.files.iter().any(|f| f.action == RestoreAction::Failed)
    }
}

/// Paths added, removed and modified going from the old side to the new one, each sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Diff {
    /// Only on the new side.
    pub added: Vec<String>,
    /// Only on the old side.
    pub removed: Vec<String>,
    /// On both, with different content.
    pub modified: Vec<String>,
    /// Gone from one path and present at another with the same or similar content.
    pub renamed: Vec<crate::Rename>,
    /// For each modified (or renamed and changed) YAML or JSON file: its changed key paths.
    pub changes: Vec<crate::FileChange>,
}

impl Diff {
    /// Whether both sides hold the same files.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.modified.is_empty()
            && self.renamed.is_empty()
    }
}

impl From<session::diff::Diff> for Diff {
    fn from(d: session::diff::Diff) -> Diff {
        Diff {
            added: d.added,
            removed: d.removed,
            modified: d.modified,
            renamed: d.renamed,
            changes: d.changes,
        }
    }
}

/// One distinct content a config path had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Version {
    /// The content's id.
    pub id: ObjectId,
    /// Bytes.
    pub size: u64,
    /// Earliest creation time of a session that held this version.
    pub first_seen: DateTime<Utc>,
    /// Latest creation time of a session that held this version.
    pub last_seen: DateTime<Utc>,
    /// Number of sessions holding it now.
    pub sessions: u64,
}

impl From<session::Version> for Version {
    fn from(v: session::Version) -> Version {
        Version {
            id: v.id,
            size: v.size,
            first_seen: v.first_seen,
            last_seen: v.last_seen,
            sessions: v.sessions,
        }
    }
}

/// One file of a stored session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SessionFile {
    /// The path relative to the config root.
    pub path: String,
    /// The content's id.
    pub id: ObjectId,
    /// Bytes.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
}

impl From<session::TreeFile> for SessionFile {
    fn from(f: session::TreeFile) -> SessionFile {
        SessionFile {
            path: f.path,
            id: f.id,
            size: f.size,
            mode: f.mode,
        }
    }
}

/// Sessions, sizes and ratios of a store.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Sessions stored.
    pub sessions: u64,
    /// Objects in the store.
    pub objects: u64,
    /// Sum of file sizes over all sessions.
    pub logical_bytes: u64,
    /// Sum of the sizes of the distinct contents the sessions hold.
    pub unique_bytes: u64,
    /// Stored (compressed) bytes of all objects, trees included.
    pub stored_bytes: u64,
    /// Size of the store file.
    pub file_bytes: u64,
    /// Creation time of the oldest session.
    pub oldest: Option<DateTime<Utc>>,
    /// Creation time of the newest session.
    pub newest: Option<DateTime<Utc>>,
    /// `logical_bytes / unique_bytes` (0 when undefined).
    pub dedup_ratio: f64,
    /// `unique_bytes / stored_bytes` (0 when undefined).
    pub compression_ratio: f64,
    /// `logical_bytes / file_bytes` (0 when undefined).
    pub overall_ratio: f64,
}

impl From<session::SessionStats> for Stats {
    fn from(s: session::SessionStats) -> Stats {
        Stats {
            sessions: s.sessions,
            objects: s.objects,
            logical_bytes: s.logical_bytes,
            unique_bytes: s.unique_bytes,
            stored_bytes: s.stored_bytes,
            file_bytes: s.file_bytes,
            oldest: s.oldest,
            newest: s.newest,
            dedup_ratio: s.dedup_ratio,
            compression_ratio: s.compression_ratio,
            overall_ratio: s.overall_ratio,
        }
    }
}

/// What a retention policy removes, computed without writing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CleanupPlan {
    /// Sessions to remove, newest first.
    pub remove: Vec<SessionId>,
    /// Sessions kept, newest first.
    pub keep: Vec<SessionId>,
    /// Objects removing them frees.
    pub objects_freed: u64,
    /// Stored bytes removing them frees.
    pub bytes_freed: u64,
}

impl From<session::retention::Plan> for CleanupPlan {
    fn from(p: session::retention::Plan) -> CleanupPlan {
        CleanupPlan {
            remove: p.remove,
            keep: p.keep,
            objects_freed: p.objects_freed,
            bytes_freed: p.bytes_freed,
        }
    }
}

impl CleanupPlan {
    pub(crate) fn session(&self) -> session::retention::Plan {
        session::retention::Plan {
            remove: self.remove.clone(),
            keep: self.keep.clone(),
            objects_freed: self.objects_freed,
            bytes_freed: self.bytes_freed,
        }
    }
}

/// What deleting sessions (`delete`, `cleanup_apply`) freed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Removed {
    /// Objects no remaining session held.
    pub objects_freed: u64,
    /// Their stored bytes (the file gives them back at the next `gc`).
    pub bytes_freed: u64,
}

impl From<store::CommitOutcome> for Removed {
    fn from(c: store::CommitOutcome) -> Removed {
        Removed {
            objects_freed: c.objects_removed,
            bytes_freed: c.bytes_freed,
        }
    }
}

/// What `gc` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GcReport {
    /// Objects removed by the sweep (normally 0: deleting sessions already removes what only
    /// they held).
    pub objects_removed: u64,
    /// Stored bytes of those objects.
    pub bytes_freed: u64,
    /// Size of the store file before.
    pub file_bytes_before: u64,
    /// Size of the store file on disk after.
    pub file_bytes_after: u64,
    /// Delta objects re-encoded whole so that a base only deltas still held could go.
    pub deltas_rewritten: u64,
    /// Objects in the packs written.
    pub packed: u64,
    /// Packs written.
    pub packs_written: u64,
    /// Stored bytes before packing minus after (negative when packing grew them).
    pub pack_bytes_saved: i64,
    /// Blocks of entries moved out of their tables.
    pub cold_blocks_written: u64,
    /// Tables rewritten into fresh pages because theirs were sparse.
    pub tables_rebuilt: u64,
    /// Whether compaction ran and changed the file.
    pub compacted: bool,
    /// Why compaction could not run (for example another process holds a snapshot).
    pub compaction_skipped: Option<String>,
}

impl From<store::gc::Outcome> for GcReport {
    fn from(o: store::gc::Outcome) -> GcReport {
        GcReport {
            objects_removed: o.objects_removed,
            bytes_freed: o.bytes_freed,
            file_bytes_before: o.file_bytes_before,
            file_bytes_after: o.file_bytes_after,
            deltas_rewritten: o.rewritten,
            packed: o.packed,
            packs_written: o.packs_written,
            pack_bytes_saved: o.pack_bytes_saved,
            cold_blocks_written: o.cold_blocks_written,
            tables_rebuilt: o.tables_rebuilt,
            compacted: o.compacted,
            compaction_skipped: o.compaction_skipped,
        }
    }
}

fn problem_kind_str<S: Serializer>(kind: &ProblemKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

/// One discrepancy `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Problem {
    /// What is wrong (serialized as its kebab-case name).
    #[serde(serialize_with = "problem_kind_str")]
    pub kind: ProblemKind,
    /// The object concerned, when there is one.
    pub id: Option<ObjectId>,
    /// A sentence saying what was found.
    pub detail: String,
}

/// What `verify` found (and, with `repair`, fixed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Objects re-hashed.
    pub objects_checked: u64,
    /// Uncompressed bytes re-hashed.
    pub bytes_checked: u64,
    /// Roots (sessions and internal roots) walked.
    pub roots_checked: u64,
    /// What was found.
    pub problems: Vec<Problem>,
    /// Whether a repair was committed.
    pub repaired: bool,
}

impl VerifyReport {
    /// Whether no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl VerifyReport {
    /// Adds what the session layer's check found, as problems of kind
    /// [`ProblemKind::Metadata`] naming the session, index key or string concerned.
    pub(crate) fn add_session_problems(&mut self, problems: Vec<session::verify::Problem>) {
        self.problems.extend(problems.into_iter().map(|p| Problem {
            kind: ProblemKind::Metadata,
            id: None,
            detail: format!("{}: {}", p.key, p.detail),
        }));
    }
}

impl From<store::verify::Outcome> for VerifyReport {
    fn from(o: store::verify::Outcome) -> VerifyReport {
        VerifyReport {
            objects_checked: o.objects_checked,
            bytes_checked: o.bytes_checked,
            roots_checked: o.roots_checked,
            problems: o
                .problems
                .into_iter()
                .map(|p| Problem {
                    kind: p.kind,
                    id: p.id,
                    detail: p.detail,
                })
                .collect(),
            repaired: o.repaired,
        }
    }
}

/// The versions of a path and of the names it had before renames (`log --follow`).
/// Serializes as `{versions, renames}`, each version with the `path` it had (the command
/// line's `log` document).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Followed {
    /// Each name with its versions, oldest first, from the path asked for back to the oldest
    /// name found.
    pub names: Vec<(String, Vec<Version>)>,
    /// The renames crossed, newest first, each with the session where the new name first
    /// appears.
    pub renames: Vec<crate::FollowedRename>,
}

impl Followed {
    /// The versions of one path, crossing no rename (what [`crate::Vault::versions`] gives,
    /// shaped as a `log --follow` answer).
    pub fn only(path: impl Into<String>, versions: Vec<Version>) -> Followed {
        Followed {
            names: vec![(path.into(), versions)],
            renames: Vec::new(),
        }
    }
}

impl Serialize for Followed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Named<'a> {
            path: &'a str,
            #[serde(flatten)]
            version: &'a Version,
        }
        #[derive(Serialize)]
        struct View<'a> {
            versions: Vec<Named<'a>>,
            renames: &'a [crate::FollowedRename],
        }
        View {
            versions: self
                .names
                .iter()
                .flat_map(|(path, vs)| vs.iter().map(move |version| Named { path, version }))
                .collect(),
            renames: &self.renames,
        }
        .serialize(s)
    }
}

impl From<session::Followed> for Followed {
    fn from(f: session::Followed) -> Followed {
        Followed {
            names: f
                .names
                .into_iter()
                .map(|(p, vs)| (p, vs.into_iter().map(Version::from).collect()))
                .collect(),
            renames: f.renames,
        }
    }
}
