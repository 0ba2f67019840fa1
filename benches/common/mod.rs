//! Helpers shared by the benches: finding and unpacking the corpus, session clocks, timing
//! statistics, peak memory and a machine description. Included with
//! `#[path = "common/mod.rs"] mod common;`, so not every bench uses every item.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cfgvault::SessionId;
use chrono::{DateTime, TimeZone, Utc};

/// A `git` command that reads no system or user configuration and never asks anything of
/// the machine's set-up (identity, gc, line endings, signing): the same git in every run.
/// Callers add `--git-dir`, `--work-tree` and the subcommand.
pub fn git_command() -> Command {
    let mut cmd = Command::new("git");
    cmd.args([
        "-c",
        "user.name=x",
        "-c",
        "user.email=x@x",
        "-c",
        "gc.auto=0",
        "-c",
        "core.autocrlf=false",
        "-c",
        "commit.gpgsign=false",
    ])
    .env("GIT_CONFIG_NOSYSTEM", "1")
    .env("GIT_CONFIG_GLOBAL", "/dev/null");
    cmd
}

/// Where the packed corpus is looked for when neither an argument nor `CFGVAULT_CORPUS` names
/// one.
pub fn default_corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/open-agent-configs.tar.zst")
}

/// The corpus to use: `arg` (a bench argument) wins, then `CFGVAULT_CORPUS`, then the default.
pub fn corpus_location(arg: Option<&str>) -> PathBuf {
    match arg {
        Some(a) => PathBuf::from(a),
        None => match std::env::var_os("CFGVAULT_CORPUS") {
            Some(p) => PathBuf::from(p),
            None => default_corpus(),
        },
    }
}

/// The folder whose `*.tar.zst` files are every shared corpus.
pub fn shared_corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// The corpora to use: `args` (bench arguments) win, then `CFGVAULT_CORPUS`, then every
/// `*.tar.zst` in [`shared_corpus_dir`], by name (empty when that folder holds none).
pub fn corpus_locations(args: &[String]) -> Vec<PathBuf> {
    if !args.is_empty() {
        return args.iter().map(PathBuf::from).collect();
    }
    if let Some(p) = std::env::var_os("CFGVAULT_CORPUS") {
        return vec![PathBuf::from(p)];
    }
    let dir = shared_corpus_dir();
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.zst"))
        .collect();
    found.sort();
    if found.is_empty() {
        found.push(default_corpus());
    }
    found
}

/// How many snapshots of each corpus a bench uses: `--snapshots N`, else
/// `CFGVAULT_BENCH_SNAPSHOTS`, else all (`None`).
pub fn snapshot_limit(args: &[String]) -> Option<usize> {
    flag_value(args, "--snapshots")
        .or_else(|| std::env::var("CFGVAULT_BENCH_SNAPSHOTS").ok())
        .and_then(|v| v.parse().ok())
}

/// The arguments that are neither flags nor the values of `valued` flags; unknown flags
/// (cargo passes `--bench`) are skipped.
pub fn positional(args: &[String], valued: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if valued.contains(&a.as_str()) {
            i += 2;
            continue;
        }
        if !a.starts_with("--") {
            out.push(a.clone());
        }
        i += 1;
    }
    out
}

/// One snapshot folder of the corpus.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// `snap-NNNN`.
    pub name: String,
    /// `snap-NNNN/configs`: what is backed up.
    pub configs: PathBuf,
    /// The commit date from `COMMIT`, if it has one.
    pub date: Option<DateTime<Utc>>,
}

impl Snapshot {
    /// Workflow files (`workflows/**/*.yaml`), relative to `configs`, `/`-separated, sorted.
    pub fn workflows(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk_files(&self.configs.join("workflows"), &mut |p| {
            if p.extension().is_some_and(|e| e == "yaml")
                && let Ok(rel) = p.strip_prefix(&self.configs)
            {
                out.push(rel_string(rel));
            }
        });
        out.sort();
        out
    }

    /// Every file under `configs`, relative, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk_files(&self.configs, &mut |p| {
            if let Ok(rel) = p.strip_prefix(&self.configs) {
                out.push(rel_string(rel));
            }
        });
        out.sort();
        out
    }
}

fn rel_string(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Calls `f` for every regular file below `dir` (symlinks are not followed).
pub fn walk_files(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => walk_files(&p, f),
            Ok(t) if t.is_file() => f(&p),
            _ => {}
        }
    }
}

/// Sum of the sizes of the regular files below `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    walk_files(dir, &mut |p| {
        total += std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
    });
    total
}

/// An unpacked corpus: snapshot folders, oldest first.
pub struct Corpus {
    /// Where the corpus came from (archive or directory).
    pub source: PathBuf,
    /// The directory holding `snap-NNNN/`.
    pub dir: PathBuf,
    pub snapshots: Vec<Snapshot>,
    _unpacked: Option<tempfile::TempDir>,
}

impl Corpus {
    /// Keeps the oldest `n` snapshots (a prefix of the history), or all with `None`.
    pub fn limit(mut self, n: Option<usize>) -> Corpus {
        if let Some(n) = n {
            self.snapshots.truncate(n.max(1));
        }
        self
    }

    /// Opens a directory of snapshot folders, or unpacks a `.tar.zst` into a temporary
    /// directory (`zstd -dc F | tar -x -C DIR`). With `writable`, a directory is copied too,
    /// so benches that edit files never touch the original.
    pub fn load(location: &Path, writable: bool) -> Result<Corpus, String> {
        if !location.exists() {
            return Err(format!(
                "corpus not found at '{}' (pass a path as the bench argument or set \
                 CFGVAULT_CORPUS; the default is ../shared/corpus/open-agent-configs.tar.zst \
                 beside the repository)",
                location.display()
            ));
        }
        let (dir, tmp) = if location.is_dir() && !writable {
            (location.to_path_buf(), None)
        } else {
            let tmp = tempfile::Builder::new()
                .prefix("cfgvault-corpus-")
                .tempdir()
                .map_err(|e| format!("temp dir: {e}"))?;
            let script = if location.is_dir() {
                r#"cp -a "$1"/. "$2""#
            } else {
                r#"zstd -dc "$1" | tar -x -C "$2""#
            };
            let status = Command::new("sh")
                .arg("-c")
                .arg(script)
                .arg("sh")
                .arg(location)
                .arg(tmp.path())
                .status()
                .map_err(|e| format!("running sh: {e}"))?;
            if !status.success() {
                return Err(format!(
                    "unpacking '{}' failed ({status}); zstd and tar must be on the PATH",
                    location.display()
                ));
            }
            (tmp.path().to_path_buf(), Some(tmp))
        };
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with("snap-"))
            .collect();
        names.sort();
        if names.is_empty() {
            return Err(format!("no snap-NNNN folders in '{}'", location.display()));
        }
        let snapshots = names
            .into_iter()
            .map(|name| {
                let base = dir.join(&name);
                let date = std::fs::read_to_string(base.join("COMMIT"))
                    .ok()
                    .and_then(|s| commit_date(&s));
                Snapshot {
                    configs: base.join("configs"),
                    name,
                    date,
                }
            })
            .collect();
        Ok(Corpus {
            source: location.to_path_buf(),
            dir,
            snapshots,
            _unpacked: tmp,
        })
    }
}

fn commit_date(commit: &str) -> Option<DateTime<Utc>> {
    commit
        .lines()
        .find_map(|l| l.strip_prefix("date:"))
        .and_then(|d| DateTime::parse_from_rfc3339(d.trim()).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// A deterministic, strictly increasing clock for session `created_at`: snapshot `i` starts
/// at its COMMIT date (or 2025-01-01 + i hours when it has none), never earlier than the
/// previous session plus one second; sub-session `k` is `k` seconds later.
pub struct Clock {
    last: Option<DateTime<Utc>>,
}

impl Clock {
    pub fn new() -> Clock {
        Clock { last: None }
    }

    /// The time of the next session of snapshot `i`.
    pub fn next(&mut self, i: usize, snap: &Snapshot) -> DateTime<Utc> {
        let base = snap.date.unwrap_or_else(|| synthetic(i as i64 * 3600));
        let t = match self.last {
            Some(l) if base <= l => l + chrono::Duration::seconds(1),
            _ => base,
        };
        self.last = Some(t);
        t
    }
}

/// 2025-01-01T00:00:00Z plus `secs`.
pub fn synthetic(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_735_689_600 + secs, 0)
        .single()
        .unwrap_or_default()
}

/// An explicit session id.
pub fn sid(s: &str) -> SessionId {
    match s.parse() {
        Ok(id) => id,
        Err(e) => panic!("bad session id {s:?}: {e}"),
    }
}

/// Median and p99 (nearest rank) of durations, in milliseconds.
pub fn median_p99_ms(times: &[Duration]) -> (f64, f64) {
    let mut v: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    v.sort_by(f64::total_cmp);
    (percentile(&v, 50.0), percentile(&v, 99.0))
}

/// Nearest-rank percentile of a sorted slice (0 when empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median of durations in seconds.
pub fn median_secs(times: &[Duration]) -> f64 {
    let mut v: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Peak resident set size of this process in KiB (`VmHWM` in /proc/self/status).
pub fn peak_rss_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

/// Current resident set size in KiB (`VmRSS`).
pub fn rss_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

fn status_kib(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `nproc`, total memory and kernel, for the record.
pub fn machine() -> serde_json::Value {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    serde_json::json!({ "cpus": cpus, "mem_kib": mem_kib, "kernel": kernel })
}

/// The value after `flag` in `args` (`--flag VALUE` or `--flag=VALUE`).
pub fn flag_value(args: &[String], flag: &str) -> Option<String> {
    let eq = format!("{flag}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if a == flag {
            args.get(i + 1).filter(|v| !v.starts_with("--")).cloned()
        } else {
            a.strip_prefix(&eq).map(str::to_string)
        }
    })
}

/// Human bytes: `1.23 MiB`.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}
