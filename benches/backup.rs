//! Changed-tree backup bench: a tree of N files at a path not seen before (a new snapshot
//! folder, so the stamp cache is cold), backed up by cfgvault in-process, by one `cfgvault
//! backup` CLI process, and by `git add -A && git commit`, interleaved in one run.
//!
//! ```text
//! cargo bench --bench backup -- [CORPUS...] [--rounds R] [--json PATH]
//! ```
//!
//! CORPUS as for the dedup bench (default: `$CFGVAULT_CORPUS`, else every `*.tar.zst` in
//! `../shared/corpus`). Each corpus's newest R+1 snapshots (default R = 10) are used in order:
//! the first is backed up untimed by all three (so the store and the repository hold the
//! history's previous state), then each next snapshot is one timed round — a changed tree at a
//! new path, most of whose content is already stored. Each side has its own store or
//! repository; the three run one after another within a round, in a rotating order. Git gets
//! the snapshot folder as its work tree (`--work-tree`), so its index holds no stat data for it
//! either and every file is read and hashed, as ours are. Ours is the `tree` strategy with no
//! workflow. The figures are medians over the rounds and their ratio ours ÷ git (lower is
//! better; the goal of issue #24 is ≤ 0.5).
//!
//! `CFGVAULT_BENCH_BASELINE_CLI=PATH` adds a fourth side: another build's `cfgvault` binary
//! (e.g. the branch point's), with a store of its own, timed in the same rounds as this build's,
//! so that two builds compare in one run.
#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cfgvault::closure::Strategy;
use cfgvault::{BackupOptions, Vault};
use chrono::Utc;
use common::{Corpus, Snapshot, sid};
use serde_json::{Value, json};

/// The `cfgvault` binary built with this bench.
const CLI: &str = env!("CARGO_BIN_EXE_cfgvault");

/// Runs `cmd` (its output discarded, stdin closed); its wall time. A failure stops the bench,
/// naming `what` and printing the command's stderr.
fn timed(cmd: &mut Command, what: &str) -> Duration {
    let t0 = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let dt = t0.elapsed();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dt
}

/// Runs one git command against `git_dir` with `work_tree` as its work tree; its wall time.
fn git(git_dir: &Path, work_tree: &Path, args: &[&str]) -> Duration {
    timed(
        common::git_command()
            .arg("--git-dir")
            .arg(git_dir)
            .arg("--work-tree")
            .arg(work_tree)
            .args(args)
            .current_dir(work_tree),
        &format!("git {}", args.join(" ")),
    )
}

/// The three sides of one corpus's run.
struct Sides {
    _scratch: tempfile::TempDir,
    vault: Vault,
    cli_store: PathBuf,
    /// Another build's binary and its store (`CFGVAULT_BENCH_BASELINE_CLI`).
    baseline: Option<(PathBuf, PathBuf)>,
    git_dir: PathBuf,
}

impl Sides {
    fn new() -> Sides {
        let scratch = tempfile::Builder::new()
            .prefix("cfgvault-backup-bench-")
            .tempdir()
            .unwrap();
        let vault = Vault::create(
            scratch.path().join("inproc/store.redb"),
            &Default::default(),
        )
        .unwrap();
        let cli_store = scratch.path().join("cli/store.redb");
        let git_dir = scratch.path().join("git");
        std::fs::create_dir_all(&git_dir).unwrap();
        let out = Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&git_dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success(), "git init: {out:?}");
        let baseline = std::env::var_os("CFGVAULT_BENCH_BASELINE_CLI").map(|bin| {
            (
                PathBuf::from(bin),
                scratch.path().join("baseline/store.redb"),
            )
        });
        Sides {
            _scratch: scratch,
            vault,
            cli_store,
            baseline,
            git_dir,
        }
    }

    fn ours(&self, snap: &Snapshot) -> Duration {
        let mut opts = BackupOptions::default();
        opts.session_id = Some(sid(&format!("in-{}", snap.name)));
        opts.strategy = Strategy::Tree;
        let t0 = Instant::now();
        let report = self.vault.backup(&snap.configs, None, &opts).unwrap();
        let dt = t0.elapsed();
        assert!(!report.files.is_empty(), "{}: no files", snap.name);
        dt
    }

    fn cli(&self, snap: &Snapshot) -> Duration {
        cli(Path::new(CLI), &self.cli_store, snap)
    }

    fn baseline(&self, snap: &Snapshot) -> Option<Duration> {
        let (bin, store) = self.baseline.as_ref()?;
        Some(cli(bin, store, snap))
    }

    /// `git add -A && git commit`: two processes, as a user runs them.
    fn git(&self, snap: &Snapshot) -> Duration {
        git(&self.git_dir, &snap.configs, &["add", "-A", "-f", "."])
            + git(
                &self.git_dir,
                &snap.configs,
                &[
                    "commit",
                    "-q",
                    "--allow-empty",
                    "--no-verify",
                    "-m",
                    &snap.name,
                ],
            )
    }
}

/// One `cfgvault backup` process of `bin` on `store`; its wall time.
fn cli(bin: &Path, store: &Path, snap: &Snapshot) -> Duration {
    timed(
        Command::new(bin)
            .arg("--store")
            .arg(store)
            .args(["backup", "--strategy", "tree", "--session"])
            .arg(format!("cli-{}", snap.name))
            .arg("--root")
            .arg(&snap.configs),
        &format!("cfgvault backup {}", snap.name),
    )
}

fn median_ms(times: &mut [Duration]) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

/// One corpus's row.
struct Row {
    name: String,
    rounds: usize,
    files: usize,
    ours_ms: f64,
    cli_ms: f64,
    git_ms: f64,
    /// The baseline build's CLI, when one is given.
    baseline_ms: Option<f64>,
}

impl Row {
    fn json(&self) -> Value {
        json!({
            "corpus": self.name,
            "rounds": self.rounds,
            "files_median": self.files,
            "ours_in_process_ms": self.ours_ms,
            "ours_cli_ms": self.cli_ms,
            "git_add_commit_ms": self.git_ms,
            "in_process_over_git": self.ours_ms / self.git_ms,
            "cli_over_git": self.cli_ms / self.git_ms,
            "baseline_cli_ms": self.baseline_ms,
            "baseline_cli_over_git": self.baseline_ms.map(|b| b / self.git_ms),
        })
    }
}

fn run_corpus(corpus: &Corpus, rounds: usize) -> Row {
    let snaps = &corpus.snapshots[corpus.snapshots.len().saturating_sub(rounds + 1)..];
    let sides = Sides::new();
    let first = &snaps[0];
    sides.ours(first);
    sides.cli(first);
    sides.git(first);
    sides.baseline(first);
    let (mut ours, mut cli, mut git, mut files) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut baseline = Vec::new();
    let n = if sides.baseline.is_some() { 4 } else { 3 };
    for (i, snap) in snaps[1..].iter().enumerate() {
        files.push(snap.files().len());
        for k in 0..n {
            match (i + k) % n {
                0 => ours.push(sides.ours(snap)),
                1 => cli.push(sides.cli(snap)),
                2 => git.push(sides.git(snap)),
                _ => baseline.extend(sides.baseline(snap)),
            }
        }
    }
    files.sort_unstable();
    Row {
        name: corpus
            .source
            .file_name()
            .map(|f| f.to_string_lossy().trim_end_matches(".tar.zst").to_string())
            .unwrap_or_default(),
        rounds: ours.len(),
        files: files[files.len() / 2],
        ours_ms: median_ms(&mut ours),
        cli_ms: median_ms(&mut cli),
        git_ms: median_ms(&mut git),
        baseline_ms: (!baseline.is_empty()).then(|| median_ms(&mut baseline)),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = common::flag_value(&args, "--rounds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
        .max(1);
    let json_path = common::flag_value(&args, "--json");
    let locations = common::corpus_locations(&common::positional(&args, &["--rounds", "--json"]));
    let mut rows = Vec::new();
    for location in &locations {
        let corpus = match Corpus::load(location, false) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("backup bench: {e}");
                std::process::exit(2);
            }
        };
        if corpus.snapshots.len() < 2 {
            eprintln!("backup bench: {} needs 2 snapshots", location.display());
            std::process::exit(2);
        }
        eprintln!("backup bench: {}", location.display());
        rows.push(run_corpus(&corpus, rounds));
    }
    println!(
        "\nchanged-tree backup, medians over rounds (ours ÷ git: lower is better; goal <= 0.5)\n"
    );
    println!(
        "| corpus | rounds | files | ours in-process ms | ours CLI ms | git add+commit ms | in-process ÷ git | CLI ÷ git |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
            r.name,
            r.rounds,
            r.files,
            r.ours_ms,
            r.cli_ms,
            r.git_ms,
            r.ours_ms / r.git_ms,
            r.cli_ms / r.git_ms
        );
    }
    if rows.iter().any(|r| r.baseline_ms.is_some()) {
        println!("\nbaseline build's CLI (CFGVAULT_BENCH_BASELINE_CLI), same rounds\n");
        println!(
            "| corpus | baseline CLI ms | this CLI ms | git add+commit ms | baseline CLI ÷ git | this CLI ÷ git |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        for r in &rows {
            if let Some(b) = r.baseline_ms {
                println!(
                    "| {} | {b:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
                    r.name,
                    r.cli_ms,
                    r.git_ms,
                    b / r.git_ms,
                    r.cli_ms / r.git_ms
                );
            }
        }
    }
    if let Some(p) = json_path {
        let doc = json!({
            "format": "cfgvault-bench-backup/1",
            "machine": common::machine(),
            "ran_at": Utc::now().to_rfc3339(),
            "rows": rows.iter().map(Row::json).collect::<Vec<_>>(),
        });
        std::fs::write(&p, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
        println!("\nwrote {p}");
    }
}
