//! `outpost`: the one binary. Thin: parse the command line, validate,
//! call the libraries, print.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
        /// A .js/.mjs handler file, or a folder with outpost.toml or wrangler.toml.
        path: PathBuf,
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("OUTPOST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Dev {
            path,
            listen,
            no_watch,
            admin,
            https,
            certs,
        } => rt.block_on(outpost_node::dev::run(
            outpost_node::dev::DevOptions {
                path,
                listen,
                watch: !no_watch,
                admin,
                https,
                certs,
            },
            shutdown_signal(),
        )),
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
