//! The bundle archive: the bytes a deployment version consists of, as they travel on a bundle stream
//! and sit in a node's store, hashed (SHA-256) to name them.
//!
//! The archive is compact JSON with a fixed field order and files sorted by path, so the same upload
//! always yields the same bytes and the same hash:
//!
//! ```json
//! {"format":1,"main":"index.js","manifest_file":"outpost.toml","manifest":"name = …","files":{"index.js":"…"}}
//! ```
//!
//! It holds file contents only (no modes, no links). A node checks an archive with
//! [`BundleArchive::from_bytes`] before it loads it: the format, the entry module and every path.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Format version written in every archive.
pub const ARCHIVE_FORMAT: u32 = 1;

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

/// Why archive bytes were not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not the JSON of an archive.
    #[error("not a bundle archive: {0}")]
    Json(#[from] serde_json::Error),
    /// Another format version.
    #[error("bundle archive format {0} is not supported (this build reads format {ARCHIVE_FORMAT})")]
    Format(u32),
    /// The entry module is not among the files.
    #[error("the entry module '{0}' is not in the bundle")]
    NoMain(String),
    /// A path that is absolute, climbs out of the bundle or is otherwise unusable.
    #[error("invalid path '{0}' in the bundle")]
    Path(String),
}

impl BundleArchive {
    /// The archive's canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain strings and maps into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads an archive back from its bytes and checks it: the format, every path (relative,
    /// `/`-separated, no `.` or `..` segment, no backslash or control character) and that the entry
    /// module is one of the files.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ArchiveError> {
        let archive: BundleArchive = serde_json::from_slice(bytes)?;
        if archive.format != ARCHIVE_FORMAT {
            return Err(ArchiveError::Format(archive.format));
        }
        for path in archive.files.keys() {
            if !valid_path(path) {
                return Err(ArchiveError::Path(path.clone()));
            }
        }
        if !archive.files.contains_key(&archive.main) {
            return Err(ArchiveError::NoMain(archive.main.clone()));
        }
        Ok(archive)
    }
}

fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 1024
        && !path.starts_with('/')
        && !path.chars().any(|c| c == '\\' || c.is_control())
        && path.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive() -> BundleArchive {
        let mut files = BTreeMap::new();
        files.insert("b.js".to_string(), "export const b = 1;".to_string());
        files.insert("a.js".to_string(), "import './b.js';".to_string());
        BundleArchive {
            format: ARCHIVE_FORMAT,
            main: "a.js".into(),
            manifest_file: None,
            manifest: None,
            files,
        }
    }

    #[test]
    fn bytes_are_canonical_and_round_trip() {
        let a = archive();
        let bytes = a.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"format":1,"main":"a.js","manifest_file":null,"#),
            "{text}"
        );
        assert!(text.find("a.js\":\"import").unwrap() < text.find("b.js\":").unwrap());
        assert_eq!(BundleArchive::from_bytes(&bytes).unwrap(), a);
    }

    #[test]
    fn bad_archives_are_refused_with_the_reason() {
        assert!(matches!(BundleArchive::from_bytes(b"{"), Err(ArchiveError::Json(_))));
        let mut other = archive();
        other.format = 2;
        assert!(matches!(
            BundleArchive::from_bytes(&other.to_bytes()),
            Err(ArchiveError::Format(2))
        ));
        let mut no_main = archive();
        no_main.main = "c.js".into();
        assert!(matches!(
            BundleArchive::from_bytes(&no_main.to_bytes()),
            Err(ArchiveError::NoMain(_))
        ));
        for bad in ["/etc/passwd", "../x.js", "a/./b.js", "a//b.js", "a\\b.js", ""] {
            let mut a = archive();
            a.files.insert(bad.to_string(), String::new());
            assert!(
                matches!(BundleArchive::from_bytes(&a.to_bytes()), Err(ArchiveError::Path(_))),
                "{bad}"
            );
        }
        let unknown = br#"{"format":1,"main":"a.js","manifest_file":null,"manifest":null,"files":{"a.js":""},"x":1}"#;
        assert!(matches!(BundleArchive::from_bytes(unknown), Err(ArchiveError::Json(_))));
    }
}
