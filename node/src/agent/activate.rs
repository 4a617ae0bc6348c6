//! Turning an assignment into a served deployment: check the stored bundle's hash and the control
//! plane's Ed25519 signature, read the archive and its manifest, resolve the limits, load the code
//! into the isolate pool and point the deployment's hostnames at it.
//!
//! Deployment `NAME` in environment `production` answers `NAME.<zone>`; in another environment
//! `ENV` it answers `NAME--ENV.<zone>`. Custom routes come from the bundle's manifest. Loading a
//! new version of a deployment swaps its code atomically: requests already running finish on the
//! version they started on.

use std::collections::BTreeMap;
use std::sync::Arc;

use outpost_js::{Bundle, ModuleKind, ModuleSource};
use outpost_protocol::archive::BundleArchive;
use outpost_protocol::{Assignment, BundleHash, DeploymentKey, FailureStage};

use super::store::BundleStore;
use crate::limits::{DeploymentLimits, LimitsPolicy, RuntimeLimits};
use crate::manifest::Manifest;
use crate::router::{RoutePattern, Router, Target};
use crate::worker::WorkerHandle;

/// The environment whose deployments answer `NAME.<zone>`.
pub const PRODUCTION: &str = "production";

/// The hostname label of a deployment: `NAME` in production, `NAME--ENV` elsewhere.
pub fn host_label(key: &DeploymentKey) -> String {
    if key.env == PRODUCTION {
        key.name.clone()
    } else {
        format!("{}--{}", key.name, key.env)
    }
}

/// Why an assignment could not be activated, and at which stage.
pub(crate) type Failure = (FailureStage, String);

/// Loads assignments into the pool and the router.
pub(crate) struct Activator {
    pub(crate) handle: WorkerHandle,
    pub(crate) router: Arc<Router>,
    pub(crate) policy: LimitsPolicy,
    pub(crate) signing_key: [u8; 32],
    pub(crate) store: Arc<BundleStore>,
}

impl Activator {
    /// Reads the assignment's bundle from the store and checks its hash and the signature.
    pub(crate) async fn read_verified(&self, a: &Assignment) -> Result<Vec<u8>, Failure> {
        let path = self.store.path(&a.bundle);
        let bytes = tokio::fs::read(&path).await.map_err(|e| {
            (
                FailureStage::Integrity,
                format!("bundle {} is not in the store ({}): {e}", a.bundle, path.display()),
            )
        })?;
        let actual = BundleHash::of(&bytes);
        if actual != a.bundle {
            return Err((
                FailureStage::Integrity,
                format!(
                    "stored bundle {} refused as tampered: its bytes hash to {actual}",
                    a.bundle
                ),
            ));
        }
        self.verify_signature(a)?;
        Ok(bytes)
    }

    /// Checks the control plane's signature over the assignment.
    pub(crate) fn verify_signature(&self, a: &Assignment) -> Result<(), Failure> {
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &self.signing_key)
            .verify(&a.signing_payload(), &a.signature.0)
            .map_err(|_| {
                (
                    FailureStage::Signature,
                    format!(
                        "{} version {}: the signature does not verify with the control plane's key; refused",
                        a.key, a.version
                    ),
                )
            })
    }

    /// Loads verified bundle `bytes` for `a` and routes its hostnames to it.
    pub(crate) async fn load(&self, a: &Assignment, bytes: &[u8]) -> Result<(), Failure> {
        let fail = |message: String| (FailureStage::Activate, message);
        let archive = BundleArchive::from_bytes(bytes).map_err(|e| fail(e.to_string()))?;
        let manifest = match (&archive.manifest_file, &archive.manifest) {
            (Some(file), Some(text)) => {
                Manifest::parse(file, text, file == "outpost.toml").map_err(|e| fail(e.to_string()))?
            }
            _ => Manifest::default(),
        };
        let limits = self.limits(a, &manifest).map_err(fail)?;
        let mut vars = manifest.vars_json();
        if !a.vars.is_empty() {
            let assigned: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&a.vars)
                .map_err(|e| fail(format!("the assignment's vars are not a JSON object: {e}")))?;
            vars.extend(assigned);
        }
        let modules = archive
            .files
            .into_iter()
            .filter_map(|(path, code)| ModuleKind::from_path(&path).map(|kind| (path, ModuleSource { kind, code })))
            .collect();
        let bundle = Bundle {
            modules,
            main: archive.main,
            vars,
            secrets: BTreeMap::new(),
        };
        let deployment: Arc<str> = a.key.to_string().into();
        self.handle
            .load_with(deployment.clone(), Arc::new(bundle), limits.runtime_options())
            .await
            .map_err(fail)?;
        let routes: Vec<RoutePattern> = manifest
            .route_patterns()
            .iter()
            .filter_map(|p| RoutePattern::parse(p))
            .collect();
        let mut target = Target::new(deployment, self.handle.clone());
        target.limits = limits;
        self.router.set(&host_label(&a.key), &routes, target);
        Ok(())
    }

    /// The deployment's limits: the manifest's `[limits]` against the node's policy, then the
    /// assignment's CPU, heap and wall-clock limits where it sets them (zero: keep).
    fn limits(&self, a: &Assignment, manifest: &Manifest) -> Result<DeploymentLimits, String> {
        let mut limits = self
            .policy
            .resolve(&manifest.limits)
            .map_err(|e| format!("[limits]: {e}"))?;
        let max = &self.policy.maxima;
        let check = |key: &str, value: u64, max: u64| {
            if value > max {
                Err(format!(
                    "the assignment's {key} = {value} exceeds this node's maximum of {max}"
                ))
            } else {
                Ok(())
            }
        };
        if a.limits.cpu_time_ms > 0 {
            check(
                "cpu_time_ms",
                u64::from(a.limits.cpu_time_ms),
                max.cpu.as_millis() as u64,
            )?;
            limits.cpu = std::time::Duration::from_millis(u64::from(a.limits.cpu_time_ms));
        }
        if a.limits.heap_bytes > 0 {
            check("heap_bytes", a.limits.heap_bytes, max.memory_bytes)?;
            limits.memory_bytes = a.limits.heap_bytes;
        }
        if a.limits.wall_time_ms > 0 {
            check(
                "wall_time_ms",
                u64::from(a.limits.wall_time_ms),
                max.wall.as_millis() as u64,
            )?;
            limits.wall = std::time::Duration::from_millis(u64::from(a.limits.wall_time_ms));
        }
        Ok(limits)
    }

    /// Stops serving a deployment: its hostnames and routes answer 404 from now on, and its
    /// isolates go once their requests are done.
    pub(crate) fn remove(&self, key: &DeploymentKey) {
        self.router.remove(&host_label(key));
        self.handle.unload(&key.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_answers_the_bare_name() {
        assert_eq!(host_label(&DeploymentKey::new("hello", "production")), "hello");
        assert_eq!(host_label(&DeploymentKey::new("hello", "staging")), "hello--staging");
    }
}
