//! The frame every stored object is kept in: a codec tag, the object kind, the raw length,
//! then the payload. See docs/FORMAT.md, "Object frame".

use crate::varint;
use crate::{Error, ObjectId};

/// Codec tags. 2 (zstd with a dictionary) is reserved for a later format version; a reader
/// that meets it reports the object as corrupt rather than guessing.
const CODEC_RAW: u8 = 0;
const CODEC_ZSTD: u8 = 1;
const CODEC_DELTA: u8 = 3;

/// No chain may be longer than this, whatever a store's option says: a frame claiming more is
/// corrupt (so a crafted chain cannot make a read unbounded).
pub(crate) const MAX_DEPTH_LIMIT: u64 = 64;

/// What an object is, as far as the store cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// Opaque bytes with no links; id = BLAKE3(bytes).
    Blob,
    /// Bytes that link to other objects (a tree, for the session layer); id =
    /// BLAKE3-derive-key([`crate::NODE_CONTEXT`], bytes).
    Node,
}

impl ObjectKind {
    pub(crate) fn tag(self) -> u8 {
        match self {
            ObjectKind::Blob => 0,
            ObjectKind::Node => 1,
        }
    }

    pub(crate) fn from_tag(tag: u8) -> Option<ObjectKind> {
        match tag {
            0 => Some(ObjectKind::Blob),
            1 => Some(ObjectKind::Node),
            _ => None,
        }
    }

    /// The id of `bytes` as an object of this kind.
    pub fn id_of(self, bytes: &[u8]) -> ObjectId {
        match self {
            ObjectKind::Blob => ObjectId::for_blob(bytes),
            ObjectKind::Node => ObjectId::for_node(bytes),
        }
    }
}

/// The bytes of a node: its links (LEB128 count, then 32 bytes each, in order), then the
/// caller's payload. Links are part of what is hashed, so a node's id commits to them, and they
/// are stored once: the layers above refer to them by position instead of repeating ids.
pub fn node_bytes(links: &[ObjectId], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + links.len() * 32 + payload.len());
    varint::write(&mut out, links.len() as u64);
    for l in links {
        out.extend_from_slice(l.as_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// Splits node bytes into links and payload; `None` when they are malformed.
pub fn split_node(bytes: &[u8]) -> Option<(Vec<ObjectId>, &[u8])> {
    let (n, used) = varint::read(bytes)?;
    let rest = &bytes[used..];
    let n = usize::try_from(n).ok()?;
    let ids_len = n.checked_mul(32)?;
    if rest.len() < ids_len {
        return None;
    }
    let links = rest[..ids_len]
        .chunks_exact(32)
        .filter_map(ObjectId::from_slice)
        .collect();
    Some((links, &rest[ids_len..]))
}

/// Objects shorter than this are stored raw: a zstd frame header alone costs more than
/// anything compression could save on them.
const MIN_COMPRESS: usize = 32;

/// Encodes `bytes` as a frame, choosing zstd at `level` when it is smaller than raw.
pub(crate) fn encode(kind: ObjectKind, bytes: &[u8], level: i32) -> Vec<u8> {
    let mut header = Vec::with_capacity(12);
    header.push(CODEC_RAW);
    header.push(kind.tag());
    varint::write(&mut header, bytes.len() as u64);
    if bytes.len() >= MIN_COMPRESS {
        // Compression of an in-memory slice only fails on allocation failure or a bad level;
        // either way the raw frame is a correct answer.
        if let Ok(compressed) = zstd::bulk::compress(bytes, level)
            && compressed.len() < bytes.len()
        {
            header[0] = CODEC_ZSTD;
            header.extend_from_slice(&compressed);
            return header;
        }
    }
    header.extend_from_slice(bytes);
    header
}

/// How a frame's payload is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Raw,
    Zstd,
    /// zstd with the base object's bytes as a reference prefix; `depth` is 1 + the base's
    /// depth (plain frames have depth 0).
    Delta {
        depth: u64,
        base: ObjectId,
    },
}

/// The header of a frame, readable without decompressing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub kind: ObjectKind,
    pub raw_len: u64,
    pub codec: Codec,
    pub header_len: usize,
}

impl Header {
    /// Length of the delta chain below this frame (0 for plain frames).
    pub fn depth(&self) -> u64 {
        match self.codec {
            Codec::Delta { depth, .. } => depth,
            _ => 0,
        }
    }

    /// The base a delta frame holds a reference to.
    pub fn base(&self) -> Option<ObjectId> {
        match self.codec {
            Codec::Delta { base, .. } => Some(base),
            _ => None,
        }
    }
}

pub(crate) fn header(id: &ObjectId, frame: &[u8]) -> Result<Header, Error> {
    let corrupt = |detail: &str| Error::Corrupt {
        id: *id,
        detail: detail.to_string(),
    };
    let (&codec, rest) = frame.split_first().ok_or_else(|| corrupt("empty frame"))?;
    let (&kind, rest) = rest
        .split_first()
        .ok_or_else(|| corrupt("frame shorter than its header"))?;
    let kind = ObjectKind::from_tag(kind).ok_or_else(|| corrupt("unknown object kind"))?;
    let (raw_len, used) = varint::read(rest).ok_or_else(|| corrupt("bad length field"))?;
    let mut header_len = 2 + used;
    let codec = match codec {
        CODEC_RAW => Codec::Raw,
        CODEC_ZSTD => Codec::Zstd,
        CODEC_DELTA => {
            let rest = &frame[header_len..];
            let (depth, used) = varint::read(rest).ok_or_else(|| corrupt("bad depth field"))?;
            if depth == 0 || depth > MAX_DEPTH_LIMIT {
                return Err(corrupt("delta depth out of range"));
            }
            let base = rest
                .get(used..used + 32)
                .and_then(ObjectId::from_slice)
                .ok_or_else(|| corrupt("truncated delta base"))?;
            if base == *id {
                return Err(corrupt("delta against itself"));
            }
            header_len += used + 32;
            Codec::Delta { depth, base }
        }
        _ => return Err(corrupt("unknown codec tag")),
    };
    Ok(Header {
        kind,
        raw_len,
        codec,
        header_len,
    })
}

/// Encodes `bytes` as a delta against `base` (its decoded bytes, at chain depth `depth - 1`):
/// zstd with the base as a reference prefix, the window covering base and object, long-distance
/// matching for large bases. `None` when compression fails.
pub(crate) fn encode_delta(
    kind: ObjectKind,
    bytes: &[u8],
    level: i32,
    base_id: &ObjectId,
    base: &[u8],
    depth: u64,
) -> Option<Vec<u8>> {
    use zstd::zstd_safe::{CCtx, CParameter};
    let mut out = Vec::with_capacity(48 + zstd::zstd_safe::compress_bound(bytes.len()));
    out.push(CODEC_DELTA);
    out.push(kind.tag());
    varint::write(&mut out, bytes.len() as u64);
    varint::write(&mut out, depth);
    out.extend_from_slice(base_id.as_bytes());
    let header_len = out.len();
    let mut cctx = CCtx::create();
    cctx.set_parameter(CParameter::CompressionLevel(level))
        .ok()?;
    let span = (base.len() + bytes.len()).max(1);
    let wlog = (usize::BITS - span.leading_zeros()).clamp(10, 30);
    cctx.set_parameter(CParameter::WindowLog(wlog)).ok()?;
    if span > (1 << 20) {
        cctx.set_parameter(CParameter::EnableLongDistanceMatching(true))
            .ok()?;
    }
    cctx.ref_prefix(base).ok()?;
    let mut body = Vec::with_capacity(zstd::zstd_safe::compress_bound(bytes.len()));
    cctx.compress2(&mut body, bytes).ok()?;
    out.truncate(header_len);
    out.extend_from_slice(&body);
    Some(out)
}

/// Decodes a frame and checks that its bytes hash to `id` (invariant I4). `max_size` bounds
/// the memory a frame can make us allocate, whatever length it claims. A delta frame needs its
/// base's decoded bytes in `base`.
pub(crate) fn decode_with(
    id: &ObjectId,
    frame: &[u8],
    max_size: u64,
    base: Option<&[u8]>,
) -> Result<(ObjectKind, Vec<u8>), Error> {
    let h = header(id, frame)?;
    let corrupt = |detail: String| Error::Corrupt { id: *id, detail };
    if h.raw_len > max_size {
        return Err(corrupt(format!(
            "frame claims {} bytes, more than the limit of {max_size}",
            h.raw_len
        )));
    }
    let payload = &frame[h.header_len..];
    // raw_len <= max_size, which fits in memory by the caller's choice of limit.
    let cap = usize::try_from(h.raw_len).map_err(|_| corrupt("length overflow".into()))?;
    let bytes = match h.codec {
        Codec::Raw => {
            if payload.len() != cap {
                return Err(corrupt(format!(
                    "raw payload of {} bytes, header says {}",
                    payload.len(),
                    h.raw_len
                )));
            }
            payload.to_vec()
        }
        Codec::Zstd => {
            let out =
                zstd::bulk::decompress(payload, cap).map_err(|e| corrupt(format!("zstd: {e}")))?;
            if out.len() != cap {
                return Err(corrupt(format!(
                    "decompressed to {} bytes, header says {}",
                    out.len(),
                    h.raw_len
                )));
            }
            out
        }
        Codec::Delta { .. } => {
            use zstd::zstd_safe::{DCtx, DParameter};
            let base = base.ok_or_else(|| corrupt("delta frame read without its base".into()))?;
            let mut dctx = DCtx::create();
            dctx.set_parameter(DParameter::WindowLogMax(31))
                .map_err(|_| corrupt("zstd: window".into()))?;
            dctx.ref_prefix(base)
                .map_err(|_| corrupt("zstd: prefix".into()))?;
            let mut out = Vec::with_capacity(cap);
            dctx.decompress(&mut out, payload).map_err(|code| {
                corrupt(format!(
                    "zstd delta: {}",
                    zstd::zstd_safe::get_error_name(code)
                ))
            })?;
            if out.len() != cap {
                return Err(corrupt(format!(
                    "decompressed to {} bytes, header says {}",
                    out.len(),
                    h.raw_len
                )));
            }
            out
        }
    };
    let actual = h.kind.id_of(&bytes);
    if actual != *id {
        return Err(corrupt(format!("content hashes to {actual}")));
    }
    Ok((h.kind, bytes))
}

/// [`decode_with`] for frames that need no base.
pub(crate) fn decode(
    id: &ObjectId,
    frame: &[u8],
    max_size: u64,
) -> Result<(ObjectKind, Vec<u8>), Error> {
    decode_with(id, frame, max_size, None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn node_bytes_split_back() {
        let a = ObjectId::for_blob(b"a");
        let b = node_bytes(&[a, a], b"payload");
        assert_eq!(split_node(&b), Some((vec![a, a], &b"payload"[..])));
        assert_eq!(split_node(&node_bytes(&[], b"")), Some((vec![], &b""[..])));
        // A count the bytes cannot hold.
        assert_eq!(split_node(&[5, 1, 2, 3]), None);
        // A padded (non-minimal) count: one tree must not have two encodings.
        assert_eq!(split_node(&[0x80, 0x00, 0x01, 0x00]), None);
        assert_eq!(split_node(&[0xff; 11]), None);
    }

    #[test]
    fn incompressible_and_tiny_objects_stay_raw() {
        let tiny = b"a: 1\n";
        let f = encode(ObjectKind::Blob, tiny, 3);
        assert_eq!(f[0], CODEC_RAW);
        let noise: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let f = encode(ObjectKind::Blob, &noise, 3);
        let id = ObjectId::for_blob(&noise);
        assert_eq!(decode(&id, &f, u64::MAX).unwrap().1, noise);
    }

    #[test]
    fn yaml_is_compressed() {
        let yaml = "key: value\n".repeat(200);
        let f = encode(ObjectKind::Blob, yaml.as_bytes(), 3);
        assert_eq!(f[0], CODEC_ZSTD);
        assert!(f.len() < yaml.len() / 4);
    }

    #[test]
    fn a_frame_claiming_a_huge_size_is_rejected_before_allocating() {
        let mut f = vec![CODEC_ZSTD, 0];
        varint::write(&mut f, u64::MAX / 2);
        f.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd]);
        let id = ObjectId::for_blob(b"");
        assert!(matches!(
            decode(&id, &f, 1 << 20),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn truncated_and_unknown_frames_are_corrupt_not_panics() {
        let id = ObjectId::for_blob(b"x");
        for f in [
            &[][..],
            &[0][..],
            &[0, 0][..],
            &[9, 0, 1, b'x'][..],
            &[0, 7, 1, b'x'][..],
            &[0, 0, 0xff][..],
        ] {
            assert!(
                matches!(decode(&id, f, 1 << 20), Err(Error::Corrupt { .. })),
                "{f:?}"
            );
        }
        // Raw payload of the wrong length.
        assert!(matches!(
            decode(&id, &[0, 0, 2, b'x'], 1 << 20),
            Err(Error::Corrupt { .. })
        ));
    }

    proptest! {
        #[test]
        fn encode_decode_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..20_000), node in any::<bool>(), level in 1i32..6) {
            let kind = if node { ObjectKind::Node } else { ObjectKind::Blob };
            let id = kind.id_of(&bytes);
            let f = encode(kind, &bytes, level);
            let (k, back) = decode(&id, &f, u64::MAX).unwrap();
            prop_assert_eq!(k, kind);
            prop_assert_eq!(back, bytes);
        }

        #[test]
        fn repetitive_round_trips(unit in proptest::collection::vec(any::<u8>(), 1..64), n in 1usize..5000) {
            let bytes: Vec<u8> = unit.iter().copied().cycle().take(unit.len() * n).collect();
            let id = ObjectId::for_blob(&bytes);
            let f = encode(ObjectKind::Blob, &bytes, 3);
            prop_assert!(f.len() <= bytes.len() + 12);
            prop_assert_eq!(decode(&id, &f, u64::MAX).unwrap().1, bytes);
        }

        #[test]
        fn delta_round_trips(base in proptest::collection::vec(any::<u8>(), 0..5000), edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 0..20), tail in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut data = base.clone();
            for (at, b) in edits {
                if !data.is_empty() {
                    let i = usize::from(at) % data.len();
                    data[i] = b;
                }
            }
            data.extend(tail);
            let base_id = ObjectId::for_blob(&base);
            let id = ObjectId::for_blob(&data);
            prop_assume!(id != base_id);
            let f = encode_delta(ObjectKind::Blob, &data, 3, &base_id, &base, 1).unwrap();
            prop_assert_eq!(header(&id, &f).unwrap().base(), Some(base_id));
            prop_assert_eq!(&decode_with(&id, &f, u64::MAX, Some(&base)).unwrap().1, &data);
            // Without its base it is corrupt; with another base it is corrupt or (when the
            // base did not matter) right, never wrong bytes.
            prop_assert!(decode(&id, &f, u64::MAX).is_err());
            let mut other = base.clone();
            other.push(1);
            if let Ok((_, b)) = decode_with(&id, &f, u64::MAX, Some(&other)) {
                prop_assert_eq!(b, data);
            }
        }

        #[test]
        fn decoding_garbage_never_panics(frame in proptest::collection::vec(any::<u8>(), 0..256)) {
            let id = ObjectId::for_blob(b"");
            let _ = decode(&id, &frame, 1 << 20);
        }

    }
}
