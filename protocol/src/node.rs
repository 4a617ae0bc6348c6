//! The node's side of the protocol: [`NodeSync`].
//!
//! One `NodeSync` lives as long as the node process and outlives its connections. It decides when to
//! dial (with backoff), says `Hello` with what the node holds, sends heartbeats, applies assignments in
//! revision order, asks for the bundles it lacks, tells the node's runtime what to activate or remove,
//! and acknowledges each revision with per-deployment results and timings. It performs no I/O: the
//! transport and the runtime feed it what happened and the current time, and drain what it hands out.
//!
//! # Driving it
//!
//! ```text
//! let mut sync = NodeSync::new(now, config, inventory_from_disk);
//! loop {
//!     the timer fires                       → sync.handle_timeout(now)
//!     NodeEvent::Connect was handed out     → dial; on success sync.connected(now),
//!                                             on failure sync.connection_lost(now)
//!     bytes arrive on the control stream    → sync.handle_data(now, &bytes)
//!     a bundle stream opens                 → sync.handle_bundle_header(now, &header), then feed a
//!                                             BundleReceiver and report bundle_stored / bundle_refused
//!                                             (or bundle_lost if the stream breaks)
//!     the runtime verified / activated / failed an assignment
//!                                           → sync.verified / activated / activation_failed
//!     the connection dies                   → sync.connection_lost(now)
//!     then drain poll_transmit (write frames), poll_event (act on it), re-arm at poll_timeout
//! }
//! ```
//!
//! # Rules
//!
//! - Revisions only move forward: an `Assign` older than the one being applied or completed is ignored;
//!   one equal to the completed revision makes the node repeat its `Ack` (the first was lost).
//! - A delta `Assign` applies only to the state the control plane believes the node has (the `Hello`'s,
//!   or the one at the last completed revision); otherwise the node sends `Resync` and gets the whole
//!   desired state.
//! - A bundle is requested only when it is not in the store, once per request id; if its stream has not
//!   started within `fetch_timeout`, or breaks, it is requested again under a new id.
//! - A bundle whose bytes do not match its hash is refused: every deployment that needs it fails with
//!   [`FailureStage::Integrity`] in the `Ack`, and the bundle is not fetched again for
//!   `refusal_retry` (not at all by later assignments of the same revision).
//! - A revision completes when every deployment it changes has been activated, removed or has failed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::bundle::BundleHeader;
use crate::codec::{Codec, DEFAULT_MAX_FRAME, DecodeError, ReadFrames};
use crate::message::{
    Ack, Assign, BundleRequest, Heartbeat, Hello, Message, PROTOCOL_VERSION, Refuse, RefuseReason, Resync, Welcome,
};
use crate::types::{
    Assignment, BundleHash, DeploymentKey, DeploymentResult, FailureStage, Health, Held, Load, Outcome, Running, Timing,
};

/// Identity, timers and limits of a [`NodeSync`].
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The node's stable id.
    pub node_id: String,
    /// The region it serves.
    pub region: String,
    /// How long dialing plus the `Hello`/`Welcome` exchange may take.
    pub handshake_timeout: Duration,
    /// The control plane is declared dead after this many heartbeat intervals without a message from it.
    pub missed_heartbeats: u32,
    /// A requested bundle whose stream has not started after this long is requested again.
    pub fetch_timeout: Duration,
    /// First reconnection delay; doubles with each failed attempt.
    pub reconnect_initial: Duration,
    /// Longest reconnection delay.
    pub reconnect_max: Duration,
    /// How long a bundle refused as tampered is not fetched again.
    pub refusal_retry: Duration,
    /// Maximum frame size of the control stream.
    pub max_frame: usize,
    /// Seed of the reconnection jitter (e.g. from the node id), so nodes do not reconnect in lockstep.
    pub jitter_seed: u64,
}

impl NodeConfig {
    /// Default timers for a node with this id and region.
    pub fn new(node_id: impl Into<String>, region: impl Into<String>) -> Self {
        let node_id = node_id.into();
        let jitter_seed = node_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Self {
            node_id,
            region: region.into(),
            handshake_timeout: Duration::from_secs(10),
            missed_heartbeats: 3,
            fetch_timeout: Duration::from_secs(10),
            reconnect_initial: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            refusal_retry: Duration::from_secs(600),
            max_frame: DEFAULT_MAX_FRAME,
            jitter_seed,
        }
    }
}

/// What the node keeps on disk across restarts and hands to [`NodeSync::new`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// The last completed revision (0: none).
    pub revision: u64,
    /// What runs, one assignment per deployment.
    pub running: Vec<Assignment>,
    /// Every intact bundle in the store.
    pub bundles: Vec<BundleHash>,
    /// Bundles refused as tampered, with the reason.
    pub refused: Vec<(BundleHash, String)>,
}

/// Why the node closes or lost its connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    /// Dialing or the `Hello`/`Welcome` exchange took longer than the handshake timeout.
    HandshakeTimeout,
    /// Nothing heard from the control plane for too many heartbeat intervals.
    ControlDead {
        /// How long it had been silent.
        silent_for: Duration,
    },
    /// The control plane broke the protocol.
    Protocol(String),
    /// The control plane refused or closed the connection.
    Refused {
        /// Why.
        reason: RefuseReason,
        /// Its explanation.
        message: String,
    },
}

/// What a [`NodeSync`] asks of the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// Dial the control plane, then call [`NodeSync::connected`] or [`NodeSync::connection_lost`].
    Connect,
    /// Close the connection (the sync already counts it as lost and will ask to reconnect, unless the
    /// refusal was permanent, see [`RefuseReason::is_permanent`]).
    Disconnect {
        /// Why.
        reason: DisconnectReason,
    },
    /// The control plane welcomed the node.
    Connected,
    /// Verify this assignment's signature, load its bundle and swap it in; then call
    /// [`NodeSync::verified`] and [`NodeSync::activated`], or [`NodeSync::activation_failed`].
    Activate(Assignment),
    /// Stop serving this deployment (done when handed out).
    Remove(DeploymentKey),
    /// A revision is complete: persist [`NodeSync::inventory`].
    Applied {
        /// The revision.
        revision: u64,
    },
}

/// Why a bundle stream was not accepted by [`NodeSync::handle_bundle_header`]; the transport resets it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BundleRejection {
    /// No outstanding request names this bundle.
    #[error("bundle {0} was not requested")]
    Unsolicited(BundleHash),
    /// The bundle is already in the store.
    #[error("bundle {0} is already stored")]
    AlreadyStored(BundleHash),
    /// Another stream of this bundle is being received.
    #[error("bundle {0} is already being received")]
    Duplicate(BundleHash),
    /// The header announces another length than the assignment's size; the bundle is refused.
    #[error("bundle {hash} announced {announced} bytes but its assignment says {assigned}")]
    WrongLength {
        /// The bundle.
        hash: BundleHash,
        /// Length in the header.
        announced: u64,
        /// Size in the assignment.
        assigned: u64,
    },
}

#[derive(Clone, Copy, Debug)]
enum Conn {
    /// Not connected; dial at `retry_at` (`None`: never, after a permanent refusal).
    Idle { retry_at: Option<Instant> },
    /// `Connect` was handed out; waiting for `connected`.
    Dialing { deadline: Instant },
    /// `Hello` sent; waiting for `Welcome`.
    Handshaking { deadline: Instant },
    /// Welcomed.
    Connected {
        interval: Duration,
        next_heartbeat: Instant,
        last_received: Instant,
    },
}

#[derive(Clone, Debug)]
struct Request {
    sent_at: Instant,
    size: u64,
    started: bool,
}

#[derive(Clone, Debug)]
struct Activation {
    assignment: Assignment,
    started: Instant,
    verified: Option<Instant>,
}

#[derive(Clone, Debug)]
struct Work {
    /// `None`: remove the deployment.
    want: Option<Assignment>,
    /// When the bundle was first found missing, to time the fetch.
    fetch_from: Option<Instant>,
    fetch: Duration,
    result: Option<(Outcome, Timing)>,
}

#[derive(Clone, Debug)]
struct Pending {
    revision: u64,
    work: BTreeMap<DeploymentKey, Work>,
}

#[derive(Clone, Debug)]
struct Refusal {
    reason: String,
    at: Instant,
}

/// The node's state machine: connection, heartbeats, assignments, bundles and activations.
#[derive(Debug)]
pub struct NodeSync {
    config: NodeConfig,
    codec: Codec,
    inbuf: BytesMut,
    conn: Conn,
    attempts: u32,
    rng: u64,
    completed: u64,
    /// The base of delta assignments: what ran at `Hello` or at the last completion.
    snapshot: BTreeMap<DeploymentKey, Assignment>,
    running: BTreeMap<DeploymentKey, Assignment>,
    activating: BTreeMap<DeploymentKey, Activation>,
    stored: BTreeSet<BundleHash>,
    refused: BTreeMap<BundleHash, Refusal>,
    requests: BTreeMap<BundleHash, Request>,
    next_request_id: u64,
    heartbeat_seq: u64,
    pending: Option<Pending>,
    last_ack: Option<Ack>,
    load: Load,
    health: Health,
    transmit: VecDeque<Message>,
    events: VecDeque<NodeEvent>,
}

impl NodeSync {
    /// A node starting at `now` with what its store holds; it asks to connect at once.
    pub fn new(now: Instant, config: NodeConfig, inventory: Inventory) -> Self {
        let running: BTreeMap<_, _> = inventory.running.into_iter().map(|a| (a.key.clone(), a)).collect();
        let mut stored: BTreeSet<_> = inventory.bundles.into_iter().collect();
        stored.extend(running.values().map(|a| a.bundle));
        Self {
            codec: Codec::new(config.max_frame),
            rng: config.jitter_seed | 1,
            config,
            inbuf: BytesMut::new(),
            conn: Conn::Idle { retry_at: Some(now) },
            attempts: 0,
            completed: inventory.revision,
            snapshot: running.clone(),
            running,
            activating: BTreeMap::new(),
            stored,
            refused: inventory
                .refused
                .into_iter()
                .map(|(h, reason)| (h, Refusal { reason, at: now }))
                .collect(),
            requests: BTreeMap::new(),
            next_request_id: 1,
            heartbeat_seq: 0,
            pending: None,
            last_ack: None,
            load: Load::default(),
            health: Health::Healthy,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// What to persist: completed revision, what runs, the stored and the refused bundles.
    pub fn inventory(&self) -> Inventory {
        Inventory {
            revision: self.completed,
            running: self.running.values().cloned().collect(),
            bundles: self.stored.iter().copied().collect(),
            refused: self.refused.iter().map(|(h, r)| (*h, r.reason.clone())).collect(),
        }
    }

    /// The last completed revision.
    pub fn completed_revision(&self) -> u64 {
        self.completed
    }

    /// The revision being applied, or the completed one.
    pub fn accepted_revision(&self) -> u64 {
        self.pending.as_ref().map_or(self.completed, |p| p.revision)
    }

    /// What runs now, by deployment.
    pub fn running(&self) -> &BTreeMap<DeploymentKey, Assignment> {
        &self.running
    }

    /// Whether the bundle is in the store.
    pub fn has_bundle(&self, hash: &BundleHash) -> bool {
        self.stored.contains(hash)
    }

    /// Whether the control plane has welcomed the current connection.
    pub fn is_connected(&self) -> bool {
        matches!(self.conn, Conn::Connected { .. })
    }

    /// Sets the load and health the next heartbeats report.
    pub fn set_status(&mut self, load: Load, health: Health) {
        self.load = load;
        self.health = health;
    }

    // ----- connection -------------------------------------------------------------------------------

    /// The connection handed out by [`NodeEvent::Connect`] is up: the `Hello` goes out.
    pub fn connected(&mut self, now: Instant) {
        if !matches!(self.conn, Conn::Idle { .. } | Conn::Dialing { .. }) {
            return;
        }
        self.inbuf.clear();
        self.transmit.clear();
        self.snapshot = self.running.clone();
        self.transmit.push_back(Message::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            node_id: self.config.node_id.clone(),
            region: self.config.region.clone(),
            revision: self.completed,
            deployments: self
                .running
                .values()
                .map(|a| Held {
                    key: a.key.clone(),
                    running: a.running(),
                })
                .collect(),
            bundles: self.stored.iter().copied().collect(),
        }));
        self.conn = Conn::Handshaking {
            deadline: now + self.config.handshake_timeout,
        };
    }

    /// The connection failed or ended (dial error, stream reset, connection closed). Bundles being
    /// received on it are lost; the node reconnects after a backoff.
    pub fn connection_lost(&mut self, now: Instant) {
        if matches!(self.conn, Conn::Idle { .. }) {
            return;
        }
        self.reset_connection(now, false);
    }

    fn reset_connection(&mut self, now: Instant, permanent: bool) {
        self.inbuf.clear();
        self.transmit.clear();
        self.requests.clear();
        let retry_at = if permanent {
            None
        } else {
            let base = self
                .config
                .reconnect_initial
                .saturating_mul(1u32 << self.attempts.min(16));
            let delay = base.min(self.config.reconnect_max);
            self.attempts = self.attempts.saturating_add(1);
            // Uniform in [delay/2, delay].
            let jitter = delay.as_nanos() as u64 / 2;
            let offset = if jitter == 0 {
                0
            } else {
                self.next_random() % (jitter + 1)
            };
            Some(now + delay / 2 + Duration::from_nanos(offset))
        };
        self.conn = Conn::Idle { retry_at };
    }

    fn disconnect(&mut self, now: Instant, reason: DisconnectReason) {
        let permanent = matches!(&reason, DisconnectReason::Refused { reason, .. } if reason.is_permanent());
        self.events.push_back(NodeEvent::Disconnect { reason });
        self.reset_connection(now, permanent);
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Bytes received on the control stream. A frame that does not decode closes the connection.
    pub fn handle_data(&mut self, now: Instant, data: &[u8]) {
        self.read_frames(now, data);
    }

    /// A decoded message from the control plane.
    pub fn handle_message(&mut self, now: Instant, message: Message) {
        match (self.conn, message) {
            (Conn::Handshaking { .. } | Conn::Connected { .. }, Message::Refuse(refuse)) => {
                self.handle_refuse(now, refuse)
            }
            (Conn::Handshaking { .. }, Message::Welcome(welcome)) => self.handle_welcome(now, welcome),
            // Anything else before the Welcome is out of order (the control plane sends Welcome first):
            // dropped, the control plane retransmits what matters.
            (Conn::Handshaking { .. }, _) => {}
            (
                Conn::Connected {
                    interval,
                    next_heartbeat,
                    ..
                },
                message,
            ) => {
                self.conn = Conn::Connected {
                    interval,
                    next_heartbeat,
                    last_received: now,
                };
                match message {
                    Message::Assign(assign) => self.handle_assign(now, assign),
                    Message::HeartbeatAck(_) | Message::Welcome(_) => {}
                    other => {
                        let err = format!("{} is not a message the control plane sends", other.name());
                        self.disconnect(now, DisconnectReason::Protocol(err));
                    }
                }
            }
            (Conn::Idle { .. } | Conn::Dialing { .. }, _) => {}
        }
    }

    fn handle_refuse(&mut self, now: Instant, refuse: Refuse) {
        self.disconnect(
            now,
            DisconnectReason::Refused {
                reason: refuse.reason,
                message: refuse.message,
            },
        );
    }

    fn handle_welcome(&mut self, now: Instant, welcome: Welcome) {
        if welcome.protocol_version != PROTOCOL_VERSION {
            let err = DecodeError::UnsupportedVersion {
                got: welcome.protocol_version,
                supported: PROTOCOL_VERSION,
            };
            self.disconnect(now, DisconnectReason::Protocol(err.to_string()));
            return;
        }
        let interval = welcome.heartbeat_interval.max(Duration::from_millis(100));
        self.conn = Conn::Connected {
            interval,
            next_heartbeat: now + interval,
            last_received: now,
        };
        self.attempts = 0;
        self.events.push_back(NodeEvent::Connected);
        if let Some(ack) = self.last_ack.clone() {
            // It may have been lost with the previous connection; the control plane ignores duplicates.
            self.transmit.push_back(Message::Ack(ack));
        }
        self.reconcile(now);
    }

    /// The timer set by [`NodeSync::poll_timeout`] fired (or any time: early calls do nothing).
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.conn {
            Conn::Idle { retry_at: Some(at) } if now >= at => {
                self.conn = Conn::Dialing {
                    deadline: now + self.config.handshake_timeout,
                };
                self.events.push_back(NodeEvent::Connect);
            }
            Conn::Idle { .. } => {}
            Conn::Dialing { deadline } | Conn::Handshaking { deadline } => {
                if now >= deadline {
                    self.disconnect(now, DisconnectReason::HandshakeTimeout);
                }
            }
            Conn::Connected {
                interval,
                next_heartbeat,
                last_received,
            } => {
                let dead_at = self.dead_at(interval, last_received);
                if now >= dead_at {
                    self.disconnect(
                        now,
                        DisconnectReason::ControlDead {
                            silent_for: now - last_received,
                        },
                    );
                    return;
                }
                if now >= next_heartbeat {
                    self.heartbeat_seq += 1;
                    self.transmit.push_back(Message::Heartbeat(Heartbeat {
                        seq: self.heartbeat_seq,
                        accepted_revision: self.accepted_revision(),
                        completed_revision: self.completed,
                        load: self.load,
                        health: self.health.clone(),
                    }));
                    // Catch up from `now`, not from the missed deadline, after a stall.
                    let next = (next_heartbeat + interval).max(now);
                    self.conn = Conn::Connected {
                        interval,
                        next_heartbeat: next,
                        last_received,
                    };
                }
                let timeout = self.config.fetch_timeout;
                let before = self.requests.len();
                self.requests.retain(|_, r| r.started || now < r.sent_at + timeout);
                if self.requests.len() != before {
                    self.reconcile(now);
                }
            }
        }
    }

    /// When the control plane counts as dead: `missed_heartbeats` heartbeat intervals of silence.
    fn dead_at(&self, interval: Duration, last_received: Instant) -> Instant {
        last_received + interval * self.config.missed_heartbeats.max(1)
    }

    /// When [`NodeSync::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.conn {
            Conn::Idle { retry_at } => retry_at,
            Conn::Dialing { deadline } | Conn::Handshaking { deadline } => Some(deadline),
            Conn::Connected {
                interval,
                next_heartbeat,
                last_received,
            } => {
                let dead_at = self.dead_at(interval, last_received);
                let fetch = self
                    .requests
                    .values()
                    .filter(|r| !r.started)
                    .map(|r| r.sent_at + self.config.fetch_timeout)
                    .min();
                Some(fetch.map_or(next_heartbeat.min(dead_at), |f| f.min(next_heartbeat).min(dead_at)))
            }
        }
    }

    /// The next message to send on the control stream.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.transmit.pop_front()
    }

    /// The next thing for the node to do.
    pub fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events.pop_front()
    }

    // ----- assignments ------------------------------------------------------------------------------

    fn handle_assign(&mut self, now: Instant, assign: Assign) {
        if assign.revision < self.accepted_revision() {
            return; // stale: reordered or retransmitted after something newer
        }
        if assign.revision == self.completed {
            if let Some(ack) = self.last_ack.as_ref().filter(|a| a.revision == assign.revision) {
                // Our Ack was lost: say it again.
                self.transmit.push_back(Message::Ack(ack.clone()));
            }
            return;
        }
        if self.pending.as_ref().is_some_and(|p| p.revision == assign.revision) {
            return; // a duplicate of what is being applied
        }
        let target: BTreeMap<DeploymentKey, Assignment> = match assign.base {
            None => assign.deployments.into_iter().map(|a| (a.key.clone(), a)).collect(),
            Some(base) if base == self.completed => {
                let mut target = self.snapshot.clone();
                for key in &assign.removed {
                    target.remove(key);
                }
                target.extend(assign.deployments.into_iter().map(|a| (a.key.clone(), a)));
                target
            }
            Some(_) => {
                self.transmit.push_back(Message::Resync(Resync {
                    revision: assign.revision,
                    have: self.completed,
                }));
                return;
            }
        };
        // A new revision may try bundles refused long enough ago again.
        let retry = self.config.refusal_retry;
        self.refused.retain(|_, r| now < r.at + retry);

        let keys: BTreeSet<&DeploymentKey> = target
            .keys()
            .chain(self.running.keys())
            .chain(self.activating.keys())
            .collect();
        let mut work = BTreeMap::new();
        for key in keys {
            let want = target.get(key);
            let settled = !self.activating.contains_key(key)
                && self.running.get(key).map(Assignment::running) == want.map(Assignment::running);
            if !settled {
                work.insert(
                    key.clone(),
                    Work {
                        want: want.cloned(),
                        fetch_from: None,
                        fetch: Duration::ZERO,
                        result: None,
                    },
                );
            }
        }
        self.pending = Some(Pending {
            revision: assign.revision,
            work,
        });
        self.reconcile(now);
    }

    /// Moves every open piece of work of the pending revision as far as it can go now.
    fn reconcile(&mut self, now: Instant) {
        let Some(pending) = self.pending.as_mut() else { return };
        let mut missing: Vec<(BundleHash, u64)> = Vec::new();
        for (key, work) in pending.work.iter_mut().filter(|(_, w)| w.result.is_none()) {
            if self.activating.contains_key(key) {
                continue; // wait for the runtime to finish what it is doing with this deployment
            }
            let Some(want) = &work.want else {
                if self.running.remove(key).is_some() {
                    self.events.push_back(NodeEvent::Remove(key.clone()));
                }
                work.result = Some((Outcome::Removed, Timing::default()));
                continue;
            };
            if self.running.get(key).is_some_and(|r| r.running() == want.running()) {
                work.result = Some((
                    Outcome::Activated(want.running()),
                    Timing {
                        fetch: work.fetch,
                        ..Timing::default()
                    },
                ));
            } else if let Some(refusal) = self.refused.get(&want.bundle) {
                work.result = Some((
                    Outcome::Failed {
                        wanted: want.running(),
                        stage: FailureStage::Integrity,
                        reason: refusal.reason.clone(),
                        running: None,
                    },
                    Timing {
                        fetch: work.fetch,
                        ..Timing::default()
                    },
                ));
            } else if self.stored.contains(&want.bundle) {
                if let Some(from) = work.fetch_from.take() {
                    work.fetch = now.saturating_duration_since(from);
                }
                self.activating.insert(
                    key.clone(),
                    Activation {
                        assignment: want.clone(),
                        started: now,
                        verified: None,
                    },
                );
                self.events.push_back(NodeEvent::Activate(want.clone()));
            } else {
                work.fetch_from.get_or_insert(now);
                missing.push((want.bundle, want.size));
            }
        }
        if matches!(self.conn, Conn::Connected { .. }) {
            let id = self.next_request_id;
            let mut hashes = Vec::new();
            for (hash, size) in missing {
                if let std::collections::btree_map::Entry::Vacant(slot) = self.requests.entry(hash) {
                    slot.insert(Request {
                        sent_at: now,
                        size,
                        started: false,
                    });
                    hashes.push(hash);
                }
            }
            if !hashes.is_empty() {
                self.next_request_id += 1;
                self.transmit
                    .push_back(Message::BundleRequest(BundleRequest { request_id: id, hashes }));
            }
        }
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.work.values().all(|w| w.result.is_some()))
        {
            self.complete();
        }
    }

    fn complete(&mut self) {
        let Some(pending) = self.pending.take() else { return };
        let results = pending
            .work
            .into_iter()
            .filter_map(|(key, work)| {
                let (mut outcome, timing) = work.result?;
                if let Outcome::Failed { running, .. } = &mut outcome {
                    *running = self.running.get(&key).map(Assignment::running);
                }
                Some(DeploymentResult { key, outcome, timing })
            })
            .collect();
        self.completed = pending.revision;
        self.snapshot = self.running.clone();
        let ack = Ack {
            revision: pending.revision,
            results,
        };
        if matches!(self.conn, Conn::Connected { .. }) {
            self.transmit.push_back(Message::Ack(ack.clone()));
        }
        self.last_ack = Some(ack);
        self.events.push_back(NodeEvent::Applied {
            revision: pending.revision,
        });
    }

    // ----- bundles ----------------------------------------------------------------------------------

    /// A bundle stream opened with `header`. `Ok`: receive `header.length` bytes into a
    /// [`crate::BundleReceiver`]. `Err`: reset the stream (a wrong length also refuses the bundle).
    pub fn handle_bundle_header(&mut self, now: Instant, header: &BundleHeader) -> Result<(), BundleRejection> {
        let hash = header.hash;
        let Some(request) = self.requests.get_mut(&hash) else {
            return Err(if self.stored.contains(&hash) {
                BundleRejection::AlreadyStored(hash)
            } else {
                BundleRejection::Unsolicited(hash)
            });
        };
        if request.started {
            return Err(BundleRejection::Duplicate(hash));
        }
        if header.length != request.size {
            let err = BundleRejection::WrongLength {
                hash,
                announced: header.length,
                assigned: request.size,
            };
            self.bundle_refused(now, hash, format!("{err}; refused as tampered"));
            return Err(err);
        }
        request.started = true;
        Ok(())
    }

    /// The bundle's bytes arrived, hash to `hash` and are in the store.
    pub fn bundle_stored(&mut self, now: Instant, hash: BundleHash) {
        self.requests.remove(&hash);
        self.stored.insert(hash);
        self.reconcile(now);
    }

    /// The bundle's bytes did not match its hash (or announced length): it is refused as tampered, and
    /// the deployments needing it fail with `reason`.
    pub fn bundle_refused(&mut self, now: Instant, hash: BundleHash, reason: impl Into<String>) {
        self.requests.remove(&hash);
        self.refused.insert(
            hash,
            Refusal {
                reason: reason.into(),
                at: now,
            },
        );
        self.reconcile(now);
    }

    /// The bundle's stream broke before it was complete: it is requested again.
    pub fn bundle_lost(&mut self, now: Instant, hash: BundleHash) {
        if self.requests.remove(&hash).is_some() {
            self.reconcile(now);
        }
    }

    // ----- activation -------------------------------------------------------------------------------

    /// The runtime verified the signature of the assignment handed out by [`NodeEvent::Activate`].
    pub fn verified(&mut self, now: Instant, key: &DeploymentKey, version: u64) {
        if let Some(activation) = self.activating.get_mut(key).filter(|a| a.assignment.version == version) {
            activation.verified.get_or_insert(now);
        }
    }

    /// The runtime serves the assignment handed out by [`NodeEvent::Activate`].
    pub fn activated(&mut self, now: Instant, key: &DeploymentKey, version: u64) {
        let Some((assignment, times)) = self.take_activation(now, key, version) else {
            return;
        };
        let running = assignment.running();
        self.running.insert(key.clone(), assignment);
        self.activation_done(now, key, running, Outcome::Activated(running), times);
    }

    /// The runtime could not verify or activate the assignment handed out by [`NodeEvent::Activate`];
    /// what ran before keeps running.
    pub fn activation_failed(
        &mut self,
        now: Instant,
        key: &DeploymentKey,
        version: u64,
        stage: FailureStage,
        reason: impl Into<String>,
    ) {
        let Some((assignment, times)) = self.take_activation(now, key, version) else {
            return;
        };
        let wanted = assignment.running();
        let outcome = Outcome::Failed {
            wanted,
            stage,
            reason: reason.into(),
            running: None,
        };
        self.activation_done(now, key, wanted, outcome, times);
    }

    /// Takes the activation of `key` at `version` out of those in progress, with its (verify, activate)
    /// times at `now`; `None` when that activation is not in progress.
    fn take_activation(
        &mut self,
        now: Instant,
        key: &DeploymentKey,
        version: u64,
    ) -> Option<(Assignment, (Duration, Duration))> {
        if self.activating.get(key)?.assignment.version != version {
            return None;
        }
        let activation = self.activating.remove(key)?;
        let times = split_timing(&activation, now);
        Some((activation.assignment, times))
    }

    /// Records `outcome`, with the activation's (verify, activate) `times`, as the result of the open work
    /// that wants `wanted` for `key`, then reconciles.
    fn activation_done(
        &mut self,
        now: Instant,
        key: &DeploymentKey,
        wanted: Running,
        outcome: Outcome,
        (verify, activate): (Duration, Duration),
    ) {
        if let Some(work) = self.open_work_for(key, wanted) {
            work.result = Some((
                outcome,
                Timing {
                    fetch: work.fetch,
                    verify,
                    activate,
                },
            ));
        }
        self.reconcile(now);
    }

    fn open_work_for(&mut self, key: &DeploymentKey, running: Running) -> Option<&mut Work> {
        self.pending
            .as_mut()?
            .work
            .get_mut(key)
            .filter(|w| w.result.is_none() && w.want.as_ref().is_some_and(|a| a.running() == running))
    }
}

impl ReadFrames for NodeSync {
    fn frames(&mut self) -> (&Codec, &mut BytesMut) {
        (&self.codec, &mut self.inbuf)
    }

    fn reading(&self) -> bool {
        matches!(self.conn, Conn::Handshaking { .. } | Conn::Connected { .. })
    }

    fn frame_message(&mut self, now: Instant, message: Message) {
        self.handle_message(now, message);
    }

    fn frame_error(&mut self, now: Instant, err: DecodeError) {
        self.disconnect(now, DisconnectReason::Protocol(err.to_string()));
    }
}

fn split_timing(activation: &Activation, now: Instant) -> (Duration, Duration) {
    match activation.verified {
        Some(at) => (
            at.saturating_duration_since(activation.started),
            now.saturating_duration_since(at),
        ),
        None => (Duration::ZERO, now.saturating_duration_since(activation.started)),
    }
}
