//! `outpost node`: an edge node that joins a cluster and serves what the control plane assigns it.
//!
//! On its first start the node joins with the join token ([`identity::join`]): it makes a key and a
//! CSR, checks that the control plane's certificate chains to the CA the token pins, and keeps the
//! certificate the control plane signs, the CA, the bundle-signing key and the zone in its data
//! folder. From then on it keeps one QUIC connection (mutual TLS) to the control plane, driven by the
//! protocol's [`NodeSync`] (see [`session`]): it reports what it holds, receives assignments and the
//! bundles it lacks (each on a stream of its own, stored by hash), verifies each bundle's SHA-256
//! and the assignment's Ed25519 signature before activating it, acknowledges every revision with
//! per-deployment results and timings, and reconnects with backoff when the connection is lost.
//!
//! Everything it runs is on its disk (`DATA/bundles/`, `DATA/state.json`): a node restarted while
//! the control plane is down serves every deployment it had, activated from disk before it prints
//! `ready on http://ADDR`.
//!
//! | file in the data folder | what |
//! |---|---|
//! | `node.key`, `node.pem`, `ca.pem`, `signing.pub`, `node.json` | identity (see [`identity`]) |
//! | `bundles/<sha256 hex>` | bundle archives, content-addressed |
//! | `state.json` | last completed revision, what runs, bundles refused as tampered |
//! | `lock` | held while a node uses the folder |

pub mod activate;
pub mod identity;
mod session;
mod store;

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_js::RuntimeOptions;
use outpost_protocol::data_dir::LockError;
use outpost_protocol::join::{JoinToken, valid_label};
use outpost_protocol::{DeploymentKey, NodeConfig, NodeSync};
use tokio::sync::watch;

use crate::host::LogSink;
use crate::ingress::{Limits, Service, h1};
use crate::limits::LimitsPolicy;
use crate::outbound::{Outbound, OutboundConfig};
use crate::router::Router;
use crate::worker::{self, PoolLimits, WorkerConfig};

pub use activate::host_label;
pub use identity::{JoinError, NodeIdentity};

/// How to run a node.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// The control plane's QUIC address, `host:port`.
    pub control: String,
    /// The join token; needed only until the node has joined.
    pub token: Option<String>,
    /// The region the node serves.
    pub region: String,
    /// The node id to join as; default `<region>-<6 random hex digits>`.
    pub name: Option<String>,
    /// Where to serve HTTP.
    pub listen: SocketAddr,
    /// The data folder: identity, bundles, state.
    pub data: PathBuf,
    /// The zone deployments answer under, instead of the one the control plane gave at join.
    pub zone: Option<String>,
    /// Isolate threads.
    pub threads: usize,
    /// The node's defaults and maxima for deployment limits.
    pub limits: LimitsPolicy,
    /// V8 heap all isolates may use together, in bytes; idle isolates are evicted to stay under it
    /// (`None`: unlimited).
    pub isolate_memory_budget: Option<usize>,
    /// Where the node is, latitude and longitude in degrees (for the nearest-node DNS answers).
    pub location: Option<(f64, f64)>,
    /// The address clients reach the node at, when it differs from the listen address.
    pub public_addr: Option<std::net::IpAddr>,
    /// Outbound `fetch()` settings.
    pub outbound: OutboundConfig,
    /// The largest bundle accepted, in bytes.
    pub max_bundle_bytes: u64,
    /// First reconnection delay (doubling, with jitter).
    pub reconnect_initial: Duration,
    /// Longest reconnection delay.
    pub reconnect_max: Duration,
    /// Protocol limits and timeouts of the listener.
    pub ingress: crate::ingress::IngressConfig,
}

impl NodeOptions {
    /// Defaults for everything but the control plane, the token, the region and the data folder.
    pub fn new(control: impl Into<String>, token: Option<String>, region: impl Into<String>, data: PathBuf) -> Self {
        NodeOptions {
            control: control.into(),
            token,
            region: region.into(),
            name: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            data,
            zone: None,
            threads: 1,
            limits: LimitsPolicy::default(),
            isolate_memory_budget: None,
            location: None,
            public_addr: None,
            outbound: OutboundConfig::default(),
            max_bundle_bytes: 256 << 20,
            reconnect_initial: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            ingress: crate::ingress::IngressConfig::default(),
        }
    }
}

/// What the node is doing, for the CLI and tests.
#[derive(Clone, Debug, Default)]
pub struct AgentStatus {
    /// The node id.
    pub node_id: String,
    /// The zone it serves.
    pub zone: String,
    /// Whether the control plane has welcomed the current connection.
    pub connected: bool,
    /// Connections welcomed so far.
    pub connections: u64,
    /// The last completed revision.
    pub revision: u64,
    /// What runs: deployment → version.
    pub running: BTreeMap<DeploymentKey, u64>,
    /// Bundles received intact.
    pub bundles_received: u64,
    /// Bundles refused as tampered.
    pub bundles_refused: u64,
    /// Why the last connection ended or failed.
    pub last_disconnect: Option<String>,
    /// Whether the control plane refused the node for good (it keeps serving, without updates).
    pub refused: bool,
}

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A setting is invalid.
    #[error("{0}")]
    Config(String),
    /// The data folder could not be used.
    #[error("{path}: {message}")]
    Data {
        /// The file or folder.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Joining the cluster failed for good.
    #[error("joining the cluster failed: {0}")]
    Join(#[from] JoinError),
    /// Serving could not start.
    #[error("{0}")]
    Startup(String),
}

fn data_error(path: &Path) -> impl FnOnce(std::io::Error) -> AgentError + '_ {
    move |e| AgentError::Data {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Creates the data folder (mode 0700) and takes its lock.
fn lock_data(dir: &Path) -> Result<File, AgentError> {
    outpost_protocol::data_dir::lock_data_dir(dir).map_err(|e| match e {
        LockError::Io { path, source } => data_error(&path)(source),
        LockError::Locked => AgentError::Data {
            path: dir.display().to_string(),
            message: "another outpost node is using this data folder".into(),
        },
    })
}

fn random_suffix() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 3];
    // The system RNG does not fail on Linux; a zero suffix is still a valid name.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    outpost_protocol::join::hex(&bytes)
}

/// The identity in the data folder, or a new one from joining (retrying while the control plane
/// cannot be reached).
async fn identity(opts: &NodeOptions) -> Result<NodeIdentity, AgentError> {
    let data = opts.data.clone();
    let existing = tokio::task::spawn_blocking(move || NodeIdentity::load(&data))
        .await
        .map_err(|e| AgentError::Startup(e.to_string()))?
        .map_err(|message| AgentError::Data {
            path: opts.data.display().to_string(),
            message,
        })?;
    let token = match &opts.token {
        Some(t) => Some(JoinToken::parse(t).map_err(|e| AgentError::Config(format!("--token: {e}")))?),
        None => None,
    };
    if let Some(identity) = existing {
        if let Some(token) = &token
            && !token.pins(&identity.ca_der)
        {
            return Err(AgentError::Config(format!(
                "{} holds the identity of node '{}' of another cluster than the join token names; \
                 use another --data folder to join this one",
                opts.data.display(),
                identity.node_id
            )));
        }
        return Ok(identity);
    }
    let token = token.ok_or_else(|| {
        AgentError::Config(format!(
            "{} holds no node identity: pass --token (the control plane prints `join token: …`)",
            opts.data.display()
        ))
    })?;
    let node_id = opts
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", opts.region, random_suffix()));
    if !valid_label(&node_id) {
        return Err(AgentError::Config(format!(
            "invalid node name '{}': use 1-63 lowercase letters, digits and '-'",
            node_id.escape_debug()
        )));
    }
    let mut delay = opts.reconnect_initial.max(Duration::from_millis(10));
    let identity = loop {
        match identity::join(&opts.control, &token, &node_id, &opts.region).await {
            Ok(identity) => break identity,
            Err(e) if e.is_retryable() => {
                tracing::warn!("{e}; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(opts.reconnect_max);
            }
            Err(e) => return Err(e.into()),
        }
    };
    let data = opts.data.clone();
    let saved = identity.clone();
    tokio::task::spawn_blocking(move || saved.save(&data))
        .await
        .map_err(|e| AgentError::Startup(e.to_string()))?
        .map_err(data_error(&opts.data))?;
    tracing::info!(node = %identity.node_id, zone = %identity.zone, "joined the cluster");
    Ok(identity)
}

/// A node serving HTTP and syncing with the control plane; see [`start`].
pub struct RunningNode {
    addr: SocketAddr,
    node_id: String,
    status: watch::Receiver<AgentStatus>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningNode {
    /// Where it serves HTTP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its node id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// What it is doing, updated as it changes.
    pub fn status(&self) -> watch::Receiver<AgentStatus> {
        self.status.clone()
    }

    /// Stops: closes the connection to the control plane, writes the state file, lets in-flight
    /// requests finish and stops the isolate threads.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts a node: takes the data folder, joins if it has no identity yet (waiting for the control
/// plane if it cannot be reached), activates every deployment stored on disk, binds `opts.listen`
/// and serves; then connects to the control plane in the background. Returns once it serves.
pub async fn start(opts: NodeOptions) -> Result<RunningNode, AgentError> {
    if !valid_label(&opts.region) {
        return Err(AgentError::Config(format!(
            "invalid region '{}': use 1-63 lowercase letters, digits and '-'",
            opts.region.escape_debug()
        )));
    }
    if let Some((lat, lon)) = opts.location
        && !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon))
    {
        return Err(AgentError::Config(format!(
            "invalid location {lat}, {lon}: latitude must be within -90..90 and longitude within -180..180 degrees"
        )));
    }
    crate::metrics::install();
    let lock = lock_data(&opts.data)?;
    let identity = identity(&opts).await?;
    let client = identity.control_client_config().map_err(|e| AgentError::Data {
        path: opts.data.display().to_string(),
        message: e,
    })?;
    let zone = opts.zone.clone().unwrap_or_else(|| identity.zone.clone());
    if opts.location.is_some() || opts.public_addr.is_some() {
        // Kept for the nearest-node DNS answers; the protocol does not carry them yet.
        tracing::info!(location = ?opts.location, public_addr = ?opts.public_addr, "node location");
    }

    let bundles_dir = opts.data.join("bundles");
    let store = Arc::new(store::BundleStore::open(bundles_dir.clone()).map_err(data_error(&bundles_dir))?);
    let mut inventory = store::load_state(&opts.data).map_err(|message| AgentError::Data {
        path: opts.data.display().to_string(),
        message,
    })?;
    inventory.bundles = store.list().map_err(data_error(&bundles_dir))?;

    let (handle, joins) = worker::spawn_pool(
        opts.threads.max(1),
        WorkerConfig {
            log_sink: LogSink::Console,
            runtime: RuntimeOptions::default(),
            outbound: Arc::new(
                Outbound::new(opts.outbound.clone())
                    .map_err(|e| AgentError::Config(format!("outbound fetch settings: {e}")))?,
            ),
        },
        PoolLimits {
            isolate_memory_budget: opts.isolate_memory_budget,
            ..PoolLimits::default()
        },
    )
    .map_err(|e| AgentError::Startup(format!("cannot start the isolate threads: {e}")))?;
    let router = Arc::new(Router::new(&zone));
    let activator = Arc::new(activate::Activator {
        handle: handle.clone(),
        router: router.clone(),
        policy: opts.limits,
        signing_key: identity.signing_public_key,
        store: store.clone(),
    });

    // Everything the disk holds serves before the node says it is ready.
    let stored = std::mem::take(&mut inventory.running);
    for assignment in stored {
        let result = match activator.read_verified(&assignment).await {
            Ok(bytes) => activator.load(&assignment, &bytes).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                tracing::info!(deployment = %assignment.key, version = assignment.version, "serving from disk");
                inventory.running.push(assignment);
            }
            Err((stage, reason)) => {
                tracing::warn!(deployment = %assignment.key, %stage, "cannot serve from disk: {reason}");
                // Report no completed revision, so the control plane sends everything that differs.
                inventory.revision = 0;
            }
        }
    }

    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| AgentError::Startup(format!("cannot listen on {}: {e}", opts.listen)))?;
    let addr = listener.local_addr().map_err(|e| AgentError::Startup(e.to_string()))?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let service = Arc::new(Service {
        router: router.clone(),
        limits: Limits::default(),
    });
    // Accept on the isolate threads themselves, as `outpost dev` does: no thread hop per request.
    let std_listener = listener.into_std().map_err(|e| AgentError::Startup(e.to_string()))?;
    let ingress = opts.ingress.clone();
    let accept_loops = handle.spawn_on_each(move |_| {
        let listener = std_listener.try_clone().and_then(tokio::net::TcpListener::from_std);
        let service = service.clone();
        let shutdown = shutdown_rx.clone();
        let ingress = ingress.clone();
        async move {
            match listener {
                Ok(l) => h1::serve(l, ingress, service, shutdown).await,
                Err(e) => tracing::error!(error = %e, "cannot accept on an isolate thread"),
            }
        }
    });

    let mut config = NodeConfig::new(identity.node_id.clone(), opts.region.clone());
    config.reconnect_initial = opts.reconnect_initial;
    config.reconnect_max = opts.reconnect_max;
    let running = inventory.running.iter().map(|a| (a.key.clone(), a.version)).collect();
    let (status_tx, status) = watch::channel(AgentStatus {
        node_id: identity.node_id.clone(),
        zone: zone.clone(),
        revision: inventory.revision,
        running,
        ..AgentStatus::default()
    });
    let sync = NodeSync::new(Instant::now(), config, inventory);
    let driver = session::Driver::new(
        sync,
        session::DriverConfig {
            control: opts.control.clone(),
            client,
            data: opts.data.clone(),
            max_bundle_bytes: opts.max_bundle_bytes,
        },
        activator,
        store,
        status_tx,
    );
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        driver.run(stop_rx).await;
        let _ = shutdown_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(accept_loops)).await;
        drop(handle);
        drop(router);
        let _ = tokio::task::spawn_blocking(move || joins.into_iter().for_each(|j| drop(j.join()))).await;
        drop(lock);
    });
    Ok(RunningNode {
        addr,
        node_id: identity.node_id,
        status,
        stop,
        task,
    })
}

/// Runs a node until `stop` resolves (Ctrl-C in the CLI). Prints `node NODE_ID in ZONE`, then
/// `ready on http://ADDR` once it serves what its disk holds.
pub async fn run(opts: NodeOptions, stop: impl std::future::Future<Output = ()>) -> Result<(), AgentError> {
    tokio::pin!(stop);
    let node = tokio::select! {
        node = start(opts) => node?,
        _ = &mut stop => return Ok(()),
    };
    let zone = node.status().borrow().zone.clone();
    println!("node {} in {zone}", node.node_id());
    println!("ready on http://{}", node.addr());
    stop.await;
    node.stop().await;
    Ok(())
}
