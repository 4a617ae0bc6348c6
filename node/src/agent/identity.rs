//! The node's identity: joining the cluster with a join token, keeping what the join gave (key,
//! certificate, cluster CA, bundle-signing key, zone) in the data folder, and the TLS configurations
//! of the join connection and of the mutual-TLS control connection.
//!
//! | file | what |
//! |---|---|
//! | `node.key` | the node's private key (PKCS#8 PEM) |
//! | `node.pem` | its certificate, issued by the cluster CA (common name = node id) |
//! | `ca.pem` | the cluster CA certificate |
//! | `signing.pub` | the control plane's Ed25519 public key, 64 hex digits |
//! | `node.json` | node id and zone |
//!
//! All are mode 0600, written atomically.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use outpost_protocol::PROTOCOL_VERSION;
use outpost_protocol::join::{
    self, CONTROL_ALPN, CONTROL_SERVER_NAME, JOIN_ALPN, JoinRefusal, JoinRequest, JoinResponse, JoinToken,
    MAX_JOIN_MESSAGE, hex, parse_hex32,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use serde::{Deserialize, Serialize};

use super::store::write_atomic;

/// How long dialing and the join exchange may take.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What a node is in the cluster.
#[derive(Clone)]
pub struct NodeIdentity {
    /// The node id (its certificate's common name).
    pub node_id: String,
    /// The zone deployments answer under.
    pub zone: String,
    /// The cluster CA certificate (DER).
    pub ca_der: Vec<u8>,
    /// The node's certificate (DER).
    pub cert_der: Vec<u8>,
    /// The node's private key (PKCS#8 DER).
    key_der: Vec<u8>,
    /// The control plane's Ed25519 public key.
    pub signing_public_key: [u8; 32],
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("node_id", &self.node_id)
            .field("zone", &self.zone)
            .finish_non_exhaustive()
    }
}

/// Why joining failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The control plane could not be reached or the exchange broke; worth retrying.
    #[error("cannot reach the control plane at {addr}: {message}")]
    Unreachable {
        /// The address dialed.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// The server is not the control plane of the cluster the token names.
    #[error("{0}")]
    Untrusted(String),
    /// The control plane refused the join.
    #[error("the control plane refused to join this node: {message}")]
    Refused {
        /// Why.
        reason: JoinRefusal,
        /// Its explanation.
        message: String,
    },
    /// The control plane's answer is not valid.
    #[error("invalid join answer: {0}")]
    Protocol(String),
    /// A key or request could not be made.
    #[error("{0}")]
    Local(String),
}

impl JoinError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, JoinError::Unreachable { .. })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeFile {
    node_id: String,
    zone: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

impl NodeIdentity {
    /// Reads the identity in `dir`; `Ok(None)` when the node has not joined yet.
    pub fn load(dir: &Path) -> Result<Option<NodeIdentity>, String> {
        let meta_path = dir.join("node.json");
        let meta = match std::fs::read(&meta_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", meta_path.display())),
        };
        let meta: NodeFile = serde_json::from_slice(&meta).map_err(|e| format!("{}: {e}", meta_path.display()))?;
        let read = |name: &str| -> Result<Vec<u8>, String> {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let bad = |name: &str, e: &dyn std::fmt::Display| format!("{}: {e}", dir.join(name).display());
        let key = PrivatePkcs8KeyDer::from_pem_slice(&read("node.key")?).map_err(|e| bad("node.key", &e))?;
        let cert = CertificateDer::from_pem_slice(&read("node.pem")?).map_err(|e| bad("node.pem", &e))?;
        let ca = CertificateDer::from_pem_slice(&read("ca.pem")?).map_err(|e| bad("ca.pem", &e))?;
        let signing = String::from_utf8_lossy(&read("signing.pub")?).trim().to_string();
        let signing_public_key = parse_hex32(&signing).ok_or_else(|| bad("signing.pub", &"expected 64 hex digits"))?;
        Ok(Some(NodeIdentity {
            node_id: meta.node_id,
            zone: meta.zone,
            ca_der: ca.to_vec(),
            cert_der: cert.to_vec(),
            key_der: key.secret_pkcs8_der().to_vec(),
            signing_public_key,
        }))
    }

    /// Writes the identity to `dir`, every file mode 0600; `node.json` last, so a crash in between
    /// leaves a node that joins again.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        write_atomic(
            &dir.join("node.key"),
            pem("PRIVATE KEY", &self.key_der).as_bytes(),
            0o600,
        )?;
        write_atomic(
            &dir.join("node.pem"),
            pem("CERTIFICATE", &self.cert_der).as_bytes(),
            0o600,
        )?;
        write_atomic(&dir.join("ca.pem"), pem("CERTIFICATE", &self.ca_der).as_bytes(), 0o600)?;
        write_atomic(
            &dir.join("signing.pub"),
            format!("{}\n", hex(&self.signing_public_key)).as_bytes(),
            0o600,
        )?;
        let meta = serde_json::to_vec_pretty(&NodeFile {
            node_id: self.node_id.clone(),
            zone: self.zone.clone(),
        })
        .map_err(std::io::Error::other)?;
        write_atomic(&dir.join("node.json"), &meta, 0o600)
    }

    /// The QUIC client configuration of the control connection: the control plane verified against
    /// the cluster CA, this node's certificate presented.
    pub fn control_client_config(&self) -> Result<quinn::ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.ca_der.clone()))
            .map_err(|e| format!("the cluster CA certificate: {e}"))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![CertificateDer::from(self.cert_der.clone())], key)
            .map_err(|e| format!("the node certificate: {e}"))?;
        tls.alpn_protocols = vec![CONTROL_ALPN.to_vec()];
        quic_client_config(tls)
    }
}

fn quic_client_config(tls: rustls::ClientConfig) -> Result<quinn::ClientConfig, String> {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(|e| e.to_string())?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    // Keeps NAT bindings open between heartbeats.
    transport.keep_alive_interval(Some(Duration::from_secs(10)));
    transport.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(Duration::from_secs(60)).map_err(|e| e.to_string())?,
    ));
    // The control plane opens one stream per bundle; the node opens none.
    transport.max_concurrent_uni_streams(quinn::VarInt::from_u32(64));
    transport.max_concurrent_bidi_streams(quinn::VarInt::from_u32(0));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// Accepts the control plane's certificate on the join connection only if its chain carries the CA
/// the join token pins and the certificate chains to that CA.
#[derive(Debug)]
struct PinnedCa {
    token: JoinToken,
    provider: Arc<CryptoProvider>,
    /// Why the chain was refused, for a clear error.
    refusal: Arc<Mutex<Option<String>>>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refuse = |message: String| {
            *self.refusal.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.clone());
            rustls::Error::General(message)
        };
        let Some(ca) = intermediates.iter().find(|c| self.token.pins(c)) else {
            return Err(refuse(
                "the server at this address is not the control plane of the cluster the join token names \
                 (its certificate chain lacks the pinned CA)"
                    .into(),
            ));
        };
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|e| refuse(format!("the pinned CA certificate is unusable: {e}")))?;
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| refuse(format!("the pinned CA certificate is unusable: {e}")))?;
        let others: Vec<CertificateDer<'_>> = intermediates.iter().filter(|c| *c != ca).cloned().collect();
        verifier
            .verify_server_cert(end_entity, &others, server_name, ocsp_response, now)
            .map_err(|e| {
                refuse(format!(
                    "the control plane's certificate does not verify against the pinned CA: {e}"
                ))
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Resolves `control` (`host:port`) to its first address.
pub(crate) async fn resolve(control: &str) -> Result<SocketAddr, String> {
    tokio::net::lookup_host(control)
        .await
        .map_err(|e| format!("cannot resolve {control}: {e}"))?
        .next()
        .ok_or_else(|| format!("{control} resolves to no address"))
}

/// A QUIC client endpoint able to dial `addr`.
pub(crate) fn client_endpoint(addr: SocketAddr) -> std::io::Result<quinn::Endpoint> {
    let bind: SocketAddr = if addr.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    quinn::Endpoint::client(bind)
}

/// Joins the cluster: a new key and CSR, the join exchange with the control plane at `control`
/// (authenticated by the CA `token` pins), and the identity that results.
pub async fn join(control: &str, token: &JoinToken, node_id: &str, region: &str) -> Result<NodeIdentity, JoinError> {
    let unreachable = |message: String| JoinError::Unreachable {
        addr: control.to_string(),
        message,
    };
    let key = rcgen::KeyPair::generate().map_err(|e| JoinError::Local(format!("generating the node key: {e}")))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| JoinError::Local(format!("the certificate request: {e}")))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, node_id);
    let csr = params
        .serialize_request(&key)
        .map_err(|e| JoinError::Local(format!("the certificate request: {e}")))?;
    let request = JoinRequest {
        protocol_version: PROTOCOL_VERSION,
        secret: token.secret.clone(),
        node_id: node_id.to_string(),
        region: region.to_string(),
        csr_der: csr.der().to_vec(),
    };
    let request = join::encode(&request).map_err(|e| JoinError::Local(e.to_string()))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let refusal = Arc::new(Mutex::new(None));
    let verifier = PinnedCa {
        token: token.clone(),
        provider: provider.clone(),
        refusal: refusal.clone(),
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| JoinError::Local(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = vec![JOIN_ALPN.to_vec()];
    let config = quic_client_config(tls).map_err(JoinError::Local)?;

    let addr = resolve(control).await.map_err(unreachable)?;
    let endpoint = client_endpoint(addr).map_err(|e| unreachable(e.to_string()))?;
    let exchange = async {
        let conn = endpoint
            .connect_with(config, addr, CONTROL_SERVER_NAME)
            .map_err(|e| unreachable(e.to_string()))?
            .await
            .map_err(|e| match refusal.lock().unwrap_or_else(|p| p.into_inner()).take() {
                Some(why) => JoinError::Untrusted(why),
                None => unreachable(e.to_string()),
            })?;
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| unreachable(e.to_string()))?;
        send.write_all(&request).await.map_err(|e| unreachable(e.to_string()))?;
        let _ = send.finish();
        let answer = recv
            .read_to_end(MAX_JOIN_MESSAGE)
            .await
            .map_err(|e| unreachable(format!("reading the join answer: {e}")))?;
        conn.close(quinn::VarInt::from_u32(0), b"");
        join::decode_response(&answer).map_err(|e| JoinError::Protocol(e.to_string()))
    };
    let answer = tokio::time::timeout(JOIN_TIMEOUT, exchange)
        .await
        .map_err(|_| unreachable("no answer within 10 s".into()))??;
    endpoint.wait_idle().await;
    let accepted = match answer {
        JoinResponse::Accepted(a) => a,
        JoinResponse::Refused { reason, message } => return Err(JoinError::Refused { reason, message }),
    };
    if !token.pins(&accepted.ca_der) {
        return Err(JoinError::Untrusted(
            "the control plane answered with a CA other than the one the join token pins".into(),
        ));
    }
    if accepted.node_id != node_id {
        return Err(JoinError::Protocol(format!(
            "asked to join as '{node_id}', got a certificate for '{}'",
            accepted.node_id
        )));
    }
    Ok(NodeIdentity {
        node_id: accepted.node_id,
        zone: accepted.zone,
        ca_der: accepted.ca_der,
        cert_der: accepted.certificate_der,
        key_der: key.serialize_der(),
        signing_public_key: accepted.signing_public_key,
    })
}
