//! Runs every fuzz target without nightly or libFuzzer: first each committed input in
//! `corpus/<target>/`, then a bounded loop of random inputs (byte mutations and splices of the
//! corpus, plus fresh random bytes) for `SECONDS` per target (default 10).
//!
//! ```text
//! cargo run --release --bin replay -- [SECONDS] [TARGET]
//! ```
//!
//! A panic stops the run: the input is written to `artifacts/<target>/crash-<n>` and the
//! process exits 1. Stack overflows and aborts kill the process, so the last input is also
//! written to `artifacts/<target>/last-input` before each run when `REPLAY_KEEP_LAST=1`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\0",
    b"\xff",
    b"\x7f",
    b"\x80",
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    b"..",
    b"/",
    b"inherits_from: ",
    b"llm_client: ",
    b"tools: [",
    b"group: ",
    b"#",
    b"&a ",
    b"*a",
    b"- ",
    b": ",
    b"\n  ",
    b"${A}",
    b"{",
    b"[",
    b"!!binary ",
    b"<<: *a\n",
    b"---\n",
];

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    if corpus.is_empty() || rng.below(8) == 0 {
        let n = rng.below(256);
        out.extend((0..n).map(|_| rng.next() as u8));
        return;
    }
    out.extend_from_slice(&corpus[rng.below(corpus.len())]);
    for _ in 0..=rng.below(8) {
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.next() as u8;
            }
            2 if !out.is_empty() => {
                let i = rng.below(out.len());
                let n = rng.below(out.len() - i + 1).min(16);
                out.drain(i..i + n);
            }
            3 => {
                let i = rng.below(out.len() + 1);
                let s = INTERESTING[rng.below(INTERESTING.len())];
                out.splice(i..i, s.iter().copied());
            }
            4 => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = a + rng.below(other.len() - a + 1);
                    let i = rng.below(out.len() + 1);
                    out.splice(i..i, other[a..b].iter().copied());
                }
            }
            5 if !out.is_empty() => {
                // Repeat a chunk: grows nesting and counts.
                let a = rng.below(out.len());
                let b = (a + 1 + rng.below(32)).min(out.len());
                let chunk = out[a..b].to_vec();
                for _ in 0..rng.below(64) {
                    out.splice(b..b, chunk.iter().copied());
                }
            }
            _ => out.truncate(rng.below(out.len() + 1)),
        }
    }
}

fn load(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(10);
    let only = args.get(1).cloned();
    let keep_last = std::env::var_os("REPLAY_KEEP_LAST").is_some();
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = false;
    for (name, target) in cfgvault_fuzz::TARGETS {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        let corpus = load(&base.join("corpus").join(name));
        let artifacts = base.join("artifacts").join(name);
        let run = |input: &[u8]| -> bool {
            if keep_last {
                let _ = std::fs::create_dir_all(&artifacts);
                let _ = std::fs::write(artifacts.join("last-input"), input);
            }
            std::panic::catch_unwind(|| target(input)).is_ok()
        };
        let crashes = std::cell::Cell::new(0usize);
        let save = |input: &[u8]| {
            let _ = std::fs::create_dir_all(&artifacts);
            let p = artifacts.join(format!("crash-{}", crashes.get()));
            let _ = std::fs::write(&p, input);
            eprintln!("{name}: PANIC on input saved to {}", p.display());
            crashes.set(crashes.get() + 1);
        };
        for input in &corpus {
            if !run(input) {
                save(input);
            }
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
        let mut buf = Vec::new();
        let start = Instant::now();
        let mut execs = 0u64;
        while start.elapsed() < Duration::from_secs(secs) && crashes.get() < 5 {
            mutate(&mut rng, &corpus, &mut buf);
            if !run(&buf) {
                save(&buf);
            }
            execs += 1;
        }
        println!(
            "{name}: {} corpus inputs replayed, {execs} random inputs in {:.1} s, {} panics",
            corpus.len(),
            start.elapsed().as_secs_f64(),
            crashes.get()
        );
        failed |= crashes.get() > 0;
    }
    std::process::exit(i32::from(failed));
}
