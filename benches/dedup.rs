//! Dedup bench: replays a config history as sessions into cfgvault and into git, side by side
//! in one run, and prints what each keeps on disk.
//!
//! ```text
//! cargo bench --bench dedup -- [CORPUS...] [--snapshots N] [--json PATH] [--workloads a,b,c]
//!                                [--no-git] [--keep DIR]
//! ```
//!
//! Each CORPUS is a directory of `snap-NNNN/` folders (oldest first) or a `.tar.zst` of them;
//! default: `$CFGVAULT_CORPUS`, else every `*.tar.zst` in `../shared/corpus`. Each snapshot's
//! `configs/` is backed up (its `COMMIT` file only dates the sessions). `--snapshots N` (or
//! `CFGVAULT_BENCH_SNAPSHOTS=N`) keeps the oldest N snapshots of each corpus, a prefix of its
//! history, so that the 300-snapshot corpora run in minutes. One table per corpus, then a
//! summary row per corpus: ours ÷ git for each workload.
//!
//! Workloads: (a) one `tree` session per snapshot; (b) five `tree` sessions per snapshot (the
//! configs repeat unchanged, as when several sessions start between two edits); (c) one
//! `comprehensive` session per workflow file (`workflows/**/*.yaml`) per snapshot. Git gets one
//! commit per session holding exactly that session's files, then `git gc --aggressive
//! --prune=now`; its size is the sum of the file sizes under `.git/objects`. Ours is the store
//! file after `Vault::gc` (compaction), metadata and indexes included. `--keep DIR` leaves each
//! workload's store, closed, at `DIR/<corpus>/<a|b|c>.redb` for inspection.
#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cfgvault::closure::Strategy;
use cfgvault::{BackupOptions, NoProgress, Vault};
use chrono::{DateTime, Utc};
use common::{Clock, Corpus, Snapshot, human, median_p99_ms, sid};
use serde_json::{Value, json};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    Tree,
    TreeX5,
    Workflows,
}

impl Workload {
    fn key(self) -> &'static str {
        match self {
            Workload::Tree => "a",
            Workload::TreeX5 => "b",
            Workload::Workflows => "c",
        }
    }
    fn title(self) -> &'static str {
        match self {
            Workload::Tree => "(a) tree, 1/snapshot",
            Workload::TreeX5 => "(b) tree, 5/snapshot",
            Workload::Workflows => "(c) comprehensive/workflow",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Workload::Tree => "tree-1-per-snapshot",
            Workload::TreeX5 => "tree-5-per-snapshot",
            Workload::Workflows => "comprehensive-per-workflow",
        }
    }
}

/// One session of a workload: what to back up, and how to name and date it.
struct Job<'a> {
    snap: &'a Snapshot,
    workflow: Option<String>,
    id: String,
    at: DateTime<Utc>,
    /// Same file set as the previous job (a repeat): git commits without touching the index.
    repeat: bool,
}

fn jobs(w: Workload, snaps: &[Snapshot]) -> Vec<Job<'_>> {
    let mut clock = Clock::new();
    let mut out = Vec::new();
    for (i, s) in snaps.iter().enumerate() {
        match w {
            Workload::Tree => out.push(Job {
                snap: s,
                workflow: None,
                id: format!("a-{}", s.name),
                at: clock.next(i, s),
                repeat: false,
            }),
            Workload::TreeX5 => {
                for k in 0..5 {
                    out.push(Job {
                        snap: s,
                        workflow: None,
                        id: format!("b-{}-{k}", s.name),
                        at: clock.next(i, s),
                        repeat: k > 0,
                    });
                }
            }
            Workload::Workflows => {
                for (k, wf) in s.workflows().into_iter().enumerate() {
                    out.push(Job {
                        snap: s,
                        workflow: Some(wf),
                        id: format!("c-{}-{k:03}", s.name),
                        at: clock.next(i, s),
                        repeat: false,
                    });
                }
            }
        }
    }
    out
}

/// A scratch git repository driven with fixed identities and dates.
struct Git {
    git_dir: PathBuf,
}

impl Git {
    fn version() -> Option<String> {
        let out = Command::new("git").arg("--version").output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn init(dir: &Path) -> Result<Git, String> {
        let git = Git {
            git_dir: dir.join(".git"),
        };
        git.run(None, &["init", "-q", "-b", "main"], None, None, Some(dir))?;
        Ok(git)
    }

    fn run(
        &self,
        work_tree: Option<&Path>,
        args: &[&str],
        stdin: Option<&[u8]>,
        at: Option<DateTime<Utc>>,
        init_dir: Option<&Path>,
    ) -> Result<(), String> {
        let mut cmd = common::git_command();
        if init_dir.is_none() {
            cmd.arg("--git-dir").arg(&self.git_dir);
        }
        if let Some(w) = work_tree {
            cmd.arg("--work-tree").arg(w).current_dir(w);
        } else if let Some(d) = init_dir {
            cmd.current_dir(d);
        }
        cmd.args(args)
            .env("GIT_LITERAL_PATHSPECS", "1")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(t) = at {
            let d = format!("@{} +0000", t.timestamp());
            cmd.env("GIT_AUTHOR_DATE", &d).env("GIT_COMMITTER_DATE", &d);
        }
        let mut child = cmd.spawn().map_err(|e| format!("git: {e}"))?;
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .ok_or("git stdin")?
                .write_all(input)
                .map_err(|e| format!("git stdin: {e}"))?;
        }
        let out = child.wait_with_output().map_err(|e| format!("git: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    /// Commits exactly `paths` of `work_tree` (all of it when `None`); a repeat commits the
    /// index as it stands.
    fn commit(
        &self,
        work_tree: &Path,
        paths: Option<&[String]>,
        repeat: bool,
        at: DateTime<Utc>,
        msg: &str,
    ) -> Result<(), String> {
        if !repeat {
            self.run(Some(work_tree), &["read-tree", "--empty"], None, None, None)?;
            match paths {
                None => self.run(Some(work_tree), &["add", "-A", "-f", "."], None, None, None)?,
                Some(paths) => {
                    let mut list = Vec::new();
                    for p in paths {
                        list.extend_from_slice(p.as_bytes());
                        list.push(0);
                    }
                    self.run(
                        Some(work_tree),
                        &["add", "-f", "--pathspec-from-file=-", "--pathspec-file-nul"],
                        Some(&list),
                        None,
                        None,
                    )?;
                }
            }
        }
        self.run(
            Some(work_tree),
            &["commit", "-q", "--allow-empty", "--no-verify", "-m", msg],
            None,
            Some(at),
            None,
        )
    }

    fn gc_and_size(&self) -> Result<u64, String> {
        self.run(
            None,
            &["gc", "-q", "--aggressive", "--prune=now"],
            None,
            None,
            None,
        )?;
        Ok(common::dir_bytes(&self.git_dir.join("objects")))
    }
}

struct GitResult {
    objects_bytes: u64,
    commits: usize,
    commit_ms_median: f64,
}

struct Result1 {
    workload: Workload,
    sessions: u64,
    failed: Vec<String>,
    logical_bytes: u64,
    unique_bytes: u64,
    stored_bytes: u64,
    file_bytes_before_gc: u64,
    file_bytes: u64,
    store_dir_bytes: u64,
    backup_ms: (f64, f64),
    backup_total_s: f64,
    git: Result<GitResult, String>,
    /// Sessions whose backed-up bytes differ from the folder git committed (tree workloads).
    mismatched_trees: usize,
}

fn run_workload(w: Workload, corpus: &Corpus, git_ok: bool, keep: Option<&Path>) -> Result1 {
    let scratch = tempfile::Builder::new()
        .prefix("cfgvault-dedup-")
        .tempdir()
        .unwrap();
    let store_path = scratch.path().join("store").join("store.redb");
    let vault = Vault::create(&store_path, &Default::default()).unwrap();
    let git = if git_ok {
        let d = scratch.path().join("git");
        std::fs::create_dir_all(&d).unwrap();
        Git::init(&d)
    } else {
        Err("git is not installed".to_string())
    };
    let mut git_err: Option<String> = git.as_ref().err().cloned();
    let mut git_times = Vec::new();
    let mut times = Vec::new();
    let mut failed = Vec::new();
    let mut mismatched_trees = 0;
    let mut tree_bytes_cache: Option<(String, u64)> = None;
    let list = jobs(w, &corpus.snapshots);
    eprintln!("{}: {} sessions", w.title(), list.len());
    for job in &list {
        let mut opts = BackupOptions::default();
        opts.session_id = Some(sid(&job.id));
        opts.created_at = Some(job.at);
        opts.strategy = if job.workflow.is_some() {
            Strategy::Comprehensive
        } else {
            Strategy::Tree
        };
        let t0 = Instant::now();
        let report = vault.backup(&job.snap.configs, job.workflow.as_deref(), &opts);
        let dt = t0.elapsed();
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                failed.push(format!("{}: {e}", job.id));
                continue;
            }
        };
        times.push(dt);
        let paths: Vec<String> = report.files.iter().map(|f| f.path.clone()).collect();
        if job.workflow.is_none() {
            let ours: u64 = report.files.iter().map(|f| f.size).sum();
            let on_disk = match &tree_bytes_cache {
                Some((name, b)) if *name == job.snap.name => *b,
                _ => {
                    let b = common::dir_bytes(&job.snap.configs);
                    tree_bytes_cache = Some((job.snap.name.clone(), b));
                    b
                }
            };
            if ours != on_disk {
                mismatched_trees += 1;
            }
        }
        if let (Ok(g), None) = (&git, &git_err) {
            let t0 = Instant::now();
            let r = g.commit(
                &job.snap.configs,
                job.workflow.as_ref().map(|_| paths.as_slice()),
                job.repeat,
                job.at,
                &job.id,
            );
            git_times.push(t0.elapsed());
            if let Err(e) = r {
                git_err = Some(e);
            }
        }
    }
    let before = vault.stats().unwrap();
    let gc = vault.gc(&NoProgress).unwrap();
    if let Some(why) = &gc.compaction_skipped {
        eprintln!("warning: compaction skipped: {why}");
    }
    let st = vault.stats().unwrap();
    if let Ok(k) = std::env::var("KEEPX") {
        std::fs::copy(&store_path, format!("{k}-{}.redb", w.key())).unwrap();
    }
    let git_result = match (git, git_err) {
        (_, Some(e)) => Err(e),
        (Ok(g), None) => g.gc_and_size().map(|bytes| GitResult {
            objects_bytes: bytes,
            commits: git_times.len(),
            commit_ms_median: median_p99_ms(&git_times).0,
        }),
        (Err(e), None) => Err(e),
    };
    // The store alone in its directory, closed: what it takes on disk at rest.
    drop(vault);
    let store_dir_bytes = common::dir_bytes(&scratch.path().join("store"));
    if let Some(dir) = keep {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::copy(&store_path, dir.join(format!("{}.redb", w.key()))).unwrap();
    }
    Result1 {
        workload: w,
        sessions: st.sessions,
        failed,
        logical_bytes: st.logical_bytes,
        unique_bytes: st.unique_bytes,
        stored_bytes: st.stored_bytes,
        file_bytes_before_gc: before.file_bytes,
        file_bytes: st.file_bytes,
        store_dir_bytes,
        backup_ms: median_p99_ms(&times),
        backup_total_s: times.iter().map(Duration::as_secs_f64).sum(),
        git: git_result,
        mismatched_trees,
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl Result1 {
    /// The denominator: the store file after gc, or what its directory holds once closed
    /// (redb may grow the file on close), whichever is larger.
    fn disk_bytes(&self) -> u64 {
        self.file_bytes.max(self.store_dir_bytes)
    }
    fn ours_ratio(&self) -> f64 {
        ratio(self.logical_bytes, self.disk_bytes())
    }
    fn git_ratio(&self) -> Option<f64> {
        self.git
            .as_ref()
            .ok()
            .map(|g| ratio(self.logical_bytes, g.objects_bytes))
    }
    fn ours_over_git(&self) -> Option<f64> {
        self.git_ratio()
            .filter(|g| *g > 0.0)
            .map(|g| self.ours_ratio() / g)
    }

    fn json(&self) -> Value {
        let per = |b: u64| b.checked_div(self.sessions).unwrap_or(0);
        let git = match &self.git {
            Ok(g) => json!({
                "available": true,
                "commits": g.commits,
                "objects_bytes": g.objects_bytes,
                "overall_ratio": self.git_ratio(),
                "bytes_per_session": per(g.objects_bytes),
                "commit_ms_median": g.commit_ms_median,
            }),
            Err(e) => json!({ "available": false, "error": e }),
        };
        json!({
            "workload": self.workload.name(),
            "sessions": self.sessions,
            "failed_sessions": self.failed,
            "logical_bytes": self.logical_bytes,
            "unique_bytes": self.unique_bytes,
            "stored_bytes": self.stored_bytes,
            "file_bytes_before_gc": self.file_bytes_before_gc,
            "file_bytes": self.file_bytes,
            "store_dir_bytes_closed": self.store_dir_bytes,
            "disk_bytes": self.disk_bytes(),
            "overall_ratio": self.ours_ratio(),
            "bytes_per_session": per(self.disk_bytes()),
            "backup_ms": { "median": self.backup_ms.0, "p99": self.backup_ms.1 },
            "backup_total_s": self.backup_total_s,
            "git": git,
            "ours_over_git": self.ours_over_git(),
            "tree_size_mismatches": self.mismatched_trees,
        })
    }
}

fn print_table(results: &[Result1], git_version: Option<&str>) {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: &str, f: &dyn Fn(&Result1) -> String| {
        rows.push((label.to_string(), results.iter().map(f).collect()));
    };
    let git_cell = |r: &Result1, f: &dyn Fn(&GitResult) -> String| match &r.git {
        Ok(g) => f(g),
        Err(_) if git_version.is_none() => "git not installed".into(),
        Err(_) => "git failed".into(),
    };
    row("sessions", &|r| r.sessions.to_string());
    row("logical bytes", &|r| r.logical_bytes.to_string());
    row("unique bytes", &|r| r.unique_bytes.to_string());
    row("stored bytes (objects)", &|r| r.stored_bytes.to_string());
    row("store file bytes, before gc", &|r| {
        r.file_bytes_before_gc.to_string()
    });
    row("store file bytes, after gc", &|r| r.file_bytes.to_string());
    row("store on disk, closed", &|r| r.store_dir_bytes.to_string());
    row("overall_ratio (logical/disk)", &|r| {
        format!("{:.1}x", r.ours_ratio())
    });
    row("git .git/objects bytes", &|r| {
        git_cell(r, &|g| g.objects_bytes.to_string())
    });
    row("git ratio (logical/objects)", &|r| {
        git_cell(r, &|_| format!("{:.1}x", r.git_ratio().unwrap_or(0.0)))
    });
    row("ours / git", &|r| {
        git_cell(r, &|_| format!("{:.3}", r.ours_over_git().unwrap_or(0.0)))
    });
    row("bytes/session, ours", &|r| {
        human(r.disk_bytes() / r.sessions.max(1))
    });
    row("bytes/session, git", &|r| {
        git_cell(r, &|g| human(g.objects_bytes / r.sessions.max(1)))
    });
    row("backup ms/session, median", &|r| {
        format!("{:.2}", r.backup_ms.0)
    });
    row("backup ms/session, p99", &|r| {
        format!("{:.2}", r.backup_ms.1)
    });
    row("git add+commit ms/session, median", &|r| {
        git_cell(r, &|g| format!("{:.2}", g.commit_ms_median))
    });
    let w0 = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..results.len())
        .map(|i| {
            rows.iter()
                .map(|(_, c)| c[i].len())
                .chain([results[i].workload.title().len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |label: &str, cells: &[String]| {
        let mut s = format!("| {label:<w0$} |");
        for (c, w) in cells.iter().zip(&widths) {
            s.push_str(&format!(" {c:>w$} |"));
        }
        s
    };
    let titles: Vec<String> = results
        .iter()
        .map(|r| r.workload.title().to_string())
        .collect();
    println!("{}", line("", &titles));
    let mut sep = format!("|{}|", "-".repeat(w0 + 2));
    for w in &widths {
        sep.push_str(&format!("{}:|", "-".repeat(w + 1)));
    }
    println!("{sep}");
    for (label, cells) in &rows {
        println!("{}", line(label, cells));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json_path = common::flag_value(&args, "--json");
    let only = common::flag_value(&args, "--workloads");
    let no_git = args.iter().any(|a| a == "--no-git");
    let keep = common::flag_value(&args, "--keep").map(PathBuf::from);
    let limit = common::snapshot_limit(&args);
    let valued = ["--json", "--workloads", "--keep", "--snapshots"];
    let locations = common::corpus_locations(&common::positional(&args, &valued));
    let git_version = if no_git { None } else { Git::version() };
    if git_version.is_none() && !no_git {
        eprintln!("dedup bench: git is not installed; the git columns say so");
    }
    let workloads: Vec<Workload> = [Workload::Tree, Workload::TreeX5, Workload::Workflows]
        .into_iter()
        .filter(|w| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|k| k.trim() == w.key()))
        })
        .collect();
    let mut runs: Vec<CorpusRun> = Vec::new();
    for location in &locations {
        let corpus = match Corpus::load(location, false) {
            Ok(c) => c.limit(limit),
            Err(e) => {
                eprintln!("dedup bench: {e}");
                std::process::exit(2);
            }
        };
        let name = corpus_name(&corpus.source);
        let started = Instant::now();
        let results: Vec<Result1> = workloads
            .iter()
            .map(|w| {
                let keep = keep.as_ref().map(|k| k.join(&name));
                run_workload(*w, &corpus, git_version.is_some(), keep.as_deref())
            })
            .collect();
        println!(
            "\ncfgvault dedup bench: corpus {} ({} snapshots), {}, {:.0} s\n",
            corpus.source.display(),
            corpus.snapshots.len(),
            git_version.as_deref().unwrap_or(if no_git {
                "git skipped (--no-git)"
            } else {
                "git not installed"
            }),
            started.elapsed().as_secs_f64()
        );
        print_table(&results, git_version.as_deref());
        print_notes(&results);
        runs.push(CorpusRun {
            name,
            source: corpus.source.clone(),
            snapshots: corpus.snapshots.len(),
            results,
        });
    }
    print_summary(&runs, &workloads);
    if let Some(p) = json_path {
        let doc = json!({
            "format": "cfgvault-bench-dedup/2",
            "git": git_version,
            "machine": common::machine(),
            "ran_at": Utc::now().to_rfc3339(),
            "snapshot_limit": limit,
            "corpora": runs.iter().map(|r| json!({
                "corpus": r.source.display().to_string(),
                "snapshots": r.snapshots,
                "workloads": r.results.iter().map(Result1::json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&doc).unwrap();
        if let Err(e) = std::fs::write(&p, text + "\n") {
            eprintln!("dedup bench: writing {p}: {e}");
            std::process::exit(1);
        }
        println!("\nwrote {p}");
    }
}

/// One corpus's results.
struct CorpusRun {
    name: String,
    source: PathBuf,
    snapshots: usize,
    results: Vec<Result1>,
}

/// The archive or folder name without `.tar.zst`.
fn corpus_name(source: &Path) -> String {
    let file = source
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| source.display().to_string());
    file.trim_end_matches(".tar.zst").to_string()
}

fn print_notes(results: &[Result1]) {
    for r in results {
        if !r.failed.is_empty() {
            println!(
                "\n{}: {} sessions failed to back up (left out of both sides), first: {}",
                r.workload.title(),
                r.failed.len(),
                r.failed[0]
            );
        }
        if r.mismatched_trees > 0 {
            println!(
                "\n{}: {} tree sessions stored a different byte count than the folder git \
                 committed (excludes?)",
                r.workload.title(),
                r.mismatched_trees
            );
        }
        if let Err(e) = &r.git {
            println!("\n{}: git: {e}", r.workload.title());
        }
    }
}

/// One row per corpus: ours ÷ git (logical/disk over logical/objects) for each workload.
fn print_summary(runs: &[CorpusRun], workloads: &[Workload]) {
    println!("\nsummary: ours / git (higher is better; goal >= 1.5)\n");
    let mut head = String::from("| corpus | snapshots |");
    let mut sep = String::from("|---|---:|");
    for w in workloads {
        head.push_str(&format!(" {} |", w.title()));
        sep.push_str("---:|");
    }
    println!("{head}\n{sep}");
    for run in runs {
        let mut line = format!("| {} | {} |", run.name, run.snapshots);
        for r in &run.results {
            match r.ours_over_git() {
                Some(x) => line.push_str(&format!(" {x:.3} |")),
                None => line.push_str(" n/a |"),
            }
        }
        println!("{line}");
    }
}
