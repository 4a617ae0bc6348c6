//! Deterministic simulation of one control plane and several nodes, with no sockets and no clock.
//!
//! Each seed builds a cluster of 2–4 nodes whose links lose, duplicate and reorder frames, lose and
//! reset bundle streams, fail dials, partition silently, drop connections and restart nodes (which keep
//! their stored bundles, and sometimes forget what they ran). Meanwhile the control plane deploys,
//! upgrades (sometimes to a version that does not load), removes and rolls back deployments, often in
//! bursts that supersede a revision still being applied; one bundle is tampered with in the control
//! plane's store. Then the faults stop, one last revision is deployed, and the
//! simulation checks, for every node:
//!
//! - it converges: it completed the final revision and runs exactly its deployments — except those
//!   whose assigned version is tampered or does not load, which keep their previous version or stay
//!   absent — and its control session knows it is in sync;
//! - each bundle crossed the link at most once, plus once per copy that was lost;
//! - stale messages never rolled it back: accepted and completed revisions only grow (within a process
//!   lifetime), and every activation and removal is one the node's current revision asks for;
//! - only intact bundles are activated, and the tampered one ends as an `Integrity` failure reported to
//!   the control plane.
//!
//! Every frame goes through the real codec, every bundle through `BundleReceiver` (SHA-256), every
//! signature is a real Ed25519 signature. `SIM_SEEDS=n` runs n seeds (default 300); `SIM_SEED=s` runs one.

mod support;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use outpost_protocol::*;
use support::Signer;

const FAULT_PHASE: Duration = Duration::from_secs(60);
const HEAL_DEADLINE: Duration = Duration::from_secs(90);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[derive(Debug)]
enum Ev {
    Frame {
        conn: u64,
        node: usize,
        to_control: bool,
        bytes: Vec<u8>,
    },
    Bundle {
        conn: u64,
        node: usize,
        header: BundleHeader,
        bytes: Vec<u8>,
        reset: bool,
    },
    Dialed {
        node: usize,
        incarnation: u64,
    },
    Runtime {
        node: usize,
        incarnation: u64,
        assignment: Assignment,
    },
    Deploy,
    Disconnect {
        node: usize,
    },
    Restart {
        node: usize,
    },
    Partition {
        node: usize,
        length: Duration,
    },
    Heal,
}

struct Conn {
    id: u64,
    control: ControlSession,
    partitioned_until: Instant,
    /// The newest revision the session reported acknowledged.
    last_acked: u64,
}

struct Node {
    sync: NodeSync,
    config: NodeConfig,
    incarnation: u64,
    conn: Option<Conn>,
    disk: BTreeMap<BundleHash, Vec<u8>>,
    transfers: BTreeMap<BundleHash, u32>,
    lost: BTreeMap<BundleHash, u32>,
    accepted: u64,
    completed: u64,
    integrity_reported: bool,
}

#[derive(Default, Debug)]
struct Stats {
    frames: u64,
    frames_lost: u64,
    transfers: u64,
    transfers_lost: u64,
    sessions: u64,
    peer_dead: u64,
    restarts: u64,
    revisions: u64,
    unknown_bundles: u64,
}

struct Params {
    loss: f64,
    dup: f64,
    max_delay: u64,
    bundle_loss: f64,
    bundle_reset: f64,
    dial_fail: f64,
}

struct Sim {
    seed: u64,
    rng: fastrand::Rng,
    now: Instant,
    start: Instant,
    faults: bool,
    params: Params,
    signer: Signer,
    control_config: ControlConfig,
    /// The control plane's bundle store; the tampered bundle's bytes are corrupted here.
    store: BTreeMap<BundleHash, Vec<u8>>,
    history: BTreeMap<u64, Arc<DesiredState>>,
    current: Arc<DesiredState>,
    versions: BTreeMap<String, Vec<Assignment>>,
    /// Versions whose modules fail to load on the node.
    broken: BTreeSet<(String, u64)>,
    tampered: DeploymentKey,
    nodes: Vec<Node>,
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    pending: BTreeMap<u64, Ev>,
    seq: u64,
    next_conn: u64,
    stats: Stats,
}

impl Sim {
    fn new(seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let start = Instant::now();
        let params = Params {
            loss: rng.f64() * 0.08,
            dup: rng.f64() * 0.08,
            max_delay: rng.u64(5..150),
            bundle_loss: rng.f64() * 0.1,
            bundle_reset: rng.f64() * 0.1,
            dial_fail: rng.f64() * 0.3,
        };
        let control_config = ControlConfig {
            heartbeat_interval: Duration::from_secs(1),
            missed_heartbeats: 3,
            handshake_timeout: Duration::from_secs(5),
            retransmit_initial: Duration::from_secs(1),
            retransmit_max: Duration::from_secs(8),
            ..ControlConfig::default()
        };
        let mut sim = Self {
            seed,
            rng,
            now: start,
            start,
            faults: true,
            params,
            signer: Signer::new(seed as u8),
            control_config,
            store: BTreeMap::new(),
            history: BTreeMap::new(),
            current: Arc::new(DesiredState::default()),
            versions: BTreeMap::new(),
            broken: BTreeSet::new(),
            tampered: DeploymentKey::new("tampered", "production"),
            nodes: Vec::new(),
            queue: BinaryHeap::new(),
            pending: BTreeMap::new(),
            seq: 0,
            next_conn: 0,
            stats: Stats::default(),
        };

        // Revision 1: a few good deployments, one whose stored bundle is tampered, one that never loads.
        let mut initial = Vec::new();
        for name in ["hello", "api", "shop"].into_iter().take(sim.rng.usize(1..=3)) {
            initial.push(sim.new_version(name, false));
        }
        let tampered = sim.new_version("tampered", false);
        let corrupted = sim.store.get_mut(&tampered.bundle).unwrap();
        let at = sim.rng.usize(..corrupted.len());
        corrupted[at] ^= 0x01 << sim.rng.u8(..8);
        let broken = sim.new_version("broken", true);
        initial.push(tampered);
        initial.push(broken);
        sim.set_desired(DesiredState::new(1, initial));

        let n = sim.rng.usize(2..=4);
        for i in 0..n {
            let mut config = NodeConfig::new(format!("node-{i}"), ["fra", "iad", "sin"][i % 3]);
            config.fetch_timeout = Duration::from_secs(5);
            config.reconnect_initial = ms(200);
            config.reconnect_max = Duration::from_secs(5);
            config.handshake_timeout = Duration::from_secs(5);
            config.refusal_retry = Duration::from_secs(3600);
            config.jitter_seed ^= seed;
            let sync = NodeSync::new(start, config.clone(), Inventory::default());
            sim.nodes.push(Node {
                sync,
                config,
                incarnation: 0,
                conn: None,
                disk: BTreeMap::new(),
                transfers: BTreeMap::new(),
                lost: BTreeMap::new(),
                accepted: 0,
                completed: 0,
                integrity_reported: false,
            });
        }

        // The fault schedule.
        let phase = FAULT_PHASE.as_millis() as u64;
        for _ in 0..sim.rng.usize(3..12) {
            let at = ms(sim.rng.u64(0..phase));
            sim.schedule(at, Ev::Deploy);
        }
        for node in 0..n {
            for _ in 0..sim.rng.usize(0..4) {
                let at = ms(sim.rng.u64(0..phase));
                sim.schedule(at, Ev::Disconnect { node });
            }
            for _ in 0..sim.rng.usize(0..3) {
                let at = ms(sim.rng.u64(0..phase));
                sim.schedule(at, Ev::Restart { node });
            }
            for _ in 0..sim.rng.usize(0..2) {
                let at = ms(sim.rng.u64(0..phase));
                let length = ms(sim.rng.u64(500..8000));
                sim.schedule(at, Ev::Partition { node, length });
            }
        }
        sim.schedule(FAULT_PHASE, Ev::Heal);
        sim
    }

    fn fail(&self, what: impl std::fmt::Display) -> ! {
        panic!(
            "seed {} at {:?}: {what}\n(rerun with SIM_SEED={} cargo test -p outpost-protocol --test sync_simulation)",
            self.seed,
            self.now - self.start,
            self.seed
        )
    }

    fn new_version(&mut self, name: &str, broken: bool) -> Assignment {
        let version = self.versions.get(name).map_or(1, |v| v.len() as u64 + 1);
        let len = self.rng.usize(64..4096);
        let mut bytes =
            format!("// {name} v{version}\nexport default {{ fetch() {{ return new Response('{name}') }} }}\n")
                .into_bytes();
        bytes.extend((bytes.len()..len).map(|_| b' ' + self.rng.u8(..64)));
        let a = self.signer.assign(name, version, &bytes);
        self.store.entry(a.bundle).or_insert(bytes);
        self.versions.entry(name.to_string()).or_default().push(a.clone());
        if broken {
            self.broken.insert((name.to_string(), version));
        }
        a
    }

    /// Whether a node cannot run this assignment: its bundle is tampered or its modules do not load.
    fn is_bad(&self, a: &Assignment) -> bool {
        a.key == self.tampered || self.broken.contains(&(a.key.name.clone(), a.version))
    }

    fn set_desired(&mut self, desired: DesiredState) {
        let desired = Arc::new(desired);
        self.history.insert(desired.revision, desired.clone());
        self.current = desired.clone();
        self.stats.revisions += 1;
        for node in &mut self.nodes {
            if let Some(conn) = &mut node.conn {
                conn.control.set_desired(self.now, desired.clone());
            }
        }
    }

    fn schedule(&mut self, after: Duration, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((self.now + after, self.seq)));
        self.pending.insert(self.seq, ev);
    }

    fn delay(&mut self) -> Duration {
        ms(self.rng.u64(1..=self.params.max_delay))
    }

    /// A random change of the desired state: upgrade (sometimes to a version that does not load), add,
    /// remove, roll back, or a new deployment sharing an existing bundle.
    fn deploy(&mut self) {
        let mut next: BTreeMap<DeploymentKey, Assignment> = self.current.deployments.clone();
        let good: Vec<DeploymentKey> = next.keys().filter(|k| **k != self.tampered).cloned().collect();
        match self.rng.u8(0..6) {
            0 | 5 if !good.is_empty() => {
                let key = &good[self.rng.usize(..good.len())];
                let broken = self.rng.u8(..4) == 0;
                let a = self.new_version(&key.name, broken);
                next.insert(a.key.clone(), a);
            }
            1 if !good.is_empty() => {
                let key = &good[self.rng.usize(..good.len())];
                next.remove(key);
            }
            2 => {
                // Roll back (or re-add) some deployment to one of its earlier versions.
                let names: Vec<String> = self.versions.keys().filter(|n| *n != "tampered").cloned().collect();
                let name = &names[self.rng.usize(..names.len())];
                let versions = &self.versions[name];
                let a = versions[self.rng.usize(..versions.len())].clone();
                next.insert(a.key.clone(), a);
            }
            3 if !good.is_empty() => {
                let source = &next[&good[self.rng.usize(..good.len())]];
                let broken = self.is_bad(source);
                let bytes = self.store[&source.bundle].clone();
                let name = format!("twin{}", self.rng.u32(..1000));
                let version = self.versions.get(&name).map_or(1, |v| v.len() as u64 + 1);
                let a = self.signer.assign(&name, version, &bytes);
                self.versions.entry(name.clone()).or_default().push(a.clone());
                if broken {
                    self.broken.insert((name, version));
                }
                next.insert(a.key.clone(), a);
            }
            _ => {
                let name = format!("new{}", self.rng.u32(..1000));
                let a = self.new_version(&name, false);
                next.insert(a.key.clone(), a);
            }
        }
        let revision = self.current.revision + 1;
        self.set_desired(DesiredState {
            revision,
            deployments: next,
        });
    }

    fn next_time(&self) -> Option<Instant> {
        let queued = self.queue.peek().map(|Reverse((t, _))| *t);
        let timers = self.nodes.iter().flat_map(|n| {
            [
                n.sync.poll_timeout(),
                n.conn.as_ref().and_then(|c| c.control.poll_timeout()),
            ]
        });
        queued.into_iter().chain(timers.flatten()).min()
    }

    fn run(&mut self) {
        let deadline = self.start + FAULT_PHASE + HEAL_DEADLINE;
        let mut quiet_since: Option<Instant> = None;
        let mut steps_at_this_instant = 0u32;
        loop {
            let Some(next) = self.next_time() else {
                self.fail("nothing left to happen")
            };
            if next <= self.now {
                steps_at_this_instant += 1;
                if steps_at_this_instant > 10_000 {
                    self.fail("livelock: a timer stays due but handling it changes nothing");
                }
            } else {
                steps_at_this_instant = 0;
            }
            self.now = next.max(self.now);
            if self.now > deadline {
                let states: Vec<String> = self
                    .nodes
                    .iter()
                    .map(|n| {
                        format!(
                            "[accepted {} completed {} connected {} in_sync {}]",
                            n.sync.accepted_revision(),
                            n.sync.completed_revision(),
                            n.sync.is_connected(),
                            n.conn.as_ref().is_some_and(|c| c.control.in_sync())
                        )
                    })
                    .collect();
                self.fail(format!(
                    "no convergence to revision {}: {}",
                    self.current.revision,
                    states.join(" ")
                ));
            }
            if let Some(Reverse((t, seq))) = self.queue.peek().copied()
                && t <= self.now
            {
                self.queue.pop();
                let ev = self.pending.remove(&seq).unwrap();
                self.handle(ev);
            }
            for i in 0..self.nodes.len() {
                if self.nodes[i].sync.poll_timeout().is_some_and(|t| t <= self.now) {
                    self.nodes[i].sync.handle_timeout(self.now);
                }
                if let Some(conn) = &mut self.nodes[i].conn
                    && conn.control.poll_timeout().is_some_and(|t| t <= self.now)
                {
                    conn.control.handle_timeout(self.now);
                }
            }
            self.flush();
            if !self.faults {
                if self.converged() {
                    // Stay a few heartbeats longer: nothing may move once converged.
                    let since = *quiet_since.get_or_insert(self.now);
                    if self.now - since > Duration::from_secs(5) {
                        return;
                    }
                } else if quiet_since.is_some() {
                    self.fail("left the converged state");
                }
            }
        }
    }

    fn converged(&self) -> bool {
        let rev = self.current.revision;
        self.nodes.iter().all(|n| {
            n.sync.completed_revision() == rev
                && n.sync.accepted_revision() == rev
                && n.conn
                    .as_ref()
                    .is_some_and(|c| c.control.in_sync() && c.control.outstanding_revision().is_none())
                && n.integrity_reported
        })
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Frame {
                conn,
                node,
                to_control,
                bytes,
            } => {
                let now = self.now;
                let chunks = self.rng.usize(1..=3);
                let n = &mut self.nodes[node];
                let Some(c) = n.conn.as_mut().filter(|c| c.id == conn && c.partitioned_until <= now) else {
                    self.stats.frames_lost += 1;
                    return;
                };
                let step = bytes.len().div_ceil(chunks).max(1);
                for chunk in bytes.chunks(step) {
                    if to_control {
                        c.control.handle_data(now, chunk);
                    } else {
                        n.sync.handle_data(now, chunk);
                    }
                }
            }
            Ev::Bundle {
                conn,
                node,
                header,
                bytes,
                reset,
            } => self.deliver_bundle(conn, node, header, bytes, reset),
            Ev::Dialed { node, incarnation } => {
                if self.nodes[node].incarnation != incarnation {
                    return;
                }
                if self.faults && self.rng.f64() < self.params.dial_fail {
                    self.nodes[node].sync.connection_lost(self.now);
                    return;
                }
                self.next_conn += 1;
                self.stats.sessions += 1;
                let mut control = ControlSession::new(self.now, self.control_config.clone());
                control.set_desired(self.now, self.current.clone());
                let n = &mut self.nodes[node];
                n.conn = Some(Conn {
                    id: self.next_conn,
                    control,
                    partitioned_until: self.now,
                    last_acked: 0,
                });
                n.sync.connected(self.now);
            }
            Ev::Runtime {
                node,
                incarnation,
                assignment,
            } => self.run_activation(node, incarnation, assignment),
            Ev::Deploy if !self.faults => {} // the heal's deploy is the last one
            Ev::Deploy => {
                self.deploy();
                if self.faults && self.rng.u8(..3) == 0 {
                    // A burst: the next revision lands while this one is being applied.
                    let soon = ms(self.rng.u64(5..400));
                    self.schedule(soon, Ev::Deploy);
                }
            }
            Ev::Disconnect { node } => {
                if self.nodes[node].conn.take().is_some() {
                    self.nodes[node].sync.connection_lost(self.now);
                }
            }
            Ev::Restart { node } => self.restart(node),
            Ev::Partition { node, length } => {
                let until = self.now + length;
                if let Some(c) = &mut self.nodes[node].conn {
                    c.partitioned_until = until;
                }
            }
            Ev::Heal => {
                self.faults = false;
                for n in &mut self.nodes {
                    if let Some(c) = &mut n.conn {
                        c.partitioned_until = self.now;
                    }
                }
                // One last revision, deployed on a healthy network.
                self.deploy();
            }
        }
    }

    fn restart(&mut self, node: usize) {
        self.stats.restarts += 1;
        let now = self.now;
        let n = &mut self.nodes[node];
        let mut inventory = n.sync.inventory();
        // The store keeps its bundles (and refusals); sometimes the record of what ran is lost.
        if self.rng.bool() {
            inventory.revision = 0;
            inventory.running.clear();
        }
        assert!(
            inventory.bundles.iter().all(|h| n.disk.contains_key(h)),
            "seed {}: inventory lists a bundle not on disk",
            self.seed
        );
        n.conn = None;
        n.incarnation += 1;
        n.accepted = inventory.revision;
        n.completed = inventory.revision;
        n.sync = NodeSync::new(now, n.config.clone(), inventory);
    }

    fn deliver_bundle(&mut self, conn: u64, node: usize, header: BundleHeader, bytes: Vec<u8>, reset: bool) {
        let now = self.now;
        let n = &mut self.nodes[node];
        let alive = n
            .conn
            .as_ref()
            .is_some_and(|c| c.id == conn && c.partitioned_until <= now);
        if !alive {
            *n.lost.entry(header.hash).or_default() += 1;
            self.stats.transfers_lost += 1;
            return;
        }
        // The node's transport: header, then the bytes through the integrity check.
        let mut wire = BytesMut::new();
        header.encode(&mut wire);
        wire.extend_from_slice(&bytes);
        let header = match BundleHeader::decode(&mut wire, 1 << 20) {
            Ok(Some(h)) => h,
            other => self.fail(format!("bundle header did not decode: {other:?}")),
        };
        if let Err(rejection) = n.sync.handle_bundle_header(now, &header) {
            // A copy nobody needed crossed the link; the transfer count shows it.
            let _ = rejection;
            return;
        }
        if reset {
            *n.lost.entry(header.hash).or_default() += 1;
            self.stats.transfers_lost += 1;
            n.sync.bundle_lost(now, header.hash);
            return;
        }
        let mut rx = BundleReceiver::new(header);
        let step = wire.len().div_ceil(self.rng.usize(1..=4)).max(1);
        let mut result = Ok(());
        for chunk in wire.chunks(step) {
            result = result.and_then(|()| rx.push(chunk));
        }
        match result.and_then(|()| rx.finish()) {
            Ok(hash) => {
                n.disk.insert(hash, wire.to_vec());
                n.sync.bundle_stored(now, hash);
            }
            Err(err) => n.sync.bundle_refused(now, header.hash, err.to_string()),
        }
    }

    fn run_activation(&mut self, node: usize, incarnation: u64, a: Assignment) {
        let now = self.now;
        let n = &mut self.nodes[node];
        if n.incarnation != incarnation {
            return; // the process that was asked is gone
        }
        match n.disk.get(&a.bundle) {
            Some(bytes) if BundleHash::of(bytes) == a.bundle => {}
            _ => panic!(
                "seed {}: node {node} asked to activate {} without an intact bundle",
                self.seed, a.key
            ),
        }
        if !self.signer.verify(&a) {
            n.sync.activation_failed(
                now,
                &a.key,
                a.version,
                FailureStage::Signature,
                "signature does not verify",
            );
            return;
        }
        n.sync.verified(now, &a.key, a.version);
        if self.broken.contains(&(a.key.name.clone(), a.version)) {
            n.sync.activation_failed(
                now,
                &a.key,
                a.version,
                FailureStage::Activate,
                "SyntaxError: index.js:1:1",
            );
        } else {
            n.sync.activated(now, &a.key, a.version);
        }
    }

    /// Drains every state machine's outputs until none has anything left.
    fn flush(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                moved |= self.flush_node(i);
                moved |= self.flush_control(i);
            }
            if !moved {
                return;
            }
        }
    }

    fn send_frame(&mut self, node: usize, to_control: bool, message: &Message) {
        let Some(conn) = self.nodes[node].conn.as_ref().map(|c| c.id) else {
            return;
        };
        let mut buf = BytesMut::new();
        Codec::default()
            .encode(message, &mut buf)
            .unwrap_or_else(|e| self.fail(e));
        self.stats.frames += 1;
        let copies = if self.faults && self.rng.f64() < self.params.loss {
            self.stats.frames_lost += 1;
            0
        } else if self.faults && self.rng.f64() < self.params.dup {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.delay();
            self.schedule(
                delay,
                Ev::Frame {
                    conn,
                    node,
                    to_control,
                    bytes: buf.to_vec(),
                },
            );
        }
    }

    fn flush_node(&mut self, i: usize) -> bool {
        let mut moved = false;
        while let Some(m) = self.nodes[i].sync.poll_transmit() {
            moved = true;
            self.send_frame(i, true, &m);
        }
        while let Some(e) = self.nodes[i].sync.poll_event() {
            moved = true;
            self.check_revisions(i);
            match e {
                NodeEvent::Connect => {
                    let delay = ms(self.rng.u64(5..50));
                    let incarnation = self.nodes[i].incarnation;
                    self.schedule(delay, Ev::Dialed { node: i, incarnation });
                }
                NodeEvent::Disconnect { .. } => {
                    self.nodes[i].conn = None;
                }
                NodeEvent::Connected => {}
                NodeEvent::Activate(a) => {
                    let accepted = self.nodes[i].sync.accepted_revision();
                    if self.history[&accepted].deployments.get(&a.key) != Some(&a) {
                        self.fail(format!(
                            "node {i} activates {} v{} which revision {accepted} does not ask for",
                            a.key, a.version
                        ));
                    }
                    let delay = if self.rng.u8(..4) == 0 {
                        ms(self.rng.u64(50..800))
                    } else {
                        ms(self.rng.u64(1..40))
                    };
                    let incarnation = self.nodes[i].incarnation;
                    self.schedule(
                        delay,
                        Ev::Runtime {
                            node: i,
                            incarnation,
                            assignment: a,
                        },
                    );
                }
                NodeEvent::Remove(key) => {
                    let accepted = self.nodes[i].sync.accepted_revision();
                    if self.history[&accepted].deployments.contains_key(&key) {
                        self.fail(format!("node {i} removes {key} which revision {accepted} keeps"));
                    }
                }
                NodeEvent::Applied { revision } => self.check_applied(i, revision),
            }
        }
        moved
    }

    fn flush_control(&mut self, i: usize) -> bool {
        let mut moved = false;
        let Some(conn) = &mut self.nodes[i].conn else {
            return false;
        };
        let messages: Vec<Message> = std::iter::from_fn(|| conn.control.poll_transmit()).collect();
        let bundles: Vec<BundleHeader> = std::iter::from_fn(|| conn.control.poll_bundle()).collect();
        let events: Vec<ControlEvent> = std::iter::from_fn(|| conn.control.poll_event()).collect();
        let conn_id = conn.id;
        let closed = conn.control.is_closed();
        for e in &events {
            if let ControlEvent::Acked { revision, .. } = e {
                if *revision <= conn.last_acked {
                    let msg = format!(
                        "node {i}'s session reported Ack {revision} after Ack {}",
                        conn.last_acked
                    );
                    self.fail(msg);
                }
                conn.last_acked = *revision;
            }
        }
        for m in &messages {
            moved = true;
            self.send_frame(i, false, m);
        }
        for header in bundles {
            moved = true;
            self.stats.transfers += 1;
            *self.nodes[i].transfers.entry(header.hash).or_default() += 1;
            let bytes = self.store[&header.hash].clone();
            let lost = self.faults && self.rng.f64() < self.params.bundle_loss;
            let reset = self.faults && self.rng.f64() < self.params.bundle_reset;
            if lost {
                *self.nodes[i].lost.entry(header.hash).or_default() += 1;
                self.stats.transfers_lost += 1;
                continue;
            }
            let delay = ms(self.rng.u64(5..=200));
            self.schedule(
                delay,
                Ev::Bundle {
                    conn: conn_id,
                    node: i,
                    header,
                    bytes,
                    reset,
                },
            );
        }
        for e in events {
            moved = true;
            match e {
                ControlEvent::Acked { results, .. } => {
                    for r in results {
                        if r.key == self.tampered
                            && matches!(&r.outcome, Outcome::Failed { stage: FailureStage::Integrity, reason, .. } if reason.contains("tampered"))
                        {
                            self.nodes[i].integrity_reported = true;
                        }
                        if let Outcome::Activated(running) = r.outcome
                            && (r.key == self.tampered || self.broken.contains(&(r.key.name.clone(), running.version)))
                        {
                            self.fail(format!("node {i} reports {} v{} activated", r.key, running.version));
                        }
                    }
                }
                ControlEvent::Closed { reason } => {
                    if matches!(reason, CloseReason::PeerDead { .. }) {
                        self.stats.peer_dead += 1;
                    } else if !matches!(reason, CloseReason::HandshakeTimeout) {
                        self.fail(format!("control session of node {i} closed: {reason:?}"));
                    }
                }
                ControlEvent::UnknownBundle { hash } => {
                    // Legitimate only for a bundle of an older revision the node was still applying when it
                    // reconnected (the newer Assign supersedes it).
                    if !self
                        .history
                        .values()
                        .any(|d| d.deployments.values().any(|a| a.bundle == hash))
                    {
                        self.fail(format!("node {i} asked for unknown bundle {hash}"));
                    }
                    self.stats.unknown_bundles += 1;
                }
                ControlEvent::NodeAhead { .. } => self.fail(format!("node {i} ahead of the control plane")),
                ControlEvent::Joined { .. } | ControlEvent::Status { .. } | ControlEvent::InSync { .. } => {}
            }
        }
        if closed {
            // The control plane closes the connection; the node's transport sees it.
            self.nodes[i].conn = None;
            self.nodes[i].sync.connection_lost(self.now);
            moved = true;
        }
        moved
    }

    fn check_revisions(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let (accepted, completed) = (n.sync.accepted_revision(), n.sync.completed_revision());
        if accepted < n.accepted || completed < n.completed {
            let msg = format!(
                "node {i} went back: accepted {} → {accepted}, completed {} → {completed}",
                n.accepted, n.completed
            );
            self.fail(msg);
        }
        n.accepted = accepted;
        n.completed = completed;
    }

    fn check_applied(&mut self, i: usize, revision: u64) {
        self.check_revisions(i);
        self.check_runs(i, revision);
    }

    /// The node runs exactly revision `revision`'s deployments, except bad ones, which do not run the
    /// assigned version.
    fn check_runs(&self, i: usize, revision: u64) {
        let desired = &self.history[&revision];
        let running = self.nodes[i].sync.running();
        for (key, a) in running {
            match desired.deployments.get(key) {
                Some(want) if want == a => {}
                Some(want) if self.is_bad(want) => {}
                _ => self.fail(format!("node {i} at revision {revision} runs {key} v{}", a.version)),
            }
            if self.is_bad(a) {
                self.fail(format!(
                    "node {i} runs {key} v{}, which it cannot have loaded",
                    a.version
                ));
            }
        }
        for (key, want) in &desired.deployments {
            if !self.is_bad(want) && running.get(key) != Some(want) {
                self.fail(format!(
                    "node {i} at revision {revision} does not run {key} v{}",
                    want.version
                ));
            }
        }
    }

    fn check_final(&self) {
        for (i, n) in self.nodes.iter().enumerate() {
            for (hash, count) in &n.transfers {
                let lost = n.lost.get(hash).copied().unwrap_or(0);
                if *count > 1 + lost {
                    self.fail(format!(
                        "node {i}: bundle {hash} sent {count} times, {lost} of them lost"
                    ));
                }
            }
            let tampered = &self.current.deployments[&self.tampered];
            if n.disk.contains_key(&tampered.bundle) {
                self.fail(format!("node {i} stored the tampered bundle"));
            }
            self.check_runs(i, self.current.revision);
        }
    }
}

fn run_seed(seed: u64) -> Stats {
    let mut sim = Sim::new(seed);
    sim.run();
    sim.check_final();
    sim.stats
}

#[test]
fn every_node_converges_through_loss_reordering_reconnects_and_restarts() {
    let seeds: Vec<u64> = match (std::env::var("SIM_SEED"), std::env::var("SIM_SEEDS")) {
        (Ok(s), _) => vec![s.parse().expect("SIM_SEED is a number")],
        (_, Ok(n)) => (0..n.parse().expect("SIM_SEEDS is a number")).collect(),
        _ => (0..300).collect(),
    };
    let mut total = Stats::default();
    for seed in &seeds {
        let s = run_seed(*seed);
        total.frames += s.frames;
        total.frames_lost += s.frames_lost;
        total.transfers += s.transfers;
        total.transfers_lost += s.transfers_lost;
        total.sessions += s.sessions;
        total.peer_dead += s.peer_dead;
        total.restarts += s.restarts;
        total.revisions += s.revisions;
        total.unknown_bundles += s.unknown_bundles;
    }
    println!("{} seeds: {total:?}", seeds.len());
    // The faults really happened.
    if seeds.len() >= 50 {
        assert!(
            total.frames_lost > 100 && total.transfers_lost > 20 && total.peer_dead > 10 && total.restarts > 50,
            "{total:?}"
        );
    }
}
