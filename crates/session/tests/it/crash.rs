//! Fault injection through the session layer: for every N, the N-th write or sync of a scripted
//! workload of session creation, pinning, retention and deletion fails; the store reopened from
//! what a crash leaves must show the sessions, files, version history and totals of the state
//! before or after the interrupted operation, never a mix, and verify clean.

use std::path::Path;

use cfgvault_session::{self as session, FileSet, NewSession, retention};
use cfgvault_store::testing::MemDisk;
use cfgvault_store::{NoProgress, Store, StoreOptions, verify};

use crate::{sid, t};

fn files(set: &[(&str, &str)]) -> FileSet {
    FileSet::from_memory(
        set.iter()
            .map(|(p, c)| (p.to_string(), c.repeat(30).into_bytes(), 0o644)),
    )
    .unwrap()
}

fn create(store: &Store, id: &str, at: &str, set: &[(&str, &str)]) -> Result<(), session::Error> {
    let mut new = NewSession::new(files(set));
    new.id = Some(sid(id));
    new.created_at = t(at);
    new.workflow = Some("workflows/react.yaml".into());
    session::create(store, new).map(drop)
}

const STEPS: usize = 7;

fn step(store: &Store, i: usize) -> Result<(), session::Error> {
    let common = (
        "llms/provider/openai/common.yaml",
        "base_url: ${OPENAI_URL}\n",
    );
    match i {
        0 => create(
            store,
            "a",
            "2025-01-01",
            &[("workflows/react.yaml", "llm_client: gpt4\n"), common],
        ),
        1 => create(
            store,
            "b",
            "2025-01-02",
            &[
                ("workflows/react.yaml", "llm_client: gpt5\n"),
                common,
                ("global.yaml", "debug: true\n"),
            ],
        ),
        2 => create(
            store,
            "c",
            "2025-01-03",
            &[("workflows/react.yaml", "llm_client: gpt5\n"), common],
        ),
        3 => session::set_pinned(store, &sid("b"), true),
        4 => {
            let mut policy = retention::Policy::default();
            policy.keep_last = Some(1);
            let plan = retention::plan(store, &policy, t("2025-02-01"))?;
            retention::apply(store, &plan).map(drop)
        }
        5 => session::delete(store, &[sid("b")]).map(drop),
        6 => create(
            store,
            "d",
            "2025-01-04",
            &[("workflows/react.yaml", "llm_client: gpt5\n"), common],
        ),
        _ => Ok(()),
    }
}

/// Everything a user of the session layer can observe, as text.
fn observe(store: &Store) -> String {
    let mut out = String::new();
    let st = session::stats(store).unwrap();
    out.push_str(&format!(
        "sessions {} logical {} unique {}\n",
        st.sessions, st.logical_bytes, st.unique_bytes
    ));
    let mut paths = std::collections::BTreeSet::new();
    for rec in session::list(store, &Default::default()).unwrap() {
        out.push_str(&format!(
            "session {} pinned {} root {}\n",
            rec.id, rec.pinned, rec.root
        ));
        for f in session::files(store, &rec.id).unwrap() {
            let bytes = session::read_file(store, &rec.id, &f.path).unwrap();
            out.push_str(&format!("  {} {} {}\n", f.path, f.id, bytes.len()));
            paths.insert(f.path);
        }
    }
    for p in paths {
        for v in session::versions(store, &p).unwrap() {
            out.push_str(&format!("version {p} {} {}\n", v.id, v.sessions));
        }
    }
    out
}

#[test]
fn every_failed_write_or_sync_in_session_operations_leaves_old_or_new_state() {
    // The workload really exercises what it claims to.
    let reference = Store::create_on(
        &MemDisk::new(),
        Path::new("reference"),
        &StoreOptions::default(),
    )
    .unwrap();
    let mut states = vec![];
    for i in 0..STEPS {
        step(&reference, i).unwrap();
        states.push(observe(&reference));
    }
    assert!(states[3].contains("session b pinned true"));
    assert!(!states[4].contains("session a "), "retention removed a");
    assert!(states[4].contains("session b "), "retention kept pinned b");

    let faults =
        cfgvault_store::testing::every_fault(&StoreOptions::default(), STEPS, step, observe);
    assert!(faults >= STEPS, "only {faults} fault points exercised");
}

/// A disk that fills up mid-backup: the backup that does not fit fails with a typed error,
/// nothing of it is committed, every earlier session is intact, and once space is back the
/// same backup succeeds.
#[test]
fn a_full_disk_fails_the_backup_cleanly() {
    let opts = StoreOptions::default();
    let disk = MemDisk::new();
    let store = Store::create_on(&disk, Path::new("full"), &opts).unwrap();
    create(
        &store,
        "a",
        "2025-01-01",
        &[("global.yaml", "debug: true\n")],
    )
    .unwrap();
    let before = observe(&store);
    // Room for a little more, not for a session of large, incompressible files.
    let used = disk.written_image().len() as u64;
    disk.set_capacity(Some(used + 4096));
    let mut big = Vec::new();
    let mut x: u32 = 1;
    for _ in 0..400_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big.push(x as u8);
    }
    let set = FileSet::from_memory([("huge.bin", big.clone(), 0o644)]).unwrap();
    let mut new = NewSession::new(set);
    new.id = Some(sid("b"));
    new.created_at = t("2025-01-02");
    let err = session::create(&store, new).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, session::Error::Store(_)), "{err:?}");
    drop(store);
    // Reopen what the disk holds: the old state, verified clean.
    disk.set_capacity(None);
    let reopened = Store::open_on(
        &MemDisk::from_image(disk.synced_image()),
        Path::new("full"),
        &opts,
    )
    .unwrap();
    assert_eq!(observe(&reopened), before, "after: {msg}");
    assert!(
        reopened
            .verify(&verify::Options::default(), &NoProgress)
            .unwrap()
            .is_clean()
    );
    // With space again, the same backup goes through.
    let set = FileSet::from_memory([("huge.bin", big, 0o644)]).unwrap();
    let mut new = NewSession::new(set);
    new.id = Some(sid("b"));
    session::create(&reopened, new).unwrap();
    assert_eq!(
        session::list(&reopened, &Default::default()).unwrap().len(),
        2
    );
}
