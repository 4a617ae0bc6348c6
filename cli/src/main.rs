//! `outpost`: the one binary. Thin: parse the command line, validate,
//! call the libraries, print. `dev` serves handlers locally,
//! `control-plane` runs the control plane, `node` runs an edge node that
//! joins it, and the deploy commands (`deploy`, `list`, `versions`,
//! `rollback`, `nodes`, …) talk to its API (see `remote.rs`), waiting for
//! the nodes where a command changes what they serve (see `rollout.rs`).

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod remote;
mod rollout;

use remote::{ApiArgs, WaitArgs};

#[derive(Parser)]
#[command(name = "outpost", version, about = "A self-hostable edge-function network")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a handler locally, reloading it when its files change.
    Dev {
        /// .js/.mjs handler files, or folders with outpost.toml or
        /// wrangler.toml. The first answers every host; each also answers
        /// NAME.localhost.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
        /// Do not watch the files for changes.
        #[arg(long)]
        no_watch: bool,
        /// Serve /metrics, /healthz and /readyz on this address.
        #[arg(long)]
        admin: Option<SocketAddr>,
        /// Also serve HTTPS (HTTP/1.1, HTTP/2) and HTTP/3 on this address.
        #[arg(long)]
        https: Option<SocketAddr>,
        /// Certificates for --https: a folder of <hostname>.pem files
        /// (default: a self-signed certificate for localhost).
        #[arg(long)]
        certs: Option<PathBuf>,
        /// Isolate threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Raise the CPU, wall-clock, startup and memory limits to the
        /// node's maxima (for debugging); says so at startup.
        #[arg(long)]
        relax_limits: bool,
        /// Let handlers' fetch() reach this address range although it is
        /// loopback, private or link-local (e.g. 127.0.0.0/8 for a local
        /// API). Repeatable.
        #[arg(long = "allow-outbound", value_name = "CIDR")]
        allow_outbound: Vec<ipnet::IpNet>,
        /// V8 heap all isolates may use together, in MiB; idle isolates are
        /// evicted least recently used first to stay under it (default:
        /// unlimited).
        #[arg(long = "isolate-memory-budget", value_name = "MIB")]
        isolate_memory_budget: Option<usize>,
        /// A listener setting, e.g. max_requests_per_connection=0 or
        /// idle_timeout_ms=30000 (the keys are in the README's Limits
        /// section). Repeatable.
        #[arg(long = "ingress", value_name = "KEY=VALUE")]
        ingress: Vec<String>,
    },
    /// Run the control plane: the deploy API over a store in DATA.
    ControlPlane {
        /// Data folder: the store, the cluster CA, the signing key and the
        /// tokens (created on first start).
        #[arg(long)]
        data: PathBuf,
        /// Deploy API address: plain HTTP on a loopback address, HTTPS with
        /// a certificate from the cluster CA on any other.
        #[arg(long, default_value = outpost_control_plane::DEFAULT_API)]
        api: SocketAddr,
        /// Extra DNS name or IP address for the API's certificate (the
        /// name clients use). Repeatable.
        #[arg(long = "api-name", value_name = "NAME")]
        api_names: Vec<String>,
        /// UDP address nodes connect to over QUIC (default: the API's
        /// address with the next port, 127.0.0.1:8701 for the default API).
        #[arg(long)]
        quic: Option<SocketAddr>,
        /// Address GeoDNS answers on (not served yet).
        #[arg(long)]
        dns: Option<SocketAddr>,
        /// Zone deployments answer under: NAME.ZONE, NAME--ENV.ZONE.
        #[arg(long, default_value = "localhost")]
        zone: String,
        /// The store: a PostgreSQL connection string
        /// (`postgres://USER:PASSWORD@HOST/DB` or `host=… dbname=…`), shared
        /// by every replica of the control plane; default: SQLite in DATA.
        #[arg(long, env = "OUTPOST_STORE", value_name = "URL")]
        store: Option<String>,
    },
    /// Run an edge node: join the cluster with the join token, then serve
    /// what the control plane assigns (and what the data folder holds, when
    /// the control plane cannot be reached).
    Node {
        /// The control plane's QUIC address, HOST:PORT.
        #[arg(long, env = "OUTPOST_CONTROL")]
        control: String,
        /// The join token the control plane prints (`join token: …`); needed
        /// only until the node has joined.
        #[arg(long, env = "OUTPOST_JOIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// The region the node serves, e.g. fra (lowercase letters, digits, '-').
        #[arg(long)]
        region: String,
        /// Address to serve HTTP on.
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
        /// Data folder: the node's identity, its bundles and state (created
        /// on first start).
        #[arg(long, default_value = "outpost-node")]
        data: PathBuf,
        /// Latitude of the node, in degrees (with --lon).
        #[arg(long, requires = "lon", allow_negative_numbers = true)]
        lat: Option<f64>,
        /// Longitude of the node, in degrees (with --lat).
        #[arg(long, requires = "lat", allow_negative_numbers = true)]
        lon: Option<f64>,
        /// The IP address clients reach the node at, when it is not the
        /// listen address.
        #[arg(long = "public-addr", value_name = "IP")]
        public_addr: Option<std::net::IpAddr>,
        /// The node id to join as (default: REGION-<6 random hex digits>).
        #[arg(long)]
        name: Option<String>,
        /// The zone deployments answer under, instead of the control
        /// plane's (e.g. localhost for local tests).
        #[arg(long)]
        zone: Option<String>,
        /// Isolate threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Let handlers' fetch() reach this address range although it is
        /// loopback, private or link-local. Repeatable.
        #[arg(long = "allow-outbound", value_name = "CIDR")]
        allow_outbound: Vec<ipnet::IpNet>,
        /// V8 heap all isolates may use together, in MiB (default:
        /// unlimited).
        #[arg(long = "isolate-memory-budget", value_name = "MIB")]
        isolate_memory_budget: Option<usize>,
        /// This node's maximum for a [limits] key, e.g. memory_mb=256 or
        /// cpu_ms=1000; a deployment asking for more fails to activate here.
        /// Repeatable.
        #[arg(long = "max-limit", value_name = "KEY=VALUE")]
        max_limits: Vec<String>,
        /// A listener setting, e.g. max_requests_per_connection=0 or
        /// idle_timeout_ms=30000 (the keys are in the README's Limits
        /// section). Repeatable.
        #[arg(long = "ingress", value_name = "KEY=VALUE")]
        ingress: Vec<String>,
        /// Longest wait between attempts to reach the control plane, in
        /// milliseconds.
        #[arg(long = "reconnect-max-ms", value_name = "MS", default_value_t = 30_000)]
        reconnect_max_ms: u64,
    },
    /// Upload a handler file or folder as a new version, activate it, and
    /// wait until every connected node serves it.
    Deploy {
        /// A .js/.mjs file, or a folder with outpost.toml or wrangler.toml.
        path: PathBuf,
        /// Deployment name (default: the manifest's name, else the file or
        /// folder name).
        #[arg(long)]
        name: Option<String>,
        /// Environment (default production; ENV answers NAME--ENV.<zone>).
        #[arg(long)]
        env: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List deployments and the version each environment serves.
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List the versions of a deployment.
    Versions {
        /// Deployment name.
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Serve an earlier version again, and wait until every connected node
    /// serves it.
    Rollback {
        /// Deployment name.
        name: String,
        /// Version to serve (default: the newest older version the
        /// environment served).
        #[arg(long)]
        to: Option<u64>,
        /// Environment (default production).
        #[arg(long)]
        env: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Make an environment serve the version another one serves.
    Promote {
        /// Deployment name.
        name: String,
        /// Environment whose version is promoted, e.g. staging.
        #[arg(long)]
        from: String,
        /// Environment that will serve it.
        #[arg(long, default_value = "production")]
        to: String,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Delete a deployment with every version and secret.
    Delete {
        /// Deployment name.
        name: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Manage a deployment's secrets (write-only values on `env`).
    Secret {
        #[command(subcommand)]
        command: remote::SecretCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: remote::TokenCommand,
    },
    /// List the nodes: connection, revision, last heartbeat, load.
    Nodes {
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// Allocation is on every request's path (headers, bodies, tasks); mimalloc
/// serves it with thread-local free lists instead of glibc's arenas.
#[global_allocator]
static ALLOCATOR: outpost_js::allocator::MiMalloc = outpost_js::allocator::MiMalloc;

/// What is logged when `OUTPOST_LOG` is not set: warnings, except rustls'
/// one per connection whose ClientHello names an IP address (wrk, h2load
/// and other clients do so for `https://IP/` URLs): any client could fill
/// the log with it.
const DEFAULT_LOG: &str = "warn,rustls::msgs::handshake=error";

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OUTPOST_LOG").unwrap_or_else(|_| DEFAULT_LOG.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Ok(flags) = std::env::var("OUTPOST_V8_FLAGS")
        && let Err(e) = outpost_js::set_v8_flags(&flags)
    {
        eprintln!("error: OUTPOST_V8_FLAGS: {e}");
        return ExitCode::FAILURE;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Dev {
            paths,
            listen,
            no_watch,
            admin,
            https,
            certs,
            threads,
            relax_limits,
            allow_outbound,
            isolate_memory_budget,
            ingress,
        } => match outpost_node::ingress::IngressConfig::from_settings(&ingress) {
            Err(e) => Err(anyhow::anyhow!("--ingress: {e}")),
            Ok(ingress) => rt.block_on(outpost_node::dev::run(
                outpost_node::dev::DevOptions {
                    paths,
                    watch: !no_watch,
                    admin,
                    https,
                    certs,
                    threads,
                    relax_limits,
                    isolate_memory_budget: isolate_memory_budget.map(|mib| mib << 20),
                    outbound: outpost_node::outbound::OutboundConfig {
                        allow: allow_outbound,
                        ..Default::default()
                    },
                    ingress,
                    ..outpost_node::dev::DevOptions::new(PathBuf::new(), listen)
                },
                shutdown_signal(),
            )),
        },
        Command::ControlPlane {
            data,
            api,
            api_names,
            quic,
            dns,
            zone,
            store,
        } => {
            let mut opts = outpost_control_plane::Options::new(data, api);
            opts.api_names = api_names;
            opts.quic = quic;
            opts.dns = dns;
            opts.store = store;
            opts.config.zone = zone;
            rt.block_on(outpost_control_plane::run(opts, shutdown_signal()))
                .map_err(anyhow::Error::from)
        }
        Command::Node {
            control,
            token,
            region,
            listen,
            data,
            lat,
            lon,
            public_addr,
            name,
            zone,
            threads,
            allow_outbound,
            isolate_memory_budget,
            max_limits,
            ingress,
            reconnect_max_ms,
        } => {
            let mut opts = outpost_node::agent::NodeOptions::new(control, token, region, data);
            opts.listen = listen;
            opts.name = name;
            opts.zone = zone;
            opts.threads = threads;
            opts.location = lat.zip(lon);
            opts.public_addr = public_addr;
            opts.isolate_memory_budget = isolate_memory_budget.map(|mib| mib << 20);
            opts.outbound.allow = allow_outbound;
            opts.reconnect_max = std::time::Duration::from_millis(reconnect_max_ms.max(1));
            opts.reconnect_initial = opts.reconnect_initial.min(opts.reconnect_max);
            let mut bad = None;
            match outpost_node::ingress::IngressConfig::from_settings(&ingress) {
                Ok(config) => opts.ingress = config,
                Err(e) => bad = Some(anyhow::anyhow!("--ingress: {e}")),
            }
            for spec in &max_limits {
                if let Err(e) = opts.limits.set_maximum(spec) {
                    bad = Some(anyhow::anyhow!("--max-limit {e}"));
                }
            }
            match bad {
                Some(e) => Err(e),
                None => rt
                    .block_on(outpost_node::agent::run(opts, shutdown_signal()))
                    .map_err(anyhow::Error::from),
            }
        }
        Command::Deploy {
            path,
            name,
            env,
            wait,
            api,
        } => rt.block_on(remote::deploy(&api, &wait, &path, name, env)),
        Command::List { api } => rt.block_on(remote::list(&api)),
        Command::Versions { name, api } => rt.block_on(remote::versions(&api, &name)),
        Command::Rollback {
            name,
            to,
            env,
            wait,
            api,
        } => rt.block_on(remote::rollback(&api, &wait, &name, to, env)),
        Command::Promote {
            name,
            from,
            to,
            wait,
            api,
        } => rt.block_on(remote::promote(&api, &wait, &name, &from, &to)),
        Command::Delete { name, yes, api } => rt.block_on(remote::delete(&api, &name, yes)),
        Command::Secret { command } => rt.block_on(remote::secret(command)),
        Command::Token { command } => rt.block_on(remote::token(command)),
        Command::Nodes { api } => rt.block_on(remote::nodes(&api)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
