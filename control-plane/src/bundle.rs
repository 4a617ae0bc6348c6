//! The bundle archive: the exact bytes a deployment version consists of,
//! hashed (SHA-256) to name it. The format is the protocol's
//! ([`outpost_protocol::archive`]), the one nodes store and load, so the
//! control plane and the nodes cannot disagree about it:
//!
//! ```json
//! {"format":1,"main":"index.js","manifest_file":"outpost.toml","manifest":"name = …","files":{"index.js":"…"}}
//! ```
//!
//! A version is not signed by itself: what a node runs is an assignment
//! (deployment, environment, version, bundle hash, limits, variables), and
//! the control plane signs each assignment it sends
//! ([`crate::desired`]). Paths are checked by [`crate::validate`] before an
//! archive is built.

pub use outpost_protocol::archive::{ARCHIVE_FORMAT, ArchiveError, BundleArchive};

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    outpost_protocol::join::hex(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_and_hex() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
