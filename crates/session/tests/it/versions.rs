//! The version index against a model, on a path with more versions than a search scans (so
//! that older versions are found through `session.path_blobs`, built on the way).

use std::collections::BTreeMap;

use cfgvault_session as session;
use cfgvault_store::ObjectId;

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
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for step in 0..320u32 {
        let r = next();
        if step > 150 && r % 4 == 0 && !live.is_empty() {
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
