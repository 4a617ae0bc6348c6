//! From the store to the nodes: the desired state every node should run, computed from the store
//! after each committed change and published to [`crate::distribution`] on a `watch` channel, and
//! the bundle bytes distribution sends, read from the store.
//!
//! Every environment of every deployment becomes one [`Assignment`]: the version the environment
//! points at, its bundle's hash and size, the `[limits]` of its manifest, and its variables (the
//! manifest's `[vars]` with the environment's secrets over them), signed with the cluster's key
//! over [`Assignment::signing_payload`]. The revision is the store's, raised in the transaction of
//! each change, so it only grows, across restarts too. The same store contents always give the
//! same assignments byte for byte (Ed25519 signatures are deterministic), so a restarted control
//! plane sends a node nothing it already runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use outpost_protocol::manifest::Manifest;
use outpost_protocol::{Assignment, BundleHash, DeploymentKey, DesiredState, Limits, Signature};
use ring::signature::Ed25519KeyPair;
use tokio::sync::watch;

use crate::distribution::{BundleSource, sign_assignment};
use crate::identity::Identity;
use crate::store::{ActiveVersion, DesiredSnapshot, Store, StoreError};

/// Turns a store snapshot into the signed desired state.
pub fn desired_state(snapshot: &DesiredSnapshot, key: &Ed25519KeyPair) -> DesiredState {
    DesiredState::new(
        snapshot.revision,
        snapshot.versions.iter().map(|active| assignment(active, key)),
    )
}

/// The signed assignment of one environment's version.
pub fn assignment(active: &ActiveVersion, key: &Ed25519KeyPair) -> Assignment {
    let manifest = match (&active.manifest_file, &active.manifest) {
        (Some(file), Some(text)) => match Manifest::parse(file, text, file == "outpost.toml") {
            Ok(m) => Some(m),
            Err(e) => {
                // It was accepted at deploy; a manifest this build cannot read still runs, with the
                // node's default limits and only its secrets as variables.
                tracing::warn!(deployment = %active.name, version = active.version, "cannot read the manifest: {e}");
                None
            }
        },
        _ => None,
    };
    let mut vars: BTreeMap<String, serde_json::Value> = manifest.as_ref().map(Manifest::vars_json).unwrap_or_default();
    for (k, v) in &active.secrets {
        vars.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    let limits = manifest.map_or_else(Limits::default, |m| {
        let clamp32 = |v: Option<u64>| v.map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX));
        Limits {
            cpu_time_ms: clamp32(m.limits.cpu_ms),
            heap_bytes: m.limits.memory_mb.map_or(0, |mb| mb.saturating_mul(1 << 20)),
            wall_time_ms: clamp32(m.limits.wall_ms),
        }
    });
    let mut a = Assignment {
        key: DeploymentKey::new(active.name.clone(), active.env.clone()),
        version: active.version,
        bundle: BundleHash(active.hash),
        size: active.size,
        signature: Signature([0; 64]),
        limits,
        // A map of strings to JSON values always serialises.
        vars: serde_json::to_vec(&vars).unwrap_or_default(),
    };
    sign_assignment(key, &mut a);
    a
}

/// Publishes the desired state: read from the store, signed, sent on a `watch` channel that
/// distribution follows. A state is sent only if its revision is above the one published, so
/// concurrent changes never move nodes back.
pub struct Publisher {
    store: Arc<dyn Store>,
    identity: Arc<Identity>,
    desired: watch::Sender<Arc<DesiredState>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("revision", &self.revision())
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher holding the store's current desired state. Blocks (reads the store).
    pub fn new(store: Arc<dyn Store>, identity: Arc<Identity>) -> Result<Publisher, StoreError> {
        let state = desired_state(&store.desired()?, identity.signing_key());
        Ok(Publisher {
            store,
            identity,
            desired: watch::channel(Arc::new(state)).0,
        })
    }

    /// Follows the desired state.
    pub fn subscribe(&self) -> watch::Receiver<Arc<DesiredState>> {
        self.desired.subscribe()
    }

    /// The revision published last.
    pub fn revision(&self) -> u64 {
        self.desired.borrow().revision
    }

    /// Reads the store and publishes its desired state if it is newer than the published one;
    /// returns the revision published now. Blocks: call it from a blocking thread, after each
    /// committed change.
    pub fn publish(&self) -> Result<u64, StoreError> {
        let snapshot = self.store.desired()?;
        if snapshot.revision <= self.revision() {
            return Ok(self.revision());
        }
        let state = Arc::new(desired_state(&snapshot, self.identity.signing_key()));
        self.desired.send_if_modified(|current| {
            if state.revision > current.revision {
                *current = state.clone();
                true
            } else {
                false
            }
        });
        tracing::debug!(
            revision = snapshot.revision,
            deployments = snapshot.versions.len(),
            "desired state published"
        );
        Ok(self.revision())
    }
}

/// Bundle bytes for distribution, read from the store.
pub struct StoreBundles(pub Arc<dyn Store>);

impl BundleSource for StoreBundles {
    fn bundle(&self, hash: &BundleHash) -> Result<Option<Bytes>, String> {
        self.0
            .bundle(&hash.0)
            .map(|b| b.map(Bytes::from))
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::KeyPair as _;

    fn key() -> Ed25519KeyPair {
        Ed25519KeyPair::from_seed_unchecked(&[3; 32]).unwrap()
    }

    fn active(manifest: Option<&str>, secrets: &[(&str, &str)]) -> ActiveVersion {
        ActiveVersion {
            name: "shop".into(),
            env: "staging".into(),
            version: 4,
            hash: [9; 32],
            size: 120,
            manifest_file: manifest.map(|_| "outpost.toml".into()),
            manifest: manifest.map(str::to_string),
            secrets: secrets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn assignments_carry_limits_vars_and_secrets_and_verify() {
        let manifest = "name = \"shop\"\n[vars]\nMODE = \"test\"\nAPI_KEY = \"from-manifest\"\n[limits]\ncpu_ms = 100\nmemory_mb = 64\n";
        let a = assignment(&active(Some(manifest), &[("API_KEY", "s3cret")]), &key());
        assert_eq!(a.key, DeploymentKey::new("shop", "staging"));
        assert_eq!((a.version, a.bundle, a.size), (4, BundleHash([9; 32]), 120));
        assert_eq!(
            a.limits,
            Limits {
                cpu_time_ms: 100,
                heap_bytes: 64 << 20,
                wall_time_ms: 0
            }
        );
        let vars: serde_json::Value = serde_json::from_slice(&a.vars).unwrap();
        assert_eq!(
            vars,
            serde_json::json!({ "MODE": "test", "API_KEY": "s3cret" }),
            "a secret wins"
        );
        let public = key().public_key().as_ref().to_vec();
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public)
            .verify(&a.signing_payload(), &a.signature.0)
            .expect("signed over the signing payload");
        // Deterministic: the same store contents give the same bytes, so nothing is re-sent.
        assert_eq!(a, assignment(&active(Some(manifest), &[("API_KEY", "s3cret")]), &key()));
        let changed = assignment(&active(Some(manifest), &[("API_KEY", "rotated")]), &key());
        assert_ne!(changed.running(), a.running(), "a new secret is a new configuration");
    }

    #[test]
    fn a_bundle_without_a_manifest_gets_the_node_defaults() {
        let a = assignment(&active(None, &[]), &key());
        assert_eq!(a.limits, Limits::default());
        assert_eq!(a.vars, b"{}");
    }
}
