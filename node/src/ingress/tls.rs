//! TLS for the ingress: certificates chosen by SNI from a folder of
//! per-hostname files, or a generated self-signed certificate for local use;
//! the rustls server configurations for TCP (ALPN `h2`, `http/1.1`) and QUIC
//! (ALPN `h3`) share one resolver, so both see the same certificates.
//!
//! Folder layout (every file PEM):
//!
//! | file | serves |
//! |---|---|
//! | `hello.example.com.pem` | `hello.example.com`; the file holds the chain (leaf first) and the private key |
//! | `hello.example.com.crt` + `hello.example.com.key` | the same, chain and key apart |
//! | `_wildcard.example.com.pem` (or `.crt` + `.key`) | `*.example.com`: any one label under `example.com` |
//! | `_default.pem` (or `.crt` + `.key`) | clients that send no SNI (an IP address in the URL) or a name nothing else matches |
//!
//! An exact name wins over a wildcard, a wildcard over `_default`. With no
//! match the handshake fails, as on any multi-tenant edge.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::IngressError;

/// Called with the SNI name (lowercase, no trailing dot) as soon as a
/// ClientHello has been read, before the handshake finishes and well
/// before the HTTP request arrives: long enough to start warming up the
/// deployment that serves that name.
pub type ClientHelloHook = Arc<dyn Fn(&str) + Send + Sync>;

/// ALPN protocols offered on TCP, in order of preference.
const TCP_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];
/// ALPN of HTTP/3.
const H3_ALPN: &[u8] = b"h3";

/// Names the generated local certificate covers.
const LOCAL_NAMES: [&str; 4] = ["localhost", "*.localhost", "127.0.0.1", "::1"];

/// The crypto provider of every TLS config the node builds: `ring`, chosen
/// explicitly so a second provider elsewhere in the graph changes nothing.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The node's certificates and the hook called on each ClientHello.
/// Cheap to clone; clones share the certificates (a [`TlsSetup::reload`]
/// is seen by every listener).
#[derive(Clone)]
pub struct TlsSetup {
    resolver: Arc<SniResolver>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("source", &self.resolver.source)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum CertSource {
    Dir(PathBuf),
    SelfSigned,
}

impl TlsSetup {
    /// Loads every certificate in `dir` (see the module docs for the file
    /// names). Fails if a file is unreadable, a key does not match its
    /// certificate, or the folder holds no certificate at all.
    pub fn from_dir(dir: &Path) -> Result<Self, IngressError> {
        let table = load_dir(dir)?;
        Ok(Self::with_table(CertSource::Dir(dir.to_path_buf()), table))
    }

    /// A freshly generated self-signed certificate for `localhost`,
    /// `*.localhost`, `127.0.0.1` and `::1`, also served to clients that
    /// send another name or none. For `outpost dev` and tests: browsers
    /// warn about it.
    pub fn self_signed_localhost() -> Result<Self, IngressError> {
        let generated = rcgen::generate_simple_self_signed(LOCAL_NAMES.map(String::from).to_vec())
            .map_err(|e| IngressError::Tls(format!("generating a self-signed certificate: {e}")))?;
        let key = PrivateKeyDer::try_from(generated.signing_key.serialize_der())
            .map_err(|e| IngressError::Tls(format!("generated key: {e}")))?;
        let certified = CertifiedKey::from_der(vec![generated.cert.der().clone()], key, &provider())
            .map_err(|e| IngressError::Tls(format!("generated key: {e}")))?;
        let certified = Arc::new(certified);
        let mut table = CertTable::default();
        table.exact.insert("localhost".into(), certified.clone());
        table.wildcard.insert("localhost".into(), certified.clone());
        table.default = Some(certified);
        Ok(Self::with_table(CertSource::SelfSigned, table))
    }

    /// [`Self::from_dir`] when `dir` is given, else
    /// [`Self::self_signed_localhost`].
    pub fn load(dir: Option<&Path>) -> Result<Self, IngressError> {
        match dir {
            Some(dir) => Self::from_dir(dir),
            None => Self::self_signed_localhost(),
        }
    }

    fn with_table(source: CertSource, table: CertTable) -> Self {
        TlsSetup {
            resolver: Arc::new(SniResolver {
                source,
                table: RwLock::new(Arc::new(table)),
                hook: RwLock::new(None),
            }),
        }
    }

    /// Installs (or removes) the hook called with the SNI name of every
    /// ClientHello, on TCP and QUIC alike. It runs on the handshake path:
    /// it must return quickly (queue work, do not do it).
    pub fn set_on_client_hello(&self, hook: Option<ClientHelloHook>) {
        *self.resolver.hook.write().unwrap_or_else(|e| e.into_inner()) = hook;
    }

    /// Re-reads the certificate folder and swaps the new set in atomically;
    /// on error the current certificates stay. Returns how many hostnames
    /// (and wildcards, and the default) are served. Handshakes in progress
    /// keep the certificate they picked.
    pub fn reload(&self) -> Result<usize, IngressError> {
        let CertSource::Dir(dir) = &self.resolver.source else {
            return Ok(self.resolver.snapshot().len());
        };
        let table = load_dir(dir)?;
        let n = table.len();
        *self.resolver.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
        Ok(n)
    }

    /// The hostnames served, wildcards as `*.example.com`, the default as
    /// `_default`; sorted.
    pub fn hostnames(&self) -> Vec<String> {
        let t = self.resolver.snapshot();
        let mut names: Vec<String> = t.exact.keys().cloned().collect();
        names.extend(t.wildcard.keys().map(|s| format!("*.{s}")));
        if t.default.is_some() {
            names.push("_default".into());
        }
        names.sort();
        names
    }

    /// The rustls configuration of the TCP listener: TLS 1.2 and 1.3, ALPN
    /// `h2` then `http/1.1`.
    pub(crate) fn tcp_config(&self) -> Result<Arc<rustls::ServerConfig>, IngressError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| IngressError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.resolver.clone());
        config.alpn_protocols = TCP_ALPN.iter().map(|p| p.to_vec()).collect();
        config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|e| IngressError::Tls(e.to_string()))?;
        Ok(Arc::new(config))
    }

    /// The QUIC configuration of the HTTP/3 listener: TLS 1.3, ALPN `h3`.
    pub(crate) fn quic_config(&self) -> Result<quinn::crypto::rustls::QuicServerConfig, IngressError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| IngressError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.resolver.clone());
        config.alpn_protocols = vec![H3_ALPN.to_vec()];
        config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|e| IngressError::Tls(e.to_string()))?;
        // No 0-RTT: replayed requests would reach handlers.
        config.max_early_data_size = 0;
        quinn::crypto::rustls::QuicServerConfig::try_from(Arc::new(config))
            .map_err(|e| IngressError::Tls(format!("QUIC: {e}")))
    }
}

/// Certificates by name.
#[derive(Default)]
struct CertTable {
    /// Exact hostnames.
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` stored as `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    /// For no SNI or no match.
    default: Option<Arc<CertifiedKey>>,
}

impl CertTable {
    fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len() + usize::from(self.default.is_some())
    }

    fn lookup(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = name {
            if let Some(c) = self.exact.get(name) {
                return Some(c.clone());
            }
            if let Some((_, parent)) = name.split_once('.')
                && let Some(c) = self.wildcard.get(parent)
            {
                return Some(c.clone());
            }
        }
        self.default.clone()
    }
}

struct SniResolver {
    source: CertSource,
    table: RwLock<Arc<CertTable>>,
    hook: RwLock<Option<ClientHelloHook>>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniResolver")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl SniResolver {
    fn snapshot(&self) -> Arc<CertTable> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello
            .server_name()
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase());
        if let Some(name) = &name {
            let hook = self.hook.read().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(hook) = hook {
                hook(name);
            }
        }
        let found = self.snapshot().lookup(name.as_deref());
        if found.is_none() {
            tracing::debug!(sni = ?name, "no certificate for this name; refusing the handshake");
        }
        found
    }
}

/// What a certificate file's name says it serves.
enum Serves {
    Exact(String),
    Wildcard(String),
    Default,
}

fn serves(stem: &str) -> Option<Serves> {
    let stem = stem.to_ascii_lowercase();
    let valid = |h: &str| {
        !h.is_empty()
            && h.split('.')
                .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    if stem == "_default" {
        return Some(Serves::Default);
    }
    if let Some(parent) = stem.strip_prefix("_wildcard.") {
        return valid(parent).then(|| Serves::Wildcard(parent.to_string()));
    }
    valid(&stem).then_some(Serves::Exact(stem))
}

fn load_dir(dir: &Path) -> Result<CertTable, IngressError> {
    let entries = std::fs::read_dir(dir).map_err(|e| IngressError::CertFile {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    let provider = provider();
    let mut table = CertTable::default();
    for path in paths {
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        let (stem, chain, key) = if let Some(stem) = file.strip_suffix(".pem") {
            (stem, read_chain(&path)?, read_key(&path)?)
        } else if let Some(stem) = file.strip_suffix(".crt") {
            let key_path = path.with_file_name(format!("{stem}.key"));
            if !key_path.exists() {
                return Err(IngressError::CertFile {
                    path: path.clone(),
                    reason: format!("its key {} is missing", key_path.display()),
                });
            }
            (stem, read_chain(&path)?, read_key(&key_path)?)
        } else {
            continue;
        };
        let Some(what) = serves(stem) else {
            tracing::warn!(file = %path.display(), "ignoring a certificate file whose name is not a hostname");
            continue;
        };
        let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| IngressError::CertFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let certified = Arc::new(certified);
        match what {
            Serves::Exact(h) => table.exact.insert(h, certified),
            Serves::Wildcard(p) => table.wildcard.insert(p, certified),
            Serves::Default => table.default.replace(certified),
        };
    }
    if table.len() == 0 {
        return Err(IngressError::NoCertificates { dir: dir.to_path_buf() });
    }
    Ok(table)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, IngressError> {
    let bad = |reason: String| IngressError::CertFile {
        path: path.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if chain.is_empty() {
        return Err(bad("holds no CERTIFICATE block".into()));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, IngressError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| IngressError::CertFile {
        path: path.to_path_buf(),
        reason: format!("no usable private key: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_map_to_names() {
        assert!(matches!(serves("Hello.Example.com"), Some(Serves::Exact(h)) if h == "hello.example.com"));
        assert!(matches!(serves("_wildcard.example.com"), Some(Serves::Wildcard(p)) if p == "example.com"));
        assert!(matches!(serves("_default"), Some(Serves::Default)));
        assert!(serves("bad name").is_none());
        assert!(serves("a..b").is_none());
        assert!(serves("_wildcard.").is_none());
    }

    #[test]
    fn lookup_prefers_exact_then_wildcard_then_default() {
        let setup = TlsSetup::self_signed_localhost().unwrap();
        let t = setup.resolver.snapshot();
        assert!(t.lookup(Some("localhost")).is_some());
        assert!(t.lookup(Some("hello.localhost")).is_some());
        assert!(t.lookup(None).is_some());
        let mut only_exact = CertTable::default();
        only_exact.exact.insert("a.test".into(), t.default.clone().unwrap());
        assert!(only_exact.lookup(Some("a.test")).is_some());
        assert!(only_exact.lookup(Some("b.test")).is_none());
        assert!(only_exact.lookup(None).is_none());
        let mut wild = CertTable::default();
        wild.wildcard.insert("example.com".into(), t.default.clone().unwrap());
        assert!(wild.lookup(Some("x.example.com")).is_some());
        assert!(wild.lookup(Some("example.com")).is_none());
        assert!(wild.lookup(Some("y.x.example.com")).is_none());
    }
}
