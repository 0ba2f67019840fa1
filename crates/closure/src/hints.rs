//! Hints: string values that look like references to config files but that no rule followed.
//!
//! After the rules have run, every string value of every parsed file of the closure is checked
//! (except those a rule took as a reference): a value naming the stem of a YAML file under the
//! root (`openai-gpt4` for `llms/provider/openai/openai-gpt4.yaml`), or a relative path naming
//! a file under the root (from the file's folder, one of its ancestors, or the root), is a
//! hint when that file is not already in the closure. A layout change upstream then shows up
//! as a hint instead of a quiet gap.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_yaml::Value;

use crate::Hint;
use crate::profile::{KeyPattern, PathSeg, render_key_path};

/// Most hints reported for one file; real files have a handful.
const MAX_HINTS_PER_FILE: usize = 100;

/// How many files a hint names at most.
const MAX_CANDIDATES: usize = 3;

/// The files under the root, indexed for hint lookups.
pub(crate) struct HintIndex<'a> {
    files: &'a BTreeSet<String>,
    /// YAML files by file stem.
    by_stem: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> HintIndex<'a> {
    pub(crate) fn new(files: &'a BTreeSet<String>, is_yaml: impl Fn(&str) -> bool) -> Self {
        let mut by_stem: HashMap<&str, Vec<&str>> = HashMap::new();
        for f in files.iter().filter(|f| is_yaml(f)) {
            by_stem.entry(stem(f)).or_default().push(f.as_str());
        }
        HintIndex { files, by_stem }
    }

    /// The files `value`, held by `from`, may name, outside `closure`.
    fn candidates(&self, from: &str, value: &str, closure: &dyn Fn(&str) -> bool) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if value.contains('/') || value.ends_with(".yaml") || value.ends_with(".yml") {
            if !value.starts_with('/') && !value.contains("${") {
                let dir: Vec<&str> = from
                    .rsplit_once('/')
                    .map_or(Vec::new(), |(d, _)| d.split('/').collect());
                for depth in (0..=dir.len()).rev() {
                    if let Some(p) = join_normalized(&dir[..depth], value)
                        && self.files.contains(&p)
                    {
                        out.push(p);
                        break;
                    }
                }
            }
        } else if value != stem(from)
            && let Some(files) = self.by_stem.get(value)
        {
            out.extend(files.iter().map(|f| (*f).to_owned()));
        }
        out.retain(|p| p != from && !closure(p));
        out.truncate(MAX_CANDIDATES);
        out
    }
}

/// The hints of one parsed file: its string values at key paths no rule took (`followed`) and
/// the profile does not call non-references (`skip`).
pub(crate) fn hints_in(
    path: &str,
    value: &Value,
    followed: &HashSet<String>,
    skip: &[KeyPattern],
    index: &HintIndex<'_>,
    closure: &dyn Fn(&str) -> bool,
) -> Vec<Hint> {
    let mut hints = Vec::new();
    let mut at: Vec<PathSeg> = Vec::new();
    let mut frames: Vec<Children<'_>> = Vec::new();
    let mut next: Option<&Value> = Some(value);
    loop {
        if let Some(node) = next.take() {
            match untag(node) {
                Value::Mapping(map) => frames.push(Children::Map(map.iter())),
                Value::Sequence(items) => frames.push(Children::Seq(items.iter().enumerate())),
                Value::String(s) if !skip.iter().any(|k| k.matches(&at)) => {
                    let key = render_key_path(&at);
                    if !followed.contains(&key) {
                        let candidates = index.candidates(path, s, closure);
                        if !candidates.is_empty() {
                            hints.push(Hint {
                                path: path.to_owned(),
                                key,
                                value: s.clone(),
                                candidates,
                            });
                            if hints.len() >= MAX_HINTS_PER_FILE {
                                return hints;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let depth = frames.len().saturating_sub(1);
        let Some(top) = frames.last_mut() else {
            break;
        };
        let child = match top {
            Children::Map(iter) => iter.next().map(|(k, v)| {
                let key = match untag(k) {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => "?".to_owned(),
                };
                (PathSeg::Key(key), v)
            }),
            Children::Seq(iter) => iter.next().map(|(n, v)| (PathSeg::Index(n), v)),
        };
        match child {
            Some((seg, v)) => {
                at.truncate(depth);
                at.push(seg);
                next = Some(v);
            }
            None => {
                frames.pop();
            }
        }
    }
    hints
}

enum Children<'v> {
    Map(serde_yaml::mapping::Iter<'v>),
    Seq(std::iter::Enumerate<std::slice::Iter<'v, Value>>),
}

fn untag(mut v: &Value) -> &Value {
    while let Value::Tagged(t) = v {
        v = &t.value;
    }
    v
}

/// A file name without folder and last extension.
fn stem(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').map_or(name, |(s, _)| s)
}

/// `dir` joined with the relative `value`, normalized; `None` if it climbs out of the root.
fn join_normalized(dir: &[&str], value: &str) -> Option<String> {
    let mut out: Vec<&str> = dir.to_vec();
    for seg in value.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s),
        }
    }
    Some(out.join("/"))
}
