//! The values messages are made of: bundle hashes and signatures, deployment keys, assignments, load and
//! health reports, and the per-deployment results a node acknowledges.
//!
//! Every type here serialises with serde; the wire layout is postcard's (see [`crate::codec`]), so the
//! field order of each struct is part of the protocol and changes only with [`crate::PROTOCOL_VERSION`].

use std::fmt;
use std::time::Duration;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// The SHA-256 of a bundle's bytes: the bundle's identity everywhere (store, streams, requests).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BundleHash(pub [u8; 32]);

impl BundleHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for b in self.0 {
            out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
        }
        out
    }
}

impl fmt::Display for BundleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BundleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BundleHash({}…)", &self.to_hex()[..12])
    }
}

/// An Ed25519 signature (64 bytes) made by the control plane over [`Assignment::signing_payload`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_abbreviated(f, "Signature", &self.0)
    }
}

// serde implements arrays only up to 32 elements; a signature is written as a fixed 64-byte tuple (no
// length prefix, like the hash).
impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut tuple = serializer.serialize_tuple(64)?;
        for byte in &self.0 {
            tuple.serialize_element(byte)?;
        }
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SignatureVisitor;
        impl<'de> Visitor<'de> for SignatureVisitor {
            type Value = Signature;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 signature bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Signature, A::Error> {
                let mut out = [0u8; 64];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                Ok(Signature(out))
            }
        }
        deserializer.deserialize_tuple(64, SignatureVisitor)
    }
}

/// A deployment's identity: its name and environment (`production` answers `NAME.<zone>`, another
/// environment `ENV` answers `NAME--ENV.<zone>`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeploymentKey {
    /// Deployment name.
    pub name: String,
    /// Environment, e.g. `production`.
    pub env: String,
}

impl DeploymentKey {
    /// A key from its parts.
    pub fn new(name: impl Into<String>, env: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            env: env.into(),
        }
    }
}

impl fmt::Display for DeploymentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}--{}", self.name, self.env)
    }
}

/// Per-request limits of a deployment; zero means "the node's default".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU time per request, in milliseconds.
    pub cpu_time_ms: u32,
    /// Heap per isolate, in bytes.
    pub heap_bytes: u64,
    /// Wall-clock time until the response head, in milliseconds.
    pub wall_time_ms: u32,
}

/// What a node should run for one deployment: the version, its bundle and how to run it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Which deployment.
    pub key: DeploymentKey,
    /// The deployment version (monotonic per deployment in the control plane's store).
    pub version: u64,
    /// SHA-256 of the bundle bytes.
    pub bundle: BundleHash,
    /// Length of the bundle in bytes; a bundle stream announcing another length is refused.
    pub size: u64,
    /// Ed25519 signature of the control plane over [`Assignment::signing_payload`].
    pub signature: Signature,
    /// Per-request limits.
    pub limits: Limits,
    /// The deployment's `env` variables as the control plane stores them (JSON), opaque here.
    pub vars: Vec<u8>,
}

/// Domain separation prefix of [`Assignment::signing_payload`].
pub const SIGNATURE_CONTEXT: &[u8] = b"outpost bundle signature v1\0";

impl Assignment {
    /// The bytes the control plane signs and a node verifies with the control plane's Ed25519 public key:
    /// [`SIGNATURE_CONTEXT`], then name and environment (each a big-endian `u32` length and the UTF-8
    /// bytes), version (`u64` BE), bundle hash (32 bytes), bundle size (`u64` BE), limits (`u32`, `u64`,
    /// `u32` BE) and the SHA-256 of `vars`. A signature therefore binds the bundle to one deployment
    /// version and its configuration: a valid bundle cannot be replayed under another name.
    pub fn signing_payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SIGNATURE_CONTEXT.len() + self.key.name.len() + self.key.env.len() + 112);
        out.extend_from_slice(SIGNATURE_CONTEXT);
        for part in [&self.key.name, &self.key.env] {
            out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.bundle.0);
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.limits.cpu_time_ms.to_be_bytes());
        out.extend_from_slice(&self.limits.heap_bytes.to_be_bytes());
        out.extend_from_slice(&self.limits.wall_time_ms.to_be_bytes());
        out.extend_from_slice(&Sha256::digest(&self.vars));
        out
    }

    /// The version, bundle and configuration of this assignment, as a node reports what it runs.
    pub fn running(&self) -> Running {
        Running {
            version: self.version,
            bundle: self.bundle,
            config: ConfigDigest(Sha256::digest(self.signing_payload()).into()),
        }
    }
}

/// The SHA-256 of an assignment's [`Assignment::signing_payload`]: it changes whenever anything the
/// control plane signs changes (limits, variables, secrets), even when the version and bundle do not.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConfigDigest(pub [u8; 32]);

impl fmt::Debug for ConfigDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_abbreviated(f, "ConfigDigest", &self.0)
    }
}

/// What runs for a deployment: a version, its bundle and its configuration. Two assignments run the
/// same thing only if all three match, so a changed secret reaches a node that already runs the
/// version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    /// Deployment version.
    pub version: u64,
    /// Its bundle.
    pub bundle: BundleHash,
    /// Its configuration (see [`ConfigDigest`]).
    pub config: ConfigDigest,
}

/// One deployment a node runs, as listed in its `Hello`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// Which deployment.
    pub key: DeploymentKey,
    /// The version and bundle it runs.
    pub running: Running,
}

/// A node's load at the time of a heartbeat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Load {
    /// Requests being handled.
    pub in_flight: u32,
    /// Isolates alive.
    pub isolates: u32,
    /// V8 heap in use across isolates, in bytes.
    pub heap_bytes: u64,
    /// CPU use of the node process over the last interval, in thousandths of the whole machine.
    pub cpu_permille: u16,
}

/// A node's own view of its health.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Health {
    /// Serving normally.
    #[default]
    Healthy,
    /// Serving, with a problem worth showing to the operator.
    Degraded {
        /// What is wrong.
        reason: String,
    },
    /// Finishing in-flight requests before shutting down; DNS should stop sending traffic.
    Draining,
    /// Not able to serve; DNS should stop sending traffic.
    Unhealthy {
        /// What is wrong.
        reason: String,
    },
}

/// Where applying one assignment failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureStage {
    /// The bundle's bytes did not match its hash or announced size: refused as tampered.
    Integrity,
    /// The control plane's signature over the assignment did not verify.
    Signature,
    /// The bundle was intact but could not be loaded (module error, evaluation limit…).
    Activate,
}

impl fmt::Display for FailureStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Integrity => "integrity",
            Self::Signature => "signature",
            Self::Activate => "activate",
        })
    }
}

/// How one deployment of an assignment ended on a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The assigned version now serves.
    Activated(Running),
    /// The deployment was removed from the node.
    Removed,
    /// The assigned version could not be applied.
    Failed {
        /// The version that was assigned.
        wanted: Running,
        /// Where it failed.
        stage: FailureStage,
        /// Why, for the operator.
        reason: String,
        /// What the node serves for this deployment instead, if anything.
        running: Option<Running>,
    },
}

/// How long each step of applying one deployment took on the node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// From needing the bundle to holding it (zero when it was already stored).
    pub fetch: Duration,
    /// Signature verification.
    pub verify: Duration,
    /// Loading the bundle and swapping the router entry.
    pub activate: Duration,
}

/// The result of one deployment in an `Ack`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentResult {
    /// Which deployment.
    pub key: DeploymentKey,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took.
    pub timing: Timing,
}

/// `Name(0a1b2c3d…)`: the Debug form of a long byte value, its first four bytes in hex.
fn debug_abbreviated(f: &mut fmt::Formatter<'_>, name: &str, bytes: &[u8]) -> fmt::Result {
    write!(
        f,
        "{name}({:02x}{:02x}{:02x}{:02x}…)",
        bytes[0], bytes[1], bytes[2], bytes[3]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_hex_is_sha256() {
        assert_eq!(
            BundleHash::of(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn signing_payload_binds_every_field() {
        let base = Assignment {
            key: DeploymentKey::new("hello", "production"),
            version: 3,
            bundle: BundleHash::of(b"bundle"),
            size: 6,
            signature: Signature([0; 64]),
            limits: Limits::default(),
            vars: b"{}".to_vec(),
        };
        let payload = base.signing_payload();
        assert!(payload.starts_with(SIGNATURE_CONTEXT));
        let variants = [
            Assignment {
                key: DeploymentKey::new("hellop", "roduction"),
                ..base.clone()
            },
            Assignment {
                version: 4,
                ..base.clone()
            },
            Assignment {
                bundle: BundleHash::of(b"other"),
                ..base.clone()
            },
            Assignment {
                size: 7,
                ..base.clone()
            },
            Assignment {
                limits: Limits {
                    cpu_time_ms: 1,
                    ..Limits::default()
                },
                ..base.clone()
            },
            Assignment {
                vars: b"{\"a\":1}".to_vec(),
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.signing_payload(), payload, "{v:?}");
        }
        // The signature itself is not signed.
        assert_eq!(
            Assignment {
                signature: Signature([9; 64]),
                ..base.clone()
            }
            .signing_payload(),
            payload
        );
    }
}
