//! Crashes and hostile input through the real binary (issue 7).
//!
//! * `kill -9` of `cfgvault backup` (and of `cleanup`, `gc`, and of the very first backup that
//!   creates the store) at random moments, from a seeded PRNG (`CFGVAULT_SEED` overrides the
//!   seed): after each kill the store opens, `verify` is clean, every backup that exited 0 is
//!   listed, and every listed session restores byte-identical to its snapshot. Bounded in time:
//!   ~20 s of kills by default, hundreds of kills with `CFGVAULT_LONG=1`.
//! * A damaged store file (truncated, a byte flipped, not a store at all): every command ends
//!   with a typed error or a `verify` report, never a panic or a signal.
//! * Hostile session ids and restore targets full of symlinks: nothing is written outside.
//!
//! The store-driving helpers here (`Store`) serve `concurrency.rs` too; the corpus, the PRNG
//! and `read_tree` come from `cfgvault-testkit`.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use cfgvault_testkit::{Rng, long, read_tree, seed, snap_dir, unpack};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_cfgvault");

/// How a command ended.
pub(crate) struct Out {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

fn out_of(status: ExitStatus, stdout: Vec<u8>, stderr: Vec<u8>, desc: &str) -> Out {
    let out = Out {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    // Whatever it was given, the binary ends with an exit code, never a panic or a signal.
    assert!(
        !out.stderr.contains("panicked"),
        "`{desc}` panicked:\n{}",
        out.stderr
    );
    assert!(
        out.code.is_some(),
        "`{desc}` died of a signal ({status}):\n{}",
        out.stderr
    );
    out
}

/// A store file in its own temp dir, driven through the binary.
pub(crate) struct Store {
    _tmp: Option<tempfile::TempDir>,
    pub(crate) path: PathBuf,
}

impl Store {
    pub(crate) fn new() -> Store {
        let tmp = tempfile::Builder::new()
            .prefix("cfgvault-rel-")
            .tempdir()
            .unwrap();
        let path = tmp.path().join("vault").join("store.redb");
        Store {
            _tmp: Some(tmp),
            path,
        }
    }

    /// Another handle on an existing path (does not own it).
    pub(crate) fn at(path: PathBuf) -> Store {
        Store { _tmp: None, path }
    }

    pub(crate) fn dir(&self) -> &Path {
        self.path.parent().unwrap()
    }

    pub(crate) fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--store").arg(&self.path).args(args);
        c.env_remove("CFGVAULT_STORE")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null());
        c
    }

    pub(crate) fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        let desc = args.iter().map(|a| {
            a.as_ref()
                .to_string_lossy()
                .chars()
                .take(60)
                .collect::<String>()
        });
        let desc = format!("cfgvault {}", desc.collect::<Vec<_>>().join(" "));
        let o = self.command(args).output().unwrap();
        out_of(o.status, o.stdout, o.stderr, &desc)
    }

    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.run(&a);
        assert!(matches!(out.code, Some(0 | 1)), "{args:?}: {}", out.stderr);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", out.stdout))
    }

    pub(crate) fn sessions(&self) -> BTreeSet<String> {
        let v = self.json(&["sessions"]);
        v["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    }

    pub(crate) fn assert_verify_clean(&self) {
        let out = self.run(&["--json", "verify"]);
        assert_eq!(
            out.code,
            Some(0),
            "verify is not clean:\n{}{}",
            out.stdout,
            out.stderr
        );
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["problems"], serde_json::json!([]), "{}", out.stdout);
    }

    /// `diff ID --root DIR` finds no difference (cheaper than a restore: no fsync).
    pub(crate) fn assert_same_as_dir(&self, id: &str, dir: &Path) {
        let out = self.run(&[
            "diff".as_ref(),
            id.as_ref(),
            "--root".as_ref(),
            dir.as_os_str(),
        ]);
        assert_eq!(
            out.code,
            Some(0),
            "{id} differs from {}:\n{}{}",
            dir.display(),
            out.stdout,
            out.stderr
        );
    }

    /// Restores `id` into a fresh directory and compares it byte for byte with `expected`.
    pub(crate) fn assert_restores(&self, id: &str, expected: &BTreeMap<String, Vec<u8>>) {
        let to = tempfile::Builder::new()
            .prefix("cfgvault-restore-")
            .tempdir()
            .unwrap();
        let out = self.run(&[
            "restore".as_ref(),
            id.as_ref(),
            "--to".as_ref(),
            to.path().as_os_str(),
        ]);
        assert_eq!(out.code, Some(0), "restore {id}: {}", out.stderr);
        let got = read_tree(to.path());
        assert!(
            got == *expected,
            "restore of {id} is not byte-identical to its snapshot"
        );
    }
}

fn backup_args<'a>(root: &'a Path, id: &'a str) -> Vec<&'a OsStr> {
    vec![
        "backup".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        "--strategy".as_ref(),
        "tree".as_ref(),
        "--session".as_ref(),
        id.as_ref(),
    ]
}

/// Spawns `cfgvault ARGS`, SIGKILLs it after `delay` (unless it ended first) and reports
/// whether it exited 0 on its own; any other ending but SIGKILL fails the test.
fn run_and_kill(store: &Store, args: &[&OsStr], delay: Duration) -> bool {
    let mut child = store
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let _ = child.kill(); // SIGKILL; harmless if it has already exited
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert!(
            status.success() || status.signal() == Some(9),
            "{args:?} ended with {status} before it was killed:\n{err}"
        );
    }
    status.success()
}

fn median_duration(store: &Store, args: &[&OsStr]) -> Duration {
    let mut times: Vec<Duration> = (0..3)
        .map(|_| {
            let t = Instant::now();
            let o = store.command(args).output().unwrap();
            let _ = o.status; // may fail (session exists): only the time matters
            t.elapsed()
        })
        .collect();
    times.sort();
    times[1]
}

const KILL_SNAPS: &[u32] = &[1, 5, 20, 40, 60, 80, 100, 102];

/// The headline crash test: backups SIGKILLed at random moments never lose a committed
/// session and never leave the store inconsistent.
#[test]
fn kill_9_during_backups_never_loses_a_committed_session() {
    let mut rng = Rng::new(seed("kill_9_during_backups", 7));
    // The run ends at a number of kills, not at a time, so a loaded machine makes it longer,
    // not weaker; the budget only stops a run whose kills keep missing (a backup that always
    // finishes first), which the final assertion then reports.
    let (budget, max_kills) = if long() {
        (Duration::from_secs(900), 300)
    } else {
        (Duration::from_secs(240), 30)
    };
    let corpus = unpack(KILL_SNAPS);
    let roots: Vec<PathBuf> = KILL_SNAPS.iter().map(|n| snap_dir(&corpus, *n)).collect();
    let trees: Vec<BTreeMap<String, Vec<u8>>> = roots.iter().map(|r| read_tree(r)).collect();
    let store = Store::new();
    // How long a backup takes here, so the kills spread over all of it.
    let warm = median_duration(&store, &backup_args(&roots[roots.len() - 1], "warm-up"));
    let window = warm.mul_f64(1.3).max(Duration::from_millis(5));
    let mut snap_of: BTreeMap<String, usize> =
        BTreeMap::from([("warm-up".to_string(), roots.len() - 1)]);
    let mut committed: BTreeSet<String> = BTreeSet::from(["warm-up".to_string()]);
    let mut checked: BTreeSet<String> = BTreeSet::new();
    let (mut kills, mut finished) = (0u32, 0u32);
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < budget && kills < max_kills {
        n += 1;
        let snap = rng.below(roots.len());
        let id = format!("k-{n:05}");
        snap_of.insert(id.clone(), snap);
        let delay = window.mul_f64((rng.next() % 1000) as f64 / 1000.0);
        if run_and_kill(&store, &backup_args(&roots[snap], &id), delay) {
            committed.insert(id);
            finished += 1;
        } else {
            kills += 1;
        }
        // After every kill: the store opens, verify is clean, nothing committed is lost, and
        // each session that appeared restores byte-identical.
        store.assert_verify_clean();
        let listed = store.sessions();
        let lost: Vec<&String> = committed.difference(&listed).collect();
        assert!(
            lost.is_empty(),
            "committed sessions lost after a kill: {lost:?}"
        );
        for id in listed.difference(&checked.clone()) {
            store.assert_restores(id, &trees[snap_of[id]]);
            checked.insert(id.clone());
        }
    }
    // At the end, every listed session once more (cheaper: compare with its snapshot on disk).
    let listed = store.sessions();
    for id in &listed {
        store.assert_same_as_dir(id, &roots[snap_of[id]]);
    }
    eprintln!(
        "kill -9 during backup: {kills} kills, {finished} backups finished first, {} sessions listed \
         ({} of them from killed backups that had committed), window {:?}, {:.1} s",
        listed.len(),
        listed.len() - committed.len(),
        window,
        start.elapsed().as_secs_f64()
    );
    assert!(kills >= 10, "only {kills} kills happened");
}

/// The very first backup creates the store; killing it then must not leave a file that no
/// later process can open.
#[test]
fn kill_9_while_the_first_backup_creates_the_store() {
    let mut rng = Rng::new(seed("kill_9_while_creating", 11));
    let corpus = unpack(&[1]);
    let root = snap_dir(&corpus, 1);
    let tree = read_tree(&root);
    let rounds = if long() { 200 } else { 20 };
    let mut killed_early = 0;
    for round in 0..rounds {
        let store = Store::new();
        let delay = Duration::from_micros(rng.next() % 15_000);
        if !run_and_kill(&store, &backup_args(&root, "first"), delay) {
            killed_early += 1;
        }
        // A later backup must work, whatever state the kill left.
        let out = store.run(&backup_args(&root, "second"));
        assert_eq!(
            out.code,
            Some(0),
            "round {round} (killed after {delay:?}): the next backup failed:\n{}",
            out.stderr
        );
        store.assert_verify_clean();
        for id in store.sessions() {
            if round == 0 {
                store.assert_restores(&id, &tree);
            } else {
                store.assert_same_as_dir(&id, &root);
            }
        }
    }
    eprintln!("kill -9 while creating the store: {killed_early} of {rounds} first backups killed");
}

/// `cleanup` and `gc` killed mid-way: one transaction each, so the store holds the sessions of
/// before or of after, never a mix, and everything listed restores.
#[test]
fn kill_9_during_cleanup_and_gc() {
    let mut rng = Rng::new(seed("kill_9_during_cleanup_and_gc", 13));
    let corpus = unpack(KILL_SNAPS);
    let roots: Vec<PathBuf> = KILL_SNAPS.iter().map(|n| snap_dir(&corpus, *n)).collect();
    let trees: Vec<BTreeMap<String, Vec<u8>>> = roots.iter().map(|r| read_tree(r)).collect();
    let store = Store::new();
    let mut snap_of = BTreeMap::new();
    let mut n = 0;
    let mut add =
        |store: &Store, count: usize, rng: &mut Rng, snap_of: &mut BTreeMap<String, usize>| {
            for _ in 0..count {
                n += 1;
                let snap = rng.below(roots.len());
                let id = format!("c-{n:04}");
                assert_eq!(store.run(&backup_args(&roots[snap], &id)).code, Some(0));
                snap_of.insert(id, snap);
            }
        };
    add(&store, 6, &mut rng, &mut snap_of);
    let t_cleanup = median_duration(&store, &["cleanup", "--keep-last", "1000"].map(OsStr::new));
    let t_gc = median_duration(&store, &["gc"].map(OsStr::new));
    let rounds = if long() { 60 } else { 8 };
    let mut kills = 0;
    let mut restored = BTreeSet::new();
    for round in 0..rounds {
        let before = store.sessions();
        let (args, window): (Vec<&OsStr>, Duration) = if round % 2 == 0 {
            (
                ["cleanup", "--keep-last", "2"].map(OsStr::new).to_vec(),
                t_cleanup.mul_f64(1.5),
            )
        } else {
            (["gc"].map(OsStr::new).to_vec(), t_gc.mul_f64(1.5))
        };
        let delay = window.mul_f64((rng.next() % 1000) as f64 / 1000.0);
        let done = run_and_kill(&store, &args, delay);
        kills += u32::from(!done);
        store.assert_verify_clean();
        let after = store.sessions();
        assert!(
            after.is_subset(&before),
            "{args:?} created sessions: {after:?} vs {before:?}"
        );
        if round % 2 == 0 {
            // All or nothing: either untouched, or exactly the newest two kept.
            let newest: BTreeSet<String> = before.iter().rev().take(2).cloned().collect();
            assert!(
                after == before || after == newest,
                "cleanup left a mix: {after:?} (before {before:?})"
            );
            assert!(
                !done || after == newest,
                "cleanup exited 0 but did not remove: {after:?}"
            );
        } else {
            assert_eq!(after, before, "gc removed sessions");
        }
        for id in &after {
            if restored.insert(id.clone()) {
                store.assert_restores(id, &trees[snap_of[id]]);
            } else {
                store.assert_same_as_dir(id, &roots[snap_of[id]]);
            }
        }
        add(&store, 2, &mut rng, &mut snap_of);
    }
    eprintln!("kill -9 during cleanup/gc: {kills} kills in {rounds} rounds");
}

/// Copies `src` to a new store path beside it and damages the copy with `f`.
fn damaged(src: &Store, f: impl FnOnce(&mut Vec<u8>)) -> Store {
    let s = Store::new();
    fs::create_dir_all(s.dir()).unwrap();
    let mut bytes = fs::read(&src.path).unwrap();
    f(&mut bytes);
    fs::write(&s.path, bytes).unwrap();
    s
}

/// Every read command on a damaged store ends in a typed error (exit 2–6, mostly 4: the store
/// is unusable), a clean result, or a `verify` report naming the damage (exit 1): never a
/// panic, abort or signal. Restores never
/// write anything but the session's files.
fn check_damaged(s: &Store, sessions: &[&str]) {
    let v = s.run(&["--json", "verify"]);
    assert!(matches!(v.code, Some(0..=6)), "verify: {}", v.stderr);
    if matches!(v.code, Some(2..=6)) {
        assert!(
            v.stderr.starts_with("cfgvault verify: "),
            "untyped error: {}",
            v.stderr
        );
    }
    s.run(&["sessions"]);
    s.run(&["stats"]);
    for id in sessions {
        s.run(&["show", id]);
        let to = tempfile::tempdir().unwrap();
        s.run(&[
            "restore".as_ref(),
            id.as_ref(),
            "--to".as_ref(),
            to.path().as_os_str(),
        ]);
    }
}

#[test]
fn damaged_store_files_give_typed_errors_never_panics() {
    let mut rng = Rng::new(seed("damaged_store_files", 17));
    let corpus = unpack(&[3, 50]);
    let store = Store::new();
    for (n, id) in [(3, "a"), (50, "b")] {
        assert_eq!(
            store.run(&backup_args(&snap_dir(&corpus, n), id)).code,
            Some(0)
        );
    }
    let len = fs::metadata(&store.path).unwrap().len() as usize;
    let rounds = if long() { 200 } else { 25 };
    let mut outcomes: BTreeMap<&str, u32> = BTreeMap::new();
    for _ in 0..rounds {
        let at = rng.below(len);
        let s = damaged(&store, |b| b.truncate(at));
        check_damaged(&s, &["a", "b"]);
        *outcomes.entry("truncated").or_default() += 1;
        let at = rng.below(len);
        let bit = 1u8 << rng.below(8);
        let s = damaged(&store, |b| b[at] ^= bit);
        let v = s.run(&["--json", "verify"]);
        *outcomes
            .entry(match v.code {
                Some(0) => "flip: verify clean",
                Some(1) => "flip: verify names problems",
                _ => "flip: typed error",
            })
            .or_default() += 1;
        check_damaged(&s, &["a", "b"]);
    }
    eprintln!("damaged store files ({len} bytes): {outcomes:?}");
}

#[test]
fn a_file_that_is_not_a_store_is_a_typed_error() {
    let text = Store::new();
    fs::create_dir_all(text.dir()).unwrap();
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("text", b"model: gpt-4\n".repeat(1000)),
        ("zeros", vec![0; 1 << 16]),
        (
            "redb-like",
            b"redb\x1a\x0a\xa9\x0d\x0a"
                .iter()
                .copied()
                .chain([0xff; 4096])
                .collect(),
        ),
    ] {
        fs::write(&text.path, &bytes).unwrap();
        for args in [&["sessions"][..], &["verify"], &["gc"], &["stats"]] {
            let out = text.run(args);
            // Not a store: exit 4.
            assert_eq!(out.code, Some(4), "{what}: {args:?}: {}", out.stderr);
            assert!(
                out.stderr.starts_with(&format!("cfgvault {}: ", args[0])),
                "{what}: {}",
                out.stderr
            );
        }
        // `backup` must not overwrite a file it cannot open as a store.
        let corpus_less = tempfile::tempdir().unwrap();
        fs::write(corpus_less.path().join("a.yaml"), "a: 1\n").unwrap();
        let out = text.run(&backup_args(corpus_less.path(), "x"));
        assert_eq!(
            out.code,
            Some(4),
            "{what}: backup into a non-store: {}",
            out.stderr
        );
        assert_eq!(
            fs::read(&text.path).unwrap(),
            bytes,
            "{what}: backup changed a non-store file"
        );
    }
    // A directory where the store should be.
    let d = Store::new();
    fs::create_dir_all(&d.path).unwrap();
    let out = d.run(&["sessions"]);
    assert!(matches!(out.code, Some(4 | 6)), "{}", out.stderr);
}

#[cfg(unix)]
#[test]
fn the_store_file_is_created_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("a.yaml"), "token: ${SECRET}\n").unwrap();
    let store = Store::new();
    assert_eq!(store.run(&backup_args(root.path(), "s")).code, Some(0));
    let mode = fs::metadata(&store.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "store file mode {mode:o}");
    let init = Store::new();
    assert_eq!(init.run(&["init"]).code, Some(0));
    assert_eq!(
        fs::metadata(&init.path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn hostile_session_ids_are_rejected_and_write_nothing() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("a.yaml"), "a: 1\n").unwrap();
    let store = Store::new();
    assert_eq!(store.run(&backup_args(root.path(), "ok")).code, Some(0));
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("keep"), "keep").unwrap();
    let before = read_tree(outside.path());
    let long = "a".repeat(10 * 1024);
    let escape = format!("../../../../{}", outside.path().join("x").display());
    for id in [
        "", "/", "a/b", "..", "../x", ".hidden", "a\\b", "a b", "a\nb", "é", &long, &escape,
    ] {
        let out = store.run(&backup_args(root.path(), id));
        assert_eq!(out.code, Some(2), "backup --session {id:?} was accepted");
        assert!(
            out.stderr.starts_with("cfgvault backup: "),
            "{id:?}: {}",
            out.stderr
        );
        assert!(out.stderr.lines().count() == 1, "{id:?}: {}", out.stderr);
        for cmd in ["show", "rm"] {
            // Invalid input (2), or, for an id that is valid but names no session, not found.
            let code = store.run(&[cmd, id]).code;
            assert!(matches!(code, Some(2 | 3)), "{cmd} {id:?}: {code:?}");
        }
        let out = store.run(&[
            "restore".as_ref(),
            id.as_ref(),
            "--to".as_ref(),
            outside.path().as_os_str(),
        ]);
        assert!(matches!(out.code, Some(2 | 3)), "restore {id:?}");
    }
    assert_eq!(store.sessions(), BTreeSet::from(["ok".to_string()]));
    assert_eq!(
        read_tree(outside.path()),
        before,
        "something was written outside"
    );
}

/// A restore target whose directories and files are symlinks to places inside and outside
/// it: nothing outside changes, whatever the overwrite policy.
#[cfg(unix)]
#[test]
fn restore_through_symlinks_never_writes_outside_the_target() {
    use std::os::unix::fs::symlink;
    let src = tempfile::tempdir().unwrap();
    for (p, c) in [
        ("global.yaml", "g: 1\n"),
        ("llms/a.yaml", "a: 1\n"),
        ("llms/deep/b.yaml", "b: 1\n"),
        ("tools/t.yaml", "t: 1\n"),
    ] {
        let p = src.path().join(p);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, c).unwrap();
    }
    let store = Store::new();
    assert_eq!(store.run(&backup_args(src.path(), "s")).code, Some(0));
    for policy in ["never", "if-unchanged", "always"] {
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir_all(outside.path().join("llms/deep")).unwrap();
        fs::write(outside.path().join("llms/a.yaml"), "outside\n").unwrap();
        fs::write(outside.path().join("secret"), "outside secret\n").unwrap();
        let before = read_tree(outside.path());
        let target = tempfile::tempdir().unwrap();
        let t = target.path();
        symlink(outside.path().join("llms"), t.join("llms")).unwrap(); // dir → outside
        symlink(outside.path().join("secret"), t.join("global.yaml")).unwrap(); // file → outside
        fs::create_dir(t.join("real")).unwrap();
        symlink(t.join("real"), t.join("tools")).unwrap(); // dir → inside
        let out = store.run(&[
            "restore",
            "s",
            "--to",
            t.to_str().unwrap(),
            "--overwrite",
            policy,
        ]);
        assert!(matches!(out.code, Some(0 | 6)), "{policy}: {}", out.stderr);
        assert_eq!(
            read_tree(outside.path()),
            before,
            "{policy}: restore wrote outside the target"
        );
        assert!(
            !t.join("real/t.yaml").exists(),
            "{policy}: restore followed a symlinked directory"
        );
        if policy == "always" {
            // The symlinked file is replaced by the session's file, not written through.
            assert_eq!(fs::read_to_string(t.join("global.yaml")).unwrap(), "g: 1\n");
            assert!(
                !fs::symlink_metadata(t.join("global.yaml"))
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
        }
    }
}

/// Found by `hostile_session_ids_are_rejected_and_write_nothing`: an id with a newline or an
/// escape sequence was echoed raw, splitting the one-line error (and reaching the terminal).
#[test]
fn control_characters_in_a_session_id_keep_the_error_on_one_line() {
    let store = Store::new();
    for id in ["a\nb", "a\rb", "\x1b[31mred", "tab\there"] {
        let out = store.run(&["show", id]);
        assert_eq!(out.code, Some(2));
        assert_eq!(out.stderr.lines().count(), 1, "{id:?}: {}", out.stderr);
        assert!(
            !out.stderr.trim_end().contains(|c: char| c.is_control()),
            "{id:?}: {:?}",
            out.stderr
        );
        assert!(
            out.stderr.starts_with("cfgvault show: invalid session id "),
            "{}",
            out.stderr
        );
    }
}
