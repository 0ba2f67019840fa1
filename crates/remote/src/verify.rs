//! Verify: every object a manifest names exists, authenticates, decodes and hashes right.

use std::collections::BTreeMap;

use cfgvault_store::ObjectId;
use serde::Serialize;

use crate::docs::{self, Condemned, Index, Manifest};
use crate::error::{Error, Result};
use crate::pack;
use crate::pull::check_address;
use crate::remote::Remote;

/// One damaged or missing remote object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The object's name below the remote's URL, e.g. `packs/3fa2…`.
    pub object: String,
    pub detail: String,
}

/// What verify found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerifyReport {
    pub sessions_checked: u64,
    pub packs_checked: u64,
    pub blobs_checked: u64,
    /// Empty when the remote is sound.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Reads every manifest, index object and condemned list, and every pack a manifest names,
/// checking authentication, decoding, each pack's address and each blob's hash. Damage is
/// reported per object, not returned as an error; errors are only failures to reach the
/// remote.
pub fn verify(remote: &Remote) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let listing = remote.backend.list(None)?;
    // pack name → (manifest naming it, blob) pairs to find in it
    let mut wanted: BTreeMap<String, Vec<(String, ObjectId)>> = BTreeMap::new();
    let problem = |report: &mut VerifyReport, e: Error, object: &str| {
        let (object, detail) = match e {
            Error::Corrupt { object, detail } => (object, detail),
            other => (object.to_string(), other.to_string()),
        };
        report.problems.push(Problem { object, detail });
    };
    let mut packs = std::collections::HashSet::new();
    for obj in &listing {
        let Some((dir, name)) = obj.name.split_once('/') else {
            continue;
        };
        match dir {
            docs::SESSIONS => {
                report.sessions_checked += 1;
                match remote.get_doc::<Manifest>(&obj.name) {
                    Ok(Some(m)) => {
                        if remote.seal.session_name(m.session.record.id.as_str()) != name {
                            problem(
                                &mut report,
                                Error::Corrupt {
                                    object: obj.name.clone(),
                                    detail: format!("holds session '{}'", m.session.record.id),
                                },
                                &obj.name,
                            );
                        }
                        for f in &m.session.files {
                            match m.packs.get(&f.blob) {
                                Some(p) => wanted
                                    .entry(p.clone())
                                    .or_default()
                                    .push((obj.name.clone(), f.blob)),
                                None => report.problems.push(Problem {
                                    object: obj.name.clone(),
                                    detail: format!("names no pack for blob {}", f.blob),
                                }),
                            }
                        }
                    }
                    Ok(None) => {} // removed by a cleanup since the listing
                    Err(e) => problem(&mut report, e, &obj.name),
                }
            }
            docs::INDEX => {
                if let Err(e) = remote.get_doc::<Index>(&obj.name) {
                    problem(&mut report, e, &obj.name);
                }
            }
            docs::CONDEMNED => {
                if let Err(e) = remote.get_doc::<Condemned>(&obj.name) {
                    problem(&mut report, e, &obj.name);
                }
            }
            docs::PACKS => {
                packs.insert(name.to_string());
            }
            _ => {}
        }
    }
    for (pack_name, blobs) in wanted {
        let object = format!("{}/{pack_name}", docs::PACKS);
        report.packs_checked += 1;
        let members = remote.get_wrapped(&object).and_then(|plain| match plain {
            None => Err(Error::Corrupt {
                object: object.clone(),
                detail: format!("is missing (named by '{}')", blobs[0].0),
            }),
            Some(plain) => {
                check_address(remote, &object, &pack_name, &plain)?;
                pack::decode(&object, &plain)
            }
        });
        match members {
            Ok(members) => {
                for (manifest, blob) in blobs {
                    report.blobs_checked += 1;
                    if !members.contains_key(&blob) {
                        report.problems.push(Problem {
                            object: object.clone(),
                            detail: format!("lacks blob {blob} named by '{manifest}'"),
                        });
                    }
                }
            }
            Err(e) => problem(&mut report, e, &object),
        }
    }
    Ok(report)
}
