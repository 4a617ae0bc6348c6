//! Outpost's control plane: it accepts deployments from developers,
//! validates and stores them as content-addressed versions, keeps the
//! cluster's identity, and sends every node what it should run.
//!
//! - [`store`]: deployments, versions, environments, secrets, tokens and
//!   the desired-state revision in an embedded SQLite database (the
//!   [`store::Store`] trait leaves room for PostgreSQL);
//! - [`identity`]: the cluster CA, the assignment-signing key, the admin
//!   and join tokens, in the data folder;
//! - [`api`]: the deploy API (HTTP + JSON, bearer tokens), with
//!   [`validate`] refusing bad bundles before anything is stored, and the
//!   rollout and node endpoints the CLI waits on;
//! - [`desired`]: after every change, the store's desired state as signed
//!   assignments, published to [`distribution`], the QUIC server nodes
//!   join and stay in step through;
//! - [`client`]: the API's client, used by the CLI.
//!
//! It does not run handlers (nodes do; this crate uses `outpost-js` only
//! to compile modules at deploy time) and does not serve DNS yet.

#![forbid(unsafe_code)]

pub mod api;
pub mod bundle;
pub mod client;
pub mod desired;
pub mod distribution;
pub mod identity;
pub mod manifest;
pub mod names;
pub mod store;
pub mod tokens;
pub mod validate;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

/// The API address used when none is given, by the server and the CLI.
pub const DEFAULT_API: &str = "127.0.0.1:8700";

/// The QUIC address nodes dial when none is given: the API's address with the next port
/// (`127.0.0.1:8701` next to the default API), or an ephemeral port when the API's is.
pub fn default_quic(api: SocketAddr) -> SocketAddr {
    let port = match api.port() {
        0 => 0,
        p => p.checked_add(1).unwrap_or(0),
    };
    SocketAddr::new(api.ip(), port)
}

/// How to run a control plane.
#[derive(Debug, Clone)]
pub struct Options {
    /// The data folder: store, keys, tokens.
    pub data: PathBuf,
    /// Where the deploy API listens: plain HTTP on a loopback address,
    /// HTTPS with a certificate from the cluster CA elsewhere.
    pub api: SocketAddr,
    /// Extra names (DNS names or IP addresses) for the API certificate.
    pub api_names: Vec<String>,
    /// Where nodes connect over QUIC (UDP); default [`default_quic`] of the API address.
    pub quic: Option<SocketAddr>,
    /// Where GeoDNS will answer (not served yet).
    pub dns: Option<SocketAddr>,
    /// The API's settings, including the zone.
    pub config: api::ApiConfig,
    /// A PostgreSQL connection string to keep the state in, shared with
    /// other replicas; `None` for SQLite in the data folder.
    pub store: Option<String>,
}

impl Options {
    /// Options with defaults for everything but the data folder and address.
    pub fn new(data: PathBuf, api: SocketAddr) -> Options {
        Options {
            data,
            api,
            api_names: Vec::new(),
            quic: None,
            dns: None,
            config: api::ApiConfig::default(),
            store: None,
        }
    }
}

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A setting is invalid.
    #[error("{0}")]
    Config(String),
    /// The identity could not be loaded or created.
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    /// The store could not be opened.
    #[error("{path}: {source}")]
    Store {
        /// The database file, or `PostgreSQL`.
        path: String,
        /// The error.
        source: store::StoreError,
    },
    /// The QUIC side could not start.
    #[error(transparent)]
    Distribution(#[from] distribution::DistributionError),
    /// The API address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// Checks a DNS zone name: dot-separated labels of lowercase letters,
/// digits and `-`.
fn check_zone(zone: &str) -> Result<(), RunError> {
    let ok = !zone.is_empty()
        && zone.len() <= 200
        && zone.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(RunError::Config(format!(
            "invalid zone '{}': expected a lowercase DNS name such as example.com",
            zone.escape_debug()
        )))
    }
}

/// Runs the control plane until `stop` resolves: opens the store and the
/// identity in `opts.data` (creating them on first start), serves the API
/// and the QUIC side nodes join through, and prints `api on http://ADDR`
/// (or `https://`), `quic on ADDR` and `join token: TOKEN` once both accept
/// connections.
pub async fn run(opts: Options, stop: impl Future<Output = ()>) -> Result<(), RunError> {
    check_zone(&opts.config.zone)?;
    for name in &opts.api_names {
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(RunError::Config(format!(
                "invalid --api-name '{}'",
                name.escape_debug()
            )));
        }
    }
    let data = opts.data.clone();
    let store_spec = opts.store.clone();
    let (lock, store, identity, publisher) = tokio::task::spawn_blocking(move || -> Result<_, RunError> {
        let lock = identity::lock_data_dir(&data)?;
        let (store, path): (Arc<dyn store::Store>, String) = match &store_spec {
            Some(url) => {
                let store = store::PgStore::open(url).map_err(|source| RunError::Store {
                    path: "PostgreSQL".into(),
                    source,
                })?;
                (Arc::new(store), "PostgreSQL".into())
            }
            None => {
                let db = data.join("outpost.db");
                // Secrets live in the database: create it readable by its
                // owner only (SQLite gives its WAL and shared-memory files
                // the same mode).
                if !db.exists() {
                    use std::os::unix::fs::OpenOptionsExt;
                    std::fs::OpenOptions::new()
                        .create_new(true)
                        .write(true)
                        .mode(0o600)
                        .open(&db)
                        .map_err(|e| RunError::Config(format!("{}: {e}", db.display())))?;
                }
                let store = store::SqliteStore::open(&db).map_err(|source| RunError::Store {
                    path: db.display().to_string(),
                    source,
                })?;
                (Arc::new(store), db.display().to_string())
            }
        };
        let identity = Arc::new(identity::Identity::load_or_create(&data, &*store)?);
        let publisher = desired::Publisher::new(store.clone(), identity.clone())
            .map_err(|source| RunError::Store { path, source })?;
        Ok((lock, store, identity, Arc::new(publisher)))
    })
    .await
    .map_err(|e| RunError::Config(format!("startup task failed: {e}")))??;
    let tls = if opts.api.ip().is_loopback() {
        None
    } else {
        let mut names = opts.api_names.clone();
        if !opts.api.ip().is_unspecified() {
            names.push(opts.api.ip().to_string());
        }
        names.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
        names.dedup();
        let config = identity.server_tls_config(&names)?;
        Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    };
    let listener = TcpListener::bind(opts.api)
        .await
        .map_err(|source| RunError::Bind { addr: opts.api, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| RunError::Bind { addr: opts.api, source })?;
    let quic = opts.quic.unwrap_or_else(|| default_quic(opts.api));
    let distribution = distribution::Distribution::bind(
        distribution::DistributionConfig::new(quic, opts.config.zone.clone()),
        identity.distribution(),
        publisher.subscribe(),
        Arc::new(desired::StoreBundles(store.clone())),
    )?;
    if let Some(dns) = opts.dns {
        tracing::warn!("--dns {dns}: not served yet; GeoDNS is not part of this control plane yet");
    }
    let (stopping, stop_rx) = tokio::sync::watch::channel(false);
    if store.shared() {
        follow_other_replicas(publisher.clone(), store.clone(), stop_rx.clone());
    }
    let state = api::ApiState::new(
        store,
        identity.clone(),
        opts.config.clone(),
        publisher.clone(),
        distribution.status(),
    );
    println!("data in {}", opts.data.display());
    println!("admin token in {}", identity.admin_token_path().display());
    if tls.is_some() {
        println!("ca certificate in {}", identity.ca_path().display());
        println!("api on https://{addr}");
    } else {
        println!("api on http://{addr}");
    }
    println!("quic on {}", distribution.local_addr());
    println!("join token: {}", distribution.join_token());
    tracing::info!(revision = publisher.revision(), "serving the desired state");
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let signal = async {
        stop.await;
        let _ = stopping.send(true);
    };
    tokio::join!(
        signal,
        api::serve(listener, tls, state, stopped(stop_rx.clone())),
        distribution.run(stopped(stop_rx.clone())),
    );
    drop(lock);
    Ok(())
}

/// With a store other replicas write too: publishes their changes to this
/// replica's nodes. A blocking thread waits for the store's change
/// notifications (at most a second, so it also notices missed ones and the
/// stop signal) and republishes when the revision moved.
fn follow_other_replicas(
    publisher: Arc<desired::Publisher>,
    store: Arc<dyn store::Store>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    std::thread::Builder::new()
        .name("outpost-follow".into())
        .spawn(move || {
            let mut failing = false;
            while !*stop.borrow() {
                let waited = store.wait_for_change(std::time::Duration::from_secs(1));
                match waited.and_then(|()| publisher.publish()) {
                    Ok(revision) => {
                        if failing {
                            tracing::info!(revision, "the store is reachable again");
                        }
                        failing = false;
                    }
                    Err(e) if !failing => {
                        tracing::warn!(error = %e, "cannot follow the store's changes; retrying");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
        })
        .expect("spawn the store follower");
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_quic_port_follows_the_api_port() {
        let quic = |api: &str| super::default_quic(api.parse().unwrap()).to_string();
        assert_eq!(quic(super::DEFAULT_API), "127.0.0.1:8701");
        assert_eq!(quic("0.0.0.0:0"), "0.0.0.0:0");
        assert_eq!(quic("[::1]:65535"), "[::1]:0");
    }

    #[test]
    fn zones_are_lowercase_dns_names() {
        for ok in ["localhost", "example.com", "edge-1.example.com"] {
            assert!(super::check_zone(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Example.com", "a..b", "-a.com", "a_b.com", "a.com."] {
            assert!(super::check_zone(bad).is_err(), "{bad}");
        }
    }
}
