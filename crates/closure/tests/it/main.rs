//! Integration tests of cfgvault-closure: hand-written fixtures, the real corpus, resource limits.
#![allow(clippy::unwrap_used)]

mod corpus;
mod fixtures;
mod limits;
mod rules;

use std::path::PathBuf;

/// `fixtures/closure/NAME` at the workspace root.
fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/closure")
        .join(name)
}

/// Compares a rendering with an expectation written one fact per line (indentation ignored),
/// printing the whole actual rendering on mismatch so it can be checked and pasted.
fn assert_render(actual: &str, expected: &str, what: &str) {
    let want: Vec<&str> = expected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let got: Vec<&str> = actual.lines().collect();
    assert!(
        got == want,
        "{what}: closure differs\n--- actual ---\n{actual}\n--- expected ---\n{}",
        want.join("\n")
    );
}
