//! The node's side of the QUIC connection: a [`NodeSync`] driven by the control stream, the bundle
//! streams, the activations it asks for, and its timer.
//!
//! One task owns the `NodeSync`. Everything else — dialing, reading the control stream, receiving
//! each bundle into the store, activating an assignment — runs in tasks of its own that report back
//! through one channel, tagged with the connection they belong to, so nothing from a dead
//! connection is mistaken for the current one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use outpost_protocol::join::CONTROL_SERVER_NAME;
use outpost_protocol::{
    Assignment, BundleHash, BundleHeader, BundleReceiver, Codec, DeploymentKey, DisconnectReason, FailureStage, Health,
    Inventory, Load, NodeEvent, NodeSync,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::AgentStatus;
use super::activate::Activator;
use super::identity::{client_endpoint, resolve};
use super::store::{BundleStore, save_state, sync_dir};

/// What the tasks around the sync report.
enum Input {
    Dialed {
        generation: u64,
        result: Result<(quinn::Connection, quinn::SendStream, quinn::RecvStream), String>,
    },
    Control {
        generation: u64,
        data: Result<Option<Bytes>, String>,
    },
    BundleHeader {
        generation: u64,
        header: BundleHeader,
        reply: oneshot::Sender<bool>,
    },
    BundleDone {
        generation: u64,
        hash: BundleHash,
        outcome: Received,
    },
    Verified {
        key: DeploymentKey,
        version: u64,
    },
    Activated {
        key: DeploymentKey,
        version: u64,
    },
    ActivationFailed {
        key: DeploymentKey,
        version: u64,
        stage: FailureStage,
        reason: String,
    },
}

/// How receiving one bundle ended.
enum Received {
    /// Intact and in the store.
    Stored,
    /// The bytes do not match the header: refused as tampered.
    Refused(String),
    /// The stream broke (or the disk failed): ask again.
    Lost(String),
}

/// The live connection.
struct Link {
    conn: quinn::Connection,
    out: mpsc::UnboundedSender<Bytes>,
    tasks: Vec<JoinHandle<()>>,
}

impl Link {
    fn close(self, code: u32, reason: &str) {
        self.conn.close(quinn::VarInt::from_u32(code), reason.as_bytes());
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Settings of the driver.
pub(crate) struct DriverConfig {
    pub(crate) control: String,
    pub(crate) client: quinn::ClientConfig,
    pub(crate) data: PathBuf,
    pub(crate) max_bundle_bytes: u64,
}

/// Owns the `NodeSync` and everything the connection needs.
pub(crate) struct Driver {
    sync: NodeSync,
    codec: Codec,
    config: DriverConfig,
    endpoints: Arc<Mutex<Vec<quinn::Endpoint>>>,
    generation: u64,
    link: Option<Link>,
    tx: mpsc::UnboundedSender<Input>,
    rx: mpsc::UnboundedReceiver<Input>,
    activator: Arc<Activator>,
    store: Arc<BundleStore>,
    persist: watch::Sender<Option<Inventory>>,
    persister: JoinHandle<()>,
    status: watch::Sender<AgentStatus>,
    cpu: CpuMeter,
}

impl Driver {
    pub(crate) fn new(
        sync: NodeSync,
        config: DriverConfig,
        activator: Arc<Activator>,
        store: Arc<BundleStore>,
        status: watch::Sender<AgentStatus>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let (persist, mut persist_rx) = watch::channel::<Option<Inventory>>(None);
        let data = config.data.clone();
        // One writer, so state files are written in order; it writes the newest state it sees.
        let persister = tokio::spawn(async move {
            while persist_rx.changed().await.is_ok() {
                let inventory = persist_rx.borrow_and_update().clone();
                if let Some(inventory) = inventory {
                    let data = data.clone();
                    match tokio::task::spawn_blocking(move || save_state(&data, &inventory)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::error!(error = %e, "cannot write the node's state file"),
                        Err(e) => tracing::error!(error = %e, "writing the node's state file failed"),
                    }
                }
            }
        });
        Driver {
            sync,
            codec: Codec::default(),
            config,
            endpoints: Arc::default(),
            generation: 0,
            link: None,
            tx,
            rx,
            activator,
            store,
            persist,
            persister,
            status,
            cpu: CpuMeter::new(),
        }
    }

    /// Runs until `stop` turns true; then closes the connection and writes the state file.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut status_tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            self.drain();
            if *stop.borrow() {
                break;
            }
            let deadline = self.sync.poll_timeout().map(tokio::time::Instant::from_std);
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.changed() => break,
                Some(input) = self.rx.recv() => self.handle(input),
                _ = timer => self.sync.handle_timeout(Instant::now()),
                _ = status_tick.tick() => self.report_load(),
            }
        }
        if let Some(link) = self.link.take() {
            link.close(0, "node shutting down");
        }
        let endpoints: Vec<quinn::Endpoint> = self
            .endpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for endpoint in endpoints {
            let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        }
        drop(self.persist);
        let _ = self.persister.await;
        let inventory = self.sync.inventory();
        let data = self.config.data.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || save_state(&data, &inventory)).await {
            tracing::error!(error = %e, "cannot write the node's state file");
        }
    }

    fn report_load(&mut self) {
        let stats = self.activator.handle.stats();
        let load = Load {
            in_flight: 0,
            isolates: u32::try_from(stats.live_isolates).unwrap_or(u32::MAX),
            heap_bytes: stats.heap_bytes as u64,
            cpu_permille: self.cpu.sample(),
        };
        self.sync.set_status(load, Health::Healthy);
    }

    /// Hands out everything the sync has to say, then publishes the status.
    fn drain(&mut self) {
        loop {
            let mut frames = BytesMut::new();
            while let Some(message) = self.sync.poll_transmit() {
                if let Err(e) = self.codec.encode(&message, &mut frames) {
                    tracing::error!(error = %e, "cannot encode a control message");
                }
            }
            if !frames.is_empty()
                && let Some(link) = &self.link
            {
                let _ = link.out.send(frames.freeze());
            }
            let Some(event) = self.sync.poll_event() else { break };
            self.event(event);
        }
        let sync = &self.sync;
        let running: BTreeMap<DeploymentKey, u64> =
            sync.running().iter().map(|(k, a)| (k.clone(), a.version)).collect();
        self.status.send_if_modified(|s| {
            let before = (s.connected, s.revision, s.running.clone());
            s.connected = sync.is_connected();
            s.revision = sync.completed_revision();
            s.running = running;
            before != (s.connected, s.revision, s.running.clone())
        });
    }

    fn event(&mut self, event: NodeEvent) {
        match event {
            NodeEvent::Connect => {
                self.generation += 1;
                self.dial();
            }
            NodeEvent::Disconnect { reason } => {
                let permanent = matches!(&reason, DisconnectReason::Refused { reason, .. } if reason.is_permanent());
                let text = describe(&reason);
                if permanent {
                    tracing::error!("the control plane refused this node: {text}; not reconnecting (still serving)");
                } else {
                    tracing::warn!("disconnected from the control plane: {text}; reconnecting");
                }
                self.generation += 1;
                if let Some(link) = self.link.take() {
                    link.close(1, &text);
                }
                self.status.send_modify(|s| {
                    s.last_disconnect = Some(text);
                    s.refused = permanent;
                });
            }
            NodeEvent::Connected => {
                tracing::info!(control = %self.config.control, "connected to the control plane");
                self.status.send_modify(|s| s.connections += 1);
            }
            NodeEvent::Activate(assignment) => self.activate(assignment),
            NodeEvent::Remove(key) => {
                tracing::info!(deployment = %key, "removed");
                self.activator.remove(&key);
            }
            NodeEvent::Applied { revision } => {
                tracing::info!(revision, "revision applied");
                self.persist.send_replace(Some(self.sync.inventory()));
            }
        }
    }

    fn handle(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Dialed { generation, result } => {
                if generation != self.generation {
                    if let Ok((conn, ..)) = result {
                        conn.close(quinn::VarInt::from_u32(0), b"superseded");
                    }
                    return;
                }
                match result {
                    Ok((conn, send, recv)) => self.connected(now, conn, send, recv),
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot connect to the control plane");
                        self.status.send_modify(|s| s.last_disconnect = Some(e));
                        self.sync.connection_lost(now);
                    }
                }
            }
            Input::Control { generation, data } => {
                if generation != self.generation {
                    return;
                }
                match data {
                    Ok(Some(bytes)) => self.sync.handle_data(now, &bytes),
                    Ok(None) | Err(_) => {
                        let why = match data {
                            Err(e) => e,
                            _ => "the control plane closed the control stream".into(),
                        };
                        tracing::warn!("lost the control plane: {why}; reconnecting");
                        self.generation += 1;
                        if let Some(link) = self.link.take() {
                            link.close(0, "control stream ended");
                        }
                        self.status.send_modify(|s| s.last_disconnect = Some(why));
                        self.sync.connection_lost(now);
                    }
                }
            }
            Input::BundleHeader {
                generation,
                header,
                reply,
            } => {
                let accepted = generation == self.generation
                    && match self.sync.handle_bundle_header(now, &header) {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!(bundle = %header.hash, "bundle stream rejected: {e}");
                            false
                        }
                    };
                let _ = reply.send(accepted);
            }
            Input::BundleDone {
                generation,
                hash,
                outcome,
            } => match outcome {
                Received::Stored => {
                    tracing::debug!(bundle = %hash, "bundle stored");
                    self.status.send_modify(|s| s.bundles_received += 1);
                    self.sync.bundle_stored(now, hash);
                }
                Received::Refused(reason) => {
                    tracing::warn!(bundle = %hash, "bundle refused: {reason}");
                    self.status.send_modify(|s| s.bundles_refused += 1);
                    self.sync.bundle_refused(now, hash, reason);
                }
                Received::Lost(reason) => {
                    if generation == self.generation {
                        tracing::debug!(bundle = %hash, "bundle stream lost: {reason}");
                        self.sync.bundle_lost(now, hash);
                    }
                }
            },
            Input::Verified { key, version } => self.sync.verified(now, &key, version),
            Input::Activated { key, version } => {
                tracing::info!(deployment = %key, version, "activated");
                self.sync.activated(now, &key, version);
            }
            Input::ActivationFailed {
                key,
                version,
                stage,
                reason,
            } => {
                tracing::warn!(deployment = %key, version, %stage, "activation failed, the previous version keeps serving: {reason}");
                self.sync.activation_failed(now, &key, version, stage, reason);
            }
        }
    }

    fn dial(&mut self) {
        let generation = self.generation;
        let tx = self.tx.clone();
        let control = self.config.control.clone();
        let client = self.config.client.clone();
        let endpoints = self.endpoints.clone();
        tokio::spawn(async move {
            let result = async {
                let addr = resolve(&control).await?;
                let endpoint = endpoint_for(&endpoints, addr)?;
                let conn = endpoint
                    .connect_with(client, addr, CONTROL_SERVER_NAME)
                    .map_err(|e| format!("cannot dial {addr}: {e}"))?
                    .await
                    .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
                let (send, recv) = conn
                    .open_bi()
                    .await
                    .map_err(|e| format!("cannot open the control stream: {e}"))?;
                Ok((conn, send, recv))
            }
            .await;
            let _ = tx.send(Input::Dialed { generation, result });
        });
    }

    fn connected(
        &mut self,
        now: Instant,
        conn: quinn::Connection,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
    ) {
        let generation = self.generation;
        let (out, mut queue) = mpsc::unbounded_channel::<Bytes>();
        let writer = tokio::spawn(async move {
            while let Some(bytes) = queue.recv().await {
                if send.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            let _ = send.finish();
        });
        let tx = self.tx.clone();
        let reader = tokio::spawn(async move {
            loop {
                let data = match recv.read_chunk(64 * 1024, true).await {
                    Ok(Some(chunk)) => Ok(Some(chunk.bytes)),
                    Ok(None) => Ok(None),
                    Err(e) => Err(format!("the connection broke: {e}")),
                };
                let end = !matches!(data, Ok(Some(_)));
                if tx.send(Input::Control { generation, data }).is_err() || end {
                    return;
                }
            }
        });
        let tx = self.tx.clone();
        let store = self.store.clone();
        let max = self.config.max_bundle_bytes;
        let accept_conn = conn.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok(stream) = accept_conn.accept_uni().await {
                tokio::spawn(receive_bundle(generation, stream, tx.clone(), store.clone(), max));
            }
        });
        self.link = Some(Link {
            conn,
            out,
            tasks: vec![writer, reader, acceptor],
        });
        self.sync.connected(now);
    }

    fn activate(&mut self, assignment: Assignment) {
        let activator = self.activator.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let key = assignment.key.clone();
            let version = assignment.version;
            let result = async {
                let bytes = activator.read_verified(&assignment).await?;
                let _ = tx.send(Input::Verified {
                    key: key.clone(),
                    version,
                });
                activator.load(&assignment, &bytes).await
            }
            .await;
            let _ = tx.send(match result {
                Ok(()) => Input::Activated { key, version },
                Err((stage, reason)) => Input::ActivationFailed {
                    key,
                    version,
                    stage,
                    reason,
                },
            });
        });
    }
}

fn describe(reason: &DisconnectReason) -> String {
    match reason {
        DisconnectReason::HandshakeTimeout => "no answer from the control plane within the handshake timeout".into(),
        DisconnectReason::ControlDead { silent_for } => format!("the control plane has been silent for {silent_for:?}"),
        DisconnectReason::Protocol(e) => format!("protocol error: {e}"),
        DisconnectReason::Refused { reason, message } => format!("refused ({reason:?}): {message}"),
    }
}

/// The client endpoint for `addr`'s address family, made on first use.
fn endpoint_for(endpoints: &Mutex<Vec<quinn::Endpoint>>, addr: SocketAddr) -> Result<quinn::Endpoint, String> {
    let mut endpoints = endpoints.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = endpoints
        .iter()
        .find(|e| e.local_addr().is_ok_and(|l| l.is_ipv6() == addr.is_ipv6()))
    {
        return Ok(e.clone());
    }
    let endpoint = client_endpoint(addr).map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    endpoints.push(endpoint.clone());
    Ok(endpoint)
}

/// Receives one bundle stream: the header (accepted or not by the sync), then the bytes, hashed as
/// they arrive into a temporary file that becomes the stored bundle only when intact.
async fn receive_bundle(
    generation: u64,
    mut recv: quinn::RecvStream,
    tx: mpsc::UnboundedSender<Input>,
    store: Arc<BundleStore>,
    max: u64,
) {
    let mut head = BytesMut::new();
    let header = loop {
        match BundleHeader::decode(&mut head, max) {
            Ok(Some(header)) => break header,
            Ok(None) => match recv.read_chunk(BundleHeader::LEN - head.len(), true).await {
                Ok(Some(chunk)) => head.extend_from_slice(&chunk.bytes),
                _ => return,
            },
            Err(e) => {
                tracing::warn!("bad bundle stream: {e}");
                let _ = recv.stop(quinn::VarInt::from_u32(1));
                return;
            }
        }
    };
    let (reply, answer) = oneshot::channel();
    if tx
        .send(Input::BundleHeader {
            generation,
            header,
            reply,
        })
        .is_err()
        || !answer.await.unwrap_or(false)
    {
        let _ = recv.stop(quinn::VarInt::from_u32(1));
        return;
    }
    let hash = header.hash;
    let tmp = store.temp_path(&hash);
    let outcome = receive_into(&mut recv, header, &tmp, &store.path(&hash)).await;
    if !matches!(outcome, Received::Stored) {
        let _ = tokio::fs::remove_file(&tmp).await;
        let _ = recv.stop(quinn::VarInt::from_u32(1));
    }
    let _ = tx.send(Input::BundleDone {
        generation,
        hash,
        outcome,
    });
}

async fn receive_into(recv: &mut quinn::RecvStream, header: BundleHeader, tmp: &PathBuf, path: &PathBuf) -> Received {
    let mut file = match tokio::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(tmp)
        .await
    {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(path = %tmp.display(), error = %e, "cannot store a bundle");
            return Received::Lost(format!("{}: {e}", tmp.display()));
        }
    };
    let mut receiver = BundleReceiver::new(header);
    loop {
        match recv.read_chunk(256 * 1024, true).await {
            Ok(Some(chunk)) => {
                if let Err(e) = receiver.push(&chunk.bytes) {
                    return Received::Refused(e.to_string());
                }
                if let Err(e) = file.write_all(&chunk.bytes).await {
                    tracing::error!(path = %tmp.display(), error = %e, "cannot store a bundle");
                    return Received::Lost(format!("{}: {e}", tmp.display()));
                }
            }
            Ok(None) => break,
            Err(e) => return Received::Lost(e.to_string()),
        }
    }
    if let Err(e) = receiver.finish() {
        return Received::Refused(e.to_string());
    }
    let committed = async {
        file.sync_all().await?;
        drop(file);
        tokio::fs::rename(tmp, path).await?;
        let path = path.clone();
        tokio::task::spawn_blocking(move || sync_dir(&path))
            .await
            .map_err(std::io::Error::other)?
    };
    match committed.await {
        Ok(()) => Received::Stored,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot store a bundle");
            Received::Lost(format!("{}: {e}", path.display()))
        }
    }
}

/// CPU use of the process between samples, in thousandths of the machine.
struct CpuMeter {
    last: Option<(Instant, u64)>,
    cpus: u64,
}

impl CpuMeter {
    fn new() -> Self {
        CpuMeter {
            last: None,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        }
    }

    /// Process CPU time in clock ticks (1/100 s) from `/proc/self/stat`; `None` elsewhere.
    fn ticks() -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may hold spaces) start at field 3.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some(utime + stime)
    }

    fn sample(&mut self) -> u16 {
        let now = Instant::now();
        let Some(ticks) = Self::ticks() else { return 0 };
        let permille = match self.last {
            Some((at, before)) => {
                let wall_ms = now.duration_since(at).as_millis() as u64;
                let cpu_ms = ticks.saturating_sub(before) * 10;
                (cpu_ms * 1000 / (wall_ms.max(1) * self.cpus)).min(1000) as u16
            }
            None => 0,
        };
        self.last = Some((now, ticks));
        permille
    }
}
