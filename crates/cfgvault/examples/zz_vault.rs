use cfgvault::{BackupOptions, Vault, NoProgress};
use std::time::Instant;
fn main() {
    let corpus = std::path::Path::new("/tmp/corpus");
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::create(dir.path().join("s.redb"), &Default::default()).unwrap();
    let mut snaps: Vec<_> = std::fs::read_dir(corpus).unwrap().map(|e| e.unwrap().path()).collect();
    snaps.sort();
    for s in &snaps {
        let mut o = BackupOptions::default();
        o.strategy = cfgvault::closure::Strategy::Tree;
        vault.backup(&s.join("configs"), None, &o).unwrap();
    }
    let newest = snaps.last().unwrap().join("configs");
    vault.backup(&newest, Some("workflows/react.yaml"), &BackupOptions::default()).unwrap();
    vault.gc(&NoProgress).unwrap();
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(300);
    let (mut times, mut floor) = (vec![], vec![]);
    for _ in 0..n {
        let t = Instant::now();
        vault.backup(&newest, Some("workflows/react.yaml"), &BackupOptions::default()).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        vault.delete(&[]).unwrap();
        floor.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    floor.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("backup median {:.3} ms, floor {:.3} ms, ratio {:.2}", times[n / 2], floor[n / 2], times[n / 2] / floor[n / 2]);
}
