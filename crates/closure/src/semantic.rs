//! Semantic comparison of two versions of a YAML or JSON file: which key paths changed, and
//! whether a change of bytes is only comments or formatting.
//!
//! Both versions are parsed as YAML (JSON is YAML) under the same bounds as the analysis (size
//! and nesting checked before the parser sees them), then compared as trees: mappings by key,
//! sequences by index, scalars by value. Key paths are written as in the closure's edges
//! (`nodes.planning_node.config.temperature`, `fallback_models[0]`).

use serde::Serialize;
use serde_yaml::Value;

use crate::profile::{PathSeg, render_key_path};

/// Files larger than this are not compared by key (the line diff still is).
const MAX_COMPARE_BYTES: usize = 8 << 20;

/// At most this many key changes are listed per file; `truncated` says when there were more.
const MAX_KEY_CHANGES: usize = 1000;

/// How a key path changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Added,
    Removed,
    Changed,
}

/// One changed key path, with its old and new values as JSON (absent on the side that lacks it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyChange {
    pub key: String,
    pub change: Change,
    pub old: Option<serde_json::Value>,
    pub new: Option<serde_json::Value>,
}

/// The semantic difference between two versions of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Semantic {
    /// Sorted by key path.
    pub keys: Vec<KeyChange>,
    /// The bytes differ but the parsed documents are equal: only comments, quoting, order of
    /// nothing that matters, or whitespace changed.
    pub formatting_only: bool,
    /// More than 1,000 keys changed; only the first are listed.
    pub truncated: bool,
}

/// Compares two versions of a YAML or JSON file; `None` when either side does not parse (or
/// is too large or too deeply nested to be parsed).
pub fn compare(old: &[u8], new: &[u8]) -> Option<Semantic> {
    let a = parse(old)?;
    let b = parse(new)?;
    let mut keys = Vec::new();
    let mut truncated = false;
    diff_values(&a, &b, &mut keys, &mut truncated);
    keys.sort_by(|x, y| x.key.cmp(&y.key));
    Some(Semantic {
        formatting_only: keys.is_empty() && old != new,
        keys,
        truncated,
    })
}

fn parse(bytes: &[u8]) -> Option<Value> {
    if bytes.len() > MAX_COMPARE_BYTES || crate::nesting::too_deep(bytes).is_some() {
        return None;
    }
    serde_yaml::from_slice(bytes).ok()
}

fn json(v: &Value) -> serde_json::Value {
    serde_json::to_value(untag(v)).unwrap_or_else(|_| serde_json::Value::String(format!("{v:?}")))
}

fn untag(mut v: &Value) -> &Value {
    while let Value::Tagged(t) = v {
        v = &t.value;
    }
    v
}

fn key_text(k: &Value) -> String {
    match untag(k) {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_owned(),
        other => format!("{other:?}"),
    }
}

/// A key path as written in edges; the document itself is `(document)`.
fn key_path(at: &[PathSeg]) -> String {
    if at.is_empty() {
        "(document)".to_owned()
    } else {
        render_key_path(at)
    }
}

fn push(out: &mut Vec<KeyChange>, truncated: &mut bool, change: KeyChange) {
    if out.len() < MAX_KEY_CHANGES {
        out.push(change);
    } else {
        *truncated = true;
    }
}

/// Compares `a` and `b` with an explicit stack (documents are bounded in depth by
/// the pre-scan, but the walk does not rely on it).
fn diff_values(a: &Value, b: &Value, out: &mut Vec<KeyChange>, truncated: &mut bool) {
    let mut stack: Vec<(Vec<PathSeg>, &Value, &Value)> = vec![(Vec::new(), a, b)];
    while let Some((at, a, b)) = stack.pop() {
        let (a, b) = (untag(a), untag(b));
        if a == b {
            continue;
        }
        let mut children: Vec<(Vec<PathSeg>, &Value, &Value)> = Vec::new();
        match (a, b) {
            (Value::Mapping(ma), Value::Mapping(mb)) => {
                for (k, vb) in mb {
                    let mut p = at.clone();
                    p.push(PathSeg::Key(key_text(k)));
                    match ma.get(k) {
                        Some(va) => children.push((p, va, vb)),
                        None => push(
                            out,
                            truncated,
                            KeyChange {
                                key: key_path(&p),
                                change: Change::Added,
                                old: None,
                                new: Some(json(vb)),
                            },
                        ),
                    }
                }
                for (k, va) in ma {
                    if !mb.contains_key(k) {
                        let mut p = at.clone();
                        p.push(PathSeg::Key(key_text(k)));
                        push(
                            out,
                            truncated,
                            KeyChange {
                                key: key_path(&p),
                                change: Change::Removed,
                                old: Some(json(va)),
                                new: None,
                            },
                        );
                    }
                }
            }
            (Value::Sequence(sa), Value::Sequence(sb)) => {
                for (i, vb) in sb.iter().enumerate() {
                    let mut p = at.clone();
                    p.push(PathSeg::Index(i));
                    match sa.get(i) {
                        Some(va) => children.push((p, va, vb)),
                        None => push(
                            out,
                            truncated,
                            KeyChange {
                                key: key_path(&p),
                                change: Change::Added,
                                old: None,
                                new: Some(json(vb)),
                            },
                        ),
                    }
                }
                for (i, va) in sa.iter().enumerate().skip(sb.len()) {
                    let mut p = at.clone();
                    p.push(PathSeg::Index(i));
                    push(
                        out,
                        truncated,
                        KeyChange {
                            key: key_path(&p),
                            change: Change::Removed,
                            old: Some(json(va)),
                            new: None,
                        },
                    );
                }
            }
            _ => push(
                out,
                truncated,
                KeyChange {
                    key: key_path(&at),
                    change: Change::Changed,
                    old: Some(json(a)),
                    new: Some(json(b)),
                },
            ),
        }
        stack.extend(children);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn changed_added_removed_and_formatting() {
        let old = b"# c\nnodes:\n  p:\n    config: {temperature: 0.3, x: 1}\nlist: [a, b]\n";
        let new = b"nodes:\n  p:\n    config:\n      temperature: 0.7\n      y: 2\nlist: [a]\n";
        let s = compare(old, new).unwrap();
        let got: Vec<(String, Change, String, String)> = s
            .keys
            .iter()
            .map(|k| {
                let show = |v: &Option<serde_json::Value>| {
                    v.as_ref().map_or("-".into(), |v| v.to_string())
                };
                (k.key.clone(), k.change, show(&k.old), show(&k.new))
            })
            .collect();
        let want: Vec<(String, Change, String, String)> = [
            ("list[1]", Change::Removed, "\"b\"", "-"),
            ("nodes.p.config.temperature", Change::Changed, "0.3", "0.7"),
            ("nodes.p.config.x", Change::Removed, "1", "-"),
            ("nodes.p.config.y", Change::Added, "-", "2"),
        ]
        .into_iter()
        .map(|(k, c, o, n)| (k.to_owned(), c, o.to_owned(), n.to_owned()))
        .collect();
        assert_eq!(got, want);
        assert!(!s.formatting_only);

        let s = compare(b"a: 1 # one\nb: [x, y]\n", b"a: 1\nb:\n  - x\n  - 'y'\n").unwrap();
        assert!(s.formatting_only && s.keys.is_empty());
        assert!(compare(b"a: [", b"a: 1").is_none());
        // JSON is YAML.
        let s = compare(br#"{"a": {"b": 1}}"#, br#"{"a": {"b": 2}}"#).unwrap();
        assert_eq!(s.keys[0].key, "a.b");
    }
}
