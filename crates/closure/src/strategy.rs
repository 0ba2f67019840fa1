//! Which files of the analysed graph end up in the closure: the strategy and the exclude globs.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use globset::{GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::profile::anchored_glob;
use crate::{Error, FileKind};

/// How much of the dependency graph to keep.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Strategy {
    /// The workflow file only.
    Minimal,
    /// The workflow plus the LLM (with token counters) and tool-set (with tools) files of the closure.
    Standard,
    /// The whole closure plus the profile's `globals` (`global.yaml`).
    #[default]
    Comprehensive,
    /// Every file under the root; references are still analysed and reported.
    Tree,
    /// Loaded from YAML, see [`Strategy::from_yaml_str`].
    Custom(CustomStrategy),
}

/// A strategy defined by data: which kinds of the closure to keep, plus its own excludes.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomStrategy {
    pub name: String,
    /// Kinds kept; `None` keeps the whole closure. Listing `global` adds the profile's globals.
    /// The workflow itself is always kept. Default: `None`.
    pub kinds: Option<Vec<FileKind>>,
    /// Also keep every other file under the root. Default: `false`.
    pub tree: bool,
    /// Glob patterns added to [`Options::excludes`](crate::Options::excludes). Default: empty.
    pub exclude: Vec<String>,
}

impl CustomStrategy {
    /// A strategy keeping the whole closure (no globals), to be narrowed field by field.
    pub fn new(name: impl Into<String>) -> CustomStrategy {
        CustomStrategy {
            name: name.into(),
            kinds: None,
            tree: false,
            exclude: Vec::new(),
        }
    }
}

const STANDARD_KINDS: [FileKind; 5] = [
    FileKind::Workflow,
    FileKind::Llm,
    FileKind::TokenCounter,
    FileKind::ToolSet,
    FileKind::Tool,
];

/// What a strategy selects, in the terms the resolver works with.
pub(crate) struct Selection<'a> {
    /// Only the workflow itself (kinds are ignored).
    pub(crate) root_only: bool,
    /// `None` = every kind.
    pub(crate) kinds: Option<&'a [FileKind]>,
    pub(crate) globals: bool,
    pub(crate) tree: bool,
}

impl Strategy {
    pub(crate) fn selection(&self) -> Selection<'_> {
        let base = Selection {
            root_only: false,
            kinds: None,
            globals: false,
            tree: false,
        };
        match self {
            Strategy::Minimal => Selection {
                root_only: true,
                ..base
            },
            Strategy::Standard => Selection {
                kinds: Some(&STANDARD_KINDS),
                ..base
            },
            Strategy::Comprehensive => Selection {
                globals: true,
                ..base
            },
            Strategy::Tree => Selection {
                globals: true,
                tree: true,
                ..base
            },
            Strategy::Custom(c) => Selection {
                kinds: c.kinds.as_deref(),
                globals: c
                    .kinds
                    .as_ref()
                    .is_some_and(|k| k.contains(&FileKind::Global)),
                tree: c.tree,
                ..base
            },
        }
    }

    /// Reads a custom strategy: `name:` (required), `kinds:` (list of kind names, absent = the
    /// whole closure), `tree:` (bool), `exclude:` (globs).
    pub fn from_yaml_str(yaml: &str) -> Result<Strategy, Error> {
        Strategy::parse_yaml(yaml, "strategy string")
    }

    /// Reads a custom strategy from a YAML file (see [`Strategy::from_yaml_str`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Strategy, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            action: "read strategy",
            path: path.to_owned(),
            source,
        })?;
        Strategy::parse_yaml(&text, &format!("strategy file '{}'", path.display()))
    }

    fn parse_yaml(yaml: &str, origin: &str) -> Result<Strategy, Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Spec {
            name: String,
            kinds: Option<Vec<String>>,
            #[serde(default)]
            tree: bool,
            #[serde(default)]
            exclude: Vec<String>,
        }
        let err = |message: String| Error::Strategy {
            origin: origin.to_owned(),
            message,
        };
        let spec: Spec = serde_yaml::from_str(yaml).map_err(|e| err(e.to_string()))?;
        let kinds = match spec.kinds {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| n.parse::<FileKind>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| err(e.to_string()))?,
            ),
        };
        exclude_set(&spec.exclude).map_err(|e| err(e.to_string()))?;
        Ok(Strategy::Custom(CustomStrategy {
            name: spec.name,
            kinds,
            tree: spec.tree,
            exclude: spec.exclude,
        }))
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::Minimal => "minimal",
            Strategy::Standard => "standard",
            Strategy::Comprehensive => "comprehensive",
            Strategy::Tree => "tree",
            Strategy::Custom(c) => &c.name,
        })
    }
}

/// Parses the built-in names; custom strategies come from [`Strategy::from_yaml_str`].
impl FromStr for Strategy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "minimal" => Ok(Strategy::Minimal),
            "standard" => Ok(Strategy::Standard),
            "comprehensive" => Ok(Strategy::Comprehensive),
            "tree" => Ok(Strategy::Tree),
            _ => Err(Error::UnknownStrategy { name: s.to_owned() }),
        }
    }
}

/// Compiles exclude patterns the gitignore way: a pattern without `/` matches a file name at any
/// depth, one with `/` is anchored at the root; `*` never crosses `/`.
pub(crate) fn exclude_set(patterns: &[String]) -> Result<GlobSet, Error> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let anchored = if p.contains('/') {
            p.trim_start_matches('/').to_owned()
        } else {
            format!("**/{p}")
        };
        let glob = anchored_glob(&anchored).map_err(|e| Error::Glob {
            pattern: p.clone(),
            message: e.kind().to_string(),
        })?;
        b.add(glob);
    }
    b.build().map_err(|e| Error::Glob {
        pattern: patterns.join(", "),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in ["minimal", "standard", "comprehensive", "tree"] {
            assert_eq!(s.parse::<Strategy>().unwrap().to_string(), s);
        }
        assert_eq!(Strategy::default(), Strategy::Comprehensive);
        let err = "fast".parse::<Strategy>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown strategy 'fast' (expected minimal, standard, comprehensive or tree)"
        );
    }

    #[test]
    fn custom_from_yaml() {
        let s =
            Strategy::from_yaml_str("name: lean\nkinds: [workflow, llm]\nexclude: ['*_dev.yaml']")
                .unwrap();
        let Strategy::Custom(c) = &s else {
            panic!("expected a custom strategy, got {s:?}")
        };
        assert_eq!(
            c.kinds.as_deref(),
            Some(&[FileKind::Workflow, FileKind::Llm][..])
        );
        assert_eq!(s.to_string(), "lean");
        let err = Strategy::from_yaml_str("name: x\nkinds: [llms]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid strategy (strategy string): unknown file kind 'llms'"
        );
        let err = Strategy::from_yaml_str("name: x\nexclude: ['a[']").unwrap_err();
        assert!(
            err.to_string().contains("invalid exclude glob 'a['"),
            "{err}"
        );
    }
}
