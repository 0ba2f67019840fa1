//! Issue 22: a process swapping folders and files for symlinks while a restore writes or a
//! backup reads never gets a byte written outside the target or read from outside the root;
//! and the store's own files are never written by a restore nor read by a backup.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cfgvault_session::restore::{self, Action, Options, Overwrite};
use cfgvault_session::{
    self as session, FileSet, NewSession, Seen, Selection, StampCache, StoreFiles,
};
use rustix::fs::{CWD, RenameFlags};

use crate::{Fixture, sid, write_tree};

/// How long each race runs.
const RACE: Duration = Duration::from_millis(1500);

/// Exchanges each pair (`RENAME_EXCHANGE`) over and over until `stop`; returns the swaps.
fn swapper(
    pairs: Vec<(PathBuf, PathBuf)>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut swaps = 0;
        while !stop.load(Ordering::Relaxed) {
            for (a, b) in &pairs {
                if rustix::fs::renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).is_ok() {
                    swaps += 1;
                }
            }
        }
        swaps
    })
}

/// A temporary directory in memory (`/dev/shm`) when there is one.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

/// Every entry below `dir` (any kind), as relative paths.
fn entries(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

#[test]
fn issue_22_restore_never_writes_through_a_folder_swapped_for_a_symlink() {
    let fx = Fixture::new();
    let files = |v: &str| -> Vec<(String, String)> {
        (0..6)
            .map(|i| {
                (
                    format!("tools/t{i}.yaml"),
                    format!("tool: {i}\nversion: {v}\n"),
                )
            })
            .chain([("top.yaml".to_string(), format!("v: {v}\n"))])
            .collect()
    };
    for (id, v) in [("a", "1"), ("b", "2")] {
        let f = files(v);
        let f: Vec<(&str, &str)> = f.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
        fx.session(id, "2025-01-01", &f);
    }
    // On a tmpfs where there is one: syncs there are cheap, so many more restores race.
    let mem = scratch_dir();
    let target = mem.path().join("target");
    let outside = mem.path().join("outside");
    fs::create_dir_all(target.join("tools")).unwrap();
    fs::create_dir(&outside).unwrap();
    // The symlink lives inside the target, so the real folder never leaves it.
    symlink(&outside, target.join(".swap")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let racer = swapper(
        vec![(target.join("tools"), target.join(".swap"))],
        stop.clone(),
    );
    let mut o = Options::default();
    o.overwrite = Overwrite::Always;
    let (mut restores, mut written, mut refused) = (0, 0, 0);
    let start = Instant::now();
    while start.elapsed() < RACE {
        let id = if restores % 2 == 0 { "a" } else { "b" };
        // A swap can also leave `tools` a symlink when the restore starts: a typed error
        // or failed files, never a write through it.
        if let Ok(r) = restore::restore(&fx.store, &sid(id), &target, &o) {
            written += r.count(&Action::Restored);
            refused += r.count(&Action::Failed(String::new()));
        }
        restores += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = racer.join().unwrap();
    println!(
        "restore race: {restores} restores, {swaps} swaps, {written} files written, \
         {refused} refused"
    );
    assert!(swaps > 100, "the racer swapped only {swaps} times");
    assert!(refused > 0, "no restore met the swapped symlink");
    assert_eq!(entries(&outside), Vec::<String>::new(), "written outside");
}

#[test]
fn issue_22_backup_never_reads_through_a_file_or_folder_swapped_for_a_symlink() {
    let fx = Fixture::new();
    let root = fx.path("root");
    let outside = fx.path("outside");
    let links = fx.path("links");
    write_tree(
        &root,
        &[
            ("tools/t1.yaml", "inside: 1\n"),
            ("tools/t2.yaml", "inside: 2\n"),
            ("dd/x.yaml", "inside: x\n"),
            ("top.yaml", "inside: top\n"),
        ],
    );
    write_tree(
        &outside,
        &[("t1.yaml", "SECRET t1\n"), ("dd/x.yaml", "SECRET x\n")],
    );
    symlink(outside.join("t1.yaml"), links.join("t1")).unwrap();
    symlink(outside.join("dd"), links.join("dd")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let racer = swapper(
        vec![
            (root.join("tools/t1.yaml"), links.join("t1")),
            (root.join("dd"), links.join("dd")),
        ],
        stop.clone(),
    );
    let canon = root.canonicalize().unwrap();
    let paths: Vec<String> = ["tools/t1.yaml", "tools/t2.yaml", "dd/x.yaml", "top.yaml"]
        .map(String::from)
        .to_vec();
    let cache = StampCache::default();
    let (reads, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let mut sessions = Vec::new();
    let start = Instant::now();
    while start.elapsed() < RACE {
        let n = reads.fetch_add(1, Ordering::Relaxed);
        // Every way a backup reads: a walk, selected paths, and selected paths through what
        // an analysis claims to have seen (real folders).
        let set = match n % 3 {
            0 => FileSet::read(&root, &Selection::All),
            1 => FileSet::read_cached(&root, &Selection::Paths(paths.clone()), &cache),
            _ => FileSet::read_seen(
                &root,
                &Selection::Paths(paths.clone()),
                &cache,
                &Seen::new(canon.clone(), true, Vec::new()),
                &StoreFiles::none(),
            ),
        };
        let Ok(set) = set else {
            failed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let mut new = NewSession::new(set);
        let id = format!("s{n}");
        new.id = Some(sid(&id));
        // A file left on disk (known to the stamp cache) is read now, and must still match.
        match session::create(&fx.store, new) {
            Ok(_) => sessions.push(id),
            Err(_) => {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = racer.join().unwrap();
    let mut leaked = Vec::new();
    for id in &sessions {
        for f in session::files(&fx.store, &sid(id)).unwrap() {
            let bytes = session::read_file(&fx.store, &sid(id), &f.path).unwrap();
            if bytes.windows(6).any(|w| w == b"SECRET") {
                leaked.push(format!("{id}:{}", f.path));
            }
        }
    }
    println!(
        "backup race: {} reads, {swaps} swaps, {} sessions stored, {} failed",
        reads.load(Ordering::Relaxed),
        sessions.len(),
        failed.load(Ordering::Relaxed)
    );
    assert!(swaps > 100, "the racer swapped only {swaps} times");
    assert!(!sessions.is_empty());
    assert_eq!(leaked, Vec::<String>::new(), "sessions hold outside bytes");
}

/// A store kept in the folder a session is restored to: the store file, a hard link to it and
/// its temporary files are never written, under `always`; the store still opens after.
#[test]
fn issue_22_restore_never_writes_the_stores_own_files() {
    let fx = Fixture::new();
    fx.session(
        "s",
        "2025-01-01",
        &[
            ("store.redb", "not a store"),
            (".store.redb.creating-1-2", "x"),
            ("other/linked.redb", "not a store either"),
            ("ok.yaml", "a: 1\n"),
        ],
    );
    let target = fx.dir.path().to_path_buf();
    fs::create_dir(target.join("other")).unwrap();
    fs::hard_link(target.join("store.redb"), target.join("other/linked.redb")).unwrap();
    let before = fs::read(target.join("store.redb")).unwrap();
    let mut o = Options::default();
    o.overwrite = Overwrite::Always;
    let r = restore::restore(&fx.store, &sid("s"), &target, &o).unwrap();
    let action = |p: &str| &r.files.iter().find(|f| f.path == p).unwrap().action;
    for p in [
        "store.redb",
        ".store.redb.creating-1-2",
        "other/linked.redb",
    ] {
        assert!(
            matches!(action(p), Action::Failed(why) if why.contains("store's own file")),
            "{p}: {:?}",
            action(p)
        );
    }
    assert_eq!(action("ok.yaml"), &Action::Restored);
    assert_eq!(fs::read(target.join("store.redb")).unwrap(), before);
    assert!(!target.join(".store.redb.creating-1-2").exists());
    assert_eq!(
        session::list(&fx.store, &Default::default()).unwrap().len(),
        1
    );
}

/// A backup's read passes over the store's files, whether reached by their names, a symlink
/// or a hard link.
#[test]
fn issue_22_a_backup_never_reads_the_stores_own_files() {
    let fx = Fixture::new();
    let root = fx.dir.path();
    write_tree(root, &[("a.yaml", "a: 1\n")]);
    symlink(root.join("store.redb"), root.join("link.redb")).unwrap();
    fs::create_dir(root.join("sub")).unwrap();
    fs::hard_link(root.join("store.redb"), root.join("sub/hard.redb")).unwrap();
    fs::write(root.join(".store.redb.creating-9-9"), "half made").unwrap();
    let own = StoreFiles::of(fx.store.path());
    let cache = StampCache::default();
    let seen = Seen::new(root.canonicalize().unwrap(), false, Vec::new());
    let all: Vec<String> = [
        "a.yaml",
        "link.redb",
        "store.redb",
        "sub/hard.redb",
        ".store.redb.creating-9-9",
    ]
    .map(String::from)
    .to_vec();
    let set = FileSet::read_seen(root, &Selection::Paths(all), &cache, &seen, &own).unwrap();
    let paths: Vec<&str> = set.files().iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["a.yaml"]);
    let skipped: Vec<&str> = set.skipped().iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        skipped.len(),
        4,
        "{skipped:?}: the store, its link, its hard link and its temporary file"
    );
    // Without the store named, the same files are read (the test sees what it tests).
    let plain = FileSet::read(root, &Selection::All).unwrap();
    assert!(plain.files().iter().any(|f| f.path == "store.redb"));
}
