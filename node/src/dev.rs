//! `outpost dev`: serve handlers from disk on the node's own ingress,
//! reloading them when their files change.
//!
//! The first handler answers every host; each one also answers
//! `NAME.localhost` and its manifest's routes. Every handler runs under its
//! `[limits]` (the node's defaults where it sets none), as it would when
//! deployed; `--relax-limits` raises time and memory to the node's maxima
//! and says so.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify::Watcher;
use outpost_js::RuntimeOptions;
use tokio::sync::watch;

use crate::bundle::{LoadedBundle, load_path};
use crate::host::LogSink;
use crate::ingress::{Limits, Service, h1};
use crate::limits::{DeploymentLimits, LimitsPolicy, RuntimeLimits};
use crate::outbound::{Outbound, OutboundConfig};
use crate::router::{RoutePattern, Router, Target};
use crate::worker::{self, PoolLimits, WorkerConfig};

/// Options of `outpost dev`.
#[derive(Clone, Debug)]
pub struct DevOptions {
    /// The handler files or folders; the first also answers every host.
    pub paths: Vec<PathBuf>,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Watch the files and reload on change.
    pub watch: bool,
    /// Where to serve `/metrics`, `/healthz`, `/readyz` (none by default).
    pub admin: Option<SocketAddr>,
    /// Where to serve HTTPS, HTTP/2 and HTTP/3 too (none by default).
    pub https: Option<SocketAddr>,
    /// Certificate folder for `https` (`<hostname>.pem` files); a
    /// self-signed certificate for localhost when absent.
    pub certs: Option<PathBuf>,
    /// Isolate threads (default 1).
    pub threads: usize,
    /// Raise the time and memory limits to the node's maxima.
    pub relax_limits: bool,
    /// The node's defaults and maxima for `[limits]`.
    pub limits: LimitsPolicy,
    /// V8 heap all isolates may use together, in bytes; idle isolates are
    /// evicted to stay under it (`None`: unlimited).
    pub isolate_memory_budget: Option<usize>,
    /// Outbound `fetch()` settings (address ranges allowed past the SSRF
    /// guard, DNS servers, timeouts).
    pub outbound: OutboundConfig,
    /// Protocol limits and timeouts of the listeners.
    pub ingress: crate::ingress::IngressConfig,
}

impl DevOptions {
    /// Serving `path` on `listen` with the defaults for everything else.
    pub fn new(path: PathBuf, listen: SocketAddr) -> Self {
        DevOptions {
            paths: vec![path],
            listen,
            watch: true,
            admin: None,
            https: None,
            certs: None,
            threads: 1,
            relax_limits: false,
            limits: LimitsPolicy::default(),
            isolate_memory_budget: None,
            outbound: OutboundConfig::default(),
            ingress: crate::ingress::IngressConfig::default(),
        }
    }

    fn policy(&self) -> LimitsPolicy {
        if self.relax_limits {
            self.limits.relaxed()
        } else {
            self.limits
        }
    }
}

/// A handler `outpost dev` serves.
struct Served {
    path: PathBuf,
    name: Arc<str>,
}

/// Reads `path` and resolves its limits.
fn read(path: &Path, policy: &LimitsPolicy) -> anyhow::Result<(LoadedBundle, DeploymentLimits)> {
    let loaded = load_path(path)?;
    let limits = policy
        .resolve(&loaded.manifest.limits)
        .with_context(|| format!("{}: [limits]", path.display()))?;
    Ok((loaded, limits))
}

/// Loads (or reloads) one handler and points its routes at it.
async fn deploy(
    loaded: LoadedBundle,
    limits: DeploymentLimits,
    handle: &worker::WorkerHandle,
    router: &Router,
    fallback: bool,
) -> anyhow::Result<Arc<str>> {
    let name: Arc<str> = loaded.name.clone().into();
    handle
        .load_with(name.clone(), Arc::new(loaded.bundle), limits.runtime_options())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let routes: Vec<RoutePattern> = loaded
        .manifest
        .route_patterns()
        .iter()
        .filter_map(|p| RoutePattern::parse(p))
        .collect();
    let mut target = Target::new(name.clone(), handle.clone());
    target.limits = limits;
    if fallback {
        router.set_fallback(Some(target.clone()));
    }
    router.set(&name, &routes, target);
    Ok(name)
}

/// Runs until `stop` resolves (Ctrl-C in the CLI). Prints
/// `ready on http://ADDR` once the listener accepts connections.
pub async fn run(opts: DevOptions, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    // Before any request is recorded: metric handles bind to the recorder
    // installed when they are first used.
    crate::metrics::install();
    let policy = opts.policy();
    if opts.relax_limits {
        println!("limits relaxed (--relax-limits): {}", policy.defaults.describe());
    }
    let (handle, joins) = worker::spawn_pool(
        opts.threads.max(1),
        WorkerConfig {
            log_sink: LogSink::Console,
            runtime: RuntimeOptions::default(),
            outbound: Arc::new(Outbound::new(opts.outbound.clone()).context("outbound fetch settings")?),
        },
        PoolLimits {
            isolate_memory_budget: opts.isolate_memory_budget,
            ..PoolLimits::default()
        },
    )?;
    let router = Arc::new(Router::new("localhost"));
    let mut served = Vec::new();
    let mut watched = Vec::new();
    for path in &opts.paths {
        let (loaded, limits) = read(path, &policy)?;
        if served.iter().any(|s: &Served| *s.name == *loaded.name) {
            anyhow::bail!("{}: another handler is already named '{}'", path.display(), loaded.name);
        }
        watched.extend(loaded.watch.iter().cloned());
        let name = deploy(loaded, limits, &handle, &router, served.is_empty())
            .await
            .with_context(|| format!("{}: the handler failed to load", path.display()))?;
        served.push(Served {
            path: path.clone(),
            name,
        });
    }

    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    if served.len() > 1 {
        for s in &served {
            println!("{}: http://{}.localhost:{}/", s.name, s.name, addr.port());
        }
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let service = Arc::new(Service {
        router: router.clone(),
        limits: Limits::default(),
    });
    // Accept on the isolate threads themselves: a request accepted there is
    // handed to the isolate with no thread hop.
    let std_listener = listener.into_std()?;
    let shutdown_for_accept = shutdown_rx.clone();
    let ingress = opts.ingress.clone();
    let accept_loops = handle.spawn_on_each(move |_| {
        let listener = std_listener.try_clone().and_then(tokio::net::TcpListener::from_std);
        let service = service.clone();
        let shutdown = shutdown_for_accept.clone();
        let ingress = ingress.clone();
        async move {
            match listener {
                Ok(l) => h1::serve(l, ingress, service, shutdown).await,
                Err(e) => tracing::error!(error = %e, "cannot accept on an isolate thread"),
            }
        }
    });
    let mut tls_server = None;
    if let Some(https_addr) = opts.https {
        let tls = crate::ingress::TlsSetup::load(opts.certs.as_deref())?;
        // Cold-start hiding: the ClientHello names the host; start its
        // isolate while the handshake completes.
        let prewarm_router = router.clone();
        tls.set_on_client_hello(Some(Arc::new(move |sni: &str| prewarm_router.prewarm(sni))));
        let listener = crate::ingress::bind_tls(https_addr, opts.ingress.clone(), tls).await?;
        println!("https on https://{}", listener.local_addr());
        let service = Arc::new(Service {
            router: router.clone(),
            limits: Limits::default(),
        });
        tls_server = Some(tokio::spawn(listener.serve(service, shutdown_rx.clone())));
    }
    if let Some(admin_addr) = opts.admin {
        let admin = tokio::net::TcpListener::bind(admin_addr)
            .await
            .with_context(|| format!("cannot listen on {admin_addr} (admin)"))?;
        println!("admin on http://{}", admin.local_addr()?);
        let ready = crate::admin::Readiness::default();
        ready.set(true);
        tokio::spawn(crate::admin::serve(admin, ready, shutdown_rx));
    }

    // File watching: debounce bursts of events, then reload.
    let (change_tx, mut change_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let _watcher = if opts.watch {
        let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                let relevant = ev.paths.iter().any(|p| {
                    let name = p.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
                    name == "outpost.toml"
                        || name == "wrangler.toml"
                        || outpost_js::ModuleKind::from_path(&name).is_some()
                });
                if relevant
                    && matches!(
                        ev.kind,
                        notify::EventKind::Modify(_) | notify::EventKind::Create(_) | notify::EventKind::Remove(_)
                    )
                {
                    let _ = change_tx.send(());
                }
            }
        })?;
        for p in &watched {
            w.watch(p, notify::RecursiveMode::Recursive)?;
        }
        Some(w)
    } else {
        None
    };

    // Ready only once edits are being watched, so none is missed.
    println!("ready on http://{addr}");
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(()) = change_rx.recv() => {
                // Let a burst of writes settle.
                while let Ok(Some(())) = tokio::time::timeout(Duration::from_millis(50), change_rx.recv()).await {}
                for (i, s) in served.iter().enumerate() {
                    reload(s, &policy, &handle, &router, i == 0).await;
                }
            }
        }
    }
    let _ = shutdown_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(accept_loops)).await;
    if let Some(t) = tls_server {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    drop(handle);
    router.set_fallback(None);
    drop(router);
    let _ = tokio::task::spawn_blocking(move || joins.into_iter().for_each(|j| drop(j.join()))).await;
    Ok(())
}

/// Reloads a handler whose files may have changed; a broken edit leaves
/// the previous version serving.
async fn reload(
    served: &Served,
    policy: &LimitsPolicy,
    handle: &worker::WorkerHandle,
    router: &Router,
    fallback: bool,
) {
    let result = match read(&served.path, policy) {
        Ok((loaded, _)) if *loaded.name != *served.name => Err(anyhow::anyhow!(
            "the name changed to '{}'; restart outpost dev to serve it under the new name",
            loaded.name
        )),
        Ok((loaded, limits)) => deploy(loaded, limits, handle, router, fallback).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => println!("reloaded {}", served.path.display()),
        Err(e) => eprintln!(
            "reload of {} failed, still serving the previous version:\n{e:#}",
            served.path.display()
        ),
    }
}
