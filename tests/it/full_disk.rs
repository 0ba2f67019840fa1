//! Issue 22: a store on a device that fills up. The test re-runs itself inside a user and mount
//! namespace (`unshare -rm`, no real root needed) with a small tmpfs mounted for the store,
//! fills it with backups, and checks that a full disk loses nothing and that `rm`, `cleanup`
//! and `gc` still run (the store's reserve, docs/FORMAT.md "The reserve") and free space.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Dir, Output, TestCommand, read_tree};

/// Set, in the re-run inside the namespace, to the folder the tmpfs is mounted on.
const MOUNTED: &str = "CFGVAULT_TEST_FULL_DISK_MNT";

/// Size of the tmpfs: the store and its 1 MiB reserve.
const TMPFS: &str = "size=4m";

#[test]
fn issue_22_rm_cleanup_and_gc_run_on_a_full_disk() {
    match std::env::var_os(MOUNTED) {
        Some(mnt) => on_a_full_disk(Path::new(&mnt)),
        None => in_a_namespace("full_disk::issue_22_rm_cleanup_and_gc_run_on_a_full_disk"),
    }
}

/// Runs the test `name` of this binary again in a new user and mount namespace with a tmpfs
/// mounted for it. Fails, saying what it needs, where namespaces or tmpfs mounts are refused.
fn in_a_namespace(name: &str) {
    let dir = Dir::new();
    let mnt = dir.path("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs -o {TMPFS} tmpfs \"$0\" || exit 97; exec \"$@\""
        ))
        .arg(&mnt)
        .arg(&exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(MOUNTED, &mnt)
        .output();
    let needs = "this test needs `unshare -rm` (util-linux; unprivileged user namespaces, \
                 or root) and permission to mount a tmpfs in the new mount namespace";
    let out = out.unwrap_or_else(|e| panic!("could not run `unshare`: {e}; {needs}"));
    let text = format!(
        "--- stdout\n{}--- stderr\n{}---",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.code() != Some(97) && !text.contains("unshare failed"),
        "{needs}\n{text}"
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "the test failed inside the namespace\n{text}"
    );
}

/// Free bytes of the file system holding `path`, as `df` reports them.
fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("df printed {:?}", String::from_utf8_lossy(&out.stdout)))
}

/// A xorshift stream: incompressible bytes, different for each seed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

struct Full<'a> {
    dir: &'a Dir,
    store: PathBuf,
}

impl Full<'_> {
    fn cmd<const N: usize>(&self, args: [&str; N]) -> TestCommand {
        self.dir
            .bare_command()
            .arg("--store")
            .arg(&self.store)
            .args(args)
    }

    fn reserve(&self) -> PathBuf {
        self.store.with_file_name(".store.redb.reserve")
    }

    /// Backs up `src/N` (48 KiB of noise, written first) as session `sN`.
    fn fill_one(&self, n: u64) -> (Output, u64) {
        let rel = format!("src/{n}/blob.bin");
        self.dir.write(&rel, noise(n, 48 << 10));
        let root = self.dir.path(&format!("src/{n}"));
        let out = self
            .cmd(["--json", "backup", "--strategy", "tree"])
            .args([
                "--root".as_ref(),
                root.as_os_str(),
                "--session".as_ref(),
                format!("s{n}").as_ref(),
            ])
            .run();
        (out, n)
    }

    /// Backs up `src/N`, `src/N+1`, … until the device is full; returns the failed backup's
    /// output and the number of sessions stored.
    fn fill(&self, from: u64) -> (Output, u64) {
        for n in from..from + 200 {
            let (out, _) = self.fill_one(n);
            if out.code != Some(0) {
                return (out, n - from);
            }
        }
        panic!("the tmpfs never filled up");
    }

    fn assert_no_space(&self, out: &Output, reserve_released: bool) {
        assert_eq!(out.code, Some(6), "a full disk exits 6 (I/O)\n{out}");
        let v = out.json();
        assert_eq!(v["error"]["kind"], "io", "{out}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("no space left on the device holding store")
                && message.contains(&self.store.display().to_string())
                && message.contains("nothing was written"),
            "{message}"
        );
        assert_eq!(
            message.contains("reserve was given up"),
            reserve_released,
            "{message}"
        );
    }

    fn verify_clean(&self) {
        let out = self.cmd(["--json", "verify"]).assert_exit(0);
        assert_eq!(out.json()["problems"].as_array().map(Vec::len), Some(0));
    }

    fn sessions(&self) -> Vec<String> {
        let v = self.cmd(["--json", "sessions"]).assert_exit(0).json();
        v["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Restores session `sN` outside the tmpfs and compares it with `src/N`.
    fn restores_byte_identical(&self, n: u64) {
        let to = self.dir.path(&format!("restored/{n}"));
        self.cmd(["restore", &format!("s{n}")])
            .arg("--to")
            .arg(&to)
            .assert_exit(0);
        assert_eq!(
            read_tree(&to),
            read_tree(&self.dir.path(&format!("src/{n}"))),
            "s{n}"
        );
    }
}

/// Fills the rest of the device holding `path` with a file there.
fn fill_with_a_file(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = noise(7, 4 << 10);
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // A partial write may have left room for less than a page.
    let _ = f.sync_all();
}

fn on_a_full_disk(mnt: &Path) {
    let dir = Dir::new();
    let full = Full {
        dir: &dir,
        store: mnt.join("store.redb"),
    };
    full.cmd(["init"]).assert_exit(0);
    assert!(full.reserve().is_file(), "init makes the reserve");

    // 1. The store itself fills the device: the backup that does not fit fails cleanly and
    //    loses nothing.
    let (failed, stored) = full.fill(1);
    full.assert_no_space(&failed, false);
    assert!(stored >= 20, "only {stored} sessions fitted");
    full.verify_clean();
    assert_eq!(full.sessions().len() as u64, stored);
    full.restores_byte_identical(1);
    full.restores_byte_identical(stored);
    full.cmd(["rm", "s1"]).assert_exit(0);
    full.cmd(["cleanup", "--keep-last", "3"]).assert_exit(0);
    let file_before = std::fs::metadata(&full.store).unwrap().len();
    full.cmd(["gc"]).assert_exit(0);
    let file_after = std::fs::metadata(&full.store).unwrap().len();
    assert!(
        file_after < file_before / 2,
        "gc shrank the file from {file_before} to {file_after} bytes"
    );
    assert!(full.reserve().is_file(), "gc keeps or remakes the reserve");
    full.verify_clean();
    for n in stored - 2..=stored {
        full.restores_byte_identical(n);
    }

    // 2. Another file fills the device after a gc left the store file without free pages:
    //    deleting needs new pages (copy-on-write), which the reserve gives.
    let first = stored + 1;
    let mut last = first;
    for n in first..first + 20 {
        let (out, _) = full.fill_one(n);
        assert_eq!(out.code, Some(0), "{out}");
        last = n;
    }
    full.cmd(["gc"]).assert_exit(0);
    let filler = mnt.join("filler.bin");
    fill_with_a_file(&filler);
    let (failed, _) = full.fill_one(last + 1);
    full.assert_no_space(&failed, false);
    full.cmd(["rm", &format!("s{first}")]).assert_exit(0);
    assert!(
        !full.reserve().exists(),
        "rm met the full device and gave up the reserve"
    );
    full.cmd(["cleanup", "--keep-last", "3"]).assert_exit(0);
    assert_eq!(full.sessions().len(), 3);
    let (file_before, free_before) = (
        std::fs::metadata(&full.store).unwrap().len(),
        free_bytes(mnt),
    );
    assert!(free_before < 1 << 20, "{free_before} bytes free");
    full.cmd(["gc"]).assert_exit(0);
    let file_after = std::fs::metadata(&full.store).unwrap().len();
    assert!(
        file_after < file_before / 2,
        "gc shrank the file from {file_before} to {file_after} bytes"
    );
    // The 1 MiB it takes came from what gc gave back to the device.
    assert!(full.reserve().is_file(), "gc made the reserve again");
    full.verify_clean();
    full.restores_byte_identical(last);

    // 3. A reserve too small for the deletion asked (4 KiB in place of the real one): the
    //    error says the reserve was given up and what to do, and nothing was removed.
    std::fs::remove_file(&filler).unwrap();
    std::fs::write(full.reserve(), noise(1, 4 << 10)).unwrap();
    let first = last + 2;
    for n in first..first + 10 {
        let (out, _) = full.fill_one(n);
        assert_eq!(out.code, Some(0), "{out}");
        last = n;
    }
    full.cmd(["gc"]).assert_exit(0);
    fill_with_a_file(&filler);
    let all = full.sessions().len();
    let out = full.cmd(["--json", "cleanup", "--keep-last", "1"]).run();
    full.assert_no_space(&out, true);
    assert!(!full.reserve().exists());
    assert_eq!(
        full.sessions().len(),
        all,
        "the failed cleanup removed nothing"
    );
    full.verify_clean();
    // Freeing space on the device, as the message says, is the way out.
    std::fs::remove_file(&filler).unwrap();
    full.cmd(["cleanup", "--keep-last", "1"]).assert_exit(0);
    full.cmd(["gc"]).assert_exit(0);
    assert!(full.reserve().is_file());
    full.verify_clean();
    assert_eq!(full.sessions(), vec![format!("s{last}")]);
    full.restores_byte_identical(last);
}
