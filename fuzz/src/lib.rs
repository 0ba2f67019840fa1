//! The fuzz targets' bodies, shared by the libFuzzer binaries in `fuzz_targets/` and the
//! stable-toolchain `replay` binary. Each takes arbitrary bytes and must return without
//! panicking, aborting or allocating without bound; what it returns does not matter.

use std::path::Path;

/// The frame size limit the frame target decodes under (small, so that a frame claiming more
/// must be rejected before anything is allocated).
pub const MAX_FRAME: u64 = 1 << 20;

/// `Tree::decode`; a tree that decodes must re-encode to the same bytes (canonical form).
pub fn tree_decode(data: &[u8]) {
    if let Ok(tree) = cfgvault_session::tree::Tree::decode(data) {
        assert_eq!(
            tree.encode(),
            data,
            "a decoded tree re-encodes to other bytes"
        );
    }
}

/// The store's object-frame decoder: the first 32 bytes are the expected id.
pub fn frame_decode(data: &[u8]) {
    let _ = cfgvault_store::fuzz::decode_frame(data, MAX_FRAME);
}

/// The store's pack decoder: the bytes are the first (and only) chunk of a pack.
pub fn pack_decode(data: &[u8]) {
    let _ = cfgvault_store::fuzz::decode_pack(data, MAX_FRAME);
}

/// The store's cold block and cold directory parsers.
pub fn cold_decode(data: &[u8]) {
    let _ = cfgvault_store::fuzz::decode_cold(data);
}

/// The session-record decoder.
pub fn record_decode(data: &[u8]) {
    let _ = cfgvault_session::fuzz::decode_record(data);
}

/// The closure analyzer on arbitrary YAML. The input is split at the first `\0\0`: the first
/// part is the workflow (`workflows/w.yaml`), the second (if any) is written to every path the
/// built-in profile might reach first (an LLM file, its `common.yaml`, a tool set, `_group.yaml`,
/// `global.yaml`), so references and inheritance between two hostile files are exercised too.
pub fn closure_yaml(data: &[u8]) {
    let (workflow, other) = match data.windows(2).position(|w| w == b"\0\0") {
        Some(i) => (&data[..i], Some(&data[i + 2..])),
        None => (data, None),
    };
    let Ok(dir) = tempfile::tempdir() else { return };
    let root = dir.path();
    if write(root, "workflows/w.yaml", workflow).is_err() {
        return;
    }
    if let Some(other) = other {
        for p in [
            "workflows/base.yaml",
            "llms/m.yaml",
            "llms/provider/p/m.yaml",
            "llms/provider/p/common.yaml",
            "llms/tokens_counter/t.yaml",
            "tool-sets/s.yaml",
            "tools/t.yaml",
            "workflows/_group.yaml",
            "global.yaml",
        ] {
            if write(root, p, other).is_err() {
                return;
            }
        }
    }
    let _ = cfgvault_closure::resolve(
        root,
        "workflows/w.yaml",
        &cfgvault_closure::Options::default(),
    );
}

fn write(root: &Path, rel: &str, bytes: &[u8]) -> std::io::Result<()> {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(p, bytes)
}

/// A whole store file: the bytes are written to a temporary file, opened as a store, and
/// every read a user makes runs on it — the store's and the sessions' verify, the session
/// list, each session's record and files, and each file's contents. Each must end in a value
/// or a typed error.
pub fn store_file(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("store.redb");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let options = cfgvault_store::StoreOptions::default();
    let Ok(store) = cfgvault_store::Store::open(&path, &options) else {
        return;
    };
    let verify = cfgvault_store::verify::Options::default();
    let _ = store.verify(&verify, &cfgvault_store::NoProgress);
    let _ = cfgvault_session::verify::verify(&store);
    let _ = cfgvault_session::stats(&store);
    let Ok(sessions) = cfgvault_session::list(&store, &Default::default()) else {
        return;
    };
    for rec in sessions.iter().take(16) {
        let _ = cfgvault_session::get(&store, &rec.id);
        let Ok(files) = cfgvault_session::files(&store, &rec.id) else {
            continue;
        };
        for f in files.iter().take(64) {
            let _ = cfgvault_session::read_file(&store, &rec.id, &f.path);
            let _ = cfgvault_session::versions(&store, &f.path);
        }
    }
}

/// The targets by name, for `replay`.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("tree_decode", tree_decode),
    ("frame_decode", frame_decode),
    ("pack_decode", pack_decode),
    ("cold_decode", cold_decode),
    ("record_decode", record_decode),
    ("closure_yaml", closure_yaml),
    ("store_file", store_file),
];
