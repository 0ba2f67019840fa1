//! The outcome of an analysis: plain data, rendered by `Display` one sorted line per fact.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::Error;

/// What a file is, by its place in the layout (the profile's `kinds:` list).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Workflow,
    Llm,
    TokenCounter,
    ToolSet,
    Tool,
    Agent,
    Registry,
    Group,
    Global,
    Other,
}

impl FileKind {
    /// Every kind, in declaration order.
    pub const ALL: [FileKind; 10] = [
        FileKind::Workflow,
        FileKind::Llm,
        FileKind::TokenCounter,
        FileKind::ToolSet,
        FileKind::Tool,
        FileKind::Agent,
        FileKind::Registry,
        FileKind::Group,
        FileKind::Global,
        FileKind::Other,
    ];

    /// The name used in `Display`, profiles and strategy files.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Workflow => "workflow",
            FileKind::Llm => "llm",
            FileKind::TokenCounter => "token_counter",
            FileKind::ToolSet => "tool_set",
            FileKind::Tool => "tool",
            FileKind::Agent => "agent",
            FileKind::Registry => "registry",
            FileKind::Group => "group",
            FileKind::Global => "global",
            FileKind::Other => "other",
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FileKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        FileKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::UnknownKind { name: s.to_owned() })
    }
}

/// One file of the closure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    /// Relative to the config root, `/`-separated.
    pub path: String,
    pub kind: FileKind,
    /// Indices into [`Closure::edges`] of the references that pulled this file in; empty for the
    /// workflow itself, for `globals` and for files added by the `tree` strategy alone.
    pub via: Vec<usize>,
}

/// A resolved reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edge {
    /// The file holding the reference.
    pub from: String,
    /// YAML key path, e.g. `nodes.analyze.config.llm_client` or `fallback_models[0]`;
    /// `(implicit)` for references no key states (a provider's `common.yaml`).
    pub key: String,
    /// The value as written (fragment and placeholders included).
    pub value: String,
    /// The file it resolved to.
    pub to: String,
    /// Name of the profile rule that resolved it.
    pub rule: String,
}

/// A reference that could not be followed, or followed to a file lacking the named key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Unresolved {
    pub from: String,
    pub key: String,
    pub value: String,
    pub reason: String,
}

/// A file of the closure whose YAML could not be read; it is still part of the closure.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ParseError {
    pub path: String,
    /// 1-based, when the parser knows it.
    pub line: Option<usize>,
    /// 1-based, when the parser knows it.
    pub column: Option<usize>,
    pub message: String,
}

/// A string value that looks like a reference to a config file (it names a YAML file's stem,
/// or a relative path to a file under the root) that no rule followed, naming a file not in
/// the closure: either a reference the profile lacks a rule for, or a value that only looks
/// like one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Hint {
    /// The file holding the value.
    pub path: String,
    /// Its key path.
    pub key: String,
    pub value: String,
    /// The files it may name (at most 3).
    pub candidates: Vec<String>,
}

/// References a file held beyond a limit of the analysis: counted, not followed. The files
/// they would have reached are missing from the closure unless something else reaches them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Dropped {
    /// The file holding the references.
    pub path: String,
    /// How many were dropped.
    pub count: usize,
    /// The limit reached, e.g. `10000 references per file`.
    pub limit: String,
}

/// The dependency closure of a workflow (or of a whole tree).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Closure {
    /// The workflow analysed; `None` for [`resolve_tree`](crate::resolve_tree).
    pub workflow: Option<String>,
    /// Why the workflow itself does not parse, if it does not: the one finding that certainly
    /// stops a session from starting (also listed in `parse_errors`; the file is still in
    /// `files`, so a backup keeps its bytes).
    pub workflow_error: Option<ParseError>,
    /// Sorted; references not followed because a limit was reached, by file (only files in
    /// `files`). Not an error: the closure is the part within the limits.
    pub dropped: Vec<Dropped>,
    /// Sorted; values that look like references no rule followed (see [`Hint`]), from the
    /// parsed files of `files`.
    pub hints: Vec<Hint>,
    /// Sorted by path; paths relative to the root, `/`-separated, unique.
    pub files: Vec<FileEntry>,
    /// Sorted; only edges whose target is in `files`.
    pub edges: Vec<Edge>,
    /// Sorted; only references held by files in `files`.
    pub unresolved: Vec<Unresolved>,
    /// Sorted by path; only files in `files`.
    pub parse_errors: Vec<ParseError>,
    /// One elementary cycle per strongly connected component of the reference graph, starting
    /// at its smallest path; the closing edge back to the first file is implied.
    pub cycles: Vec<Vec<String>>,
}

impl Closure {
    /// The paths of `files`, in order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|f| f.path.as_str())
    }

    /// Whether `path` is one of `files`.
    pub fn contains(&self, path: &str) -> bool {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .is_ok()
    }
}

/// Renders one fact per line, sorted, in the compact form the tests pin:
/// `file PATH [kind]` (roots), `file PATH [kind] <- FROM:KEY=VALUE (RULE)` (once per edge),
/// `unresolved FROM:KEY=VALUE: REASON`, `parse-error PATH:LINE:COLUMN: MESSAGE`,
/// `cycle A -> B -> A`; a workflow that does not parse adds `workflow-error PATH`, references
/// past a limit `dropped PATH: N references (LIMIT)`, hints `hint FROM:KEY=VALUE: CANDIDATES`.
impl fmt::Display for Closure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = Vec::new();
        for file in &self.files {
            if file.via.is_empty() {
                lines.push(format!("file {} [{}]", file.path, file.kind));
            }
            for e in file.via.iter().filter_map(|&i| self.edges.get(i)) {
                lines.push(format!(
                    "file {} [{}] <- {}:{}={} ({})",
                    file.path, file.kind, e.from, e.key, e.value, e.rule
                ));
            }
        }
        for u in &self.unresolved {
            lines.push(format!(
                "unresolved {}:{}={}: {}",
                u.from, u.key, u.value, u.reason
            ));
        }
        for p in &self.parse_errors {
            let at = match (p.line, p.column) {
                (Some(l), Some(c)) => format!(":{l}:{c}"),
                (Some(l), None) => format!(":{l}"),
                _ => String::new(),
            };
            lines.push(format!("parse-error {}{at}: {}", p.path, p.message));
        }
        for h in &self.hints {
            lines.push(format!(
                "hint {}:{}={}: {}",
                h.path,
                h.key,
                h.value,
                h.candidates.join(", ")
            ));
        }
        for d in &self.dropped {
            lines.push(format!(
                "dropped {}: {} references ({})",
                d.path, d.count, d.limit
            ));
        }
        if let Some(e) = &self.workflow_error {
            lines.push(format!("workflow-error {}", e.path));
        }
        for c in &self.cycles {
            let mut s = c.join(" -> ");
            if let Some(first) = c.first() {
                s.push_str(" -> ");
                s.push_str(first);
            }
            lines.push(format!("cycle {s}"));
        }
        lines.sort();
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(line)?;
        }
        Ok(())
    }
}
