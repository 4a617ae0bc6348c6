//! What the control plane knows of each node: connection, sync progress, last acknowledgement with
//! its timings and failures, load and health from heartbeats, bundles sent. Published through a
//! `watch` channel so the deploy command (and tests) can wait for a node to reach a revision.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::SystemTime;

use outpost_protocol::{DeploymentKey, DeploymentResult, FailureStage, Health, Load, Outcome, Running};

/// Every node the control plane has seen since it started.
#[derive(Clone, Debug, Default)]
pub struct ClusterStatus {
    /// By node id.
    pub nodes: BTreeMap<String, NodeStatus>,
    /// Bundle streams opened to nodes so far, all nodes together.
    pub bundles_sent: u64,
    /// Joins accepted so far.
    pub joins: u64,
}

impl ClusterStatus {
    /// Whether every connected node has completed `revision` (and at least one node is connected).
    pub fn all_connected_at(&self, revision: u64) -> bool {
        let mut connected = self.nodes.values().filter(|n| n.connected).peekable();
        connected.peek().is_some() && connected.all(|n| n.revision >= revision)
    }
}

/// One node.
#[derive(Clone, Debug)]
pub struct NodeStatus {
    /// The node id (its certificate's common name).
    pub node_id: String,
    /// The region it serves.
    pub region: String,
    /// Whether a session with it is open now.
    pub connected: bool,
    /// Where its current (or last) connection came from.
    pub address: SocketAddr,
    /// When its current (or last) session began.
    pub connected_at: SystemTime,
    /// Sessions so far (1 + reconnections).
    pub sessions: u64,
    /// The revision it is known to have completed.
    pub revision: u64,
    /// Whether it has completed the current desired revision.
    pub in_sync: bool,
    /// Its last acknowledgement.
    pub last_ack: Option<AckReport>,
    /// What it runs, deployment by deployment, as its session agrees on it (from its `Hello`, then
    /// from each acknowledged revision).
    pub running: BTreeMap<DeploymentKey, Running>,
    /// Per deployment, the last result it acknowledged and the revision of that acknowledgement: a
    /// failure stays here (with its stage and reason) until a later revision changes the deployment.
    pub results: BTreeMap<DeploymentKey, (u64, DeploymentResult)>,
    /// Load from its last heartbeat.
    pub load: Load,
    /// Health from its last heartbeat.
    pub health: Health,
    /// When its last heartbeat arrived.
    pub last_heartbeat: Option<SystemTime>,
    /// Bundle streams opened to it, over all its sessions.
    pub bundles_sent: u64,
    /// Why its last session ended, if it did.
    pub last_close: Option<String>,
}

impl NodeStatus {
    /// A node first seen at `address`, not connected yet.
    pub fn new(node_id: &str, address: SocketAddr) -> Self {
        NodeStatus {
            node_id: node_id.to_string(),
            region: String::new(),
            connected: false,
            address,
            connected_at: SystemTime::now(),
            sessions: 0,
            revision: 0,
            in_sync: false,
            last_ack: None,
            running: BTreeMap::new(),
            results: BTreeMap::new(),
            load: Load::default(),
            health: Health::default(),
            last_heartbeat: None,
            bundles_sent: 0,
            last_close: None,
        }
    }
}

/// A node's acknowledgement of a revision.
#[derive(Clone, Debug)]
pub struct AckReport {
    /// The revision completed.
    pub revision: u64,
    /// When the acknowledgement arrived.
    pub at: SystemTime,
    /// Per deployment the revision changed: how it ended and how long each step took.
    pub results: Vec<DeploymentResult>,
}

impl AckReport {
    /// The deployments that failed, with the stage and the reason.
    pub fn failures(&self) -> impl Iterator<Item = (&DeploymentResult, FailureStage, &str)> {
        self.results.iter().filter_map(|r| match &r.outcome {
            Outcome::Failed { stage, reason, .. } => Some((r, *stage, reason.as_str())),
            _ => None,
        })
    }
}
