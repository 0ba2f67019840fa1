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
        mut doc: Value,
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        let mut stdout = std::io::stdout().lock();
        if self.json {
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
                        Some(rest) => writeln!(stdout, "{head},\n{rest}")?,
                        None => writeln!(stdout, "{head}\n}}")?,
                    }
                }
                _ => {
                    serde_json::to_writer_pretty(&mut stdout, &doc)?;
                    writeln!(stdout)?;
                }
            }
        } else if !self.quiet {
            let text = human();
            stdout.write_all(text.as_bytes())?;
            if !text.is_empty() && !text.ends_with('\n') {
                writeln!(stdout)?;
            }
        }
        stdout.flush()?;
        Ok(())
    }
}

/// `1.5 KiB`-style sizes for people.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
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

/// A JSON number for a ratio: `null` when undefined.
pub fn json_ratio(r: f64) -> Value {
    if r.is_finite() {
        json!((r * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

/// Left-aligned columns, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let n = cells.len();
        for (i, c) in cells.into_iter().enumerate() {
            out.push_str(c);
            if i + 1 < n {
                let pad = widths[i].saturating_sub(c.chars().count()) + 2;
                out.push_str(&" ".repeat(pad));
            }
        }
        // No trailing blanks when the last cells are empty.
        out.truncate(out.trim_end_matches(' ').len());
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
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
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 << 20), "5.0 MiB");
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
}
