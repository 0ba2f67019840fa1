//! Rename detection, as git's `-M`: a path that disappeared while another appeared with the
//! same content, or with similar content, is one file renamed.

use cfgvault_store::ObjectId;
use serde::Serialize;

use crate::Result;

/// Files whose contents are compared for similarity at most this large; larger ones are
/// renamed only when identical.
const MAX_SIMILARITY_BYTES: usize = 1 << 20;

/// Most (removed × added) pairs whose contents are compared; beyond, only identical contents
/// count as renames.
const MAX_PAIRS: usize = 10_000;

/// Least similarity, in percent, for a rename (git's default).
pub const DEFAULT_SIMILARITY: u8 = 50;

/// A path that disappeared while `to` appeared with the same (`similarity` 100) or similar
/// content.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Rename {
    pub from: String,
    pub to: String,
    /// Percent of lines in common (twice the matching lines over both files' lines).
    pub similarity: u8,
}

/// Pairs `removed` with `added` paths: identical contents first, then the most similar pairs
/// at or above `threshold` percent, each path in at most one rename. `load` reads a content.
pub(crate) fn detect(
    removed: &[(String, ObjectId)],
    added: &[(String, ObjectId)],
    threshold: u8,
    mut load: impl FnMut(&ObjectId) -> Result<Vec<u8>>,
) -> Result<Vec<Rename>> {
    let mut renames = Vec::new();
    let mut used_removed = vec![false; removed.len()];
    let mut used_added = vec![false; added.len()];
    for (i, (from, id)) in removed.iter().enumerate() {
        if let Some(j) = (0..added.len()).find(|&j| !used_added[j] && added[j].1 == *id) {
            used_removed[i] = true;
            used_added[j] = true;
            renames.push(Rename {
                from: from.clone(),
                to: added[j].0.clone(),
                similarity: 100,
            });
        }
    }
    let left: Vec<usize> = (0..removed.len()).filter(|&i| !used_removed[i]).collect();
    let right: Vec<usize> = (0..added.len()).filter(|&j| !used_added[j]).collect();
    if !left.is_empty() && !right.is_empty() && left.len() * right.len() <= MAX_PAIRS {
        let read = |list: &[(String, ObjectId)],
                    idx: &[usize],
                    load: &mut dyn FnMut(&ObjectId) -> Result<Vec<u8>>|
         -> Result<Vec<Option<String>>> {
            idx.iter()
                .map(|&i| {
                    let bytes = load(&list[i].1)?;
                    Ok((bytes.len() <= MAX_SIMILARITY_BYTES)
                        .then(|| String::from_utf8_lossy(&bytes).into_owned()))
                })
                .collect()
        };
        let texts_l = read(removed, &left, &mut load)?;
        let texts_r = read(added, &right, &mut load)?;
        let mut pairs: Vec<(u8, usize, usize)> = Vec::new();
        for (li, a) in texts_l.iter().enumerate() {
            for (ri, b) in texts_r.iter().enumerate() {
                let (Some(a), Some(b)) = (a, b) else {
                    continue;
                };
                let ratio = similar::TextDiff::from_lines(a.as_str(), b.as_str()).ratio();
                let pct = (ratio * 100.0).floor() as u8;
                if pct >= threshold {
                    pairs.push((pct, li, ri));
                }
            }
        }
        // Most similar first; ties by path order, so the result does not depend on hashing.
        pairs.sort_by(|x, y| {
            y.0.cmp(&x.0)
                .then_with(|| removed[left[x.1]].0.cmp(&removed[left[y.1]].0))
                .then_with(|| added[right[x.2]].0.cmp(&added[right[y.2]].0))
        });
        for (pct, li, ri) in pairs {
            let (i, j) = (left[li], right[ri]);
            if used_removed[i] || used_added[j] {
                continue;
            }
            used_removed[i] = true;
            used_added[j] = true;
            renames.push(Rename {
                from: removed[i].0.clone(),
                to: added[j].0.clone(),
                similarity: pct.min(99),
            });
        }
    }
    renames.sort();
    Ok(renames)
}
