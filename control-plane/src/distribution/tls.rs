//! The cluster CA at work on the QUIC side: the control plane's server certificate, the TLS
//! configuration that accepts joins (no client certificate) and node connections (client
//! certificates issued by the CA), node certificates signed from CSRs, and the node id read back out
//! of a client certificate.

use std::sync::Arc;

use outpost_protocol::join::{CONTROL_ALPN, CONTROL_SERVER_NAME, JOIN_ALPN};
use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateSigningRequestDer, PrivateKeyDer};

use super::DistributionError;

/// The cluster CA: its certificate and key.
pub(super) struct Ca {
    cert: CertificateDer<'static>,
    key: KeyPair,
}

fn tls_error(what: &'static str) -> impl FnOnce(rustls::Error) -> DistributionError {
    move |e| DistributionError::Tls(format!("{what}: {e}"))
}

fn cert_error(what: &'static str) -> impl FnOnce(rcgen::Error) -> DistributionError {
    move |e| DistributionError::Tls(format!("{what}: {e}"))
}

impl Ca {
    /// The CA from its certificate and key (PEM).
    pub(super) fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Ca, DistributionError> {
        let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| DistributionError::Tls(format!("the CA certificate is not PEM: {e}")))?;
        let key = KeyPair::from_pem(key_pem).map_err(cert_error("the CA key"))?;
        // Fails early when the certificate cannot act as an issuer.
        Issuer::from_ca_cert_der(&cert, &key).map_err(cert_error("the CA certificate"))?;
        Ok(Ca { cert, key })
    }

    /// The CA certificate (DER).
    pub(super) fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, DistributionError> {
        Issuer::from_ca_cert_der(&self.cert, &self.key).map_err(cert_error("the CA certificate"))
    }

    /// The QUIC server configuration: a fresh certificate for [`CONTROL_SERVER_NAME`] and `names`
    /// (chain: leaf, CA, so a joining node finds the CA its token pins), ALPN for node connections
    /// and joins, and client certificates optional but, when presented, verified against the CA.
    pub(super) fn server_config(&self, names: &[String]) -> Result<rustls::ServerConfig, DistributionError> {
        let key = KeyPair::generate().map_err(cert_error("the QUIC server key"))?;
        let mut sans = vec![CONTROL_SERVER_NAME.to_string()];
        sans.extend(names.iter().cloned());
        let params = crate::identity::server_params(sans, "Outpost control plane (nodes)")
            .map_err(cert_error("the QUIC server certificate"))?;
        let leaf = params
            .signed_by(&key, &self.issuer()?)
            .map_err(cert_error("the QUIC server certificate"))?;
        let private = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| DistributionError::Tls(format!("the QUIC server key: {e}")))?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.clone()).map_err(tls_error("the CA certificate"))?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            // Joining nodes have no certificate yet; node connections without one are closed after the
            // handshake (see `super::serve_connection`).
            .allow_unauthenticated()
            .build()
            .map_err(|e| DistributionError::Tls(format!("the client certificate verifier: {e}")))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_error("the QUIC TLS configuration"))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![leaf.der().clone(), self.cert.clone()], private)
            .map_err(tls_error("the QUIC TLS configuration"))?;
        config.alpn_protocols = vec![CONTROL_ALPN.to_vec(), JOIN_ALPN.to_vec()];
        Ok(config)
    }

    /// A client certificate for `node_id` (common name and DNS name), valid for `days`, for the key of
    /// `csr_der` (whose signature is checked; what else it asks for is ignored).
    pub(super) fn issue_node_certificate(
        &self,
        node_id: &str,
        csr_der: &[u8],
        days: u32,
    ) -> Result<CertificateDer<'static>, String> {
        let csr = CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(csr_der))
            .map_err(|e| format!("invalid certificate signing request: {e}"))?;
        let mut params =
            CertificateParams::new(vec![node_id.to_string()]).map_err(|e| format!("invalid node id: {e}"))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::OrganizationName, "Outpost");
        params.distinguished_name.push(DnType::CommonName, node_id);
        params.is_ca = IsCa::ExplicitNoCa;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(i64::from(days.max(1)));
        let issuer = self.issuer().map_err(|e| e.to_string())?;
        let cert = params
            .signed_by(&csr.public_key, &issuer)
            .map_err(|e| format!("signing the node certificate: {e}"))?;
        Ok(cert.der().clone())
    }
}

/// The common name of a certificate (the node id of a node's client certificate).
pub(super) fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let cn = parsed.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "test CA");
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key).unwrap();
        Ca::from_pem(&cert.pem(), &key.serialize_pem()).unwrap()
    }

    fn csr(cn: &str) -> (KeyPair, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let der = params.serialize_request(&key).unwrap().der().to_vec();
        (key, der)
    }

    #[test]
    fn node_certificates_name_the_node_and_chain_to_the_ca() {
        let ca = ca();
        ca.server_config(&["cp.example.com".into()]).unwrap();
        // The CSR asks for another name: the certificate carries the node id regardless.
        let (_, request) = csr("someone-else");
        let cert = ca.issue_node_certificate("fra-1", &request, 30).unwrap();
        assert_eq!(common_name(&cert).as_deref(), Some("fra-1"));

        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert_der().clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        verifier
            .verify_client_cert(&cert, &[], rustls::pki_types::UnixTime::now())
            .expect("the node certificate verifies as a client certificate");
        let other = self::ca();
        let (_, request) = csr("fra-2");
        let foreign = other.issue_node_certificate("fra-2", &request, 30).unwrap();
        assert!(
            verifier
                .verify_client_cert(&foreign, &[], rustls::pki_types::UnixTime::now())
                .is_err()
        );
    }

    #[test]
    fn broken_requests_are_refused() {
        let ca = ca();
        let (_, mut request) = csr("fra-1");
        let last = request.len() - 1;
        request[last] ^= 0xff;
        let err = ca.issue_node_certificate("fra-1", &request, 30).unwrap_err();
        assert!(err.contains("certificate signing request"), "{err}");
        assert!(ca.issue_node_certificate("fra-1", b"junk", 30).is_err());
    }
}
