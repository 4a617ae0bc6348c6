//! Fan-out benchmark: one ~1 MB bundle from the control plane's QUIC distribution server to 100 nodes.
//!
//! Everything runs in one process over real QUIC with mutual TLS on 127.0.0.1: the distribution
//! server ([`Distribution`]) and 100 lightweight simulated nodes. Each node joins the cluster on the
//! join ALPN (its own key, CSR and certificate from the cluster CA), then dials the control ALPN with
//! that certificate and drives a [`NodeSync`] over the connection: `Hello`, heartbeats, the `Assign`
//! deltas, one bundle stream per missing bundle (hashed with SHA-256 as it arrives), an Ed25519 check
//! of each assignment's signature, and the `Ack`. Nothing is loaded into V8: activation is the
//! integrity and signature check alone.
//!
//! Each round publishes a desired state whose one deployment has a new bundle of incompressible bytes
//! in the archive format, and times it until the control plane's status shows every node has
//! acknowledged the revision without a failure. A Markdown table goes to stdout.
//!
//! Run: `cargo bench -p outpost-control-plane --bench fanout`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use outpost_control_plane::distribution::{
    ClusterStatus, Distribution, DistributionConfig, DistributionIdentity, MemoryBundles, sign_assignment,
};
use outpost_protocol::archive::{ARCHIVE_FORMAT, BundleArchive};
use outpost_protocol::join::{
    CONTROL_ALPN, CONTROL_SERVER_NAME, JOIN_ALPN, JoinRequest, JoinResponse, JoinToken, MAX_JOIN_MESSAGE,
};
use outpost_protocol::{
    Assignment, BundleHash, BundleHeader, BundleReceiver, Codec, DeploymentKey, DesiredState, FailureStage, Inventory,
    Limits, NodeConfig, NodeEvent, NodeSync, PROTOCOL_VERSION, Signature,
};
use ring::rand::SecureRandom as _;
use ring::signature::Ed25519KeyPair;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Simulated nodes.
const NODES: usize = 100;
/// Random bytes per bundle; base64 makes the archive's module about 1 MiB.
const RANDOM_BYTES: usize = 768 * 1024;
/// Measured rounds (after one warm-up round).
const ROUNDS: usize = 10;
/// The goal for every node to have acknowledged a new bundle.
const GOAL: Duration = Duration::from_secs(2);
/// Longest wait for anything before the benchmark gives up.
const WAIT: Duration = Duration::from_secs(30);
/// Largest bundle a simulated node accepts.
const MAX_BUNDLE: u64 = 16 << 20;
const ZONE: &str = "bench.test";
const SECRET: &str = "op_join_fanout-bench-secret";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(e) = runtime.block_on(bench()) {
        eprintln!("fanout benchmark failed: {e}");
        std::process::exit(1);
    }
}

/// A cluster identity of its own: CA, assignment signing key, join secret.
fn new_identity() -> Result<(DistributionIdentity, Ed25519KeyPair), String> {
    DistributionIdentity::generate("Outpost bench cluster CA", SECRET).map_err(|e| e.to_string())
}

/// What a node got from joining.
struct Joined {
    node_id: String,
    ca_der: Vec<u8>,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
    signing_public_key: [u8; 32],
}

/// A QUIC client configuration trusting `ca_der`, presenting `client` if given, speaking `alpn`.
fn client_config(ca_der: &[u8], client: Option<(&[u8], &[u8])>, alpn: &[u8]) -> Result<quinn::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der.to_vec()))
        .map_err(|e| format!("the cluster CA: {e}"))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let mut tls = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(cert.to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
            )
            .map_err(|e| format!("the node certificate: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![alpn.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(|e| e.to_string())?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.max_concurrent_uni_streams(quinn::VarInt::from_u32(64));
    transport.max_concurrent_bidi_streams(quinn::VarInt::from_u32(0));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// Joins as `node_id`: a new key and CSR, the join exchange, the certificate the CA issued.
async fn join(
    endpoint: &quinn::Endpoint,
    control: SocketAddr,
    token: &JoinToken,
    ca_der: &[u8],
    node_id: &str,
) -> Result<Joined, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| format!("node key: {e}"))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, node_id);
    let csr = params.serialize_request(&key).map_err(|e| format!("CSR: {e}"))?;
    let request = outpost_protocol::join::encode(&JoinRequest {
        protocol_version: PROTOCOL_VERSION,
        secret: token.secret.clone(),
        node_id: node_id.to_string(),
        region: "bench".into(),
        csr_der: csr.der().to_vec(),
    })
    .map_err(|e| e.to_string())?;
    let config = client_config(ca_der, None, JOIN_ALPN)?;
    let conn = endpoint
        .connect_with(config, control, CONTROL_SERVER_NAME)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| format!("join connection: {e}"))?;
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(&request).await.map_err(|e| e.to_string())?;
    let _ = send.finish();
    let answer = recv
        .read_to_end(MAX_JOIN_MESSAGE)
        .await
        .map_err(|e| format!("join answer: {e}"))?;
    conn.close(quinn::VarInt::from_u32(0), b"");
    match outpost_protocol::join::decode_response(&answer).map_err(|e| e.to_string())? {
        JoinResponse::Accepted(a) if token.pins(&a.ca_der) && a.node_id == node_id => Ok(Joined {
            node_id: a.node_id,
            ca_der: a.ca_der,
            cert_der: a.certificate_der,
            key_der: key.serialize_der(),
            signing_public_key: a.signing_public_key,
        }),
        JoinResponse::Accepted(a) => Err(format!("unexpected join answer for '{}'", a.node_id)),
        JoinResponse::Refused { reason, message } => Err(format!("join refused ({reason:?}): {message}")),
    }
}

/// What the tasks around a node's sync report.
enum Input {
    Dialed {
        generation: u64,
        result: Result<(quinn::Connection, quinn::SendStream, quinn::RecvStream), String>,
    },
    /// Bytes on the control stream; `None` when it ended or broke.
    Control { generation: u64, data: Option<Bytes> },
    Header {
        generation: u64,
        header: BundleHeader,
        reply: oneshot::Sender<bool>,
    },
    Bundle {
        generation: u64,
        hash: BundleHash,
        outcome: Received,
    },
}

/// How receiving one bundle ended.
enum Received {
    /// All bytes arrived and hash to the header's hash.
    Stored(u64),
    /// The bytes do not match the header.
    Refused(String),
    /// The stream broke.
    Lost,
}

/// The live connection of a node.
struct Link {
    conn: quinn::Connection,
    out: mpsc::UnboundedSender<Bytes>,
    tasks: Vec<JoinHandle<()>>,
}

impl Link {
    fn close(self, reason: &str) {
        self.conn.close(quinn::VarInt::from_u32(0), reason.as_bytes());
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Counters all simulated nodes share.
#[derive(Default)]
struct Counters {
    disconnects: AtomicU64,
    refused: AtomicU64,
}

/// A lightweight node: a `NodeSync` over a real QUIC connection, a store of verified bundle hashes.
struct SimNode {
    sync: NodeSync,
    codec: Codec,
    endpoint: quinn::Endpoint,
    client: quinn::ClientConfig,
    control: SocketAddr,
    signing_public_key: [u8; 32],
    /// Bundles received intact: hash → length.
    store: HashMap<BundleHash, u64>,
    generation: u64,
    link: Option<Link>,
    tx: mpsc::UnboundedSender<Input>,
    rx: mpsc::UnboundedReceiver<Input>,
    counters: Arc<Counters>,
}

impl SimNode {
    fn new(
        joined: Joined,
        endpoint: quinn::Endpoint,
        control: SocketAddr,
        counters: Arc<Counters>,
    ) -> Result<Self, String> {
        let client = client_config(&joined.ca_der, Some((&joined.cert_der, &joined.key_der)), CONTROL_ALPN)?;
        let (tx, rx) = mpsc::unbounded_channel();
        Ok(SimNode {
            sync: NodeSync::new(
                Instant::now(),
                NodeConfig::new(joined.node_id, "bench"),
                Inventory::default(),
            ),
            codec: Codec::default(),
            endpoint,
            client,
            control,
            signing_public_key: joined.signing_public_key,
            store: HashMap::new(),
            generation: 0,
            link: None,
            tx,
            rx,
            counters,
        })
    }

    async fn run(mut self, mut stop: watch::Receiver<bool>) {
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
            }
        }
        if let Some(link) = self.link.take() {
            link.close("node shutting down");
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }

    /// Writes what the sync has to say and acts on its events until it has nothing more.
    fn drain(&mut self) {
        loop {
            let mut frames = BytesMut::new();
            while let Some(message) = self.sync.poll_transmit() {
                if let Err(e) = self.codec.encode(&message, &mut frames) {
                    eprintln!("cannot encode a control message: {e}");
                }
            }
            if !frames.is_empty()
                && let Some(link) = &self.link
            {
                let _ = link.out.send(frames.freeze());
            }
            let Some(event) = self.sync.poll_event() else { break };
            let now = Instant::now();
            match event {
                NodeEvent::Connect => {
                    self.generation += 1;
                    self.dial();
                }
                NodeEvent::Disconnect { reason } => {
                    eprintln!("a node disconnected: {reason:?}");
                    self.counters.disconnects.fetch_add(1, Ordering::Relaxed);
                    self.generation += 1;
                    if let Some(link) = self.link.take() {
                        link.close("disconnect");
                    }
                }
                NodeEvent::Activate(a) => match self.check(&a) {
                    Ok(()) => {
                        self.sync.verified(now, &a.key, a.version);
                        self.sync.activated(now, &a.key, a.version);
                    }
                    Err((stage, reason)) => self.sync.activation_failed(now, &a.key, a.version, stage, reason),
                },
                NodeEvent::Connected | NodeEvent::Remove(_) | NodeEvent::Applied { .. } => {}
            }
        }
    }

    /// Activation without a runtime: the bundle is stored intact with the assigned size, and the
    /// assignment carries the control plane's signature.
    fn check(&self, a: &Assignment) -> Result<(), (FailureStage, String)> {
        match self.store.get(&a.bundle) {
            Some(&len) if len == a.size => {}
            Some(&len) => {
                return Err((
                    FailureStage::Integrity,
                    format!("bundle {} has {len} bytes, assigned {}", a.bundle, a.size),
                ));
            }
            None => return Err((FailureStage::Activate, format!("bundle {} is not stored", a.bundle))),
        }
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &self.signing_public_key)
            .verify(&a.signing_payload(), &a.signature.0)
            .map_err(|_| {
                (
                    FailureStage::Signature,
                    format!("{} version {}: bad signature", a.key, a.version),
                )
            })
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
                        eprintln!("a node cannot connect: {e}");
                        self.sync.connection_lost(now);
                    }
                }
            }
            Input::Control { generation, data } => {
                if generation != self.generation {
                    return;
                }
                match data {
                    Some(bytes) => self.sync.handle_data(now, &bytes),
                    None => {
                        self.counters.disconnects.fetch_add(1, Ordering::Relaxed);
                        self.generation += 1;
                        if let Some(link) = self.link.take() {
                            link.close("control stream ended");
                        }
                        self.sync.connection_lost(now);
                    }
                }
            }
            Input::Header {
                generation,
                header,
                reply,
            } => {
                let accepted = generation == self.generation && self.sync.handle_bundle_header(now, &header).is_ok();
                let _ = reply.send(accepted);
            }
            Input::Bundle {
                generation,
                hash,
                outcome,
            } => match outcome {
                Received::Stored(len) => {
                    self.store.insert(hash, len);
                    self.sync.bundle_stored(now, hash);
                }
                Received::Refused(reason) => {
                    self.counters.refused.fetch_add(1, Ordering::Relaxed);
                    self.sync.bundle_refused(now, hash, reason);
                }
                Received::Lost => {
                    if generation == self.generation {
                        self.sync.bundle_lost(now, hash);
                    }
                }
            },
        }
    }

    fn dial(&mut self) {
        let generation = self.generation;
        let tx = self.tx.clone();
        let endpoint = self.endpoint.clone();
        let client = self.client.clone();
        let control = self.control;
        tokio::spawn(async move {
            let result = async {
                let conn = endpoint
                    .connect_with(client, control, CONTROL_SERVER_NAME)
                    .map_err(|e| format!("cannot dial {control}: {e}"))?
                    .await
                    .map_err(|e| format!("cannot connect to {control}: {e}"))?;
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
                    Ok(Some(chunk)) => Some(chunk.bytes),
                    Ok(None) | Err(_) => None,
                };
                let end = data.is_none();
                if tx.send(Input::Control { generation, data }).is_err() || end {
                    return;
                }
            }
        });
        let tx = self.tx.clone();
        let accept_conn = conn.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok(stream) = accept_conn.accept_uni().await {
                tokio::spawn(receive_bundle(generation, stream, tx.clone()));
            }
        });
        self.link = Some(Link {
            conn,
            out,
            tasks: vec![writer, reader, acceptor],
        });
        self.sync.connected(now);
    }
}

/// Receives one bundle stream: the header (accepted or not by the sync), then the bytes, hashed as
/// they arrive.
async fn receive_bundle(generation: u64, mut recv: quinn::RecvStream, tx: mpsc::UnboundedSender<Input>) {
    let mut head = BytesMut::new();
    let header = loop {
        match BundleHeader::decode(&mut head, MAX_BUNDLE) {
            Ok(Some(header)) => break header,
            Ok(None) => match recv.read_chunk(BundleHeader::LEN - head.len(), true).await {
                Ok(Some(chunk)) => head.extend_from_slice(&chunk.bytes),
                _ => return,
            },
            Err(e) => {
                eprintln!("bad bundle stream: {e}");
                let _ = recv.stop(quinn::VarInt::from_u32(1));
                return;
            }
        }
    };
    let (reply, answer) = oneshot::channel();
    if tx
        .send(Input::Header {
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
    let mut receiver = BundleReceiver::new(header);
    let outcome = loop {
        match recv.read_chunk(256 * 1024, true).await {
            Ok(Some(chunk)) => {
                if let Err(e) = receiver.push(&chunk.bytes) {
                    break Received::Refused(e.to_string());
                }
            }
            Ok(None) => {
                break match receiver.finish() {
                    Ok(_) => Received::Stored(header.length),
                    Err(e) => Received::Refused(e.to_string()),
                };
            }
            Err(_) => break Received::Lost,
        }
    };
    if !matches!(outcome, Received::Stored(_)) {
        let _ = recv.stop(quinn::VarInt::from_u32(1));
    }
    let _ = tx.send(Input::Bundle {
        generation,
        hash: header.hash,
        outcome,
    });
}

/// An archive whose module carries `RANDOM_BYTES` random bytes (base64) in a string.
fn random_archive(round: usize) -> Result<Vec<u8>, String> {
    let mut noise = vec![0u8; RANDOM_BYTES];
    ring::rand::SystemRandom::new()
        .fill(&mut noise)
        .map_err(|_| "no randomness".to_string())?;
    let code = format!(
        "const PAD = \"{}\";\n\
         export default {{ fetch() {{ return new Response(\"round {round} \" + PAD.length); }} }};\n",
        base64::engine::general_purpose::STANDARD.encode(&noise)
    );
    let mut files = BTreeMap::new();
    files.insert("index.js".to_string(), code);
    Ok(BundleArchive {
        format: ARCHIVE_FORMAT,
        main: "index.js".into(),
        manifest_file: None,
        manifest: None,
        files,
    }
    .to_bytes())
}

/// Waits until `pred` holds for the status, or gives up after [`WAIT`] with `what`.
async fn wait_status(
    status: &watch::Receiver<ClusterStatus>,
    what: &str,
    pred: impl FnMut(&ClusterStatus) -> bool,
) -> Result<ClusterStatus, String> {
    let mut status = status.clone();
    match tokio::time::timeout(WAIT, status.wait_for(pred)).await {
        Ok(Ok(s)) => Ok(s.clone()),
        _ => Err(format!("timed out waiting for {what}")),
    }
}

/// One round's figures.
struct Round {
    size: usize,
    all_acked: Duration,
    median_node: Duration,
}

async fn bench() -> Result<(), String> {
    let (identity, signing) = new_identity()?;
    let ca_der: Arc<Vec<u8>> = Arc::new(
        CertificateDer::from_pem_slice(identity.ca_cert_pem.as_bytes())
            .map_err(|e| format!("the CA certificate: {e:?}"))?
            .to_vec(),
    );
    let (desired, desired_rx) = watch::channel(Arc::new(DesiredState::default()));
    let bundles = Arc::new(MemoryBundles::new());
    let config = DistributionConfig::new("127.0.0.1:0".parse().map_err(|e| format!("{e}"))?, ZONE);
    let dist = Distribution::bind(config, identity, desired_rx, bundles.clone()).map_err(|e| e.to_string())?;
    let control = dist.local_addr();
    let token = JoinToken::parse(&dist.join_token()).map_err(|e| e.to_string())?;
    // Nodes trust the CA the token pins, as a joining node does.
    if !token.pins(&ca_der) {
        return Err("the join token does not pin the cluster CA".into());
    }
    let status = dist.status();
    let (stop_control, control_stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(dist.run(async {
        let _ = control_stopped.await;
    }));

    // Join every node, a few at a time, each on a UDP socket of its own.
    let started = Instant::now();
    let counters = Arc::new(Counters::default());
    let (stop_nodes, stop_rx) = watch::channel(false);
    let mut nodes = Vec::with_capacity(NODES);
    let mut pending = Vec::new();
    for i in 0..NODES {
        let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().map_err(|e| format!("{e}"))?)
            .map_err(|e| format!("a node's UDP socket: {e}"))?;
        let (token, ca_der) = (token.clone(), ca_der.clone());
        pending.push(tokio::spawn(async move {
            let joined = join(&endpoint, control, &token, &ca_der, &format!("node-{i:03}")).await?;
            Ok::<_, String>((joined, endpoint))
        }));
        if pending.len() == 10 || i + 1 == NODES {
            for p in pending.drain(..) {
                let (joined, endpoint) = p.await.map_err(|e| e.to_string())??;
                let node = SimNode::new(joined, endpoint, control, counters.clone())?;
                nodes.push(tokio::spawn(node.run(stop_rx.clone())));
            }
        }
    }
    let joined_in = started.elapsed();
    let connected = wait_status(&status, "every node to connect", |s| {
        s.nodes.values().filter(|n| n.connected).count() == NODES
    })
    .await?;
    let connected_in = started.elapsed();
    if connected.joins != NODES as u64 {
        return Err(format!("{} joins recorded, expected {NODES}", connected.joins));
    }

    let key = DeploymentKey::new("fanout", "production");
    let mut rounds = Vec::new();
    for round in 0..=ROUNDS {
        let bytes = random_archive(round)?;
        let size = bytes.len();
        let hash = bundles.insert(bytes);
        let mut assignment = Assignment {
            key: key.clone(),
            version: round as u64 + 1,
            bundle: hash,
            size: size as u64,
            signature: Signature([0; 64]),
            limits: Limits::default(),
            vars: Vec::new(),
        };
        sign_assignment(&signing, &mut assignment);
        let revision = round as u64 + 1;
        let sent_before = status.borrow().bundles_sent;
        let published_at = SystemTime::now();
        let published = Instant::now();
        desired.send_replace(Arc::new(DesiredState::new(revision, [assignment])));
        let done = wait_status(
            &status,
            &format!("every node to acknowledge revision {revision}"),
            // The acknowledgement and what the node runs reach the status in two updates: wait for both.
            |s| {
                s.nodes.len() == NODES
                    && s.nodes.values().all(|n| {
                        n.connected
                            && n.revision >= revision
                            && n.last_ack.as_ref().is_some_and(|a| a.revision >= revision)
                            && n.running.get(&key).is_some_and(|r| r.bundle == hash)
                    })
            },
        )
        .await?;
        let all_acked = published.elapsed();
        let mut per_node = Vec::with_capacity(NODES);
        for n in done.nodes.values() {
            let ack = n
                .last_ack
                .as_ref()
                .filter(|a| a.revision == revision)
                .ok_or_else(|| format!("{}: no acknowledgement of revision {revision}", n.node_id))?;
            if let Some((_, stage, reason)) = ack.failures().next() {
                return Err(format!("{} failed revision {revision} at {stage}: {reason}", n.node_id));
            }
            per_node.push(ack.at.duration_since(published_at).unwrap_or_default());
        }
        let sent = done.bundles_sent - sent_before;
        if sent != NODES as u64 {
            return Err(format!("{sent} bundle streams in round {round}, expected {NODES}"));
        }
        per_node.sort();
        let r = Round {
            size,
            all_acked,
            median_node: per_node[per_node.len() / 2],
        };
        eprintln!(
            "round {round}{}: {} bytes to {NODES} nodes, all acknowledged in {:?} (median node {:?})",
            if round == 0 { " (warm-up)" } else { "" },
            r.size,
            r.all_acked,
            r.median_node
        );
        if round > 0 {
            rounds.push(r);
        }
    }

    let _ = stop_nodes.send(true);
    for n in nodes {
        let _ = n.await;
    }
    let _ = stop_control.send(());
    let _ = server.await;

    let mut all: Vec<Duration> = rounds.iter().map(|r| r.all_acked).collect();
    all.sort();
    let mut medians: Vec<Duration> = rounds.iter().map(|r| r.median_node).collect();
    medians.sort();
    let p50 = all[all.len() / 2];
    let max = all[all.len() - 1];
    let size = rounds.iter().map(|r| r.size).max().unwrap_or(0);
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!();
    println!(
        "Fan-out over QUIC (loopback, one process): {NODES} nodes joined in {}, all connected after {}; \
         {ROUNDS} rounds after a warm-up; disconnects {}, refused bundles {}.",
        ms(joined_in),
        ms(connected_in),
        counters.disconnects.load(Ordering::Relaxed),
        counters.refused.load(Ordering::Relaxed)
    );
    println!();
    println!("| nodes | bundle size | p50 to all acked | max to all acked | p50 median node | goal | result |");
    println!("|------:|------------:|-----------------:|-----------------:|----------------:|-----:|:------:|");
    println!(
        "| {NODES} | {:.2} MB ({size} B) | {} | {} | {} | ≤ {} s | {} |",
        size as f64 / 1e6,
        ms(p50),
        ms(max),
        ms(medians[medians.len() / 2]),
        GOAL.as_secs(),
        if max <= GOAL { "met" } else { "missed" }
    );
    Ok(())
}
