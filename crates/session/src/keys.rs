//! Index keyspaces of the session layer and their key/value encodings (docs/FORMAT.md).
//! All integers are big-endian so that byte order is numeric order.

use cfgvault_store::ObjectId;
use chrono::{DateTime, Utc};

use crate::{Error, Result, SessionId};

/// Root name prefix: a session `ID` is the root `session/ID`, holding its root tree.
pub(crate) const ROOT_PREFIX: &str = "session/";
/// `time(8) ‖ id` → empty.
pub(crate) const BY_TIME: &str = "session.by_time";
/// `len(k) u32 ‖ k ‖ len(v) u32 ‖ v ‖ time(8) ‖ id` → empty.
pub(crate) const BY_LABEL: &str = "session.by_label";
/// `path ‖ 0x00 ‖ seq u32` → version value ([`VersionValue`]).
pub(crate) const PATH_VERSIONS: &str = "session.path_versions";
/// `path ‖ 0x00` → empty: every version of the path has its entry below (given to a path once
/// it has more versions than a search should scan); `path ‖ 0x00 ‖ blob id[32]` → `seq u32`:
/// the version of the path holding that blob.
pub(crate) const PATH_BLOBS: &str = "session.path_blobs";
/// The string table: `0x01 ‖ n u64` → string, and `0x00 ‖ BLAKE3(string)[..8] ‖ n u64` →
/// empty to find a string's number. (The space's name is historical: format 1 names it so.)
pub(crate) const STRINGS: &str = "session.counters";
/// The first *tally key* of the by-time space: the running totals and the repeat tally (`C_*`)
/// follow every time key there (a time key's first byte is at most 0xF2 for any time chrono
/// represents), so a backup's by-time entry — the newest — and the totals it updates are
/// neighbours, on one page. The by-time entries are the keys below it.
pub(crate) const TALLY_START: &[u8] = b"\xff";
/// Logical bytes of all sessions → u64.
pub(crate) const C_LOGICAL: &[u8] = b"\xfflogical_bytes";
/// The number of sessions → u64.
pub(crate) const C_SESSIONS: &[u8] = b"\xffsessions";
/// The repeat tally (`versions/repeats.rs`): the repeated session node and the sessions counted
/// for it. (The key's bytes spell `hot`, the name format 1 gives it.)
pub(crate) const C_REPEATS: &[u8] = b"\xffhot";
/// The repeated session node's files (path, blob, size).
pub(crate) const C_REPEAT_FILES: &[u8] = b"\xffhot.files";

pub(crate) fn root_name(id: &SessionId) -> String {
    format!("{ROOT_PREFIX}{id}")
}

/// Microseconds since the epoch with the sign bit flipped, so that keys sort by time.
pub(crate) fn time_key(t: DateTime<Utc>) -> [u8; 8] {
    ((t.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes()
}

pub(crate) fn time_from_key(b: &[u8]) -> Option<DateTime<Utc>> {
    let b: [u8; 8] = b.get(..8)?.try_into().ok()?;
    DateTime::from_timestamp_micros((u64::from_be_bytes(b) ^ (1 << 63)) as i64)
}

/// A time kept in microseconds since the epoch.
pub(crate) fn time_from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// The session id that a by-time or label key holds from byte `at` on (after its prefix and
/// time), `None` when those bytes are not a session id.
pub(crate) fn session_id_at(key: &[u8], at: usize) -> Option<SessionId> {
    std::str::from_utf8(key.get(at..)?).ok()?.parse().ok()
}

pub(crate) fn by_time_key(t: DateTime<Utc>, id: &SessionId) -> Vec<u8> {
    let mut k = time_key(t).to_vec();
    k.extend_from_slice(id.as_str().as_bytes());
    k
}

pub(crate) fn label_prefix(k: &str, v: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + k.len() + v.len());
    for s in [k, v] {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out
}

/// `label_prefix(k, v) ‖ time(8) ‖ id`: the key of a session's label in [`BY_LABEL`].
pub(crate) fn label_key(k: &str, v: &str, t: DateTime<Utc>, id: &SessionId) -> Vec<u8> {
    let mut key = label_prefix(k, v);
    key.extend_from_slice(&by_time_key(t, id));
    key
}

pub(crate) fn path_prefix(path: &str) -> Vec<u8> {
    let mut k = path.as_bytes().to_vec();
    k.push(0);
    k
}

pub(crate) fn path_version_key(path: &str, seq: u32) -> Vec<u8> {
    let mut k = path_prefix(path);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn path_blob_key(path: &str, blob: &ObjectId) -> Vec<u8> {
    let mut k = path_prefix(path);
    k.extend_from_slice(blob.as_bytes());
    k
}

/// The smallest key above every key starting with `prefix` (None: unbounded).
/// A `session.path_versions` key for messages: `version N of PATH` (the bare text when it
/// is not such a key).
pub(crate) fn describe_version_key(key: &[u8]) -> String {
    match key.len().checked_sub(5).map(|at| key.split_at(at)) {
        Some((path, [0, seq @ ..])) => {
            let seq = <[u8; 4]>::try_from(seq)
                .map(u32::from_be_bytes)
                .unwrap_or(0);
            format!("version {seq} of {}", String::from_utf8_lossy(path))
        }
        _ => String::from_utf8_lossy(key).into_owned(),
    }
}

pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A value of [`PATH_VERSIONS`]: `blob(32) ‖ LEB128 size ‖ LEB128 zigzag(first_seen µs) ‖
/// LEB128 zigzag(last_seen − first_seen) ‖ LEB128 sessions`, about 48 bytes. A value of exactly
/// 64 bytes is the fixed form `blob(32) ‖ size u64 ‖ first_seen i64 ‖ last_seen i64 ‖ sessions
/// u64` (big-endian), written whenever the compact form would not be shorter than 64 bytes
/// (large sizes, times far from the epoch), so the length alone tells the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VersionValue {
    pub blob: ObjectId,
    pub size: u64,
    pub first: i64,
    pub last: i64,
    pub sessions: u64,
}

const FIXED: usize = 64;

impl VersionValue {
    pub(crate) fn encode(&self) -> Vec<u8> {
        use crate::record::{put_varint, zigzag};
        let mut out = Vec::with_capacity(FIXED);
        out.extend_from_slice(self.blob.as_bytes());
        put_varint(&mut out, self.size);
        put_varint(&mut out, zigzag(self.first));
        put_varint(&mut out, zigzag(self.last.wrapping_sub(self.first)));
        put_varint(&mut out, self.sessions);
        if out.len() < FIXED {
            return out;
        }
        out.clear();
        out.extend_from_slice(self.blob.as_bytes());
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.first.to_be_bytes());
        out.extend_from_slice(&self.last.to_be_bytes());
        out.extend_from_slice(&self.sessions.to_be_bytes());
        out
    }

    pub(crate) fn decode(key: &[u8], v: &[u8]) -> Result<VersionValue> {
        let corrupt = || Error::CorruptIndex {
            key: describe_version_key(key),
            detail: "session.path_versions: unreadable version value".into(),
        };
        if v.len() == FIXED {
            let u = |r: std::ops::Range<usize>| -> Result<[u8; 8]> {
                v.get(r).and_then(|s| s.try_into().ok()).ok_or_else(corrupt)
            };
            return Ok(VersionValue {
                blob: ObjectId::from_slice(&v[..32]).ok_or_else(corrupt)?,
                size: u64::from_be_bytes(u(32..40)?),
                first: i64::from_be_bytes(u(40..48)?),
                last: i64::from_be_bytes(u(48..56)?),
                sessions: u64::from_be_bytes(u(56..64)?),
            });
        }
        use crate::record::{Cursor, unzigzag};
        let mut c = Cursor { bytes: v, pos: 0 };
        let blob = c.id().ok_or_else(corrupt)?;
        let size = c.varint().ok_or_else(corrupt)?;
        let first = unzigzag(c.varint().ok_or_else(corrupt)?);
        let last = first.wrapping_add(unzigzag(c.varint().ok_or_else(corrupt)?));
        let sessions = c.varint().ok_or_else(corrupt)?;
        if c.pos != v.len() {
            return Err(corrupt());
        }
        Ok(VersionValue {
            blob,
            size,
            first,
            last,
            sessions,
        })
    }
}

pub(crate) fn u64_value(v: Option<Vec<u8>>) -> u64 {
    v.and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn value(size: u64, first: i64, last: i64, sessions: u64) -> VersionValue {
        VersionValue {
            blob: ObjectId::for_blob(b"model: gpt-4\n"),
            size,
            first,
            last,
            sessions,
        }
    }

    #[test]
    fn version_values_are_compact_and_the_fixed_form_reads() {
        // A config file seen from 2025 to 2026 in 40 sessions.
        let v = value(1054, 1_760_000_000_000_000, 1_790_000_000_000_000, 40);
        let e = v.encode();
        assert!(e.len() <= 50, "{} bytes", e.len());
        assert_eq!(VersionValue::decode(b"k", &e).unwrap(), v);

        // Values the compact form cannot hold in under 64 bytes get the fixed form.
        let huge = value(u64::MAX, i64::MIN, 0, u64::MAX);
        let e = huge.encode();
        assert_eq!(e.len(), 64);
        assert_eq!(VersionValue::decode(b"k", &e).unwrap(), huge);

        // Any value in the fixed form reads, whether or not the compact form could hold it.
        let mut fixed = v.blob.as_bytes().to_vec();
        for x in [1054u64, 1_760_000_000_000_000, 1_790_000_000_000_000, 40] {
            fixed.extend_from_slice(&x.to_be_bytes());
        }
        assert_eq!(VersionValue::decode(b"k", &fixed).unwrap(), v);

        // Truncated or followed by stray bytes: an error naming the key.
        let e = v.encode();
        for n in 0..e.len() {
            assert!(VersionValue::decode(b"k", &e[..n]).is_err(), "{n}");
        }
        let mut longer = e.clone();
        longer.push(0);
        assert!(matches!(
            VersionValue::decode(b"a/b.yaml", &longer),
            Err(Error::CorruptIndex { key, .. }) if key == "a/b.yaml"
        ));
    }

    proptest! {
        #[test]
        fn any_version_value_round_trips(
            size in any::<u64>(),
            first in any::<i64>(),
            last in any::<i64>(),
            sessions in any::<u64>(),
        ) {
            let v = value(size, first, last, sessions);
            prop_assert_eq!(VersionValue::decode(b"k", &v.encode()).unwrap(), v);
        }
    }
}
