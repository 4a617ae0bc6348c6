//! The bundle archive: the exact bytes a deployment version consists of,
//! hashed (SHA-256) to name it and signed (Ed25519) by the control plane.
//!
//! The archive is compact JSON with a fixed field order and files sorted by
//! path, so the same upload always yields the same bytes and the same hash:
//!
//! ```json
//! {"format":1,"main":"index.js","manifest_file":"outpost.toml","manifest":"name = …","files":{"index.js":"…"}}
//! ```
//!
//! It holds file contents only (no modes, no links), so an archive cannot
//! carry a symlink; paths are checked by [`crate::validate`] before an
//! archive is built.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Format version written in every archive.
pub const ARCHIVE_FORMAT: u32 = 1;

/// Domain separation prefix of the bytes the control plane signs for a
/// bundle: this, then the 32-byte SHA-256 of the archive.
pub const BUNDLE_SIGNATURE_CONTEXT: &[u8] = b"outpost bundle hash v1\0";

/// A deployment version's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleArchive {
    /// [`ARCHIVE_FORMAT`].
    pub format: u32,
    /// The entry module's path.
    pub main: String,
    /// `outpost.toml` or `wrangler.toml`, when the upload had a manifest.
    pub manifest_file: Option<String>,
    /// The manifest's text.
    pub manifest: Option<String>,
    /// Module files by `/`-separated relative path.
    pub files: BTreeMap<String, String>,
}

impl BundleArchive {
    /// The archive's canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain strings and maps into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads an archive back from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// The bytes signed for a bundle whose archive hashes to `hash`.
pub fn signing_payload(hash: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(BUNDLE_SIGNATURE_CONTEXT.len() + 32);
    out.extend_from_slice(BUNDLE_SIGNATURE_CONTEXT);
    out.extend_from_slice(hash);
    out
}

/// Checks a bundle signature against the control plane's Ed25519 public key
/// (32 raw bytes).
pub fn verify_signature(public_key: &[u8], hash: &[u8; 32], signature: &[u8]) -> bool {
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
        .verify(&signing_payload(hash), signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_bytes_are_canonical_and_round_trip() {
        let mut files = BTreeMap::new();
        files.insert("b.js".to_string(), "export const b = 1;".to_string());
        files.insert("a.js".to_string(), "import './b.js';".to_string());
        let archive = BundleArchive {
            format: ARCHIVE_FORMAT,
            main: "a.js".into(),
            manifest_file: None,
            manifest: None,
            files,
        };
        let bytes = archive.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(r#"{"format":1,"main":"a.js","#), "{text}");
        assert!(text.find("a.js\":\"import").unwrap() < text.find("b.js\":").unwrap());
        assert_eq!(BundleArchive::from_bytes(&bytes).unwrap(), archive);
        assert_eq!(sha256(&bytes), sha256(&archive.clone().to_bytes()));
    }

    #[test]
    fn sha256_and_hex() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
