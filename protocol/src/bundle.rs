//! Bundle streams: the header that opens each stream of bundle bytes, and the receiver that checks the
//! bytes against it.
//!
//! The control plane sends each requested bundle on its own unidirectional stream: a fixed 44-byte
//! header, then exactly `length` raw bytes.
//!
//! ```text
//! +-----------------+--------------------+-----------------+----------------------+
//! | magic "OPB" + 1 | SHA-256 (32 bytes) | length: u64 BE  | bundle bytes (length) |
//! +-----------------+--------------------+-----------------+----------------------+
//! ```
//!
//! The node checks the header with [`crate::NodeSync::handle_bundle_header`] (was it requested, is the
//! length the assigned size), feeds the bytes to a [`BundleReceiver`], and reports
//! [`crate::NodeSync::bundle_stored`] or, when the bytes do not hash to the announced hash,
//! [`crate::NodeSync::bundle_refused`].

use bytes::{Buf, BufMut, BytesMut};
use sha2::{Digest, Sha256};

use crate::codec::DecodeError;
use crate::types::BundleHash;

/// The first four bytes of a bundle stream: `OPB` and the bundle stream format version.
pub const BUNDLE_MAGIC: [u8; 4] = *b"OPB\x01";

/// The header opening a bundle stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BundleHeader {
    /// SHA-256 of the bytes that follow.
    pub hash: BundleHash,
    /// How many bytes follow.
    pub length: u64,
}

impl BundleHeader {
    /// Encoded length of a header.
    pub const LEN: usize = 4 + 32 + 8;

    /// The header's bytes.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..4].copy_from_slice(&BUNDLE_MAGIC);
        out[4..36].copy_from_slice(&self.hash.0);
        out[36..].copy_from_slice(&self.length.to_be_bytes());
        out
    }

    /// Appends the header to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_slice(&self.to_bytes());
    }

    /// Takes a header off the front of `src`; `Ok(None)` until [`BundleHeader::LEN`] bytes are there.
    /// A bundle longer than `max_length` is refused here, before any of it is read.
    pub fn decode(src: &mut BytesMut, max_length: u64) -> Result<Option<Self>, DecodeError> {
        if src.len() >= 3 && src[..3] != BUNDLE_MAGIC[..3] {
            return Err(DecodeError::BadMagic);
        }
        if src.len() >= 4 && src[3] != BUNDLE_MAGIC[3] {
            return Err(DecodeError::UnsupportedVersion {
                got: u16::from(src[3]),
                supported: u16::from(BUNDLE_MAGIC[3]),
            });
        }
        if src.len() < Self::LEN {
            return Ok(None);
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&src[4..36]);
        let length = u64::from_be_bytes(src[36..44].try_into().unwrap_or([0xff; 8]));
        if length > max_length {
            return Err(DecodeError::BundleTooLarge {
                len: length,
                max: max_length,
            });
        }
        src.advance(Self::LEN);
        Ok(Some(Self {
            hash: BundleHash(hash),
            length,
        }))
    }
}

/// Why received bundle bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// More bytes than the header announced.
    #[error("bundle {hash} is longer than the {expected} bytes its header announced")]
    TooLong {
        /// The bundle.
        hash: BundleHash,
        /// Announced length.
        expected: u64,
    },
    /// The stream ended before the announced length.
    #[error("bundle {hash} ended after {received} of {expected} bytes")]
    TooShort {
        /// The bundle.
        hash: BundleHash,
        /// Bytes received.
        received: u64,
        /// Announced length.
        expected: u64,
    },
    /// The bytes do not hash to the announced hash: tampered or corrupted.
    #[error("bundle {expected} refused as tampered: its bytes hash to {actual}")]
    HashMismatch {
        /// The announced (and assigned) hash.
        expected: BundleHash,
        /// What the bytes hash to.
        actual: BundleHash,
    },
}

/// Hashes bundle bytes as they arrive and checks them against their header.
#[derive(Clone, Debug)]
pub struct BundleReceiver {
    header: BundleHeader,
    hasher: Sha256,
    received: u64,
}

impl BundleReceiver {
    /// A receiver for the bytes announced by `header`.
    pub fn new(header: BundleHeader) -> Self {
        Self {
            header,
            hasher: Sha256::new(),
            received: 0,
        }
    }

    /// The header being received.
    pub fn header(&self) -> &BundleHeader {
        &self.header
    }

    /// Bytes still expected.
    pub fn remaining(&self) -> u64 {
        self.header.length - self.received
    }

    /// Feeds the next chunk of bytes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), BundleError> {
        let len = chunk.len() as u64;
        if len > self.remaining() {
            return Err(BundleError::TooLong {
                hash: self.header.hash,
                expected: self.header.length,
            });
        }
        self.hasher.update(chunk);
        self.received += len;
        Ok(())
    }

    /// At the end of the stream: the bundle is complete and intact, or why not.
    pub fn finish(self) -> Result<BundleHash, BundleError> {
        if self.received != self.header.length {
            return Err(BundleError::TooShort {
                hash: self.header.hash,
                received: self.received,
                expected: self.header.length,
            });
        }
        let actual = BundleHash(self.hasher.finalize().into());
        if actual != self.header.hash {
            return Err(BundleError::HashMismatch {
                expected: self.header.hash,
                actual,
            });
        }
        Ok(actual)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_incrementally() {
        let header = BundleHeader {
            hash: BundleHash::of(b"x"),
            length: 1,
        };
        let bytes = header.to_bytes();
        let mut buf = BytesMut::new();
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(BundleHeader::decode(&mut buf, 10), Ok(None), "after {i} bytes");
            buf.put_u8(*b);
        }
        buf.put_u8(b'x');
        assert_eq!(BundleHeader::decode(&mut buf, 10), Ok(Some(header)));
        assert_eq!(&buf[..], b"x", "the bundle bytes stay in the buffer");
    }

    #[test]
    fn header_errors() {
        let mut bad = BytesMut::from(&b"GET / HTTP/1.1"[..]);
        assert_eq!(BundleHeader::decode(&mut bad, 10), Err(DecodeError::BadMagic));
        let mut v2 = BytesMut::from(&b"OPB\x02"[..]);
        assert_eq!(
            BundleHeader::decode(&mut v2, 10),
            Err(DecodeError::UnsupportedVersion { got: 2, supported: 1 })
        );
        let mut big = BytesMut::new();
        BundleHeader {
            hash: BundleHash([0; 32]),
            length: 11,
        }
        .encode(&mut big);
        assert_eq!(
            BundleHeader::decode(&mut big, 10),
            Err(DecodeError::BundleTooLarge { len: 11, max: 10 })
        );
    }

    #[test]
    fn receiver_accepts_intact_and_refuses_tampered_bytes() {
        let data = b"export default { fetch() { return new Response('hi') } }";
        let header = BundleHeader {
            hash: BundleHash::of(data),
            length: data.len() as u64,
        };

        let mut ok = BundleReceiver::new(header);
        for chunk in data.chunks(7) {
            ok.push(chunk).unwrap();
        }
        assert_eq!(ok.remaining(), 0);
        assert_eq!(ok.finish(), Ok(header.hash));

        let mut tampered = data.to_vec();
        tampered[20] ^= 1;
        let mut rx = BundleReceiver::new(header);
        rx.push(&tampered).unwrap();
        let err = rx.finish().unwrap_err();
        assert!(matches!(err, BundleError::HashMismatch { expected, .. } if expected == header.hash));
        assert!(err.to_string().contains("refused as tampered"), "{err}");

        let mut short = BundleReceiver::new(header);
        short.push(&data[..10]).unwrap();
        assert!(matches!(
            short.finish(),
            Err(BundleError::TooShort { received: 10, .. })
        ));

        let mut long = BundleReceiver::new(header);
        long.push(data).unwrap();
        assert!(matches!(long.push(b"!"), Err(BundleError::TooLong { .. })));
    }
}
