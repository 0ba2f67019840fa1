//! Per-operation costs on a store pre-filled from the corpus, and a scale run.
//!
//! ```text
//! cargo bench --bench ops [-- CRITERION-ARGS]   # criterion, then a ratio-to-floor table
//! cargo bench --bench ops -- --scale [N] [--every K] [--json PATH]
//! ```
//!
//! The store holds one `tree` session per snapshot (the history) plus one `comprehensive`
//! session per workflow of the newest snapshot, then gc (which packs every object, as in a
//! store that is maintained). The typical closure is `workflows/react.yaml`
//! of the newest snapshot. The floor is `Vault::delete(&[])`: one durable commit that changes
//! one counter, the smallest write transaction the `cfgvault` API can make.
//!
//! `--scale N` (default 100000) grows a fresh store to N synthetic sessions — the
//! comprehensive closures of every (snapshot, workflow) pair in turn, with every K-th
//! (default 10) session appending a line to its workflow file first — and measures backup,
//! restore, `versions`, listing the newest 100 and `stats` at 10^3, 10^4, 10^5 … sessions,
//! with the process's peak RSS (VmHWM); then runs gc on the final store, restores the first
//! session from the packs, and measures everything once more on the gc'ed store (every object
//! packed, every root and index entry in cold blocks).
#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cfgvault::closure::Strategy;
use cfgvault::{BackupOptions, EnsureOptions, ListOptions, NoProgress, SessionId, Vault};
use chrono::{DateTime, Utc};
use common::{Corpus, human, sid};
use criterion::{Criterion, Throughput};
use serde_json::json;

const TYPICAL: &str = "workflows/react.yaml";

/// A pre-filled store and the directories the operations work on.
struct Fixture {
    _corpus: Corpus,
    scratch: tempfile::TempDir,
    vault: Vault,
    /// Newest snapshot's configs, never modified: backups from here find every file stored.
    hot_root: PathBuf,
    /// A copy of it whose `changed` file gets a line appended before each backup.
    edit_root: PathBuf,
    workflow: String,
    changed: String,
    closure_session: SessionId,
    tree_session: SessionId,
    ensure_root: PathBuf,
    open_copy: PathBuf,
    closure_files: usize,
    closure_bytes: u64,
    tree_files: u64,
    counter: Cell<u64>,
    clock: Cell<DateTime<Utc>>,
}

impl Fixture {
    fn new() -> Fixture {
        let location = common::corpus_location(None);
        let corpus = match Corpus::load(&location, true) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("ops bench: {e}");
                std::process::exit(2);
            }
        };
        let scratch = tempfile::Builder::new()
            .prefix("cfgvault-ops-")
            .tempdir()
            .unwrap();
        let store = scratch.path().join("store.redb");
        let vault = Vault::create(&store, &Default::default()).unwrap();
        let mut clock = common::Clock::new();
        let mut last = None;
        for (i, s) in corpus.snapshots.iter().enumerate() {
            let mut o = BackupOptions::default();
            o.strategy = Strategy::Tree;
            o.session_id = Some(sid(&format!("tree-{}", s.name)));
            let at = clock.next(i, s);
            o.created_at = Some(at);
            last = Some((vault.backup(&s.configs, None, &o).unwrap(), i, s));
        }
        let (tree_report, i, newest) = last.unwrap();
        let workflows = newest.workflows();
        let workflow = if workflows.iter().any(|w| w == TYPICAL) {
            TYPICAL.to_string()
        } else {
            workflows
                .first()
                .cloned()
                .expect("the newest snapshot has no workflows")
        };
        let mut closure_session = None;
        let mut closure_report = None;
        for (k, wf) in workflows.iter().enumerate() {
            let mut o = BackupOptions::default();
            o.strategy = Strategy::Comprehensive;
            let id = sid(&format!("wf-{k:03}"));
            o.session_id = Some(id.clone());
            o.created_at = Some(clock.next(i, newest));
            match vault.backup(&newest.configs, Some(wf), &o) {
                Ok(r) if *wf == workflow => {
                    closure_session = Some(id);
                    closure_report = Some(r);
                }
                Ok(_) => {}
                Err(e) => eprintln!("ops bench: backing up {wf}: {e}"),
            }
        }
        let closure_session = closure_session.expect("typical closure backed up");
        let closure_report = closure_report.unwrap();
        // A maintained store: gc has packed what the history stored.
        vault.gc(&NoProgress).unwrap();
        let changed = closure_report
            .files
            .iter()
            .rev()
            .find(|f| f.path != workflow)
            .unwrap_or(&closure_report.files[0])
            .path
            .clone();

        let hot_root = scratch.path().join("hot");
        let edit_root = scratch.path().join("edit");
        for dst in [&hot_root, &edit_root] {
            copy_dir(&newest.configs, dst);
        }
        let ensure_root = scratch.path().join("ensure");
        vault
            .restore(&closure_session, Some(&ensure_root), &Default::default())
            .unwrap();
        let open_copy = scratch.path().join("open-copy.redb");
        std::fs::copy(&store, &open_copy).unwrap();
        let fx = Fixture {
            scratch,
            vault,
            hot_root,
            edit_root,
            workflow,
            changed,
            closure_session,
            tree_session: tree_report.session.id.clone(),
            ensure_root,
            open_copy,
            closure_files: closure_report.files.len(),
            closure_bytes: closure_report.files.iter().map(|f| f.size).sum(),
            tree_files: tree_report.session.files,
            counter: Cell::new(0),
            clock: Cell::new(clock.next(i, newest)),
            _corpus: corpus,
        };
        // The hot path must really be hot, and ensure must find nothing missing.
        let r = fx.backup(&fx.hot_root.clone());
        assert_eq!(r.new_objects, 0, "hot backup stored new objects");
        let e = fx.ensure();
        assert_eq!(e.ok().len(), e.files.len(), "ensure found work to do");
        fx
    }

    fn next_id(&self) -> (SessionId, DateTime<Utc>) {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        let t = self.clock.get() + chrono::Duration::seconds(1);
        self.clock.set(t);
        (sid(&format!("op-{n:08}")), t)
    }

    fn backup(&self, root: &Path) -> cfgvault::BackupReport {
        let (id, at) = self.next_id();
        let mut o = BackupOptions::default();
        o.session_id = Some(id);
        o.created_at = Some(at);
        self.vault.backup(root, Some(&self.workflow), &o).unwrap()
    }

    /// Appends a line to the changed file (not timed by callers).
    fn edit(&self) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.edit_root.join(&self.changed))
            .unwrap();
        writeln!(f, "# edit {}", self.counter.get()).unwrap();
    }

    fn restore_fresh(&self, id: &SessionId) -> Duration {
        let (n, _) = self.next_id();
        let target = self.scratch.path().join("restore").join(n.as_str());
        let t0 = Instant::now();
        black_box(
            self.vault
                .restore(id, Some(&target), &Default::default())
                .unwrap(),
        );
        let dt = t0.elapsed();
        std::fs::remove_dir_all(&target).unwrap();
        dt
    }

    fn ensure(&self) -> cfgvault::EnsureReport {
        self.vault
            .ensure(
                &self.closure_session,
                Some(&self.ensure_root),
                &EnsureOptions::default(),
            )
            .unwrap()
    }

    fn newest_100(&self) -> usize {
        let mut o = ListOptions::default();
        o.limit = Some(100);
        self.vault.sessions(&o).unwrap().len()
    }

    fn file_bytes(&self) -> u64 {
        self.vault.stats().unwrap().file_bytes
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    common::walk_files(src, &mut |p| {
        let rel = p.strip_prefix(src).unwrap();
        let to = dst.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(p, &to).unwrap();
    });
}

/// One timed call of each operation; setup and cleanup are outside the returned duration.
type Op<'a> = (&'static str, Box<dyn Fn() -> Duration + 'a>);

/// Times one call of `f`.
fn timed<'a>(f: impl Fn() + 'a) -> Box<dyn Fn() -> Duration + 'a> {
    Box::new(move || {
        let t0 = Instant::now();
        f();
        t0.elapsed()
    })
}

fn ops(fx: &Fixture) -> Vec<Op<'_>> {
    vec![
        (
            "floor: durable commit (delete [])",
            timed(|| {
                black_box(fx.vault.delete(&[]).unwrap());
            }),
        ),
        (
            "backup, all files stored",
            timed(|| {
                black_box(fx.backup(&fx.hot_root));
            }),
        ),
        (
            "backup, one file changed",
            Box::new(|| {
                fx.edit();
                let t0 = Instant::now();
                black_box(fx.backup(&fx.edit_root));
                t0.elapsed()
            }),
        ),
        (
            "restore closure session",
            Box::new(|| fx.restore_fresh(&fx.closure_session)),
        ),
        (
            "restore tree session",
            Box::new(|| fx.restore_fresh(&fx.tree_session)),
        ),
        (
            "ensure, nothing missing",
            timed(|| {
                black_box(fx.ensure());
            }),
        ),
        (
            "versions(workflow)",
            timed(|| {
                black_box(fx.vault.versions(&fx.workflow).unwrap());
            }),
        ),
        (
            "list newest 100 sessions",
            timed(|| {
                black_box(fx.newest_100());
            }),
        ),
        (
            "open store",
            timed(|| {
                black_box(Vault::open(&fx.open_copy, &Default::default()).unwrap());
            }),
        ),
        (
            "stats",
            timed(|| {
                black_box(fx.vault.stats().unwrap());
            }),
        ),
        (
            "verify (whole store)",
            timed(|| {
                black_box(fx.vault.verify(&Default::default(), &NoProgress).unwrap());
            }),
        ),
    ]
}

fn criterion_benches(c: &mut Criterion, fx: &Fixture) {
    let mut g = c.benchmark_group("ops");
    for (name, op) in ops(fx) {
        if name.starts_with("verify") {
            continue;
        }
        g.bench_function(name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| op()).sum())
        });
    }
    g.finish();
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Bytes(fx.file_bytes()));
    g.bench_function("verify per store-file byte", |b| {
        b.iter(|| black_box(fx.vault.verify(&Default::default(), &NoProgress).unwrap()))
    });
    g.finish();
}

/// Interleaved rounds (one call of each operation per round) so that noise from the shared
/// machine hits every operation alike; medians, and each median over the floor's.
fn ratio_table(fx: &Fixture, rounds: usize) -> serde_json::Value {
    let ops = ops(fx);
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); ops.len()];
    for _ in 0..rounds {
        for (k, (_, op)) in ops.iter().enumerate() {
            times[k].push(op());
        }
    }
    let med: Vec<f64> = times.iter().map(|t| common::median_secs(t)).collect();
    let floor = med[0];
    let file_mib = fx.file_bytes() as f64 / (1024.0 * 1024.0);
    println!(
        "\nops: {rounds} interleaved rounds; typical closure {} ({} files, {}); tree session \
         {} files; store {} ({} sessions)",
        fx.workflow,
        fx.closure_files,
        human(fx.closure_bytes),
        fx.tree_files,
        human(fx.file_bytes()),
        fx.vault.stats().unwrap().sessions,
    );
    println!("| operation | median | ratio to floor |");
    println!("|---|---:|---:|");
    let mut rows = Vec::new();
    for (k, (name, _)) in ops.iter().enumerate() {
        println!("| {name} | {} | {:.2} |", fmt_secs(med[k]), med[k] / floor);
        rows.push(json!({ "op": name, "median_s": med[k], "ratio_to_floor": med[k] / floor }));
    }
    let verify = med[ops.len() - 1];
    println!(
        "| verify per MiB of store file | {} | {:.2} |",
        fmt_secs(verify / file_mib),
        verify / file_mib / floor
    );
    println!(
        "\nversions({}) returns {} versions; changed file: {}",
        fx.workflow,
        fx.vault.versions(&fx.workflow).unwrap().len(),
        fx.changed
    );
    json!({ "rounds": rounds, "floor_s": floor, "ops": rows, "verify_s_per_mib": verify / file_mib })
}

fn fmt_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(pos) = args.iter().position(|a| a == "--scale") {
        let n = args
            .get(pos + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let every = common::flag_value(&args, "--every")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10);
        scale(n, every, common::flag_value(&args, "--json").as_deref());
        return;
    }
    let rounds = common::flag_value(&args, "--rounds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let json_path = common::flag_value(&args, "--json");
    let fx = Fixture::new();
    if !args.iter().any(|a| a == "--no-criterion") {
        // Criterion parses the command line itself and rejects flags it does not know, so it
        // sees the command line only when none of ours is on it.
        let ours = ["--json", "--rounds", "--no-criterion"];
        let mut c = Criterion::default()
            .sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        if !args.iter().any(|a| ours.iter().any(|o| a.starts_with(o))) {
            c = c.configure_from_args();
        }
        criterion_benches(&mut c, &fx);
        c.final_summary();
    }
    let doc = ratio_table(&fx, rounds);
    if let Some(p) = json_path {
        let doc =
            json!({ "format": "cfgvault-bench-ops/1", "machine": common::machine(), "ops": doc });
        std::fs::write(&p, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
        println!("wrote {p}");
    }
}

/// Checkpoint measurements of the scale run.
struct Point {
    sessions: usize,
    backup_recent: f64,
    backup: f64,
    restore: f64,
    versions_stable: f64,
    versions_stable_n: usize,
    versions_edited: f64,
    versions_edited_n: usize,
    list100: f64,
    stats: f64,
    file_bytes: u64,
    rss_kib: u64,
    elapsed_s: f64,
}

fn scale(n: usize, every: usize, json_path: Option<&str>) {
    let location = common::corpus_location(None);
    let corpus = match Corpus::load(&location, true) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ops bench: {e}");
            std::process::exit(2);
        }
    };
    // Every (snapshot, workflow) pair, oldest snapshot first.
    let pairs: Vec<(usize, String)> = corpus
        .snapshots
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.workflows().into_iter().map(move |w| (i, w)))
        .collect();
    assert!(!pairs.is_empty(), "no workflows in the corpus");
    let scratch = tempfile::Builder::new()
        .prefix("cfgvault-scale-")
        .tempdir()
        .unwrap();
    let vault = Vault::create(scratch.path().join("store.redb"), &Default::default()).unwrap();
    let mut checkpoints: Vec<usize> = std::iter::successors(Some(1000usize), |c| c.checked_mul(10))
        .take_while(|c| *c <= n)
        .collect();
    if checkpoints.last() != Some(&n) && n > 0 {
        checkpoints.push(n);
    }
    let samples = 25;
    let started = Instant::now();
    let mut made = 0usize;
    let mut failed = 0usize;
    let mut recent: Vec<Duration> = Vec::new();
    let mut points: Vec<Point> = Vec::new();
    let mut first_session: Option<(SessionId, Vec<String>)> = None;
    let mut after: Option<AfterGc> = None;
    let mut edited_path: Option<String> = None;
    let backup_one = |k: usize, edit: bool| -> Result<(cfgvault::BackupReport, Duration), String> {
        let (si, wf) = &pairs[k % pairs.len()];
        let root = &corpus.snapshots[*si].configs;
        if edit {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(root.join(wf))
                .map_err(|e| e.to_string())?;
            writeln!(f, "# edit {k}").map_err(|e| e.to_string())?;
        }
        let mut o = BackupOptions::default();
        o.session_id = Some(sid(&format!("s-{k:08}")));
        o.created_at = Some(common::synthetic(k as i64 * 60));
        let t0 = Instant::now();
        let r = vault
            .backup(root, Some(wf), &o)
            .map_err(|e| e.to_string())?;
        Ok((r, t0.elapsed()))
    };
    eprintln!(
        "scale: {} (snapshot, workflow) pairs, edit every {every}th session, checkpoints {:?}",
        pairs.len(),
        checkpoints
    );
    // The checkpoints, then once more after a gc of the largest store (a maintained store: every
    // object packed, every root and index entry in cold blocks).
    for &cp in checkpoints.iter().chain(std::iter::once(&usize::MAX)) {
        if cp == usize::MAX {
            let t0 = Instant::now();
            let g = vault.gc(&NoProgress).unwrap();
            let gc_secs = t0.elapsed().as_secs_f64();
            let target = scratch.path().join("restore-after-gc");
            let first_id = first_session.clone().unwrap().0;
            let t0 = Instant::now();
            black_box(
                vault
                    .restore(&first_id, Some(&target), &Default::default())
                    .unwrap(),
            );
            after = Some(AfterGc {
                file_before: g.file_bytes_before,
                file_after: vault.stats().unwrap().file_bytes,
                secs: gc_secs,
                packed: g.packed,
                packs: g.packs_written,
                restore_secs: t0.elapsed().as_secs_f64(),
            });
            recent.clear();
        }
        while made < cp && cp != usize::MAX {
            match backup_one(made, made.is_multiple_of(every)) {
                Ok((r, dt)) => {
                    recent.push(dt);
                    if first_session.is_none() {
                        let paths = r.files.iter().map(|f| f.path.clone()).collect();
                        first_session = Some((r.session.id.clone(), paths));
                    }
                    if made.is_multiple_of(every) && edited_path.is_none() {
                        edited_path = Some(pairs[made % pairs.len()].1.clone());
                    }
                }
                Err(e) => {
                    failed += 1;
                    if failed <= 3 {
                        eprintln!("scale: session {made}: {e}");
                    }
                }
            }
            made += 1;
            if made.is_multiple_of(10_000) {
                eprintln!(
                    "scale: {made} sessions, {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        let (first_id, first_paths) = first_session.clone().unwrap();
        let edited = edited_path.clone().unwrap();
        let stable = first_paths
            .iter()
            .find(|p| !p.starts_with("workflows/"))
            .unwrap_or(&first_paths[0])
            .clone();
        // Measured backups are real sessions too: the store keeps growing by `samples`.
        let mut b = Vec::new();
        for _ in 0..samples {
            if let Ok((_, dt)) = backup_one(made, false) {
                b.push(dt);
            }
            made += 1;
        }
        // After the gc no backup ran while growing: the checkpoint's own stand in.
        let backup_recent = if recent.is_empty() {
            common::median_secs(&b)
        } else {
            common::median_secs(&recent[recent.len().saturating_sub(1000)..])
        };
        let time = |f: &dyn Fn()| -> f64 {
            let v: Vec<Duration> = (0..samples)
                .map(|_| {
                    let t0 = Instant::now();
                    f();
                    t0.elapsed()
                })
                .collect();
            common::median_secs(&v)
        };
        // Into a fresh directory each time (the time includes creating it), removed after.
        let restores: Vec<Duration> = (0..samples)
            .map(|k| {
                let target = scratch.path().join(format!("restore-{made}-{k}"));
                let t0 = Instant::now();
                black_box(
                    vault
                        .restore(&first_id, Some(&target), &Default::default())
                        .unwrap(),
                );
                let dt = t0.elapsed();
                std::fs::remove_dir_all(&target).unwrap();
                dt
            })
            .collect();
        let restore = common::median_secs(&restores);
        let versions_stable = time(&|| {
            black_box(vault.versions(&stable).unwrap());
        });
        let versions_edited = time(&|| {
            black_box(vault.versions(&edited).unwrap());
        });
        let list100 = time(&|| {
            let mut o = ListOptions::default();
            o.limit = Some(100);
            black_box(vault.sessions(&o).unwrap());
        });
        let stats = time(&|| {
            black_box(vault.stats().unwrap());
        });
        let st = vault.stats().unwrap();
        let p = Point {
            sessions: st.sessions as usize,
            backup_recent,
            backup: common::median_secs(&b),
            restore,
            versions_stable,
            versions_stable_n: vault.versions(&stable).unwrap().len(),
            versions_edited,
            versions_edited_n: vault.versions(&edited).unwrap().len(),
            list100,
            stats,
            file_bytes: st.file_bytes,
            rss_kib: common::peak_rss_kib().unwrap_or(0),
            elapsed_s: started.elapsed().as_secs_f64(),
        };
        eprintln!(
            "scale: checkpoint {} sessions: backup {}, restore {}, versions {} / {}, list {}, \
             stats {}, file {}, peak RSS {} MiB, {:.0} s",
            p.sessions,
            fmt_secs(p.backup),
            fmt_secs(p.restore),
            fmt_secs(p.versions_stable),
            fmt_secs(p.versions_edited),
            fmt_secs(p.list100),
            fmt_secs(p.stats),
            human(p.file_bytes),
            p.rss_kib / 1024,
            p.elapsed_s
        );
        points.push(p);
        recent.clear();
    }
    let after = after.expect("the last round ran the gc");
    print_scale(&points, &after, every, failed, json_path);
}

/// What the scale run's final gc did.
struct AfterGc {
    file_before: u64,
    file_after: u64,
    secs: f64,
    packed: u64,
    packs: u64,
    restore_secs: f64,
}

fn print_scale(
    points: &[Point],
    after: &AfterGc,
    every: usize,
    failed: usize,
    json_path: Option<&str>,
) {
    type Get = fn(&Point) -> f64;
    let cols: [(&str, Get); 8] = [
        ("backup (median of last 1000 while growing)", |p| {
            p.backup_recent
        }),
        ("backup (25 at the checkpoint)", |p| p.backup),
        ("restore one closure session", |p| p.restore),
        ("versions(unedited path)", |p| p.versions_stable),
        ("versions(edited path)", |p| p.versions_edited),
        ("list newest 100", |p| p.list100),
        ("stats", |p| p.stats),
        ("peak RSS (MiB)", |p| p.rss_kib as f64 / 1024.0),
    ];
    println!(
        "\nscale: comprehensive closures of the corpus's workflows in turn, every {every}th \
         session edits its workflow; {failed} backups failed"
    );
    // The last point is the largest store after its gc, shown after the ratio column.
    let (gced, points) = points.split_last().expect("at least the gc'ed point");
    let mut head = String::from("| operation |");
    let mut sep = String::from("|---|");
    for p in points {
        head.push_str(&format!(" {} sessions |", p.sessions));
        sep.push_str("---:|");
    }
    head.push_str(&format!(
        " last / first | {} sessions, after gc |",
        gced.sessions
    ));
    sep.push_str("---:|---:|");
    println!("{head}\n{sep}");
    let first = &points[0];
    let last = &points[points.len() - 1];
    for (name, get) in cols {
        let mut row = format!("| {name} |");
        let cell = |p: &Point| {
            if name.starts_with("peak") {
                format!(" {:.0} |", get(p))
            } else {
                format!(" {} |", fmt_secs(get(p)))
            }
        };
        for p in points {
            row.push_str(&cell(p));
        }
        row.push_str(&format!(" {:.2} |", get(last) / get(first)));
        row.push_str(&cell(gced));
        println!("{row}");
    }
    let mut row = String::from("| versions returned (unedited / edited) |");
    for p in points {
        row.push_str(&format!(
            " {} / {} |",
            p.versions_stable_n, p.versions_edited_n
        ));
    }
    println!(
        "{row} | {} / {} |",
        gced.versions_stable_n, gced.versions_edited_n
    );
    let mut row = String::from("| store file |");
    for p in points {
        row.push_str(&format!(" {} |", human(p.file_bytes)));
    }
    println!(
        "{row} {:.1} | {} |",
        last.file_bytes as f64 / first.file_bytes.max(1) as f64,
        human(gced.file_bytes)
    );
    let mut row = String::from("| wall time so far |");
    for p in points {
        row.push_str(&format!(" {:.0} s |", p.elapsed_s));
    }
    println!("{row} | {:.0} s |", gced.elapsed_s);
    println!(
        "\nthen gc: file {} -> {} in {:.1} s ({} objects into {} pack(s)); restoring the \
         first session after it (decoding its pack on the way): {}",
        human(after.file_before),
        human(after.file_after),
        after.secs,
        after.packed,
        after.packs,
        fmt_secs(after.restore_secs)
    );
    if let Some(path) = json_path {
        let pts: Vec<_> = points
            .iter()
            .chain(std::iter::once(gced))
            .map(|p| {
                json!({
                    "sessions": p.sessions,
                    "after_gc": std::ptr::eq(p, gced),
                    "backup_recent_s": p.backup_recent,
                    "backup_s": p.backup,
                    "restore_s": p.restore,
                    "versions_unedited_s": p.versions_stable,
                    "versions_unedited_n": p.versions_stable_n,
                    "versions_edited_s": p.versions_edited,
                    "versions_edited_n": p.versions_edited_n,
                    "list100_s": p.list100,
                    "stats_s": p.stats,
                    "file_bytes": p.file_bytes,
                    "peak_rss_kib": p.rss_kib,
                    "elapsed_s": p.elapsed_s,
                })
            })
            .collect();
        let doc = json!({
            "format": "cfgvault-bench-scale/1",
            "machine": common::machine(),
            "edit_every": every,
            "failed": failed,
            "points": pts,
            "gc": {
                "file_bytes_before": after.file_before,
                "file_bytes_after": after.file_after,
                "seconds": after.secs,
                "packed": after.packed,
                "packs": after.packs,
                "restore_after_s": after.restore_secs,
            },
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
        println!("wrote {path}");
    }
}
