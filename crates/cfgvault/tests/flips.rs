//! Issue 22: every byte of a small store file flipped, one at a time, in a copy. For each,
//! `verify` and the reads (sessions, each session's record and files, a restore, a file's
//! contents) must never panic, and `verify` must report every flip that makes another read fail
//! or show different data (its session check re-derives the session layer's metadata). Flips
//! missed are printed with their offsets and fail the test (docs/TESTING.md records the counts).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use cfgvault::closure::Strategy;
use cfgvault::{BackupOptions, NoProgress, Options, Vault};

/// Everything the reads show of a store, as text.
#[derive(Debug, PartialEq, Eq)]
struct View {
    sessions: Vec<String>,
    files: Vec<String>,
    restored: BTreeMap<String, Vec<u8>>,
    read: Vec<u8>,
}

fn read_tree(dir: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        match e.file_type() {
            Ok(t) if t.is_dir() => read_tree(&e.path(), &rel, out),
            _ => {
                out.insert(rel, std::fs::read(e.path()).unwrap_or_default());
            }
        }
    }
}

/// The reads a user makes after `verify`, through a vault opened on `store`.
fn view(vault: &Vault, scratch: &Path) -> Result<View, String> {
    let err = |e: cfgvault::Error| e.to_string();
    let records = vault.sessions(&Default::default()).map_err(err)?;
    let mut v = View {
        sessions: Vec::new(),
        files: Vec::new(),
        restored: BTreeMap::new(),
        read: Vec::new(),
    };
    for r in &records {
        v.sessions.push(format!("{r:?}"));
        v.sessions
            .push(format!("{:?}", vault.session(&r.id).map_err(err)?));
        v.files
            .push(format!("{:?}", vault.files(&r.id).map_err(err)?));
    }
    let last = records.first().ok_or("no sessions")?;
    let _ = std::fs::remove_dir_all(scratch);
    let report = vault
        .restore(&last.id, Some(scratch), &Default::default())
        .map_err(err)?;
    if report.has_failures() {
        return Err(format!("restore failed: {report:?}"));
    }
    read_tree(scratch, "", &mut v.restored);
    v.read = vault.read_file(&last.id, "top.yaml").map_err(err)?;
    Ok(v)
}

enum Outcome {
    /// `verify` reported a problem or an error (so did, perhaps, the reads).
    Caught,
    /// `verify` clean and every read as before: the byte is unused or redundant.
    Harmless,
    /// `verify` clean but a read failed.
    MissedFailure(String),
    /// `verify` clean but a read showed different data.
    MissedDifferent,
}

fn check(path: &Path, scratch: &Path, clean: &View) -> Outcome {
    let Ok(vault) = Vault::open(path, &Options::default()) else {
        return Outcome::Caught;
    };
    match vault.verify(&Default::default(), &NoProgress) {
        Ok(o) if o.is_clean() => {}
        _ => return Outcome::Caught,
    }
    match view(&vault, scratch) {
        Ok(v) if v == *clean => Outcome::Harmless,
        Ok(_) => Outcome::MissedDifferent,
        Err(e) => Outcome::MissedFailure(e),
    }
}

#[test]
fn issue_22_every_flipped_byte_of_a_small_store_is_caught_by_verify_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("configs");
    for (p, c) in [
        ("top.yaml", "name: top\n"),
        ("llms/a.yaml", "model: a\n"),
        ("tools/t.yaml", "tool: t\n"),
    ] {
        let f = root.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    }
    let original = dir.path().join("store.redb");
    {
        let vault = Vault::create(&original, &Options::default()).unwrap();
        let mut o = BackupOptions::default();
        o.strategy = Strategy::Tree;
        o.labels.insert("env".into(), "prod".into());
        vault.backup(&root, None, &o).unwrap();
        std::fs::write(root.join("llms/a.yaml"), "model: b\n").unwrap();
        vault.backup(&root, None, &o).unwrap();
        // Compacted: the smallest file holding the two sessions.
        vault.gc(&NoProgress).unwrap();
    }
    let bytes = std::fs::read(&original).unwrap();
    // The copies and restores go to memory where there is a tmpfs: thousands of syncs.
    let shm = Path::new("/dev/shm");
    let work = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let flipped = work.path().join("flipped.redb");
    let scratch = work.path().join("restored");
    let clean = {
        let vault = Vault::open(&original, &Options::default()).unwrap();
        view(&vault, &scratch).unwrap()
    };
    // Panics are collected (message and place), not printed as they happen.
    static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        PANICS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{info}\n{}", std::backtrace::Backtrace::capture()));
    }));
    let start = Instant::now();
    let (mut caught, mut harmless, mut panics) = (0, 0, Vec::new());
    let (mut failed, mut different) = (Vec::new(), Vec::new());
    // Each flip costs an open, a verify and the reads (≈ 20–60 ms in a debug build), so by
    // default every 61st offset is tried (≈ 1,000 flips spread over every page);
    // `CFGVAULT_LONG=1` tries every offset, `CFGVAULT_FLIP_STRIDE=N` every N-th.
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
    };
    let stride = match env("CFGVAULT_FLIP_STRIDE") {
        Some(n) => n,
        None if std::env::var_os("CFGVAULT_LONG").is_some() => 1,
        None => 61,
    };
    let first = env("CFGVAULT_FLIP_FROM").unwrap_or(0);
    for i in (first..bytes.len()).step_by(stride.max(1)) {
        let mut b = bytes.clone();
        b[i] ^= 0xff;
        std::fs::write(&flipped, &b).unwrap();
        match catch_unwind(AssertUnwindSafe(|| check(&flipped, &scratch, &clean))) {
            Ok(Outcome::Caught) => caught += 1,
            Ok(Outcome::Harmless) => harmless += 1,
            Ok(Outcome::MissedFailure(e)) => failed.push((i, e)),
            Ok(Outcome::MissedDifferent) => different.push(i),
            Err(_) => {
                let why = PANICS.lock().unwrap_or_else(|p| p.into_inner()).pop();
                panics.push((i, why.unwrap_or_default()));
            }
        }
    }
    std::panic::set_hook(hook);
    println!(
        "flips: {} bytes, every {stride}th from {first}, in {:.1?}: {caught} caught, {harmless} harmless, {} missed \
         ({} failed with verify clean, {} different data with verify clean), {} panics",
        bytes.len(),
        start.elapsed(),
        failed.len() + different.len(),
        failed.len(),
        different.len(),
        panics.len(),
    );
    for (i, e) in failed.iter().take(20) {
        println!("  offset {i}: {e}");
    }
    println!("  different data at offsets {different:?}");
    assert_eq!(panics, Vec::<(usize, String)>::new(), "flips that panicked");
    assert_eq!(
        (failed, different),
        (Vec::new(), Vec::new()),
        "flips verify called clean that another read failed on or saw differently"
    );
    assert!(
        caught > 0,
        "no flip was caught: the sweep did not damage the store"
    );
}
