//! The version index against a model, on a path with more versions than a search scans (so
//! that older versions are found through `session.path_blobs`, built on the way).

use std::collections::BTreeMap;

use cfgvault_session as session;
use cfgvault_store::ObjectId;
use cfgvault_testkit::Rng;

use crate::{Fixture, sid, t};

/// A version as the model keeps it: its content number and how many live sessions hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    content: u32,
    sessions: u64,
}

fn content(n: u32) -> String {
    format!("model: {n}\n")
}

fn blob(n: u32) -> ObjectId {
    ObjectId::for_blob(content(n).as_bytes())
}

/// Creates and deletes sessions of one path `f` (plus a file that never changes), drawing
/// contents from 90 so that the path passes 64 versions early, with old contents coming back
/// (found beyond the newest few) and versions removed when their last session goes. After every
/// step, `versions("f")` must equal the model: one version per distinct live content, in the
/// order each first appeared since it was last absent, with exact session counts.
#[test]
fn versions_of_a_much_edited_path_follow_the_model() {
    let fx = Fixture::new();
    let mut model: Vec<Version> = Vec::new();
    let mut live: BTreeMap<u32, u32> = BTreeMap::new(); // session number → content
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    for step in 0..320u32 {
        let r = rng.next();
        if step > 150 && r.is_multiple_of(4) && !live.is_empty() {
            // Delete a live session.
            let k = *live.keys().nth((r >> 8) as usize % live.len()).unwrap();
            let c = live.remove(&k).unwrap();
            session::delete(&fx.store, &[sid(&format!("s{k}"))]).unwrap();
            let i = model.iter().position(|v| v.content == c).unwrap();
            model[i].sessions -= 1;
            if model[i].sessions == 0 {
                model.remove(i);
            }
        } else {
            // The first 100 steps add new contents mostly; later ones revisit old ones.
            let c = if step < 100 {
                step % 90
            } else {
                (r >> 16) as u32 % 90
            };
            let at = t("2025-01-01") + chrono::Duration::minutes(i64::from(step));
            let when = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            fx.session(
                &format!("s{step}"),
                &when,
                &[("f", &content(c)), ("g", "same")],
            );
            live.insert(step, c);
            match model.iter_mut().find(|v| v.content == c) {
                Some(v) => v.sessions += 1,
                None => model.push(Version {
                    content: c,
                    sessions: 1,
                }),
            }
        }
        let got: Vec<(ObjectId, u64)> = session::versions(&fx.store, "f")
            .unwrap()
            .into_iter()
            .map(|v| (v.id, v.sessions))
            .collect();
        let want: Vec<(ObjectId, u64)> = model
            .iter()
            .map(|v| (blob(v.content), v.sessions))
            .collect();
        assert_eq!(got, want, "after step {step}");
        let g = session::versions(&fx.store, "g").unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].sessions, live.len() as u64, "after step {step}");
    }
    assert!(model.len() > 64, "the path never passed the scan limit");
}

/// A version in the model of [`repeated_sessions_are_counted_exactly`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    blob: ObjectId,
    sessions: u64,
    first: i64,
    last: i64,
}

/// Sessions that repeat an earlier session's files (counted in the repeat tally,
/// `versions/repeats.rs`), with the repeated node switching, sessions taken out of time order,
/// deletes of the repeated node's sessions and of others, sessions of new contents, a session too
/// large to be tallied, and settling. After every step each path's versions — blob, session count, first and last seen — must equal a model
/// computed from the sessions alone.
#[test]
fn repeated_sessions_are_counted_exactly() {
    let fx = Fixture::new();
    let mut live: BTreeMap<u32, Vec<(String, String)>> = BTreeMap::new();
    let mut model: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
    let big: Vec<(String, String)> = (0..130)
        .map(|i| (format!("big/{i:03}.yaml"), format!("n: {i}\n")))
        .collect();
    let mut shape = 0;
    for step in 0..400u32 {
        let r = rng.next();
        if step > 20 && r.is_multiple_of(5) && !live.is_empty() {
            let k = *live.keys().nth((r >> 8) as usize % live.len()).unwrap();
            let files = live.remove(&k).unwrap();
            session::delete(&fx.store, &[sid(&format!("s{k}"))]).unwrap();
            for (p, c) in &files {
                let versions = model.get_mut(p).unwrap();
                let i = (versions.iter())
                    .position(|v| v.blob == ObjectId::for_blob(c.as_bytes()))
                    .unwrap();
                versions[i].sessions -= 1;
                if versions[i].sessions == 0 {
                    versions.remove(i);
                }
            }
        } else {
            // Few shapes, so most sessions repeat a stored node: runs of one shape (the repeated
            // node stays), switches between shapes, now and then new contents or the big one.
            shape = if r.is_multiple_of(3) {
                shape
            } else {
                (r >> 12) % 16
            };
            let mut files: Vec<(String, String)> = vec![
                ("a.yaml".into(), format!("a: {}\n", shape % 3)),
                ("b.yaml".into(), "b: same\n".into()),
                ("llms/c.yaml".into(), format!("c: {}\n", shape % 2)),
            ];
            if shape == 15 {
                files.push(("new.yaml".into(), format!("step: {step}\n")));
            }
            if shape == 14 {
                files.extend(big.iter().cloned());
            }
            // Out of time order: a session may be older than the ones before it.
            let at = t("2025-01-01") + chrono::Duration::seconds((r >> 20) as i64 % 100_000);
            let when = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let refs: Vec<(&str, &str)> = (files.iter())
                .map(|(p, c)| (p.as_str(), c.as_str()))
                .collect();
            fx.session(&format!("s{step}"), &when, &refs);
            let us = at.timestamp_micros();
            for (p, c) in &files {
                let blob = ObjectId::for_blob(c.as_bytes());
                let versions = model.entry(p.clone()).or_default();
                match versions.iter_mut().find(|v| v.blob == blob) {
                    Some(v) => {
                        v.sessions += 1;
                        v.first = v.first.min(us);
                        v.last = v.last.max(us);
                    }
                    None => versions.push(Seen {
                        blob,
                        sessions: 1,
                        first: us,
                        last: us,
                    }),
                }
            }
            live.insert(step, files);
        }
        // Settling (what a gc does first) moves the repeat tally into the entries: no change.
        if r % 11 == 1 {
            session::settle(&fx.store).unwrap();
        }
        for (p, want) in &model {
            let got: Vec<Seen> = session::versions(&fx.store, p)
                .unwrap()
                .into_iter()
                .map(|v| Seen {
                    blob: v.id,
                    sessions: v.sessions,
                    first: v.first_seen.timestamp_micros(),
                    last: v.last_seen.timestamp_micros(),
                })
                .collect();
            assert_eq!(&got, want, "{p} after step {step}");
        }
    }
}

/// The sessions counted in a version's entry all go while sessions counted in the repeat tally
/// remain: the version must stay, with their count (the delete folds the repeat tally first).
#[test]
fn deleting_the_first_session_of_the_repeated_node_keeps_its_versions() {
    let fx = Fixture::new();
    let files = [("x.yaml", "x: 1\n")];
    fx.session("s1", "2025-01-01T00:00:01Z", &files);
    fx.session("s2", "2025-01-01T00:00:02Z", &files);
    fx.session("s3", "2025-01-01T00:00:03Z", &files);
    session::delete(&fx.store, &[sid("s1")]).unwrap();
    let v = session::versions(&fx.store, "x.yaml").unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].sessions, 2);
    // First and last seen count every session that held the version, deleted or not.
    assert_eq!(v[0].first_seen, t("2025-01-01T00:00:01Z"));
    assert_eq!(v[0].last_seen, t("2025-01-01T00:00:03Z"));
    session::delete(&fx.store, &[sid("s2"), sid("s3")]).unwrap();
    assert!(session::versions(&fx.store, "x.yaml").unwrap().is_empty());
}
