//! The control plane's side of one node connection: [`ControlSession`].
//!
//! One session lives as long as one connection. It answers the node's `Hello`, keeps track of what the
//! node runs, sends it the desired state as deltas against that, serves the bundles the node asks for,
//! retransmits an assignment the node has not acknowledged, and declares the node dead when it stops
//! sending heartbeats. It performs no I/O: the transport feeds it bytes or messages and the current time,
//! and drains what it hands out.
//!
//! # Driving it
//!
//! ```text
//! loop {
//!     bytes arrive on the control stream  → session.handle_data(now, &bytes)
//!     the desired state of the node moved → session.set_desired(now, desired)
//!     the timer fires                     → session.handle_timeout(now)
//!     then drain:
//!         while let Some(m) = session.poll_transmit()      { encode, write on the control stream }
//!         while let Some(h) = session.poll_bundle()        { open a stream, write h, then the bytes }
//!         while let Some(e) = session.poll_event()         { update the store, report progress }
//!         re-arm the timer at session.poll_timeout()
//!     if session.is_closed() { flush, then close the connection }
//! }
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::bundle::BundleHeader;
use crate::codec::{Codec, DEFAULT_MAX_FRAME, DecodeError, ReadFrames};
use crate::message::{
    Ack, Assign, BundleRequest, Heartbeat, HeartbeatAck, Hello, Message, PROTOCOL_VERSION, Refuse, RefuseReason,
    Resync, Welcome,
};
use crate::types::{Assignment, BundleHash, DeploymentKey, DeploymentResult, Health, Load, Outcome, Running};

/// What one node should run at one revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredState {
    /// Revision of this state; the control plane's store makes it strictly increasing per node.
    pub revision: u64,
    /// The deployments, by key.
    pub deployments: BTreeMap<DeploymentKey, Assignment>,
}

impl DesiredState {
    /// A desired state from its assignments (a later assignment for the same key replaces an earlier).
    pub fn new(revision: u64, assignments: impl IntoIterator<Item = Assignment>) -> Self {
        Self {
            revision,
            deployments: assignments.into_iter().map(|a| (a.key.clone(), a)).collect(),
        }
    }

    fn bundle_size(&self, hash: &BundleHash) -> Option<u64> {
        self.deployments.values().find(|a| a.bundle == *hash).map(|a| a.size)
    }
}

/// Timers and limits of a [`ControlSession`].
#[derive(Clone, Debug)]
pub struct ControlConfig {
    /// How often nodes send heartbeats (sent to them in `Welcome`).
    pub heartbeat_interval: Duration,
    /// A node silent for this many heartbeat intervals is declared dead.
    pub missed_heartbeats: u32,
    /// How long a new connection may take to send its `Hello`.
    pub handshake_timeout: Duration,
    /// First wait for an `Ack` before an `Assign` is sent again; doubles on each retransmission.
    pub retransmit_initial: Duration,
    /// Longest wait between retransmissions.
    pub retransmit_max: Duration,
    /// Maximum frame size of the control stream.
    pub max_frame: usize,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(5),
            missed_heartbeats: 3,
            handshake_timeout: Duration::from_secs(10),
            retransmit_initial: Duration::from_secs(2),
            retransmit_max: Duration::from_secs(60),
            max_frame: DEFAULT_MAX_FRAME,
        }
    }
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// No `Hello` within the handshake timeout.
    HandshakeTimeout,
    /// Nothing heard from the node for too many heartbeat intervals.
    PeerDead {
        /// How long the node had been silent.
        silent_for: Duration,
    },
    /// The node's protocol version is not spoken here (a `Refuse` was sent).
    UnsupportedVersion {
        /// The node's version.
        got: u16,
    },
    /// The node broke the protocol (a `Refuse` was sent).
    Protocol(String),
    /// The control plane refused or closed the session with [`ControlSession::refuse`].
    Refused(RefuseReason),
}

/// What a [`ControlSession`] reports to the control plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlEvent {
    /// A node said `Hello` and was welcomed; [`ControlSession::node`] has the details.
    Joined {
        /// The node's id.
        node_id: String,
        /// Its region.
        region: String,
        /// The revision it last completed.
        revision: u64,
    },
    /// A heartbeat arrived.
    Status {
        /// The node's load.
        load: Load,
        /// The node's health.
        health: Health,
    },
    /// The node completed a revision (reported once per revision and session; a node repeats its last
    /// `Ack` after reconnecting, so the same revision may be reported again by a later session).
    Acked {
        /// The revision.
        revision: u64,
        /// Per changed deployment, how it ended on the node.
        results: Vec<DeploymentResult>,
    },
    /// The node has completed the current desired revision.
    InSync {
        /// The revision.
        revision: u64,
    },
    /// The node reports a revision newer than the desired state: the control plane must issue a revision
    /// above `node_revision` for it to move again (a node never goes back to an older revision).
    NodeAhead {
        /// What the node has completed.
        node_revision: u64,
        /// What the control plane wants.
        desired_revision: u64,
    },
    /// The node asked for a bundle that none of its assignments name; it was not sent.
    UnknownBundle {
        /// The bundle asked for.
        hash: BundleHash,
    },
    /// The session ended; close the connection after sending what [`ControlSession::poll_transmit`]
    /// still hands out.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Identity of the node on the other end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's id.
    pub node_id: String,
    /// Its region.
    pub region: String,
}

#[derive(Clone, Copy, Debug)]
enum State {
    AwaitingHello { deadline: Instant },
    Active,
    Closed,
}

/// What the node runs at `revision`, as both sides agree on it: the base of delta assignments.
#[derive(Clone, Debug, Default)]
struct NodeView {
    revision: u64,
    running: BTreeMap<DeploymentKey, Running>,
}

#[derive(Clone, Copy, Debug)]
struct Outstanding {
    revision: u64,
    deadline: Instant,
    rto: Duration,
}

/// The control plane's state machine for one connected node.
#[derive(Debug)]
pub struct ControlSession {
    config: ControlConfig,
    codec: Codec,
    inbuf: BytesMut,
    state: State,
    node: Option<NodeInfo>,
    desired: Option<Arc<DesiredState>>,
    view: NodeView,
    /// Desired states sent and not yet superseded by an acknowledged revision, by revision.
    sent: BTreeMap<u64, Arc<DesiredState>>,
    outstanding: Option<Outstanding>,
    node_accepted: u64,
    node_completed: u64,
    highest_acked: u64,
    in_sync_reported: u64,
    /// Per bundle, the newest request id it was sent for.
    served: HashMap<BundleHash, u64>,
    node_bundles: BTreeSet<BundleHash>,
    last_received: Instant,
    transmit: VecDeque<Message>,
    bundles: VecDeque<BundleHeader>,
    events: VecDeque<ControlEvent>,
}

impl ControlSession {
    /// A session for a connection accepted at `now`, waiting for the node's `Hello`.
    pub fn new(now: Instant, config: ControlConfig) -> Self {
        let deadline = now + config.handshake_timeout;
        Self {
            codec: Codec::new(config.max_frame),
            config,
            inbuf: BytesMut::new(),
            state: State::AwaitingHello { deadline },
            node: None,
            desired: None,
            view: NodeView::default(),
            sent: BTreeMap::new(),
            outstanding: None,
            node_accepted: 0,
            node_completed: 0,
            highest_acked: 0,
            in_sync_reported: 0,
            served: HashMap::new(),
            node_bundles: BTreeSet::new(),
            last_received: now,
            transmit: VecDeque::new(),
            bundles: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The node on the other end, once it said `Hello`.
    pub fn node(&self) -> Option<&NodeInfo> {
        self.node.as_ref()
    }

    /// Whether the session has ended (see [`ControlEvent::Closed`]).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The revision the node is known to have completed.
    pub fn node_revision(&self) -> u64 {
        self.view.revision.max(self.highest_acked)
    }

    /// What the node runs, deployment by deployment, as both sides agree on it: from its `Hello`, then
    /// from each acknowledged revision (where a deployment failed, what the node runs instead).
    pub fn node_running(&self) -> &BTreeMap<DeploymentKey, Running> {
        &self.view.running
    }

    /// Whether the node has completed the current desired revision.
    pub fn in_sync(&self) -> bool {
        matches!(self.state, State::Active)
            && self
                .desired
                .as_ref()
                .is_some_and(|d| d.revision <= self.node_revision())
    }

    /// The bundles the node is known to store (from its `Hello` and its acknowledged activations).
    pub fn node_bundles(&self) -> &BTreeSet<BundleHash> {
        &self.node_bundles
    }

    /// The revision whose assignment waits for an `Ack`, if any.
    pub fn outstanding_revision(&self) -> Option<u64> {
        self.outstanding.map(|o| o.revision)
    }

    /// The node's desired state changed. A state whose revision is not above the current one is ignored.
    pub fn set_desired(&mut self, now: Instant, desired: Arc<DesiredState>) {
        if self.desired.as_ref().is_some_and(|d| desired.revision <= d.revision) {
            return;
        }
        self.desired = Some(desired);
        if matches!(self.state, State::Active) {
            self.push_assign(now, false);
        }
    }

    /// Refuses the node or closes the session: a `Refuse` is sent and the session ends.
    pub fn refuse(&mut self, reason: RefuseReason, message: impl Into<String>) {
        if self.is_closed() {
            return;
        }
        self.transmit.push_back(Message::Refuse(Refuse {
            reason: reason.clone(),
            message: message.into(),
        }));
        self.close(CloseReason::Refused(reason));
    }

    /// Bytes received on the control stream. A frame that does not decode ends the session with a
    /// `Refuse` saying why.
    pub fn handle_data(&mut self, now: Instant, data: &[u8]) {
        self.read_frames(now, data);
    }

    /// The control stream ended cleanly; an incomplete frame left in the buffer is a protocol error.
    pub fn handle_eof(&mut self) {
        if !self.is_closed() && !self.inbuf.is_empty() {
            self.protocol_error(&DecodeError::TruncatedStream {
                buffered: self.inbuf.len(),
            });
        }
    }

    fn protocol_error(&mut self, err: &DecodeError) {
        match *err {
            DecodeError::UnsupportedVersion { got, supported } => {
                self.transmit.push_back(Message::Refuse(Refuse {
                    reason: RefuseReason::UnsupportedVersion { supported },
                    message: err.to_string(),
                }));
                self.close(CloseReason::UnsupportedVersion { got });
            }
            _ => {
                self.transmit.push_back(Message::Refuse(Refuse {
                    reason: RefuseReason::Protocol,
                    message: err.to_string(),
                }));
                self.close(CloseReason::Protocol(err.to_string()));
            }
        }
    }

    /// A decoded message from the node.
    pub fn handle_message(&mut self, now: Instant, message: Message) {
        if self.is_closed() {
            return;
        }
        self.last_received = now;
        match (self.state, message) {
            (State::AwaitingHello { .. }, Message::Hello(hello)) => self.handle_hello(now, hello),
            (State::AwaitingHello { .. }, other) => {
                let err = format!("expected Hello, got {}", other.name());
                self.transmit.push_back(Message::Refuse(Refuse {
                    reason: RefuseReason::Protocol,
                    message: err.clone(),
                }));
                self.close(CloseReason::Protocol(err));
            }
            (State::Active, Message::Hello(hello)) => {
                // A repeated Hello (a duplicated frame) is harmless; a different one is not.
                if self.node.as_ref().is_some_and(|n| n.node_id != hello.node_id) {
                    let err = "a second Hello with another node id".to_string();
                    self.transmit.push_back(Message::Refuse(Refuse {
                        reason: RefuseReason::Protocol,
                        message: err.clone(),
                    }));
                    self.close(CloseReason::Protocol(err));
                }
            }
            (State::Active, Message::Heartbeat(hb)) => self.handle_heartbeat(hb),
            (State::Active, Message::Ack(ack)) => self.handle_ack(ack),
            (State::Active, Message::BundleRequest(req)) => self.handle_bundle_request(req),
            (State::Active, Message::Resync(resync)) => self.handle_resync(now, resync),
            (State::Active, other) => {
                let err = format!("{} is not a message a node sends", other.name());
                self.transmit.push_back(Message::Refuse(Refuse {
                    reason: RefuseReason::Protocol,
                    message: err.clone(),
                }));
                self.close(CloseReason::Protocol(err));
            }
            (State::Closed, _) => {}
        }
    }

    fn handle_hello(&mut self, now: Instant, hello: Hello) {
        if hello.protocol_version != PROTOCOL_VERSION {
            self.protocol_error(&DecodeError::UnsupportedVersion {
                got: hello.protocol_version,
                supported: PROTOCOL_VERSION,
            });
            return;
        }
        self.node = Some(NodeInfo {
            node_id: hello.node_id.clone(),
            region: hello.region.clone(),
        });
        self.view = NodeView {
            revision: hello.revision,
            running: hello.deployments.iter().map(|h| (h.key.clone(), h.running)).collect(),
        };
        self.node_bundles = hello
            .bundles
            .iter()
            .copied()
            .chain(hello.deployments.iter().map(|h| h.running.bundle))
            .collect();
        self.node_accepted = hello.revision;
        self.node_completed = hello.revision;
        self.state = State::Active;
        self.transmit.push_back(Message::Welcome(Welcome {
            protocol_version: PROTOCOL_VERSION,
            heartbeat_interval: self.config.heartbeat_interval,
        }));
        self.events.push_back(ControlEvent::Joined {
            node_id: hello.node_id,
            region: hello.region,
            revision: hello.revision,
        });
        self.push_assign(now, false);
    }

    /// Sends the current desired state if the node does not have it: a delta against the agreed view, or
    /// the whole state when `full`.
    fn push_assign(&mut self, now: Instant, full: bool) {
        let Some(desired) = self.desired.clone() else { return };
        let node_revision = self.node_revision();
        if desired.revision <= node_revision {
            self.outstanding = None;
            if desired.revision < node_revision {
                self.events.push_back(ControlEvent::NodeAhead {
                    node_revision,
                    desired_revision: desired.revision,
                });
            } else {
                self.report_in_sync(desired.revision);
            }
            return;
        }
        let assign = if full {
            Assign {
                revision: desired.revision,
                base: None,
                deployments: desired.deployments.values().cloned().collect(),
                removed: Vec::new(),
            }
        } else {
            Assign {
                revision: desired.revision,
                base: Some(self.view.revision),
                deployments: desired
                    .deployments
                    .values()
                    .filter(|a| self.view.running.get(&a.key) != Some(&a.running()))
                    .cloned()
                    .collect(),
                removed: self
                    .view
                    .running
                    .keys()
                    .filter(|k| !desired.deployments.contains_key(*k))
                    .cloned()
                    .collect(),
            }
        };
        self.transmit.push_back(Message::Assign(assign));
        self.sent.insert(desired.revision, desired.clone());
        // Keep what a late Ack may still need: revisions above the agreed view, at most 16 of them.
        self.sent.retain(|rev, _| *rev > self.view.revision);
        while self.sent.len() > 16 {
            self.sent.pop_first();
        }
        let rto = match self.outstanding {
            Some(o) if o.revision == desired.revision => (o.rto * 2).min(self.config.retransmit_max),
            _ => self.config.retransmit_initial,
        };
        self.outstanding = Some(Outstanding {
            revision: desired.revision,
            deadline: now + rto,
            rto,
        });
    }

    fn report_in_sync(&mut self, revision: u64) {
        if revision > self.in_sync_reported {
            self.in_sync_reported = revision;
            self.events.push_back(ControlEvent::InSync { revision });
        }
    }

    fn handle_heartbeat(&mut self, hb: Heartbeat) {
        self.node_accepted = self.node_accepted.max(hb.accepted_revision);
        self.node_completed = self.node_completed.max(hb.completed_revision);
        self.transmit
            .push_back(Message::HeartbeatAck(HeartbeatAck { seq: hb.seq }));
        self.events.push_back(ControlEvent::Status {
            load: hb.load,
            health: hb.health,
        });
    }

    fn handle_ack(&mut self, ack: Ack) {
        if ack.revision <= self.highest_acked {
            return; // a duplicate, or older than one already processed
        }
        self.highest_acked = ack.revision;
        self.node_accepted = self.node_accepted.max(ack.revision);
        self.node_completed = self.node_completed.max(ack.revision);
        if ack.revision > self.view.revision
            && let Some(target) = self.sent.get(&ack.revision)
        {
            // The node now runs the target, except where a deployment failed: there it says what runs.
            let mut running: BTreeMap<DeploymentKey, Running> = target
                .deployments
                .iter()
                .map(|(k, a)| (k.clone(), a.running()))
                .collect();
            for result in &ack.results {
                if let Outcome::Failed { running: instead, .. } = &result.outcome {
                    match instead {
                        Some(r) => running.insert(result.key.clone(), *r),
                        None => running.remove(&result.key),
                    };
                }
            }
            self.view = NodeView {
                revision: ack.revision,
                running,
            };
            self.sent.retain(|rev, _| *rev > ack.revision);
        }
        for result in &ack.results {
            if let Outcome::Activated(r) = &result.outcome {
                self.node_bundles.insert(r.bundle);
            }
        }
        if self.outstanding.is_some_and(|o| o.revision <= ack.revision) {
            self.outstanding = None;
        }
        self.events.push_back(ControlEvent::Acked {
            revision: ack.revision,
            results: ack.results,
        });
        if self.desired.as_ref().is_some_and(|d| d.revision == ack.revision) {
            self.report_in_sync(ack.revision);
        }
    }

    fn handle_bundle_request(&mut self, req: BundleRequest) {
        for hash in req.hashes {
            if self.served.get(&hash).is_some_and(|id| *id >= req.request_id) {
                continue; // a duplicated or reordered request: this copy is already on its way
            }
            let size = self
                .desired
                .iter()
                .chain(self.sent.values())
                .find_map(|d| d.bundle_size(&hash));
            match size {
                Some(length) => {
                    self.served.insert(hash, req.request_id);
                    self.bundles.push_back(BundleHeader { hash, length });
                }
                None => self.events.push_back(ControlEvent::UnknownBundle { hash }),
            }
        }
    }

    fn handle_resync(&mut self, now: Instant, resync: Resync) {
        if self.outstanding.is_some_and(|o| o.revision == resync.revision) {
            self.push_assign(now, true);
        }
    }

    /// The timer set by [`ControlSession::poll_timeout`] fired (or any time: early calls do nothing).
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed => {}
            State::AwaitingHello { deadline } => {
                if now >= deadline {
                    self.transmit.push_back(Message::Refuse(Refuse {
                        reason: RefuseReason::Protocol,
                        message: "no Hello within the handshake timeout".into(),
                    }));
                    self.close(CloseReason::HandshakeTimeout);
                }
            }
            State::Active => {
                if now >= self.dead_at() {
                    self.close(CloseReason::PeerDead {
                        silent_for: now - self.last_received,
                    });
                    return;
                }
                if let Some(o) = self.outstanding
                    && now >= o.deadline
                {
                    if self.node_accepted >= o.revision && self.node_completed < o.revision {
                        // The node has it and is still working (fetching, activating): keep waiting.
                        self.outstanding = Some(Outstanding {
                            deadline: now + o.rto,
                            ..o
                        });
                    } else {
                        // Lost, or its Ack was: send it again (a node that completed it repeats its Ack).
                        self.push_assign(now, false);
                    }
                }
            }
        }
    }

    fn dead_at(&self) -> Instant {
        self.last_received + self.config.heartbeat_interval * self.config.missed_heartbeats.max(1)
    }

    /// When [`ControlSession::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            State::AwaitingHello { deadline } => Some(deadline),
            State::Active => {
                let dead = self.dead_at();
                Some(self.outstanding.map_or(dead, |o| o.deadline.min(dead)))
            }
        }
    }

    /// The next message to send on the control stream.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.transmit.pop_front()
    }

    /// The next bundle to send, each on a new stream: write the header, then the bundle's bytes.
    pub fn poll_bundle(&mut self) -> Option<BundleHeader> {
        self.bundles.pop_front()
    }

    /// The next event for the control plane.
    pub fn poll_event(&mut self) -> Option<ControlEvent> {
        self.events.pop_front()
    }

    fn close(&mut self, reason: CloseReason) {
        self.state = State::Closed;
        self.outstanding = None;
        self.bundles.clear();
        self.events.push_back(ControlEvent::Closed { reason });
    }
}

impl ReadFrames for ControlSession {
    fn frames(&mut self) -> (&Codec, &mut BytesMut) {
        (&self.codec, &mut self.inbuf)
    }

    fn reading(&self) -> bool {
        !self.is_closed()
    }

    fn frame_message(&mut self, now: Instant, message: Message) {
        self.handle_message(now, message);
    }

    fn frame_error(&mut self, _now: Instant, err: DecodeError) {
        self.protocol_error(&err);
    }
}
