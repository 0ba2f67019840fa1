//! Push and pull throughput and requests per operation, against the loopback S3 server the
//! tests use (moto) and against `file://`, for sessions of the corpus's snapshots (each the
//! whole config tree of one commit). Prints one table; docs/BENCHMARKS.md records a run.
//!
//! `cargo bench -p cfgvault-remote --bench push_pull` (`CFGVAULT_CORPUS=FILE` to point at
//! the corpus; `CFGVAULT_BENCH_SNAPS=N` snapshots, default 24).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cfgvault_remote::{Remote, pull, push};
use cfgvault_session::{self as session, FileSet, NewSession, Selection, SessionId};
use cfgvault_store::{Store, StoreOptions};
use support::{KINDS, Kind, new_remote};

fn corpus_file() -> PathBuf {
    match std::env::var_os("CFGVAULT_CORPUS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus/open-agent-configs.tar.zst"),
    }
}

fn unpack(snaps: &[u32]) -> Result<tempfile::TempDir, String> {
    let file = corpus_file();
    if !file.is_file() {
        return Err(format!(
            "corpus not found at '{}': set CFGVAULT_CORPUS=FILE",
            file.display()
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut zstd = Command::new("zstd")
        .arg("-dc")
        .arg(&file)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running zstd: {e}"))?;
    let stdout = zstd.stdout.take().ok_or("no zstd output")?;
    let status = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir.path())
        .args(snaps.iter().map(|n| format!("snap-{n:04}/configs")))
        .stdin(stdout)
        .status()
        .map_err(|e| format!("running tar: {e}"))?;
    if !status.success() {
        return Err(format!("unpacking {}", file.display()));
    }
    Ok(dir)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo test --benches` runs benches once with no arguments beyond `--bench`; only a
    // real `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let count: u32 = std::env::var("CFGVAULT_BENCH_SNAPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let snaps: Vec<u32> = (0..count).map(|i| 1 + i * 101 / count.max(1)).collect();
    let corpus = unpack(&snaps)?;
    let work = tempfile::tempdir()?;
    let local = Store::create(work.path().join("local.redb"), &StoreOptions::default())?;
    let mut ids = Vec::new();
    let mut logical = 0u64;
    for n in &snaps {
        let root = corpus.path().join(format!("snap-{n:04}/configs"));
        let files = FileSet::read(&root, &Selection::All)?;
        let mut new = NewSession::new(files);
        let id: SessionId = format!("snap-{n:04}").parse()?;
        new.id = Some(id.clone());
        let created = session::create(&local, new)?;
        logical += created.record.logical_bytes;
        ids.push(id);
    }
    println!(
        "{} sessions (corpus snapshots), {} KiB of files in all",
        ids.len(),
        logical / 1024
    );
    println!(
        "{:<8} {:>4} {:>7} {:>10} {:>10} {:>7} {:>7} {:>10} {:>10} {:>9}",
        "remote",
        "key",
        "push s",
        "PUTs/push",
        "reqs/push",
        "KiB up",
        "pull s",
        "GETs/pull",
        "reqs/pull",
        "KiB down"
    );
    for kind in KINDS {
        for key in [None, Some("benchmark key")] {
            let remote = new_remote(kind);
            // S3 requests are counted by a proxy in front of the server.
            let proxy = match kind {
                Kind::S3 => Some(support::Proxy::start(support::moto_port(), Vec::new())),
                Kind::File => None,
            };
            let options = match &proxy {
                Some(p) => remote.options_via(key, Duration::from_secs(3600), p.port),
                None => remote.options(key, Duration::from_secs(3600)),
            };
            let r = Remote::open_with(&remote.url, &options)?;
            let requests = || {
                proxy
                    .as_ref()
                    .map(|p| p.requests.load(std::sync::atomic::Ordering::SeqCst))
            };
            // One push per session, as a fleet pushes after each backup.
            let started = Instant::now();
            let (mut puts, mut up) = (0, 0);
            let mut push_requests = 0;
            for (i, id) in ids.iter().enumerate() {
                let before = requests();
                let rep = push(&local, &r, std::slice::from_ref(id))?;
                if i > 0 {
                    push_requests += requests().unwrap_or(0) - before.unwrap_or(0);
                }
                if i > 0 {
                    puts += rep.objects_uploaded;
                }
                up += rep.bytes_uploaded;
            }
            let push_s = started.elapsed().as_secs_f64();
            // One pull per session into a fresh store.
            let dest = Store::create(
                work.path()
                    .join(format!("pulled-{kind:?}-{}.redb", key.is_some())),
                &StoreOptions::default(),
            )?;
            let started = Instant::now();
            let (mut gets, mut down) = (0, 0);
            let pull_before = requests();
            for id in &ids {
                let rep = pull(&dest, &r, std::slice::from_ref(id))?;
                gets += rep.objects_downloaded;
                down += rep.bytes_downloaded;
            }
            let pull_s = started.elapsed().as_secs_f64();
            let pull_requests = requests().unwrap_or(0) - pull_before.unwrap_or(0);
            let n = ids.len() as f64;
            let per = |total: usize, over: f64| match kind {
                Kind::S3 => format!("{:.2}", total as f64 / over),
                Kind::File => "-".to_string(),
            };
            println!(
                "{:<8} {:>4} {:>7.2} {:>10.2} {:>10} {:>10} {:>7.2} {:>7.2} {:>10} {:>9}",
                match kind {
                    Kind::File => "file",
                    Kind::S3 => "s3",
                },
                if key.is_some() { "yes" } else { "no" },
                push_s,
                puts as f64 / (n - 1.0).max(1.0),
                per(push_requests, (n - 1.0).max(1.0)),
                up / 1024,
                pull_s,
                gets as f64 / n,
                per(pull_requests, n),
                down / 1024
            );
        }
    }
    Ok(())
}
