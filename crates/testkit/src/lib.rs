//! Helpers every test binary of the workspace shares, written once: whether the long versions
//! of the tests were asked for ([`long`]), a small seeded PRNG ([`Rng`], [`seed`]), the shared
//! config-history corpus ([`corpus_file`], [`unpack`]), and a folder read back whole
//! ([`read_tree`]). A dev-dependency only; helpers panic with a message naming what failed.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Whether the long versions were asked for (`CFGVAULT_LONG` set, and neither empty nor `0`).
pub fn long() -> bool {
    std::env::var_os("CFGVAULT_LONG").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The seed of a randomized test: `CFGVAULT_SEED`, else `default`; printed (with `test`'s name)
/// so a failure can be replayed.
pub fn seed(test: &str, default: u64) -> u64 {
    let s = std::env::var("CFGVAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    eprintln!("{test}: seed {s} (set CFGVAULT_SEED to replay)");
    s
}

/// xorshift64*: a small seeded PRNG. The field is its state (any value but 0);
/// [`Rng::new`] derives one from a seed.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// A generator whose state is derived from `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The packed corpus: `$CFGVAULT_CORPUS`, else `shared/corpus/open-agent-configs.tar.zst`
/// beside the repository.
pub fn corpus_file() -> PathBuf {
    match std::env::var_os("CFGVAULT_CORPUS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus/open-agent-configs.tar.zst"),
    }
}

/// `snap-0007`.
pub fn snap_name(n: u32) -> String {
    format!("snap-{n:04}")
}

/// Unpacks `snap-NNNN/configs` of the given snapshots of [`corpus_file`] into a new temp dir.
/// Fails, naming where it looked, when the corpus is absent.
pub fn unpack(snaps: &[u32]) -> tempfile::TempDir {
    unpack_from(&corpus_file(), snaps)
}

/// [`unpack`] from a given file (`zstd -dc | tar -x`).
pub fn unpack_from(file: &Path, snaps: &[u32]) -> tempfile::TempDir {
    assert!(
        file.is_file(),
        "corpus not found at '{}': put open-agent-configs.tar.zst there or set CFGVAULT_CORPUS=FILE",
        file.display()
    );
    let dir = tempfile::Builder::new()
        .prefix("cfgvault-corpus-")
        .tempdir()
        .unwrap();
    let mut zstd = Command::new("zstd")
        .arg("-dc")
        .arg(file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running zstd (needed to unpack the corpus): {e}"));
    let status = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir.path())
        .args(snaps.iter().map(|n| format!("{}/configs", snap_name(*n))))
        .stdin(zstd.stdout.take().unwrap())
        .status()
        .unwrap_or_else(|e| panic!("running tar (needed to unpack the corpus): {e}"));
    assert!(
        zstd.wait().unwrap().success(),
        "zstd -dc {} failed",
        file.display()
    );
    assert!(status.success(), "tar -x of {} failed", file.display());
    for n in snaps {
        let p = snap_dir(&dir, *n);
        assert!(p.is_dir(), "{} has no {}", file.display(), p.display());
    }
    dir
}

/// `snap-NNNN/configs` in an [`unpack`]ed corpus.
pub fn snap_dir(corpus: &tempfile::TempDir, n: u32) -> PathBuf {
    corpus.path().join(snap_name(n)).join("configs")
}

/// Every file under `dir`, by `/`-separated relative path. A symlink is read as the text
/// `symlink -> TARGET`, so a restore that writes its target's bytes instead differs.
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let entries =
            fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for e in entries {
            let e = e.unwrap();
            let p = e.path();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                walk(base, &p, out);
            } else {
                let rel: Vec<&str> = (p.strip_prefix(base).unwrap().components())
                    .map(|c| c.as_os_str().to_str().unwrap())
                    .collect();
                let bytes = if t.is_symlink() {
                    format!("symlink -> {}", fs::read_link(&p).unwrap().display()).into_bytes()
                } else {
                    fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
                };
                out.insert(rel.join("/"), bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
