//! Session identities.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use crate::Error;

/// A session id: 1–128 characters of `[A-Za-z0-9._-]`, not starting with `.`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// The longest id, in characters.
    pub const MAX_LEN: usize = 128;

    /// A new time-ordered id: `{prefix}-{yymmdd}-{HHMMSS}-{6 hex}`, e.g.
    /// `react-251022-174800-1f73e8`. Characters the id cannot hold are replaced by `_` and the
    /// prefix is shortened to fit; an empty prefix becomes `s`. The hex suffix comes from
    /// BLAKE3 of the clock, the process id and a per-process counter, so ids generated in the
    /// same second differ.
    pub fn generate(prefix: &str, now: DateTime<Utc>) -> SessionId {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut p: String = prefix
            .chars()
            .map(|c| if allowed(c) { c } else { '_' })
            .take(Self::MAX_LEN - 21)
            .collect();
        if p.is_empty() || p.starts_with('.') {
            p.insert(0, 's');
        }
        let mut h = blake3::Hasher::new();
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.update(&wall.to_le_bytes());
        h.update(&now.timestamp_nanos_opt().unwrap_or(0).to_le_bytes());
        h.update(&std::process::id().to_le_bytes());
        h.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        let hex = h.finalize().to_hex();
        SessionId(format!(
            "{p}-{}-{}",
            now.format("%y%m%d-%H%M%S"),
            &hex.as_str()[..6]
        ))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl FromStr for SessionId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Control characters are escaped, so the message stays one line on a terminal.
        let bad = |reason| Error::InvalidSessionId {
            input: s
                .chars()
                .take(140)
                .flat_map(|c| {
                    let escaped = c.is_control().then(|| c.escape_default());
                    escaped
                        .into_iter()
                        .flatten()
                        .chain((!c.is_control()).then_some(c))
                })
                .collect(),
            reason,
        };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(bad("longer than 128 characters"));
        }
        if s.starts_with('.') {
            return Err(bad("starts with '.'"));
        }
        if !s.chars().all(allowed) {
            return Err(bad("only A-Z, a-z, 0-9, '.', '_' and '-' are allowed"));
        }
        Ok(SessionId(s.to_string()))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for SessionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    fn check(input: &str, ok: bool) {
        assert_eq!(input.parse::<SessionId>().is_ok(), ok, "{input:?}");
    }

    #[test]
    fn validation() {
        check("react-251022-174800-1f73e8", true);
        check("a", true);
        check("A.b_c-9", true);
        check(&"x".repeat(128), true);
        check(&"x".repeat(129), false);
        check("", false);
        check(".hidden", false);
        check("a/b", false);
        check("a b", false);
        check("é", false);
        check("a\0", false);
    }

    #[test]
    fn generated_ids_are_valid_and_time_ordered() {
        let t = Utc.with_ymd_and_hms(2025, 10, 22, 17, 48, 0).unwrap();
        let a = SessionId::generate("react", t);
        assert!(a.as_str().starts_with("react-251022-174800-"), "{a}");
        assert_eq!(a.as_str().len(), "react-251022-174800-1f73e8".len());
        let b = SessionId::generate("react", t);
        assert_ne!(a, b);
        let later = SessionId::generate("react", t + chrono::Duration::seconds(1));
        assert!(later > a);
        for prefix in ["", ".x", "a b/c", &"y".repeat(300)] {
            let id = SessionId::generate(prefix, t);
            assert_eq!(id.as_str().parse::<SessionId>().unwrap(), id);
        }
    }
}
