//! Resolves every workflow of a snapshot and prints how long the largest closure took.
//!
//! `cargo run --release -p cfgvault-closure --example time_closure -- SNAPSHOT_DIR [STRATEGY]`
//! where SNAPSHOT_DIR is a config root or a folder holding `configs/`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cfgvault_closure::{Options, Strategy, resolve};

/// Repeats per workflow; the minimum is reported, as the least disturbed by the machine.
const RUNS: usize = 20;

fn workflows(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("workflows")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml")
                && let Ok(rel) = p.strip_prefix(root)
            {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: time_closure SNAPSHOT_DIR [STRATEGY]");
        return ExitCode::from(2);
    };
    let strategy: Strategy = match args.next().map(|s| s.parse()).transpose() {
        Ok(s) => s.unwrap_or_default(),
        Err(e) => {
            eprintln!("time_closure: {e}");
            return ExitCode::from(2);
        }
    };
    let root = if dir.join("configs").is_dir() {
        dir.join("configs")
    } else {
        dir
    };
    let options = Options::new().strategy(strategy.clone());
    let mut largest: Option<(usize, String, Duration)> = None;
    let list = workflows(&root);
    for wf in &list {
        let mut best = Duration::MAX;
        let mut files = 0;
        for _ in 0..RUNS {
            let start = Instant::now();
            match resolve(&root, wf, &options) {
                Ok(c) => files = c.files.len(),
                Err(e) => {
                    eprintln!("time_closure: {wf}: {e}");
                    return ExitCode::from(2);
                }
            }
            best = best.min(start.elapsed());
        }
        if largest.as_ref().is_none_or(|(n, _, _)| files > *n) {
            largest = Some((files, wf.clone(), best));
        }
    }
    match largest {
        Some((files, wf, t)) => {
            println!(
                "{} workflows in {}; largest: {wf} ({files} files, {strategy}) in {:.3} ms (best of {RUNS})",
                list.len(),
                root.display(),
                t.as_secs_f64() * 1e3
            );
            ExitCode::SUCCESS
        }
        None => {
            eprintln!(
                "time_closure: no workflows under {}",
                root.join("workflows").display()
            );
            ExitCode::from(1)
        }
    }
}
