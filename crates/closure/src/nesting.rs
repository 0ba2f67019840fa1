//! A linear pre-scan of YAML text that bounds its nesting before the parser sees it.
//!
//! The YAML parser's work grows with the square of the nesting depth (`a: [[[…]]]` at 100,000
//! levels took half a minute), so a file nested deeper than [`MAX_NESTING`] is refused here, in
//! one pass over its bytes, the way serde_json refuses input past its recursion limit. The scan
//! over-estimates rather than under-estimates: it counts flow collections (`[`, `{`) opened at
//! the start of a value, and block levels as the stack of increasing indentations plus the
//! compact `- ` / `? ` indicators that open a level on the same line. Quoted scalars, comments
//! and block scalar (`|`, `>`) content are skipped, so text in them never counts.

/// Deeper than this is not analysed. Real configs nest a dozen levels.
pub(crate) const MAX_NESTING: usize = 256;

/// The 1-based line where the nesting first exceeds [`MAX_NESTING`], if it does.
pub(crate) fn too_deep(text: &[u8]) -> Option<usize> {
    let mut scan = Scan::default();
    let mut line_no = 0usize;
    // Set while inside a block scalar: lines indented more than this are its content.
    let mut block_scalar_parent: Option<usize> = None;
    for line in text.split(|&b| b == b'\n') {
        line_no += 1;
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        let rest = &line[indent..];
        // Blank and comment-only lines open and close nothing.
        let blank = rest.iter().all(|b| b.is_ascii_whitespace()) || rest.first() == Some(&b'#');
        if let Some(parent) = block_scalar_parent {
            if blank || indent > parent {
                continue;
            }
            block_scalar_parent = None;
        }
        if scan.quote.is_none() && scan.flow == 0 && !blank {
            // A block line: close the levels it is not inside.
            while scan.blocks.last().is_some_and(|&c| c >= indent) {
                scan.blocks.pop();
            }
            scan.blocks.push(indent);
        }
        let opens_block_scalar = scan.line(&line[indent..], indent);
        if scan.depth() > MAX_NESTING {
            return Some(line_no);
        }
        if opens_block_scalar {
            block_scalar_parent = Some(indent);
        }
    }
    None
}

#[derive(Default)]
struct Scan {
    /// Open flow collections.
    flow: usize,
    /// Block levels, by the column that opened each.
    blocks: Vec<usize>,
    /// The quote character of a quoted scalar that spans lines.
    quote: Option<u8>,
}

impl Scan {
    fn depth(&self) -> usize {
        self.flow + self.blocks.len()
    }

    /// Scans one line's content (after `indent` spaces); whether it opens a block scalar.
    fn line(&mut self, content: &[u8], indent: usize) -> bool {
        let mut at_start = true;
        let mut i = 0;
        while i < content.len() {
            let b = content[i];
            if let Some(q) = self.quote {
                if q == b'"' && b == b'\\' {
                    i += 2;
                    continue;
                }
                if b == q {
                    if q == b'\'' && content.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    self.quote = None;
                    at_start = false;
                }
                i += 1;
                continue;
            }
            let next_blank = content.get(i + 1).is_none_or(|n| n.is_ascii_whitespace());
            match b {
                b' ' | b'\t' | b'\r' => {}
                b'#' if i == 0 || content[i - 1].is_ascii_whitespace() => return false,
                b'\'' | b'"' if at_start => self.quote = Some(b),
                b'[' | b'{' if at_start || self.flow > 0 => {
                    self.flow += 1;
                    at_start = true;
                    if self.depth() > MAX_NESTING {
                        return false;
                    }
                }
                b']' | b'}' if self.flow > 0 => {
                    self.flow -= 1;
                    at_start = false;
                }
                b',' if self.flow > 0 => at_start = true,
                b'-' | b'?' if at_start && next_blank => {
                    if self.flow == 0 {
                        self.blocks.push(indent + i + 2);
                        if self.depth() > MAX_NESTING {
                            return false;
                        }
                    }
                    at_start = true;
                }
                b':' if next_blank || self.flow > 0 => at_start = true,
                b'|' | b'>' if at_start && self.flow == 0 => return true,
                _ => at_start = false,
            }
            i += 1;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deep(text: &str) -> Option<usize> {
        too_deep(text.as_bytes())
    }

    #[test]
    fn real_shapes_pass() {
        let yaml = "a:\n  b: [1, {c: \"[[[[\"}]\n  - - x\n  s: |\n    [[[[[[\n    - - - -\nd: 'it''s [' # [[[[\n";
        assert_eq!(deep(yaml), None);
    }

    #[test]
    fn every_shape_past_the_limit_is_caught() {
        let n = MAX_NESTING + 1;
        let flow_seq = format!("a: {}{}\n", "[".repeat(n), "]".repeat(n));
        let flow_map = format!("a: {}{}\n", "{a: ".repeat(n), "}".repeat(n));
        let compact = format!("{}x\n", "- ".repeat(n));
        let mut block = String::new();
        for level in 0..n {
            block.push_str(&" ".repeat(level));
            block.push_str("k:\n");
        }
        let mut commented = String::new();
        for level in 0..n {
            commented.push_str(&" ".repeat(level));
            commented.push_str("k:\n# a comment at column 0\n");
        }
        for text in [flow_seq, flow_map, compact, block, commented] {
            assert!(deep(&text).is_some(), "{}", &text[..40.min(text.len())]);
        }
        let ok = format!(
            "a: {}{}\n",
            "[".repeat(MAX_NESTING - 2),
            "]".repeat(MAX_NESTING - 2)
        );
        assert_eq!(deep(&ok), None);
    }

    #[test]
    fn plain_scalars_and_quotes_do_not_count() {
        let n = MAX_NESTING * 2;
        let text = format!(
            "a: x{}\nb: \"{}\"\nc: '{}'\n",
            "[".repeat(n),
            "{".repeat(n),
            "[".repeat(n)
        );
        assert_eq!(deep(&text), None);
    }
}
