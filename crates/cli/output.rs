//! Printing: human tables, or one JSON document tagged with the output format version.

use std::io::Write;

use serde_json::{Value, json};

/// The version of the `--json` contract (docs/CLI.md).
pub const FORMAT: &str = "cfgvault/1";

/// Where a command's result goes.
pub struct Out {
    pub json: bool,
    pub quiet: bool,
}

impl Out {
    /// Prints the result: `doc` (with `format` added) under `--json`, else the human text.
    pub fn emit(
        &self,
        command: &str,
        doc: Value,
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        self.emit_with(command, || Ok(doc), human)
    }

    /// [`Out::emit`] building the JSON document only under `--json`.
    pub fn emit_with(
        &self,
        command: &str,
        doc: impl FnOnce() -> anyhow::Result<Value>,
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            write_json(&mut stdout, Some(command), doc()?)?;
        } else if !self.quiet {
            // Paths, labels and ids come from the disk and the store: a control character in
            // them must not reach the terminal as one.
            let text = human();
            let text = escape(&text);
            stdout.write_all(text.as_bytes())?;
            if !text.is_empty() && !text.ends_with('\n') {
                writeln!(stdout)?;
            }
        }
        stdout.flush()?;
        Ok(())
    }
}

/// Writes `doc` with `format` and `command` leading (then the other fields in key order).
pub fn write_json(
    out: &mut impl Write,
    command: Option<&str>,
    mut doc: Value,
) -> anyhow::Result<()> {
    // serde_json's map is sorted, so `format` and `command` are written by hand to
    // lead the document; the other fields follow in key order.
    let head = format!(
        "{{\n  \"format\": {},\n  \"command\": {}",
        json!(FORMAT),
        json!(command)
    );
    match &mut doc {
        Value::Object(map) => {
            map.remove("format");
            map.remove("command");
            let body = serde_json::to_string_pretty(&doc)?;
            match body.strip_prefix("{\n") {
                Some(rest) => writeln!(out, "{head},\n{rest}")?,
                None => writeln!(out, "{head}\n}}")?,
            }
        }
        _ => {
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// `1.50 KiB`-style sizes for people (indicatif's binary units).
pub fn human_size(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}

/// `text` with every control character but the line break escaped (`\u{1b}`, `\t`), so
/// that nothing read from a file name, a label or a config can drive the terminal.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return text.into();
    }
    text.chars()
        .flat_map(|c| {
            let escaped = (c.is_control() && c != '\n').then(|| c.escape_default());
            escaped
                .into_iter()
                .flatten()
                .chain((!c.is_control() || c == '\n').then_some(c))
        })
        .collect::<String>()
        .into()
}

/// A ratio for people: `12.3x`, or `-` when undefined.
pub fn human_ratio(r: f64) -> String {
    if !(r.is_finite() && r > 0.0) {
        "-".into()
    } else if r < 1.0 {
        format!("{r:.2}x")
    } else {
        format!("{r:.1}x")
    }
}

/// The JSON of a library report as `cfgvault/1` writes it: the report's own fields, with
/// times to the second (`created_at`, `first_seen`, `last_seen`, `oldest`, `newest`) and
/// ratios (`*_ratio`) rounded to 3 decimals, at any depth.
pub fn report(r: &impl serde::Serialize) -> anyhow::Result<Value> {
    let mut v = serde_json::to_value(r)?;
    contract_values(&mut v);
    Ok(v)
}

fn contract_values(v: &mut Value) {
    const TIMES: [&str; 5] = ["created_at", "first_seen", "last_seen", "oldest", "newest"];
    match v {
        Value::Object(m) => {
            for (k, field) in m.iter_mut() {
                if let Value::String(t) = field
                    && TIMES.contains(&k.as_str())
                    && let Ok(t) = chrono::DateTime::parse_from_rfc3339(t)
                {
                    *field = json!(
                        t.with_timezone(&chrono::Utc)
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    );
                } else if k.ends_with("_ratio")
                    && let Some(r) = field.as_f64()
                {
                    *field = json_ratio(r);
                } else {
                    contract_values(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(contract_values),
        _ => {}
    }
}

/// A JSON number for a ratio: `null` when undefined.
pub fn json_ratio(r: f64) -> Value {
    if r.is_finite() {
        json!((r * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

/// Left-aligned columns, two spaces apart, without borders. A table of printable ASCII
/// (the usual: paths, ids, sizes) is laid out here directly; any other goes through comfy-table,
/// which measures display widths and splits multi-line cells. Both lay out the same text.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    ascii_table(header, rows).unwrap_or_else(|| comfy(header, rows))
}

/// [`table`] when every cell is printable ASCII (one column per byte, one line per cell) and
/// every row has the header's length; else `None`.
fn ascii_table(header: &[&str], rows: &[Vec<String>]) -> Option<String> {
    let plain = |s: &str| s.bytes().all(|b| (b' '..=b'~').contains(&b));
    if !header.iter().all(|h| plain(h))
        || !rows
            .iter()
            .all(|r| r.len() == header.len() && r.iter().all(|c| plain(c)))
    {
        return None;
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line_len = widths.iter().map(|w| w + 2).sum::<usize>() + 1;
    let mut out = String::with_capacity(line_len * (rows.len() + 1));
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let start = out.len();
        for (c, w) in cells.zip(&widths) {
            out.push_str(c);
            out.extend(std::iter::repeat_n(' ', w - c.len() + 2));
        }
        // No trailing blanks, also when the last cells are empty.
        out.truncate(start + out[start..].trim_end().len());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    Some(out)
}

fn comfy(header: &[&str], rows: &[Vec<String>]) -> String {
    use comfy_table::{ContentArrangement, Table, presets};
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    for r in rows {
        t.add_row(r.clone());
    }
    let last = header.len().saturating_sub(1);
    for (i, col) in t.column_iter_mut().enumerate() {
        col.set_padding((0, if i < last { 2 } else { 0 }));
    }
    let mut out = String::new();
    for line in t.lines() {
        // No trailing blanks when the last cells are empty.
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ratios() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(escape("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\n");
        assert_eq!(human_size(1536), "1.50 KiB");
        assert_eq!(human_size(5 << 20), "5.00 MiB");
        assert_eq!(human_ratio(f64::NAN), "-");
        assert_eq!(human_ratio(88.04), "88.0x");
        assert_eq!(human_ratio(0.027), "0.03x");
        assert_eq!(json_ratio(f64::INFINITY), Value::Null);
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(&["a", "bb"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "a    bb\nxyz  1\n");
    }

    #[test]
    fn ascii_tables_are_laid_out_as_comfy_table_does() {
        let cases: Vec<(Vec<&str>, Vec<Vec<String>>)> = vec![
            (vec!["a", "bb"], vec![vec!["xyz".into(), "1".into()]]),
            (vec!["PATH", "KIND", "SIZE"], vec![]),
            (
                vec!["PATH", "KIND", "SIZE", "ID", "STATE"],
                vec![
                    vec![
                        "workflows/react.yaml".into(),
                        "workflow".into(),
                        "1.50 KiB".into(),
                        "3fa2b1c4d5e6".into(),
                        "new".into(),
                    ],
                    vec!["a".into(), "".into(), "12 B".into(), "".into(), "".into()],
                    vec![
                        "dir with spaces/x y.yaml ".into(),
                        "other".into(),
                        "0 B".into(),
                        "00".into(),
                        "stored".into(),
                    ],
                ],
            ),
            (
                vec!["", "x", ""],
                vec![
                    vec!["".into(), "".into(), "".into()],
                    vec!["  a".into(), " ".into(), "b ".into()],
                ],
            ),
        ];
        for (header, rows) in cases {
            let fast = ascii_table(&header, &rows).expect("ascii");
            assert_eq!(fast, comfy(&header, &rows), "{header:?} {rows:?}");
        }
        // Anything else goes through comfy-table.
        assert_eq!(ascii_table(&["a"], &[vec!["é".into()]]), None);
        assert_eq!(ascii_table(&["a"], &[vec!["x\ny".into()]]), None);
        assert_eq!(ascii_table(&["a", "b"], &[vec!["x".into()]]), None);
        assert_eq!(
            table(&["a", "b"], &[vec!["é".into(), "1".into()]]),
            "a  b\né  1\n"
        );
    }
}
