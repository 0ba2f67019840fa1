//! Reading one file of the config root as YAML, within the analysis's bounds: [`Doc`], what
//! [`load`] makes of a file, and the helpers that read a parsed value.

use std::fs;
use std::path::Path;

use serde_yaml::Value;

use crate::ParseError;

/// Files larger than this are backed up but not parsed: configs are small, and this bounds the
/// memory a hostile file can take.
const MAX_PARSE_BYTES: u64 = 8 << 20;

/// A file as the analysis sees it.
pub(crate) enum Doc {
    Parsed(Value),
    Failed(ParseError),
    /// Not YAML by the profile: backed up, never read.
    Skipped,
}

/// Reads and parses one file (`abs`, named `rel` in errors); a file over the size or nesting
/// bounds is `Failed`, not parsed.
pub(crate) fn load(abs: &Path, rel: &str) -> Doc {
    let fail = |message: String| {
        Doc::Failed(ParseError {
            path: rel.to_owned(),
            line: None,
            column: None,
            message,
        })
    };
    match fs::metadata(abs) {
        Ok(m) if m.len() > MAX_PARSE_BYTES => {
            return fail(format!(
                "file is larger than {MAX_PARSE_BYTES} bytes; not analysed"
            ));
        }
        Ok(_) => {}
        Err(e) => return fail(format!("could not read: {e}")),
    }
    let bytes = match fs::read(abs) {
        Ok(b) => b,
        Err(e) => return fail(format!("could not read: {e}")),
    };
    if let Some(line) = crate::nesting::too_deep(&bytes) {
        return Doc::Failed(ParseError {
            path: rel.to_owned(),
            line: Some(line),
            column: None,
            message: format!(
                "nested deeper than {} levels; not analysed",
                crate::nesting::MAX_NESTING
            ),
        });
    }
    match serde_yaml::from_slice::<Value>(&bytes) {
        Ok(v) => Doc::Parsed(v),
        Err(e) => {
            let mut message = e.to_string();
            let (line, column) = match e.location() {
                Some(l) => {
                    // The location is reported in its own fields; keep the message free of it.
                    let at = format!(" at line {} column {}", l.line(), l.column());
                    message = message.replacen(&at, "", 1);
                    (Some(l.line()), Some(l.column()))
                }
                // The parser gives no position for a second document; point at its marker.
                None => (second_document_line(&bytes), None),
            };
            Doc::Failed(ParseError {
                path: rel.to_owned(),
                line,
                column,
                message,
            })
        }
    }
}

/// The 1-based line of a `---` that starts a document after one with content, if any.
fn second_document_line(bytes: &[u8]) -> Option<usize> {
    let text = String::from_utf8_lossy(bytes);
    let mut content = false;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if line.starts_with("---") && (line.len() == 3 || line[3..].starts_with([' ', '\t'])) {
            if content {
                return Some(n + 1);
            }
        } else if !t.is_empty() && !t.starts_with('#') && !line.starts_with('%') {
            content = true;
        }
    }
    None
}

/// Whether `v` is a mapping with the key `key` (an empty file, null, has none).
pub(crate) fn has_key(v: &Value, key: &str) -> bool {
    matches!(untag(v), Value::Mapping(map) if map.contains_key(key))
}

/// Custom tags (`!include x`) are seen through: the tagged value is what the framework reads.
pub(crate) fn untag(mut v: &Value) -> &Value {
    while let Value::Tagged(t) = v {
        v = &t.value;
    }
    v
}

pub(crate) fn scalar(v: &Value) -> Option<String> {
    match untag(v) {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
