//! Joining a node to the cluster: the join token, and the request and answer exchanged on the join
//! connection.
//!
//! A node starts with nothing but the control plane's address and a **join token**
//! `<secret>.<sha256-hex of the cluster CA certificate (DER)>`. The second part pins the cluster's CA
//! before the node trusts anything: the node dials the control plane over QUIC with ALPN
//! [`JOIN_ALPN`] and no client certificate, accepts the server only if the chain it presents contains
//! a CA certificate with that hash and the server certificate chains to it (for the name
//! [`CONTROL_SERVER_NAME`]), then sends one [`JoinRequest`] — the secret, a CSR for a key it made, its
//! region and the name it asks for — on a bidirectional stream and finishes it. The control plane
//! checks the secret, signs a client certificate for the node (common name = node id) with the CA and
//! answers one [`JoinResponse`]. Each side's message is the whole of its half of the stream
//! (postcard-encoded like control messages, at most [`MAX_JOIN_MESSAGE`] bytes).
//!
//! Later connections use ALPN [`CONTROL_ALPN`] with mutual TLS: the node presents the certificate it
//! was given, and the control plane accepts only certificates issued by its CA.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::message::PROTOCOL_VERSION;

/// ALPN protocol of the join connection (server authentication only).
pub const JOIN_ALPN: &[u8] = b"outpost-join/1";

/// ALPN protocol of the node's control connection (mutual TLS).
pub const CONTROL_ALPN: &[u8] = b"outpost/1";

/// The name nodes verify the control plane's QUIC certificate for, whatever address they dial: the
/// cluster CA is pinned, so the address need not be in the certificate.
pub const CONTROL_SERVER_NAME: &str = "outpost-control";

/// The most bytes a [`JoinRequest`] or [`JoinResponse`] may take.
pub const MAX_JOIN_MESSAGE: usize = 64 << 10;

/// The join token for `secret` and the cluster CA certificate `ca_der`:
/// `<secret>.<sha256-hex of ca_der>`.
pub fn token(secret: &str, ca_der: &[u8]) -> String {
    format!("{secret}.{}", hex(&Sha256::digest(ca_der)))
}

/// A parsed join token.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// The secret the control plane checks.
    pub secret: String,
    /// SHA-256 of the cluster CA certificate (DER) the node must find.
    pub ca_sha256: [u8; 32],
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("secret", &"…")
            .field("ca_sha256", &hex(&self.ca_sha256))
            .finish()
    }
}

/// Why a join token could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinTokenError {
    /// No `.` separating the secret from the CA hash.
    #[error("not a join token: expected SECRET.CA_SHA256 (the control plane prints it as `join token: …`)")]
    Shape,
    /// The secret part is empty or has characters a token never has.
    #[error("the join token's secret is empty or has characters other than letters, digits, '-' and '_'")]
    Secret,
    /// The part after the last `.` is not 64 hex digits.
    #[error("the join token's CA hash is not 64 hex digits")]
    CaHash,
}

impl JoinToken {
    /// Reads `<secret>.<64 hex digits>` (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<Self, JoinTokenError> {
        let (secret, hash) = text.trim().rsplit_once('.').ok_or(JoinTokenError::Shape)?;
        if secret.is_empty()
            || secret.len() > 256
            || !secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(JoinTokenError::Secret);
        }
        let ca_sha256 = parse_hex32(hash).ok_or(JoinTokenError::CaHash)?;
        Ok(Self {
            secret: secret.to_string(),
            ca_sha256,
        })
    }

    /// Whether `ca_der` is the CA certificate this token pins.
    pub fn pins(&self, ca_der: &[u8]) -> bool {
        Sha256::digest(ca_der).as_slice() == self.ca_sha256
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.secret, hex(&self.ca_sha256))
    }
}

/// Whether `name` can be a node id or a region name: 1–63 lowercase letters, digits and `-`, not
/// starting or ending with `-` (a DNS label, so it fits in certificates and logs as is).
pub fn valid_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Node → control plane on the join connection.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// Must be the first field: read before the rest.
    pub protocol_version: u16,
    /// The join token's secret.
    pub secret: String,
    /// The node id asked for (see [`valid_label`]).
    pub node_id: String,
    /// The region the node serves.
    pub region: String,
    /// A PKCS#10 certificate signing request (DER) for the node's key.
    pub csr_der: Vec<u8>,
}

impl fmt::Debug for JoinRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinRequest")
            .field("protocol_version", &self.protocol_version)
            .field("secret", &"…")
            .field("node_id", &self.node_id)
            .field("region", &self.region)
            .field("csr_der", &format_args!("{} bytes", self.csr_der.len()))
            .finish()
    }
}

/// What a node receives when its join is accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinAccepted {
    /// The node's id, the common name of its certificate.
    pub node_id: String,
    /// The node's client certificate (DER), issued by the cluster CA.
    pub certificate_der: Vec<u8>,
    /// The cluster CA certificate (DER); its hash is the one the token pins.
    pub ca_der: Vec<u8>,
    /// The Ed25519 public key that signs assignments (see [`crate::Assignment::signing_payload`]).
    pub signing_public_key: [u8; 32],
    /// The DNS zone deployments answer under (`NAME.<zone>`).
    pub zone: String,
}

/// Why a join was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinRefusal {
    /// The secret is not the cluster's join secret.
    BadToken,
    /// The request is malformed (node id, CSR).
    BadRequest,
    /// The node speaks another protocol version.
    UnsupportedVersion {
        /// The version the control plane speaks.
        supported: u16,
    },
    /// The control plane failed to issue the certificate.
    Internal,
}

/// Control plane → node on the join connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinResponse {
    /// The node is a member; here is its identity.
    Accepted(JoinAccepted),
    /// The join was refused.
    Refused {
        /// Machine-readable reason.
        reason: JoinRefusal,
        /// Human-readable explanation.
        message: String,
    },
}

/// Why a join message could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinCodecError {
    /// More than [`MAX_JOIN_MESSAGE`] bytes.
    #[error("join message of {0} bytes exceeds the maximum of {MAX_JOIN_MESSAGE} bytes")]
    Oversize(usize),
    /// The request is of another protocol version.
    #[error("unsupported protocol version {got}: this side speaks version {supported}")]
    UnsupportedVersion {
        /// The version received.
        got: u16,
        /// The version spoken here.
        supported: u16,
    },
    /// The bytes are not a valid encoding of the message.
    #[error("malformed join message: {0}")]
    Malformed(String),
}

/// Encodes a join message (the whole of one side's half of the join stream).
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, JoinCodecError> {
    let bytes = postcard::to_allocvec(message).map_err(|e| JoinCodecError::Malformed(e.to_string()))?;
    if bytes.len() > MAX_JOIN_MESSAGE {
        return Err(JoinCodecError::Oversize(bytes.len()));
    }
    Ok(bytes)
}

/// Decodes a [`JoinRequest`], checking its protocol version before the rest.
pub fn decode_request(bytes: &[u8]) -> Result<JoinRequest, JoinCodecError> {
    if bytes.len() > MAX_JOIN_MESSAGE {
        return Err(JoinCodecError::Oversize(bytes.len()));
    }
    let (got, _) = postcard::take_from_bytes::<u16>(bytes).map_err(|e| JoinCodecError::Malformed(e.to_string()))?;
    if got != PROTOCOL_VERSION {
        return Err(JoinCodecError::UnsupportedVersion {
            got,
            supported: PROTOCOL_VERSION,
        });
    }
    decode_exact(bytes)
}

/// Decodes a [`JoinResponse`].
pub fn decode_response(bytes: &[u8]) -> Result<JoinResponse, JoinCodecError> {
    if bytes.len() > MAX_JOIN_MESSAGE {
        return Err(JoinCodecError::Oversize(bytes.len()));
    }
    decode_exact(bytes)
}

fn decode_exact<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, JoinCodecError> {
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| JoinCodecError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(JoinCodecError::Malformed(format!("{} trailing bytes", rest.len())));
    }
    Ok(value)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Reads 64 hex digits (either case) as 32 bytes.
pub fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_and_pins_the_ca() {
        let ca = b"not really a certificate, but bytes all the same";
        let text = token("op_join_AbC-_9", ca);
        let (_, hash) = text.rsplit_once('.').unwrap();
        assert_eq!(hash, hex(&Sha256::digest(ca)));
        let parsed = JoinToken::parse(&format!("  {text}\n")).unwrap();
        assert_eq!(parsed.secret, "op_join_AbC-_9");
        assert!(parsed.pins(ca));
        assert!(!parsed.pins(b"another CA"));
        assert_eq!(parsed.to_string(), text);
        assert!(!format!("{parsed:?}").contains("AbC"), "Debug hides the secret");
    }

    #[test]
    fn malformed_tokens_are_refused_with_the_reason() {
        let hash = "a".repeat(64);
        assert_eq!(JoinToken::parse("op_join_x"), Err(JoinTokenError::Shape));
        assert_eq!(JoinToken::parse(&format!(".{hash}")), Err(JoinTokenError::Secret));
        assert_eq!(JoinToken::parse(&format!("a b.{hash}")), Err(JoinTokenError::Secret));
        assert_eq!(JoinToken::parse("secret.abc"), Err(JoinTokenError::CaHash));
        assert_eq!(
            JoinToken::parse(&format!("secret.{}", "g".repeat(64))),
            Err(JoinTokenError::CaHash)
        );
        assert!(JoinToken::parse(&format!("secret.{}", "A".repeat(64))).is_ok());
    }

    #[test]
    fn node_ids_and_regions_are_dns_labels() {
        for ok in ["fra-1", "a", "node0", &"x".repeat(63)] {
            assert!(valid_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"x".repeat(64)] {
            assert!(!valid_label(bad), "{bad}");
        }
    }

    #[test]
    fn join_messages_round_trip_and_check_the_version() {
        let request = JoinRequest {
            protocol_version: PROTOCOL_VERSION,
            secret: "s".into(),
            node_id: "fra-1".into(),
            region: "fra".into(),
            csr_der: vec![1, 2, 3],
        };
        let bytes = encode(&request).unwrap();
        assert_eq!(decode_request(&bytes).unwrap(), request);
        let mut other = request.clone();
        other.protocol_version = PROTOCOL_VERSION + 1;
        assert_eq!(
            decode_request(&encode(&other).unwrap()),
            Err(JoinCodecError::UnsupportedVersion {
                got: PROTOCOL_VERSION + 1,
                supported: PROTOCOL_VERSION
            })
        );
        assert!(matches!(
            decode_request(&bytes[..bytes.len() - 1]),
            Err(JoinCodecError::Malformed(_))
        ));
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(decode_request(&long), Err(JoinCodecError::Malformed(_))));
        assert!(matches!(
            decode_request(&vec![0; MAX_JOIN_MESSAGE + 1]),
            Err(JoinCodecError::Oversize(_))
        ));

        let response = JoinResponse::Accepted(JoinAccepted {
            node_id: "fra-1".into(),
            certificate_der: vec![4; 300],
            ca_der: vec![5; 300],
            signing_public_key: [7; 32],
            zone: "example.com".into(),
        });
        assert_eq!(decode_response(&encode(&response).unwrap()).unwrap(), response);
        let refused = JoinResponse::Refused {
            reason: JoinRefusal::BadToken,
            message: "no".into(),
        };
        assert_eq!(decode_response(&encode(&refused).unwrap()).unwrap(), refused);
    }

    #[test]
    fn hex_round_trips() {
        let bytes: [u8; 32] = core::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(parse_hex32(&hex(&bytes)), Some(bytes));
        assert_eq!(parse_hex32("00"), None);
    }
}
