//! The messages of the control stream, one per frame, each identified by a one-byte tag.
//!
//! A node opens the control stream with [`Hello`]; the control plane answers [`Welcome`] or [`Refuse`].
//! After that the node sends [`Heartbeat`], [`Ack`], [`BundleRequest`] and [`Resync`]; the control plane
//! sends [`HeartbeatAck`], [`Assign`] and, to close with a reason, [`Refuse`]. Bundle bytes never travel
//! on the control stream: each goes on its own stream behind a [`crate::BundleHeader`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::{Assignment, BundleHash, DeploymentKey, DeploymentResult, Health, Held, Load};

/// The protocol version this build speaks. A `Hello` or `Welcome` with another version is refused.
pub const PROTOCOL_VERSION: u16 = 2;

/// Node → control plane, first message of a connection: who the node is and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must be the first field: a decoder reads it before the rest, whose layout depends on it.
    pub protocol_version: u16,
    /// The node's stable identity (the name in its certificate).
    pub node_id: String,
    /// The region the node serves, e.g. `fra`.
    pub region: String,
    /// The last assignment revision the node completed (0: none).
    pub revision: u64,
    /// What the node runs now, deployment by deployment.
    pub deployments: Vec<Held>,
    /// Every bundle in the node's store, including ones no deployment runs at the moment.
    pub bundles: Vec<BundleHash>,
}

/// Control plane → node: the `Hello` was accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// Must be the first field (see [`Hello::protocol_version`]).
    pub protocol_version: u16,
    /// How often the node must send a heartbeat; missing several in a row gets it declared dead.
    pub heartbeat_interval: Duration,
}

/// Why a connection is refused or closed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefuseReason {
    /// The node's protocol version is not spoken here.
    UnsupportedVersion {
        /// The version this side speaks.
        supported: u16,
    },
    /// The node is not (or no longer) a member of the cluster.
    Unauthorized,
    /// Another connection with the same node id is active.
    Duplicate,
    /// The peer broke the protocol (undecodable frame, message out of place).
    Protocol,
    /// The control plane is shutting down; reconnect later.
    ShuttingDown,
}

impl RefuseReason {
    /// Whether reconnecting cannot help without an operator's change (version, membership).
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::UnsupportedVersion { .. } | Self::Unauthorized)
    }
}

/// Control plane → node: the connection is refused or closed; the connection ends after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refuse {
    /// Machine-readable reason.
    pub reason: RefuseReason,
    /// Human-readable explanation.
    pub message: String,
}

/// Node → control plane, every heartbeat interval: load, health and sync progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Sequence number, echoed by `HeartbeatAck`.
    pub seq: u64,
    /// The highest revision the node has accepted (being applied or completed).
    pub accepted_revision: u64,
    /// The last revision the node completed and acknowledged.
    pub completed_revision: u64,
    /// Current load.
    pub load: Load,
    /// Current health.
    pub health: Health,
}

/// Control plane → node: answer to a heartbeat, so the node knows the control plane is alive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatAck {
    /// The heartbeat's sequence number.
    pub seq: u64,
}

/// Control plane → node: the desired state at `revision`, whole or as a delta.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assign {
    /// Revision of the desired state; strictly increasing per node.
    pub revision: u64,
    /// `None`: `deployments` is the whole desired state. `Some(base)`: a delta against what the node ran
    /// when it completed revision `base` (or reported in its `Hello` with revision `base`) — the
    /// deployments to add or change, and `removed`.
    pub base: Option<u64>,
    /// Deployments to run (all of them when `base` is `None`).
    pub deployments: Vec<Assignment>,
    /// Deployments to stop (only in a delta).
    pub removed: Vec<DeploymentKey>,
}

/// Node → control plane: revision `revision` is applied; per deployment that changed, how it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The completed revision.
    pub revision: u64,
    /// One entry per deployment the revision changed on this node.
    pub results: Vec<DeploymentResult>,
}

/// Node → control plane: send these bundles, each on its own stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRequest {
    /// Increases with each request of the node; a bundle is sent at most once per request id, so a
    /// duplicated request is harmless and a repeated one (after a lost stream) gets a fresh copy.
    pub request_id: u64,
    /// The bundles the node lacks.
    pub hashes: Vec<BundleHash>,
}

/// Node → control plane: the delta `Assign` for `revision` does not apply to what the node has; send
/// the whole desired state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resync {
    /// The revision that could not be applied.
    pub revision: u64,
    /// The revision whose state the node has as its delta base.
    pub have: u64,
}

/// One control-stream message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// See [`Hello`].
    Hello(Hello),
    /// See [`Welcome`].
    Welcome(Welcome),
    /// See [`Refuse`].
    Refuse(Refuse),
    /// See [`Heartbeat`].
    Heartbeat(Heartbeat),
    /// See [`HeartbeatAck`].
    HeartbeatAck(HeartbeatAck),
    /// See [`Assign`].
    Assign(Assign),
    /// See [`Ack`].
    Ack(Ack),
    /// See [`BundleRequest`].
    BundleRequest(BundleRequest),
    /// See [`Resync`].
    Resync(Resync),
}

/// Frame tags. 0 is never used, so a zeroed frame is always an error.
pub(crate) mod tag {
    pub const HELLO: u8 = 0x01;
    pub const WELCOME: u8 = 0x02;
    pub const REFUSE: u8 = 0x03;
    pub const HEARTBEAT: u8 = 0x04;
    pub const HEARTBEAT_ACK: u8 = 0x05;
    pub const ASSIGN: u8 = 0x06;
    pub const ACK: u8 = 0x07;
    pub const BUNDLE_REQUEST: u8 = 0x08;
    pub const RESYNC: u8 = 0x09;
}

impl Message {
    /// The frame tag of this message.
    pub fn tag(&self) -> u8 {
        match self {
            Self::Hello(_) => tag::HELLO,
            Self::Welcome(_) => tag::WELCOME,
            Self::Refuse(_) => tag::REFUSE,
            Self::Heartbeat(_) => tag::HEARTBEAT,
            Self::HeartbeatAck(_) => tag::HEARTBEAT_ACK,
            Self::Assign(_) => tag::ASSIGN,
            Self::Ack(_) => tag::ACK,
            Self::BundleRequest(_) => tag::BUNDLE_REQUEST,
            Self::Resync(_) => tag::RESYNC,
        }
    }

    /// The message's name, for errors and logs.
    pub fn name(&self) -> &'static str {
        tag_name(self.tag()).unwrap_or("unknown")
    }
}

/// The name of the message with frame tag `tag`, if there is one.
pub fn tag_name(tag: u8) -> Option<&'static str> {
    Some(match tag {
        tag::HELLO => "Hello",
        tag::WELCOME => "Welcome",
        tag::REFUSE => "Refuse",
        tag::HEARTBEAT => "Heartbeat",
        tag::HEARTBEAT_ACK => "HeartbeatAck",
        tag::ASSIGN => "Assign",
        tag::ACK => "Ack",
        tag::BUNDLE_REQUEST => "BundleRequest",
        tag::RESYNC => "Resync",
        _ => return None,
    })
}
