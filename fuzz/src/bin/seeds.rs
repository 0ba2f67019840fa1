//! Writes the seed inputs of `corpus/<target>/seed-*` from the real encoders, so the corpus
//! starts from valid inputs (fuzzers then find the invalid ones). Re-run after a format change:
//! `cargo run --bin seeds`.

use std::path::Path;

use cfgvault_session::tree::{EntryKind, Tree, TreeEntry};
use cfgvault_store::ObjectId;

fn leb(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn frame(codec: u8, kind: u8, raw: &[u8], payload: &[u8]) -> Vec<u8> {
    let id = if kind == 0 {
        *blake3::hash(raw).as_bytes()
    } else {
        blake3::derive_key(cfgvault_store::NODE_CONTEXT, raw)
    };
    let mut out = id.to_vec();
    out.push(codec);
    out.push(kind);
    leb(raw.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// Store files for the `store_file` target: empty, two sessions with labels (loose objects,
/// live index entries), and the same after a gc (packs, cold blocks).
fn stores(put: &dyn Fn(&str, &str, &[u8])) {
    use cfgvault_session::{FileSet, NewSession};
    use cfgvault_store::{NoProgress, Store, StoreOptions};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.redb");
    let store = Store::create(&path, &StoreOptions::default()).expect("store");
    put("store_file", "empty", &std::fs::read(&path).expect("read"));
    for model in ["a", "b"] {
        let files = FileSet::from_memory([
            ("top.yaml", b"name: top\n".to_vec(), 0o644),
            ("llms/a.yaml", format!("model: {model}\n").into_bytes(), 0o644),
            ("tools/t.yaml", b"tool: t\n".to_vec(), 0o755),
        ])
        .expect("files");
        let mut new = NewSession::new(files);
        new.source_root = "/srv/configs".into();
        new.workflow = Some("top.yaml".into());
        new.strategy = "tree".into();
        new.labels.insert("env".into(), "prod".into());
        cfgvault_session::create(&store, new).expect("session");
    }
    put("store_file", "sessions", &std::fs::read(&path).expect("read"));
    cfgvault_session::settle(&store).expect("settle");
    store.gc(&NoProgress).expect("gc");
    put("store_file", "packed", &std::fs::read(&path).expect("read"));
}

fn main() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let dir = base.join(target);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write");
    };

    let id = ObjectId::for_blob(b"model: gpt-4\n");
    let file = |name: &str, mode: u32| TreeEntry {
        name: name.into(),
        kind: EntryKind::for_mode(mode),
        mode,
        id,
        size: 13,
    };
    let sub = Tree::new(vec![file("react.yaml", 0o644), file("run.sh", 0o755)]).expect("tree");
    let root = Tree::new(vec![
        TreeEntry {
            name: "workflows".into(),
            kind: EntryKind::Dir,
            mode: 0,
            id: sub.id(),
            size: 26,
        },
        file("global.yaml", 0o600),
        file("café.yaml", 0o644),
    ])
    .expect("tree");
    put(
        "tree_decode",
        "empty",
        &Tree::new(vec![]).expect("tree").encode(),
    );
    put("tree_decode", "files", &sub.encode());
    put("tree_decode", "nested", &root.encode());

    let text = b"nodes:\n  analyze:\n    config:\n      llm_client: gpt4\n".repeat(8);
    let z = zstd::encode_all(&text[..], 3).expect("zstd");
    put(
        "frame_decode",
        "raw-blob",
        &frame(0, 0, b"model: gpt-4\n", b"model: gpt-4\n"),
    );
    put("frame_decode", "zstd-blob", &frame(1, 0, &text, &z));
    put(
        "frame_decode",
        "raw-node",
        &frame(0, 1, &sub.encode(), &sub.encode()),
    );
    put(
        "frame_decode",
        "huge-claim",
        &frame(0, 0, b"", b"")[..32]
            .iter()
            .copied()
            .chain([1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f])
            .chain(z.iter().copied())
            .collect::<Vec<u8>>(),
    );

    let pack = cfgvault_store::fuzz::encode_pack(&[
        (0, b"model: gpt-4\n"),
        (0, &text),
        (1, &sub.encode()),
    ])
    .expect("pack");
    put("pack_decode", "three", &pack);
    put("pack_decode", "truncated", &pack[..pack.len() - 3]);

    let block = cfgvault_store::fuzz::encode_cold_block(&[
        (b"\0session/a", b"root value"),
        (b"\x01\x02by-time", b""),
        (b"\x02\x00\x01\x02\x03\x04\x05\x06\x07", b"\x05\x01\x01"),
    ]);
    put("cold_decode", "block", &block);
    put("cold_decode", "truncated", &block[..block.len() - 2]);
    put(
        "cold_decode",
        "directory",
        b"\x01\x02\x01a\x07aaaaaaaaaaaaaaaa\x01b\x08bbbbbbbbbbbbbbbb",
    );

    let record = cfgvault_session::fuzz::sample_record();
    put("record_decode", "full", &record);
    put("record_decode", "truncated", &record[..record.len() / 2]);

    put("closure_yaml", "workflow", b"name: react\nnodes:\n  analyze:\n    config:\n      llm_client: m\n      token_counter: t\n      fallback_models: [m, missing]\n    tool_sets: [s]\ninherits_from: base.yaml\n\0\0inherits_from: [../global.yaml, common]\nname: s\ntools: [t]\ngroup: g\n");
    put(
        "closure_yaml",
        "group",
        b"group: g\ninherits_from: _group.yaml#start\n\0\0g:\n  start: 1\ninherits_from: w.yaml\n",
    );
    put(
        "closure_yaml",
        "anchors",
        b"a: &a [*a]\nb: &b {x: *b}\n<<: {inherits_from: ../../x}\n",
    );
    stores(&put);

    put(
        "closure_yaml",
        "multidoc",
        b"llm_client: m\n---\nllm_client: n\n\0\0key: value: broken\n",
    );
}
