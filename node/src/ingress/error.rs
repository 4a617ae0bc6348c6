//! What can go wrong setting up the listeners. Errors while serving are
//! per connection and only logged.

use std::net::SocketAddr;
use std::path::PathBuf;

/// An ingress setup error.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    /// A configuration value is out of range.
    #[error("ingress config: `{key}`: {reason}")]
    Config {
        /// The offending key.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A socket could not be bound.
    #[error("cannot listen on {addr} ({proto}): {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// `tcp` or `udp`.
        proto: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A certificate or key file could not be read or used.
    #[error("certificate {}: {reason}", path.display())]
    CertFile {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// A certificate folder holds no usable certificate.
    #[error("no certificates in {} (expected <hostname>.pem, or <hostname>.crt and <hostname>.key)", dir.display())]
    NoCertificates {
        /// The folder.
        dir: PathBuf,
    },
    /// Building the TLS or QUIC configuration failed.
    #[error("TLS setup: {0}")]
    Tls(String),
}
