//! The remote against a real S3-protocol server (moto, on loopback, started by the tests)
//! and against `file://`, with and without a key.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use cfgvault_remote::{Error, Remote, cleanup, gc, pull, push, verify};
use cfgvault_session::retention::Policy;
use cfgvault_session::{self as session, FileSet, NewSession, SessionId};
use cfgvault_store::{Store, StoreOptions};
use chrono::{TimeZone, Utc};
use support::{KINDS, Kind, Proxy, new_remote};

const KEYS: [Option<&str>; 2] = [None, Some("correct horse battery staple, 32 bytes+")];

type Files = Vec<(String, Vec<u8>, u32)>;

fn new_store(dir: &tempfile::TempDir, name: &str) -> Store {
    Store::create(dir.path().join(name), &StoreOptions::default()).expect("create store")
}

/// A session's files: one shared by every store and session, one per store, one per session
/// (executable for odd sessions).
fn files_for(store: usize, n: usize) -> Files {
    vec![
        (
            "llms/provider/openai/common.yaml".into(),
            b"base_url: ${OPENAI_URL}\n".to_vec(),
            0o644,
        ),
        (
            format!("workflows/w{store}.yaml"),
            format!("nodes:\n  a:\n    config:\n      llm_client: m{store}\n").into_bytes(),
            0o644,
        ),
        (
            format!("tools/s{store}/t{n}.sh"),
            format!("#!/bin/sh\necho {store} {n}\n{}\n", "x".repeat(n * 100)).into_bytes(),
            if n % 2 == 1 { 0o755 } else { 0o644 },
        ),
    ]
}

fn add_session(store: &Store, id: &str, files: Files, created_at: chrono::DateTime<Utc>) {
    let mut new = NewSession::new(FileSet::from_memory(files).expect("files"));
    new.id = Some(id.parse().expect("id"));
    new.created_at = created_at;
    new.workflow = Some("workflows/w.yaml".into());
    new.labels = BTreeMap::from([("host".into(), id.into())]);
    session::create(store, new).expect("create session");
}

fn sid(s: &str) -> SessionId {
    s.parse().expect("id")
}

/// Restores `id` from `store` into a fresh directory and checks every file's bytes and mode.
fn assert_restores(store: &Store, id: &str, want: &Files) {
    let dir = tempfile::tempdir().expect("temp dir");
    session::restore::restore(store, &sid(id), dir.path(), &Default::default()).expect("restore");
    for (path, bytes, mode) in want {
        let p = dir.path().join(path);
        assert_eq!(
            &std::fs::read(&p).expect("restored file"),
            bytes,
            "{id}: {path}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let got = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(got & 0o111 != 0, mode & 0o111 != 0, "{id}: {path} mode");
        }
    }
    assert_eq!(
        session::files(store, &sid(id)).expect("files").len(),
        want.len()
    );
}

#[test]
fn four_stores_push_at_once_then_a_fifth_pulls_every_session_byte_identical() {
    for kind in KINDS {
        for key in KEYS {
            let remote = new_remote(kind);
            let dir = tempfile::tempdir().expect("temp dir");
            let remote_ref = &remote;
            thread::scope(|s| {
                for host in 0..4 {
                    let dir = &dir;
                    s.spawn(move || {
                        let store = new_store(dir, &format!("host{host}.redb"));
                        for n in 0..3 {
                            add_session(
                                &store,
                                &format!("h{host}-s{n}"),
                                files_for(host, n),
                                Utc::now(),
                            );
                        }
                        let r = push(&store, &remote_ref.open(key), &[]).expect("push");
                        assert_eq!(r.pushed.len(), 3);
                    });
                }
            });
            let remote_now = remote.open(key);
            let listed = remote_now.sessions().expect("sessions");
            assert_eq!(listed.len(), 12, "{kind:?} {key:?}");
            assert!(verify(&remote_now).expect("verify").ok());

            let fifth = new_store(&dir, "fifth.redb");
            let r = pull(&fifth, &remote_now, &[]).expect("pull");
            assert_eq!(r.pulled.len(), 12);
            for host in 0..4 {
                for n in 0..3 {
                    let id = format!("h{host}-s{n}");
                    assert_restores(&fifth, &id, &files_for(host, n));
                    let rec = session::get(&fifth, &sid(&id)).expect("record");
                    assert_eq!(
                        rec.labels.get("host").map(String::as_str),
                        Some(id.as_str())
                    );
                    assert_eq!(rec.workflow.as_deref(), Some("workflows/w.yaml"));
                }
            }
            // A second pull finds everything and downloads nothing.
            let again = pull(&fifth, &remote_now, &[]).expect("pull again");
            assert!(again.pulled.is_empty());
            assert_eq!(again.unchanged.len(), 12);
            assert_eq!(again.objects_downloaded, 12, "only the manifests");
        }
    }
}

#[test]
fn a_second_push_uploads_nothing_and_a_new_session_costs_three_puts() {
    for kind in KINDS {
        for key in KEYS {
            let remote = new_remote(kind);
            let dir = tempfile::tempdir().expect("temp dir");
            let store = new_store(&dir, "a.redb");
            add_session(&store, "first", files_for(0, 0), Utc::now());
            let r = push(&store, &remote.open(key), &[]).expect("push");
            assert_eq!(r.pushed, vec![sid("first")]);
            // config, pack, manifest, index
            assert_eq!(r.objects_uploaded, 4);
            let objects = remote.objects();
            let r = push(&store, &remote.open(key), &[]).expect("push again");
            assert!(r.pushed.is_empty());
            assert_eq!(r.unchanged, vec![sid("first")]);
            assert_eq!((r.objects_uploaded, r.bytes_uploaded), (0, 0));
            assert_eq!(remote.objects(), objects, "nothing written");

            add_session(&store, "second", files_for(0, 1), Utc::now());
            let r = push(&store, &remote.open(key), &[sid("second")]).expect("push new");
            assert_eq!(r.pushed, vec![sid("second")]);
            assert_eq!(
                r.objects_uploaded, 3,
                "one pack, one manifest, one index object"
            );
            assert_eq!(remote.objects().len(), objects.len() + 3);
        }
    }
}

#[test]
fn pushing_an_id_the_remote_holds_with_other_content_is_refused() {
    for kind in KINDS {
        for key in KEYS {
            let remote = new_remote(kind);
            let dir = tempfile::tempdir().expect("temp dir");
            let (a, b, c) = (
                new_store(&dir, "a.redb"),
                new_store(&dir, "b.redb"),
                new_store(&dir, "c.redb"),
            );
            let at = Utc
                .with_ymd_and_hms(2026, 12, 1, 8, 0, 0)
                .single()
                .expect("time");
            add_session(&a, "same-id", files_for(0, 0), at);
            add_session(&b, "same-id", files_for(1, 0), at);
            add_session(&c, "same-id", files_for(0, 0), at);
            push(&a, &remote.open(key), &[]).expect("push a");
            let objects = remote.objects();
            match push(&b, &remote.open(key), &[]) {
                Err(Error::AlreadyExists { id }) => assert_eq!(id, "same-id"),
                other => panic!("expected AlreadyExists, got {other:?}"),
            }
            assert_eq!(remote.objects(), objects, "nothing written");
            // The same content from another store is a no-op.
            let r = push(&c, &remote.open(key), &[]).expect("push c");
            assert_eq!(r.unchanged, vec![sid("same-id")]);
            assert_eq!(r.objects_uploaded, 0);
            // The remote still holds a's session.
            let d = new_store(&dir, "d.redb");
            pull(&d, &remote.open(key), &[]).expect("pull");
            assert_restores(&d, "same-id", &files_for(0, 0));
            // And pulling it into b, which holds other content under the id, is refused.
            match pull(&b, &remote.open(key), &[sid("same-id")]) {
                Err(Error::LocalConflict { id }) => assert_eq!(id, "same-id"),
                other => panic!("expected LocalConflict, got {other:?}"),
            }
        }
    }
}

#[test]
fn a_server_killed_mid_push_leaves_no_half_session_and_a_rerun_completes() {
    for key in KEYS {
        let remote = new_remote(Kind::S3);
        let port = support::moto_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let store = new_store(&dir, "a.redb");
        add_session(&store, "before", files_for(0, 0), Utc::now());
        push(&store, &remote.open(key), &[]).expect("first push");
        for n in 1..4 {
            add_session(&store, &format!("during-{n}"), files_for(0, n), Utc::now());
        }
        // The server dies as the first manifest is sent: the packs are up, no manifest is.
        let kill_on_manifest = Proxy::start(
            port,
            format!("PUT /{}/team/configs/sessions/", remote.bucket()).into_bytes(),
        );
        let via = Remote::open_with(
            &remote.url,
            &remote.options_via(key, Duration::from_secs(3600), kill_on_manifest.port),
        )
        .expect("open through the proxy");
        let err = push(&store, &via, &[]).expect_err("the server died");
        assert!(matches!(err, Error::Backend { .. }), "{err:?}");
        assert!(
            kill_on_manifest
                .killed
                .load(std::sync::atomic::Ordering::SeqCst)
        );

        let direct = remote.open(key);
        let ids: Vec<String> = direct
            .sessions()
            .expect("sessions")
            .into_iter()
            .map(|r| r.id.to_string())
            .collect();
        assert_eq!(ids, vec!["before"], "no half session is visible");
        let other = new_store(&dir, "b.redb");
        let r = pull(&other, &direct, &[]).expect("pull");
        assert_eq!(r.pulled, vec![sid("before")]);
        let objects = remote.objects();
        assert_eq!(
            objects.iter().filter(|o| o.starts_with("packs/")).count(),
            2,
            "the new pack is up: {objects:?}"
        );

        // The rerun completes.
        let r = push(&store, &direct, &[]).expect("rerun");
        assert_eq!(r.pushed.len(), 3);
        assert!(verify(&direct).expect("verify").ok());
        let r = pull(&other, &direct, &[]).expect("pull");
        assert_eq!(r.pulled.len(), 3);
        for n in 1..4 {
            assert_restores(&other, &format!("during-{n}"), &files_for(0, n));
        }
    }
}

#[test]
fn cleanup_and_gc_racing_pushes_lose_nothing() {
    for (kind, key) in [(Kind::File, None), (Kind::S3, KEYS[1]), (Kind::S3, None)] {
        let remote = new_remote(kind);
        let grace = Duration::from_secs(2);
        let open =
            || Remote::open_with(&remote.url, &remote.options(key, grace)).expect("open remote");
        let dir = tempfile::tempdir().expect("temp dir");
        let old = new_store(&dir, "old.redb");
        let long_ago = Utc
            .with_ymd_and_hms(2020, 1, 1, 0, 0, 0)
            .single()
            .expect("time");
        // Old sessions: one sharing its files with the new ones, others all its own.
        add_session(&old, "old-shared", files_for(9, 1), long_ago);
        push(&old, &open(), &[]).expect("push old");
        for n in 2..5 {
            add_session(&old, &format!("old-{n}"), files_for(8, n), long_ago);
            push(&old, &open(), &[]).expect("push old");
        }

        let new = Arc::new(new_store(&dir, "new.redb"));
        let done = std::sync::atomic::AtomicBool::new(false);
        let mut deleted = 0;
        thread::scope(|s| {
            s.spawn(|| {
                for n in 0..8 {
                    let id = format!("new-{n}");
                    let mut files = files_for(9, 1);
                    files.push((
                        format!("new/{n}.yaml"),
                        format!("n: {n}\n").into_bytes(),
                        0o644,
                    ));
                    add_session(&new, &id, files, Utc::now());
                    loop {
                        match push(&new, &open(), &[sid(&id)]) {
                            Ok(r) => {
                                assert_eq!(r.pushed, vec![sid(&id)]);
                                break;
                            }
                            // The documented answer to a push slower than half the grace.
                            Err(Error::PushTooSlow { .. }) => continue,
                            Err(e) => panic!("push: {e}"),
                        }
                    }
                    thread::sleep(Duration::from_millis(150));
                }
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            s.spawn(|| {
                let mut policy = Policy::default();
                policy.older_than = Some(chrono::Duration::days(365));
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    cleanup(&open(), &policy, Utc::now()).expect("cleanup");
                    deleted += gc(&open()).expect("gc").packs_deleted;
                    thread::sleep(Duration::from_millis(200));
                }
            });
        });
        // Let every condemned list ripen, then collect.
        deleted += gc(&open()).expect("gc").packs_deleted;
        thread::sleep(grace + Duration::from_millis(1500));
        deleted += gc(&open()).expect("gc").packs_deleted;
        assert!(
            deleted >= 1,
            "{kind:?}: the old sessions' own packs are gone"
        );

        let remote_now = open();
        let report = verify(&remote_now).expect("verify");
        assert!(report.ok(), "{kind:?}: {:?}", report.problems);
        let ids: Vec<String> = remote_now
            .sessions()
            .expect("sessions")
            .into_iter()
            .map(|r| r.id.to_string())
            .collect();
        assert_eq!(ids.len(), 8, "{kind:?}: {ids:?}");
        assert!(ids.iter().all(|i| i.starts_with("new-")));
        let fresh = new_store(&dir, "fresh.redb");
        pull(&fresh, &remote_now, &[]).expect("pull");
        for n in 0..8 {
            let mut files = files_for(9, 1);
            files.push((
                format!("new/{n}.yaml"),
                format!("n: {n}\n").into_bytes(),
                0o644,
            ));
            assert_restores(&fresh, &format!("new-{n}"), &files);
        }
    }
}

#[test]
fn a_corrupted_object_is_named_by_verify_and_refused_by_pull() {
    for kind in KINDS {
        for key in KEYS {
            let remote = new_remote(kind);
            let dir = tempfile::tempdir().expect("temp dir");
            let store = new_store(&dir, "a.redb");
            add_session(&store, "s", files_for(0, 3), Utc::now());
            push(&store, &remote.open(key), &[]).expect("push");
            let pack = remote
                .objects()
                .into_iter()
                .find(|o| o.starts_with("packs/"))
                .expect("a pack");
            let mut bytes = remote.read_raw(&pack);
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x40;
            remote.write_raw(&pack, &bytes);

            let r = remote.open(key);
            let report = verify(&r).expect("verify");
            assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
            assert_eq!(report.problems[0].object, pack);

            let other = new_store(&dir, "b.redb");
            match pull(&other, &r, &[]) {
                Err(Error::Corrupt { object, .. }) => assert_eq!(object, pack),
                res => panic!("expected Corrupt, got {res:?}"),
            }
            assert!(
                session::list(&other, &Default::default())
                    .expect("list")
                    .is_empty()
            );
        }
    }
}

#[test]
fn a_wrong_or_missing_key_is_a_clear_error() {
    for kind in KINDS {
        let remote = new_remote(kind);
        let dir = tempfile::tempdir().expect("temp dir");
        let store = new_store(&dir, "a.redb");
        add_session(&store, "secret", files_for(0, 0), Utc::now());
        push(
            &store,
            &remote.open(Some("the right key, long and random")),
            &[],
        )
        .expect("push");
        let objects = remote.objects();
        assert!(
            objects.iter().all(|o| !o.contains("secret")),
            "names reveal no session id: {objects:?}"
        );
        assert!(matches!(
            remote.try_open(Some("a wrong key")),
            Err(Error::KeyWrong { .. })
        ));
        assert!(matches!(
            remote.try_open(None),
            Err(Error::KeyMissing { .. })
        ));
        assert_eq!(remote.objects(), objects, "nothing written");

        let plain = new_remote(kind);
        push(&store, &plain.open(None), &[]).expect("push plain");
        assert!(matches!(
            plain.try_open(Some("a key")),
            Err(Error::KeyUnexpected { .. })
        ));
    }
}

#[test]
fn pull_fetches_only_the_packs_the_local_store_lacks() {
    for kind in KINDS {
        let remote = new_remote(kind);
        let dir = tempfile::tempdir().expect("temp dir");
        let a = new_store(&dir, "a.redb");
        add_session(&a, "one", files_for(0, 0), Utc::now());
        push(&a, &remote.open(None), &[]).expect("push");
        let mut files = files_for(0, 0);
        files.push(("new.yaml".into(), b"new: 1\n".to_vec(), 0o644));
        add_session(&a, "two", files.clone(), Utc::now());
        push(&a, &remote.open(None), &[]).expect("push");

        let b = new_store(&dir, "b.redb");
        let r = pull(&b, &remote.open(None), &[sid("one")]).expect("pull one");
        assert_eq!(r.objects_downloaded, 2, "manifest and pack");
        let r = pull(&b, &remote.open(None), &[sid("two")]).expect("pull two");
        assert_eq!(
            r.objects_downloaded, 2,
            "manifest and the one pack holding new.yaml"
        );
        assert_restores(&b, "two", &files);
        match pull(&b, &remote.open(None), &[sid("absent")]) {
            Err(Error::SessionNotFound { id }) => assert_eq!(id, "absent"),
            other => panic!("expected SessionNotFound, got {other:?}"),
        }
    }
}
