//! A damaged store: `verify` exits 1 and names the damaged object.

use crate::util::{Dir, strings};

/// Deterministic bytes zstd cannot shrink, so the store keeps them raw and they can be found
/// (and damaged) in the store file.
fn incompressible(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u8
        })
        .collect()
}

/// Every offset where `needle` occurs in `hay`.
fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn verify_names_a_corrupt_object_and_exits_1() {
    let dir = Dir::new();
    let blob = incompressible(3000, 42);
    dir.write("configs/blob.bin", &blob);
    dir.write("configs/global.yaml", "log_level: INFO\n");
    let backup = dir.backup_tree("configs", "s1").stdout;
    assert!(backup.contains("blob.bin"), "{backup}");
    let doc = dir.cmd(["--json", "show", "s1"]).assert_exit(0).json();
    let id = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "blob.bin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    dir.cmd(["verify"]).assert_exit(0);

    // Flip one byte in the middle of the blob, wherever the store file holds it.
    let mut store = std::fs::read(dir.store()).unwrap();
    let window = &blob[1400..1464];
    let hits = find_all(&store, window);
    assert!(
        !hits.is_empty(),
        "the blob's bytes are not in the store file; is it stored compressed?"
    );
    for at in hits {
        store[at + 32] ^= 0x55;
    }
    std::fs::write(dir.store(), &store).unwrap();

    let out = dir.cmd(["--json", "verify"]).assert_exit(1);
    let v = out.json();
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{v}");
    assert_eq!(problems[0]["kind"], "corrupt");
    assert_eq!(problems[0]["id"], id.as_str());
    assert!(problems[0]["detail"].is_string());

    let human = dir.cmd(["verify"]).assert_exit(1);
    assert!(
        human
            .stdout
            .starts_with(&format!("corrupt            {}  ", &id[..12])),
        "{human}"
    );
    assert!(human.stdout.contains("1 problem(s)"), "{human}");

    // A repair cannot bring content back: still exit 1.
    dir.cmd(["verify", "--repair"]).assert_exit(1);

    // Reading the damaged file is an error (the store is damaged: exit 4), not wrong bytes.
    let cat = dir.cmd(["cat", "s1:blob.bin"]).assert_exit(4);
    cat.error_line("cat");
    let cat = dir.cmd(["cat", &id]).assert_exit(4);
    cat.error_line("cat");

    // Ensure restores what it can and fails the damaged file (a file it could not write:
    // exit 6).
    dir.remove("configs");
    let ensured = dir.cmd(["--json", "ensure", "s1"]).assert_exit(6).json();
    assert_eq!(strings(&ensured["restored"]), ["global.yaml"]);
    assert_eq!(ensured["failed"][0]["path"], "blob.bin");
    assert!(
        !dir.exists("configs/blob.bin"),
        "a damaged file must not be written"
    );
}

#[test]
fn incompressible_bytes_are_deterministic() {
    assert_eq!(incompressible(64, 42), incompressible(64, 42));
    assert_ne!(incompressible(64, 42), incompressible(64, 43));
    let distinct: std::collections::BTreeSet<u8> = incompressible(3000, 42).into_iter().collect();
    assert!(
        distinct.len() > 200,
        "not random-looking enough to stay uncompressed"
    );
}
