//! `outpost dev`: serve one handler from disk on the node's own ingress,
//! reloading it when its files change.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify::Watcher;
use outpost_js::RuntimeOptions;
use tokio::sync::watch;

use crate::bundle::load_path;
use crate::host::LogSink;
use crate::ingress::{Limits, Service, h1};
use crate::router::{Router, Target};
use crate::worker::{self, WorkerConfig};

/// Options of `outpost dev`.
#[derive(Clone, Debug)]
pub struct DevOptions {
    /// The handler file or folder.
    pub path: PathBuf,
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
}

/// Runs until `stop` resolves (Ctrl-C in the CLI). Prints
/// `ready on http://ADDR` once the listener accepts connections.
pub async fn run(opts: DevOptions, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    // Before any request is recorded: metric handles bind to the recorder
    // installed when they are first used.
    crate::metrics::install();
    let loaded = load_path(&opts.path)?;
    let name: Arc<str> = loaded.name.clone().into();
    let (handle, join) = worker::spawn(
        "outpost-isolate-0".into(),
        WorkerConfig {
            log_sink: LogSink::Console,
            runtime: RuntimeOptions::default(),
        },
    )?;
    handle
        .load(name.clone(), Arc::new(loaded.bundle.clone()))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the handler failed to load")?;
    let router = Arc::new(Router::new("localhost"));
    router.set_fallback(Some(Target {
        deployment: name.clone(),
        worker: handle.clone(),
    }));

    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let service = Arc::new(Service {
        router: router.clone(),
        limits: Limits::default(),
    });
    // Accept on the isolate threads themselves: a request accepted there is
    // handed to the isolate with no thread hop.
    let std_listener = listener.into_std()?;
    let shutdown_for_accept = shutdown_rx.clone();
    let accept_loops = handle.spawn_on_each(move |_| {
        let listener = std_listener.try_clone().and_then(tokio::net::TcpListener::from_std);
        let service = service.clone();
        let shutdown = shutdown_for_accept.clone();
        async move {
            match listener {
                Ok(l) => h1::serve(l, service, shutdown).await,
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
        let listener = crate::ingress::bind_tls(https_addr, crate::ingress::IngressConfig::default(), tls).await?;
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
        for p in &loaded.watch {
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
                reload(&opts.path, &name, &handle).await;
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
    let _ = tokio::task::spawn_blocking(move || join.join()).await;
    Ok(())
}

async fn reload(path: &Path, name: &Arc<str>, handle: &worker::WorkerHandle) {
    match load_path(path) {
        Ok(loaded) => match handle.load(name.clone(), Arc::new(loaded.bundle)).await {
            Ok(()) => println!("reloaded {}", path.display()),
            Err(e) => eprintln!("reload failed, still serving the previous version:\n{e}"),
        },
        Err(e) => eprintln!("reload failed, still serving the previous version:\n{e}"),
    }
}
