//! Bundle distribution: the QUIC server nodes dial to join the cluster and to stay in step with the
//! desired state.
//!
//! One UDP port serves two kinds of connection, told apart by ALPN:
//!
//! - **join** ([`JOIN_ALPN`]): a node with a join token and no certificate yet sends the token's
//!   secret and a CSR; the secret is checked in constant time and the cluster CA signs a client
//!   certificate whose common name is the node id (see [`outpost_protocol::join`]);
//! - **control** ([`CONTROL_ALPN`], mutual TLS): a node presenting a certificate issued by the CA
//!   opens one bidirectional control stream and is driven by a [`ControlSession`]; each bundle it asks
//!   for goes out on a unidirectional stream of its own (header, then the bytes from the
//!   [`BundleSource`]); every change of the desired state is pushed to every connected node as a delta.
//!
//! The inputs do not depend on the store: the desired state comes through a `watch` channel, bundle
//! bytes through [`BundleSource`], the CA and secrets through [`DistributionIdentity`]. What each node
//! reports (acknowledgements with per-step timings and failures, heartbeats with load and health,
//! bundles sent) is published as a [`ClusterStatus`] through [`Distribution::status`].
//!
//! ```text
//! store ──watch<Arc<DesiredState>>──▶ Distribution ──QUIC──▶ nodes
//!        ◀── ClusterStatus (watch) ──┘   ▲ BundleSource (bytes by hash)
//! ```

mod join;
mod session;
mod status;
mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use outpost_protocol::join::{CONTROL_ALPN, JOIN_ALPN};
use outpost_protocol::{Assignment, BundleHash, ControlConfig, DesiredState, Signature};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

pub use status::{AckReport, ClusterStatus, NodeStatus};

/// QUIC application close codes.
pub(crate) mod close {
    /// The conversation ended normally.
    pub const DONE: u32 = 0;
    /// A node connection without a client certificate, or with one that names no node.
    pub const UNAUTHENTICATED: u32 = 1;
    /// The session ended with a `Refuse` (see its message) or a protocol error.
    pub const REFUSED: u32 = 2;
    /// The control plane is shutting down.
    pub const SHUTTING_DOWN: u32 = 3;
    /// An unknown ALPN protocol.
    pub const UNKNOWN_PROTOCOL: u32 = 4;
}

/// What distribution needs of the cluster's identity.
#[derive(Clone)]
pub struct DistributionIdentity {
    /// The cluster CA certificate (PEM).
    pub ca_cert_pem: String,
    /// The CA's private key (PEM).
    pub ca_key_pem: String,
    /// The secret part of the join token (the token is `SECRET.<sha256 of the CA>`, see
    /// [`Distribution::join_token`]).
    pub join_secret: String,
    /// The Ed25519 public key assignments are signed with; nodes receive it when they join.
    pub signing_public_key: [u8; 32],
}

impl DistributionIdentity {
    /// A fresh identity held in memory only, for a cluster that lives as long as the process (tests,
    /// benchmarks): a new CA (subject `ca_name`, may sign end-entity certificates only), a new Ed25519
    /// signing key, returned beside the identity to sign assignments with, and `join_secret`.
    pub fn generate(
        ca_name: &str,
        join_secret: &str,
    ) -> Result<(DistributionIdentity, ring::signature::Ed25519KeyPair), DistributionError> {
        use ring::signature::{Ed25519KeyPair, KeyPair as _};
        let tls = |what: &'static str| move |e: rcgen::Error| DistributionError::Tls(format!("{what}: {e}"));
        let key = rcgen::KeyPair::generate().map_err(tls("CA key"))?;
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, ca_name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(tls("CA certificate"))?;
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 =
            Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| DistributionError::Tls(format!("signing key: {e}")))?;
        let signing = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|e| DistributionError::Tls(format!("signing key: {e}")))?;
        let mut public = [0u8; 32];
        public.copy_from_slice(signing.public_key().as_ref());
        let identity = DistributionIdentity {
            ca_cert_pem: cert.pem(),
            ca_key_pem: key.serialize_pem(),
            join_secret: join_secret.into(),
            signing_public_key: public,
        };
        Ok((identity, signing))
    }
}

impl std::fmt::Debug for DistributionIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DistributionIdentity").finish_non_exhaustive()
    }
}

/// How to run distribution.
#[derive(Clone, Debug)]
pub struct DistributionConfig {
    /// The UDP address nodes dial (`--quic`).
    pub listen: SocketAddr,
    /// The DNS zone deployments answer under; nodes learn it when they join.
    pub zone: String,
    /// Extra names for the QUIC server certificate (nodes verify the fixed name `outpost-control`).
    pub server_names: Vec<String>,
    /// Timers of each node session (heartbeats, retransmission, handshake).
    pub session: ControlConfig,
    /// How long node certificates are valid, in days.
    pub node_certificate_days: u32,
}

impl DistributionConfig {
    /// Defaults for everything but the address and the zone.
    pub fn new(listen: SocketAddr, zone: impl Into<String>) -> Self {
        DistributionConfig {
            listen,
            zone: zone.into(),
            server_names: Vec::new(),
            session: ControlConfig::default(),
            node_certificate_days: 3650,
        }
    }
}

/// Where bundle bytes come from, by hash. Called on a blocking thread, so it may read a database or
/// files. The bytes are sent as returned: the node checks them against the hash and refuses them
/// when they do not match.
pub trait BundleSource: Send + Sync + 'static {
    /// The bytes of bundle `hash`, `Ok(None)` if there is no such bundle.
    fn bundle(&self, hash: &BundleHash) -> Result<Option<Bytes>, String>;
}

/// A [`BundleSource`] in memory.
#[derive(Debug, Default)]
pub struct MemoryBundles {
    bundles: Mutex<HashMap<BundleHash, Bytes>>,
}

impl MemoryBundles {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `bytes` under their hash, which is returned.
    pub fn insert(&self, bytes: impl Into<Bytes>) -> BundleHash {
        let bytes = bytes.into();
        let hash = BundleHash::of(&bytes);
        self.insert_as(hash, bytes);
        hash
    }

    /// Stores `bytes` under `hash`, whatever they hash to.
    pub fn insert_as(&self, hash: BundleHash, bytes: impl Into<Bytes>) {
        self.bundles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, bytes.into());
    }
}

impl BundleSource for MemoryBundles {
    fn bundle(&self, hash: &BundleHash) -> Result<Option<Bytes>, String> {
        Ok(self
            .bundles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(hash)
            .cloned())
    }
}

/// Signs `assignment` with the cluster's Ed25519 key over [`Assignment::signing_payload`], the bytes
/// a node verifies before it activates the bundle.
pub fn sign_assignment(key: &ring::signature::Ed25519KeyPair, assignment: &mut Assignment) {
    let signature = key.sign(&assignment.signing_payload());
    let mut bytes = [0u8; 64];
    bytes.copy_from_slice(signature.as_ref());
    assignment.signature = Signature(bytes);
}

/// Why distribution could not start.
#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    /// The CA or a certificate could not be used.
    #[error("QUIC TLS setup: {0}")]
    Tls(String),
    /// A setting is invalid.
    #[error("{0}")]
    Config(String),
    /// The UDP address could not be bound.
    #[error("cannot listen on {addr} (QUIC): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// A node's live session, so a newer connection of the same node replaces it.
struct Registered {
    conn_id: u64,
    replace: watch::Sender<bool>,
}

/// What every connection shares.
pub(crate) struct Shared {
    config: DistributionConfig,
    ca: tls::Ca,
    join_secret: String,
    signing_public_key: [u8; 32],
    bundles: Arc<dyn BundleSource>,
    status: watch::Sender<ClusterStatus>,
    sessions: Mutex<HashMap<String, Registered>>,
    next_conn: AtomicU64,
}

impl Shared {
    /// Registers a session of `node_id`; an older one is told to close.
    fn register(&self, node_id: &str) -> (u64, watch::Receiver<bool>) {
        let conn_id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (replace, replaced) = watch::channel(false);
        let old = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node_id.to_string(), Registered { conn_id, replace });
        if let Some(old) = old {
            let _ = old.replace.send(true);
        }
        (conn_id, replaced)
    }

    /// Removes the session `conn_id` of `node_id`; false if a newer session replaced it.
    fn unregister(&self, node_id: &str, conn_id: u64) -> bool {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.get(node_id).is_some_and(|r| r.conn_id == conn_id) {
            sessions.remove(node_id);
            true
        } else {
            false
        }
    }

    fn update_node(&self, node_id: &str, f: impl FnOnce(&mut NodeStatus)) {
        self.status.send_modify(|s| {
            if let Some(node) = s.nodes.get_mut(node_id) {
                f(node);
            }
        });
    }
}

/// The QUIC server for nodes, bound and ready to [`run`](Distribution::run).
pub struct Distribution {
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
    shared: Arc<Shared>,
    desired: watch::Receiver<Arc<DesiredState>>,
    status: watch::Receiver<ClusterStatus>,
}

impl Distribution {
    /// Checks the identity, makes the server certificate and binds `config.listen` (UDP). Must be
    /// called within a tokio runtime.
    pub fn bind(
        config: DistributionConfig,
        identity: DistributionIdentity,
        desired: watch::Receiver<Arc<DesiredState>>,
        bundles: Arc<dyn BundleSource>,
    ) -> Result<Distribution, DistributionError> {
        if identity.join_secret.is_empty() {
            return Err(DistributionError::Config("the join secret is empty".into()));
        }
        if config.zone.is_empty() {
            return Err(DistributionError::Config("the zone is empty".into()));
        }
        let ca = tls::Ca::from_pem(&identity.ca_cert_pem, &identity.ca_key_pem)?;
        let crypto = ca.server_config(&config.server_names)?;
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(crypto)
            .map_err(|e| DistributionError::Tls(format!("the QUIC TLS configuration: {e}")))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        // One control stream and one join stream per connection; bundles flow the other way.
        transport.max_concurrent_bidi_streams(quinn::VarInt::from_u32(2));
        transport.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
        transport.max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(Duration::from_secs(60))
                .map_err(|e| DistributionError::Config(format!("idle timeout: {e}")))?,
        ));
        server.transport_config(Arc::new(transport));
        let endpoint = quinn::Endpoint::server(server, config.listen).map_err(|source| DistributionError::Bind {
            addr: config.listen,
            source,
        })?;
        let addr = endpoint.local_addr().map_err(|source| DistributionError::Bind {
            addr: config.listen,
            source,
        })?;
        let (status_tx, status) = watch::channel(ClusterStatus::default());
        Ok(Distribution {
            endpoint,
            addr,
            shared: Arc::new(Shared {
                config,
                ca,
                join_secret: identity.join_secret,
                signing_public_key: identity.signing_public_key,
                bundles,
                status: status_tx,
                sessions: Mutex::new(HashMap::new()),
                next_conn: AtomicU64::new(1),
            }),
            desired,
            status,
        })
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The join token nodes need: the secret and the hash of the CA certificate it pins.
    pub fn join_token(&self) -> String {
        outpost_protocol::join::token(&self.shared.join_secret, self.shared.ca.cert_der())
    }

    /// What the nodes report, updated as it arrives.
    pub fn status(&self) -> watch::Receiver<ClusterStatus> {
        self.status.clone()
    }

    /// Serves joins and node sessions until `stop` resolves; then tells every node the control plane
    /// is shutting down and closes the endpoint.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    let shared = self.shared.clone();
                    let desired = self.desired.clone();
                    let stop = stop_rx.clone();
                    let span = tracing::info_span!("quic", remote = %incoming.remote_address());
                    tasks.spawn(serve_connection(incoming, shared, desired, stop).instrument(span));
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        let _ = stop_tx.send(true);
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(5), drain).await.is_err() {
            tasks.abort_all();
        }
        self.endpoint
            .close(quinn::VarInt::from_u32(close::SHUTTING_DOWN), b"shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

/// One incoming connection: handshake, then a join or a node session by ALPN.
async fn serve_connection(
    incoming: quinn::Incoming,
    shared: Arc<Shared>,
    desired: watch::Receiver<Arc<DesiredState>>,
    stop: watch::Receiver<bool>,
) {
    let handshake = async {
        match incoming.accept() {
            Ok(connecting) => connecting.await,
            Err(e) => Err(e),
        }
    };
    let conn = match tokio::time::timeout(shared.config.session.handshake_timeout, handshake).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "QUIC handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("QUIC handshake timed out");
            return;
        }
    };
    let alpn = conn
        .handshake_data()
        .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|d| d.protocol);
    match alpn.as_deref() {
        Some(p) if p == JOIN_ALPN => join::serve(conn, &shared).await,
        Some(p) if p == CONTROL_ALPN => {
            let node_id = conn
                .peer_identity()
                .and_then(|id| id.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>().ok())
                .and_then(|chain| chain.first().and_then(tls::common_name));
            match node_id {
                Some(node_id) if outpost_protocol::join::valid_label(&node_id) => {
                    session::serve(conn, node_id, shared, desired, stop).await
                }
                _ => {
                    tracing::warn!("node connection without a node certificate from the cluster CA: closed");
                    conn.close(
                        quinn::VarInt::from_u32(close::UNAUTHENTICATED),
                        b"a client certificate issued by the cluster CA is required; join first",
                    );
                }
            }
        }
        _ => conn.close(
            quinn::VarInt::from_u32(close::UNKNOWN_PROTOCOL),
            b"unknown ALPN protocol",
        ),
    }
}
