//! How objects are named and wrapped: plain (BLAKE3 names, zstd) or, with a key, sealed
//! (BLAKE3 keyed-hash names, zstd then XChaCha20-Poly1305 with the object's name as
//! associated data, so an object moved to another name fails authentication too).

use std::io::Read;
use std::path::PathBuf;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"CVR1";
const PLAIN: u8 = 0;
const SEALED: u8 = 1;
const NONCE_LEN: usize = 24;
/// Decompressed objects larger than this are refused as corrupt.
const MAX_OBJECT: u64 = 1 << 30;

/// A remote's secret. Any high-entropy text works (e.g. 32 random bytes in base64); the
/// keys for sealing, naming and the key check are derived from it with BLAKE3.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(…)")
    }
}

impl Key {
    /// The key from the text of a secret (surrounding whitespace ignored).
    pub fn from_secret(secret: &[u8]) -> Key {
        let text = secret.trim_ascii();
        Key(blake3::derive_key(
            "cfgvault remote 2026-12 master key",
            text,
        ))
    }

    /// The key from `CFGVAULT_REMOTE_KEY_FILE` (a file holding the secret) or else
    /// `CFGVAULT_REMOTE_KEY` (the secret itself); `None` when neither is set.
    pub fn from_env() -> Result<Option<Key>> {
        if let Some(path) = std::env::var_os("CFGVAULT_REMOTE_KEY_FILE") {
            let path = PathBuf::from(path);
            let bytes = std::fs::read(&path).map_err(|source| Error::KeyFile {
                path: path.clone(),
                source,
            })?;
            if bytes.trim_ascii().is_empty() {
                return Err(Error::KeyFile {
                    path,
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, "empty key"),
                });
            }
            return Ok(Some(Key::from_secret(&bytes)));
        }
        match std::env::var("CFGVAULT_REMOTE_KEY") {
            Ok(s) if !s.trim().is_empty() => Ok(Some(Key::from_secret(s.as_bytes()))),
            _ => Ok(None),
        }
    }

    fn derive(&self, purpose: &str) -> [u8; 32] {
        blake3::derive_key(purpose, &self.0)
    }
}

/// Names and wraps objects for one remote.
pub(crate) enum Seal {
    Plain,
    Sealed {
        cipher: Box<XChaCha20Poly1305>,
        name_key: [u8; 32],
        check: String,
    },
}

impl Seal {
    pub fn new(key: Option<&Key>) -> Seal {
        match key {
            None => Seal::Plain,
            Some(key) => {
                let seal_key = key.derive("cfgvault remote 2026-12 seal");
                let name_key = key.derive("cfgvault remote 2026-12 names");
                let check = blake3::keyed_hash(
                    &key.derive("cfgvault remote 2026-12 key check"),
                    b"cfgvault",
                )
                .to_hex()
                .to_string();
                Seal::Sealed {
                    cipher: Box::new(XChaCha20Poly1305::new(&seal_key.into())),
                    name_key,
                    check,
                }
            }
        }
    }

    pub fn encrypted(&self) -> bool {
        matches!(self, Seal::Sealed { .. })
    }

    /// What the remote's config records to recognize the key (a keyed hash of a constant).
    pub fn key_check(&self) -> Option<&str> {
        match self {
            Seal::Plain => None,
            Seal::Sealed { check, .. } => Some(check),
        }
    }

    /// The content address of `bytes` (hex): BLAKE3, keyed when sealed.
    pub fn address(&self, bytes: &[u8]) -> String {
        match self {
            Seal::Plain => blake3::hash(bytes).to_hex().to_string(),
            Seal::Sealed { name_key, .. } => {
                blake3::keyed_hash(name_key, bytes).to_hex().to_string()
            }
        }
    }

    /// The manifest name of a session: the id itself, or its keyed hash when sealed.
    pub fn session_name(&self, id: &str) -> String {
        match self {
            Seal::Plain => id.to_string(),
            Seal::Sealed { .. } => self.address(format!("session:{id}").as_bytes()),
        }
    }

    /// The stored form of `payload` under `name`.
    pub fn wrap(&self, name: &str, payload: &[u8]) -> Result<Vec<u8>> {
        let compressed = zstd::bulk::compress(payload, 3).map_err(|e| Error::Corrupt {
            object: name.to_string(),
            detail: format!("could not compress: {e}"),
        })?;
        let mut out = MAGIC.to_vec();
        match self {
            Seal::Plain => {
                out.push(PLAIN);
                out.extend_from_slice(&compressed);
            }
            Seal::Sealed { cipher, .. } => {
                let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
                let sealed = cipher
                    .encrypt(
                        &nonce,
                        Payload {
                            msg: &compressed,
                            aad: name.as_bytes(),
                        },
                    )
                    .map_err(|_| Error::Corrupt {
                        object: name.to_string(),
                        detail: "could not encrypt".into(),
                    })?;
                out.push(SEALED);
                out.extend_from_slice(&nonce);
                out.extend_from_slice(&sealed);
            }
        }
        Ok(out)
    }

    /// The payload of the stored object `name`; an object that fails authentication or does
    /// not decode is `Corrupt`, naming it.
    pub fn unwrap(&self, name: &str, stored: &[u8]) -> Result<Vec<u8>> {
        let corrupt = |detail: &str| Error::Corrupt {
            object: name.to_string(),
            detail: detail.to_string(),
        };
        let Some(rest) = stored.strip_prefix(MAGIC.as_slice()) else {
            return Err(corrupt("not a cfgvault remote object"));
        };
        let Some((&mode, body)) = rest.split_first() else {
            return Err(corrupt("truncated"));
        };
        let compressed = match (mode, self) {
            (PLAIN, Seal::Plain) => body.to_vec(),
            (SEALED, Seal::Sealed { cipher, .. }) => {
                if body.len() < NONCE_LEN {
                    return Err(corrupt("truncated"));
                }
                let (nonce, sealed) = body.split_at(NONCE_LEN);
                cipher
                    .decrypt(
                        XNonce::from_slice(nonce),
                        Payload {
                            msg: sealed,
                            aad: name.as_bytes(),
                        },
                    )
                    .map_err(|_| corrupt("fails authentication"))?
            }
            (PLAIN, Seal::Sealed { .. }) => return Err(corrupt("stored unencrypted")),
            (SEALED, Seal::Plain) => return Err(corrupt("stored encrypted")),
            _ => return Err(corrupt("unknown object mode")),
        };
        let mut out = Vec::new();
        let decoder = zstd::stream::read::Decoder::new(compressed.as_slice())
            .map_err(|e| corrupt(&format!("does not decompress: {e}")))?;
        decoder
            .take(MAX_OBJECT + 1)
            .read_to_end(&mut out)
            .map_err(|e| corrupt(&format!("does not decompress: {e}")))?;
        if out.len() as u64 > MAX_OBJECT {
            return Err(corrupt("decompresses to more than 1 GiB"));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_objects_open_only_with_their_key_and_name() -> Result<()> {
        let key = Key::from_secret(b" secret one \n");
        let seal = Seal::new(Some(&key));
        let stored = seal.wrap("packs/a", b"model: gpt-4\n")?;
        assert_eq!(seal.unwrap("packs/a", &stored)?, b"model: gpt-4\n");
        // Surrounding whitespace is not part of the secret.
        assert_eq!(
            Seal::new(Some(&Key::from_secret(b"secret one"))).unwrap("packs/a", &stored)?,
            b"model: gpt-4\n"
        );
        let other = Seal::new(Some(&Key::from_secret(b"secret two")));
        assert!(matches!(
            other.unwrap("packs/a", &stored),
            Err(Error::Corrupt { .. })
        ));
        // Moved to another name: fails authentication.
        assert!(matches!(
            seal.unwrap("packs/b", &stored),
            Err(Error::Corrupt { .. })
        ));
        // One flipped bit anywhere: fails.
        for i in 0..stored.len() {
            let mut bad = stored.clone();
            bad[i] ^= 1;
            assert!(seal.unwrap("packs/a", &bad).is_err(), "byte {i}");
        }
        // Plain and sealed objects are not mistaken for each other.
        assert!(Seal::Plain.unwrap("packs/a", &stored).is_err());
        let plain = Seal::Plain.wrap("packs/a", b"x")?;
        assert!(seal.unwrap("packs/a", &plain).is_err());
        Ok(())
    }

    #[test]
    fn names_are_keyed_hashes_only_with_a_key() {
        let key = Key::from_secret(b"k");
        assert_eq!(Seal::Plain.session_name("s-1"), "s-1");
        let sealed = Seal::new(Some(&key));
        let name = sealed.session_name("s-1");
        assert_eq!(name.len(), 64);
        assert!(!name.contains("s-1"));
        assert_ne!(sealed.address(b"x"), Seal::Plain.address(b"x"));
        assert_eq!(
            Seal::Plain.address(b"x"),
            blake3::hash(b"x").to_hex().to_string()
        );
    }
}
