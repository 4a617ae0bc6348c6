//! The node's disk: content-addressed bundles under `DATA/bundles/<sha256 hex>`, and the state file
//! `DATA/state.json` (the last completed revision, what runs, the bundles refused as tampered).
//!
//! Every file is written to a temporary name in the same folder, synced, renamed over its final
//! name and the folder synced, so a crash leaves the old file or the new one, never half of one. A
//! restarted node reads both and serves what it ran without the control plane.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use outpost_protocol::join::{hex, parse_hex32};
use outpost_protocol::{Assignment, BundleHash, DeploymentKey, Inventory, Limits, Signature};
use serde::{Deserialize, Serialize};

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the folder) with
/// permissions `mode`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".tmp-{name}"));
    {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

/// Syncs the folder holding `path`, so a rename into it survives a crash.
pub(crate) fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Bundles by hash, one file each.
#[derive(Debug)]
pub(crate) struct BundleStore {
    dir: PathBuf,
    next_tmp: AtomicU64,
}

impl BundleStore {
    /// Opens (creating) `dir`, removing temporary files a crash left behind.
    pub(crate) fn open(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(BundleStore {
            dir,
            next_tmp: AtomicU64::new(0),
        })
    }

    /// Where bundle `hash` is kept.
    pub(crate) fn path(&self, hash: &BundleHash) -> PathBuf {
        self.dir.join(hash.to_hex())
    }

    /// A fresh temporary path to receive bundle `hash` into.
    pub(crate) fn temp_path(&self, hash: &BundleHash) -> PathBuf {
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!(".tmp-{}-{n}", hash.to_hex()))
    }

    /// Every bundle in the store (files named by a hash).
    pub(crate) fn list(&self) -> std::io::Result<Vec<BundleHash>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if let Some(hash) = parse_hex32(&entry.file_name().to_string_lossy()) {
                out.push(BundleHash(hash));
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The state file's layout: hashes, signatures and variables in hex, so the file is plain text.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    format: u32,
    revision: u64,
    running: Vec<StoredAssignment>,
    refused: Vec<StoredRefusal>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredAssignment {
    name: String,
    env: String,
    version: u64,
    bundle: String,
    size: u64,
    signature: String,
    cpu_time_ms: u32,
    heap_bytes: u64,
    wall_time_ms: u32,
    vars: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRefusal {
    bundle: String,
    reason: String,
}

const STATE_FORMAT: u32 = 1;

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|p| {
            let hi = char::from(p[0]).to_digit(16)?;
            let lo = char::from(p[1]).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

/// The state file of `data`.
pub(crate) fn state_path(data: &Path) -> PathBuf {
    data.join("state.json")
}

/// Writes `inventory` (its bundle list aside: the store's files are the truth) to the state file.
pub(crate) fn save_state(data: &Path, inventory: &Inventory) -> std::io::Result<()> {
    let file = StateFile {
        format: STATE_FORMAT,
        revision: inventory.revision,
        running: inventory
            .running
            .iter()
            .map(|a| StoredAssignment {
                name: a.key.name.clone(),
                env: a.key.env.clone(),
                version: a.version,
                bundle: a.bundle.to_hex(),
                size: a.size,
                signature: hex(&a.signature.0),
                cpu_time_ms: a.limits.cpu_time_ms,
                heap_bytes: a.limits.heap_bytes,
                wall_time_ms: a.limits.wall_time_ms,
                vars: hex(&a.vars),
            })
            .collect(),
        refused: inventory
            .refused
            .iter()
            .map(|(h, reason)| StoredRefusal {
                bundle: h.to_hex(),
                reason: reason.clone(),
            })
            .collect(),
    };
    let mut bytes = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(&state_path(data), &bytes, 0o600)
}

/// Reads the state file of `data`; a node that never completed a revision has none (the default).
pub(crate) fn load_state(data: &Path) -> Result<Inventory, String> {
    let path = state_path(data);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Inventory::default()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let bad = |what: &str| format!("{}: {what}", path.display());
    let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| bad(&e.to_string()))?;
    if file.format != STATE_FORMAT {
        return Err(bad(&format!("state format {} is not supported", file.format)));
    }
    let mut running = Vec::new();
    for a in file.running {
        let bundle = parse_hex32(&a.bundle).ok_or_else(|| bad("a bundle hash is not 64 hex digits"))?;
        let signature: [u8; 64] = unhex(&a.signature)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("a signature is not 128 hex digits"))?;
        running.push(Assignment {
            key: DeploymentKey::new(a.name, a.env),
            version: a.version,
            bundle: BundleHash(bundle),
            size: a.size,
            signature: Signature(signature),
            limits: Limits {
                cpu_time_ms: a.cpu_time_ms,
                heap_bytes: a.heap_bytes,
                wall_time_ms: a.wall_time_ms,
            },
            vars: unhex(&a.vars).ok_or_else(|| bad("vars are not hex"))?,
        });
    }
    let mut refused = Vec::new();
    for r in file.refused {
        let hash = parse_hex32(&r.bundle).ok_or_else(|| bad("a refused bundle hash is not 64 hex digits"))?;
        refused.push((BundleHash(hash), r.reason));
    }
    Ok(Inventory {
        revision: file.revision,
        running,
        bundles: Vec::new(),
        refused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn tmp(tag: &str) -> Tmp {
        let p = std::env::temp_dir().join(format!("outpost-agent-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }

    #[test]
    fn state_round_trips_and_is_private() {
        let dir = tmp("state");
        assert_eq!(load_state(&dir.0).unwrap(), Inventory::default());
        let inventory = Inventory {
            revision: 7,
            running: vec![Assignment {
                key: DeploymentKey::new("hello", "staging"),
                version: 3,
                bundle: BundleHash::of(b"x"),
                size: 1,
                signature: Signature([9; 64]),
                limits: Limits {
                    cpu_time_ms: 10,
                    heap_bytes: 1 << 20,
                    wall_time_ms: 1000,
                },
                vars: br#"{"A":"b"}"#.to_vec(),
            }],
            bundles: Vec::new(),
            refused: vec![(BundleHash::of(b"y"), "tampered".into())],
        };
        save_state(&dir.0, &inventory).unwrap();
        assert_eq!(load_state(&dir.0).unwrap(), inventory);
        let mode = std::fs::metadata(state_path(&dir.0)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::write(state_path(&dir.0), b"{").unwrap();
        assert!(load_state(&dir.0).unwrap_err().contains("state.json"));
    }

    #[test]
    fn store_lists_bundles_and_drops_leftover_temporaries() {
        let dir = tmp("bundles");
        let store = BundleStore::open(dir.0.join("bundles")).unwrap();
        let hash = BundleHash::of(b"bundle");
        std::fs::write(store.path(&hash), b"bundle").unwrap();
        std::fs::write(store.temp_path(&hash), b"bun").unwrap();
        std::fs::write(dir.0.join("bundles").join("notes.txt"), b"").unwrap();
        let store = BundleStore::open(dir.0.join("bundles")).unwrap();
        assert_eq!(store.list().unwrap(), vec![hash]);
        let leftovers = std::fs::read_dir(dir.0.join("bundles"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".tmp-"))
            .count();
        assert_eq!(leftovers, 0);
    }
}
