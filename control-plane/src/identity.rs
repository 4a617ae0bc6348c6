//! The cluster's identity, kept in the data folder: its certificate
//! authority, the Ed25519 key that signs bundles, the admin API token and
//! the join token for nodes.
//!
//! | file | what | mode |
//! |---|---|---|
//! | `ca.pem` | the cluster CA certificate (ECDSA P-256, 10 years); clients trust the API through it, and nodes get their certificates from it | 0644 |
//! | `ca.key` | its private key (PKCS#8 PEM) | 0600 |
//! | `signing.key` | the Ed25519 key that signs every assignment sent to nodes (PKCS#8 PEM) | 0600 |
//! | `signing.pub` | its public key, 32 bytes in hex, for nodes to pin | 0644 |
//! | `admin.token` | the admin API token | 0600 |
//! | `join.token` | the secret of the join token; nodes join with `SECRET.<SHA-256 of ca.pem's DER>`, printed at every start | 0600 |
//!
//! The first start creates what is missing; later starts reuse it. Each
//! file is written to a temporary name, synced and renamed, so a crash
//! never leaves half a key. The token files are the source of truth: their
//! hashes are (re)recorded in the store at every start, so deleting
//! `admin.token` and restarting replaces the admin token.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use outpost_protocol::data_dir::LockError;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::bundle::{hex, sha256};
use crate::distribution::DistributionIdentity;
use crate::store::{Store, StoreError, now_ms};
use crate::tokens::{self, Scope};

/// The files that make up the cluster's identity: replicas sharing a store
/// need copies of the first one's.
pub const IDENTITY_FILES: [&str; 6] = [
    "ca.pem",
    "ca.key",
    "signing.key",
    "signing.pub",
    "admin.token",
    "join.token",
];

/// Label under which the admin token's hash is stored.
const ADMIN_LABEL: &str = "admin.token";
/// Label under which the join token's hash is stored.
const JOIN_LABEL: &str = "join.token";

/// Why the identity could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A key or certificate file is unusable.
    #[error("{path}: {message}")]
    BadFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Generating a key or certificate failed.
    #[error("generating {what}: {message}")]
    Generate {
        /// Which.
        what: &'static str,
        /// Why.
        message: String,
    },
    /// Another process uses the data folder.
    #[error("{0}: another outpost control plane is using this data folder")]
    Locked(String),
    /// The store belongs to a cluster with another CA.
    #[error(
        "the store belongs to the cluster whose CA has SHA-256 {recorded}, but {dir}/ca.pem has {ours}: replicas \
         sharing a store need the same identity, so copy {files} from the first replica's data folder",
        files = IDENTITY_FILES.join(", ")
    )]
    ForeignCluster {
        /// The data folder.
        dir: String,
        /// The CA hash the store recorded.
        recorded: String,
        /// This data folder's CA hash.
        ours: String,
    },
    /// Recording a token in the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn generate_error(what: &'static str) -> impl FnOnce(rcgen::Error) -> IdentityError {
    move |e| IdentityError::Generate {
        what,
        message: e.to_string(),
    }
}

/// Creates the data folder (mode 0700) if needed and takes its lock, held
/// until the returned file is dropped (or the process exits, however it
/// exits).
pub fn lock_data_dir(dir: &Path) -> Result<File, IdentityError> {
    outpost_protocol::data_dir::lock_data_dir(dir).map_err(|e| match e {
        LockError::Io { path, source } => io(&path)(source),
        LockError::Locked => IdentityError::Locked(dir.display().to_string()),
    })
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename,
/// fsync of the folder) with permissions `mode`.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IdentityError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    }
    Ok(())
}

fn read_text(path: &Path) -> Result<Option<String>, IdentityError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

fn bad(path: &Path, message: impl Into<String>) -> IdentityError {
    IdentityError::BadFile {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// The cluster's identity.
pub struct Identity {
    dir: PathBuf,
    ca_key: KeyPair,
    ca_pem: String,
    signing: Ed25519KeyPair,
    admin_token: String,
    join_secret: String,
    join_token: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Loads the identity from `dir`, creating what is missing, and records
    /// the tokens' hashes in `store`.
    pub fn load_or_create(dir: &Path, store: &dyn Store) -> Result<Identity, IdentityError> {
        let (ca_key, ca_pem) = load_or_create_ca(dir)?;
        let signing = load_or_create_signing_key(dir)?;
        let admin_token = load_or_create_secret(dir, ADMIN_LABEL, &Scope::Admin)?;
        let join_secret = load_or_create_secret(dir, JOIN_LABEL, &Scope::Join)?;
        let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
            .map_err(|e| bad(&dir.join("ca.pem"), format!("not a certificate: {e}")))?;
        let ca_hash = sha256(&ca_der);
        let recorded = store.claim_cluster(&ca_hash)?;
        if recorded != ca_hash {
            return Err(IdentityError::ForeignCluster {
                dir: dir.display().to_string(),
                recorded: hex(&recorded),
                ours: hex(&ca_hash),
            });
        }
        let join_token = outpost_protocol::join::token(&join_secret, &ca_der);
        let at = now_ms();
        store.set_labelled_token(ADMIN_LABEL, &tokens::hash(&admin_token), &Scope::Admin, at)?;
        store.set_labelled_token(JOIN_LABEL, &tokens::hash(&join_token), &Scope::Join, at)?;
        Ok(Identity {
            dir: dir.to_path_buf(),
            ca_key,
            ca_pem,
            signing,
            admin_token,
            join_secret,
            join_token,
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Where the CA certificate is.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Where the admin token is.
    pub fn admin_token_path(&self) -> PathBuf {
        self.dir.join(ADMIN_LABEL)
    }

    /// The admin API token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The token nodes join with: `SECRET.CA_SHA256`, the secret of
    /// `join.token` and the SHA-256 (hex) of the CA certificate's DER, which
    /// a joining node pins before it trusts the control plane.
    pub fn join_token(&self) -> &str {
        &self.join_token
    }

    /// The secret part of the join token.
    pub fn join_secret(&self) -> &str {
        &self.join_secret
    }

    /// The CA's private key, PEM (PKCS#8).
    pub fn ca_key_pem(&self) -> String {
        self.ca_key.serialize_pem()
    }

    /// The public key assignments are signed with (32 bytes).
    pub fn signing_public_key(&self) -> &[u8] {
        self.signing.public_key().as_ref()
    }

    /// The key assignments are signed with (see
    /// [`crate::distribution::sign_assignment`]).
    pub fn signing_key(&self) -> &Ed25519KeyPair {
        &self.signing
    }

    /// What the QUIC side needs: the CA and its key, the join secret and the
    /// signing public key.
    pub fn distribution(&self) -> DistributionIdentity {
        let mut signing_public_key = [0u8; 32];
        signing_public_key.copy_from_slice(self.signing_public_key());
        DistributionIdentity {
            ca_cert_pem: self.ca_pem.clone(),
            ca_key_pem: self.ca_key_pem(),
            join_secret: self.join_secret.clone(),
            signing_public_key,
        }
    }

    /// The CA as an rcgen issuer, to sign certificates with.
    pub fn issuer(&self) -> Issuer<'static, &KeyPair> {
        Issuer::new(ca_params(&self.ca_key), &self.ca_key)
    }

    /// A fresh server certificate from the CA for `names` (DNS names or IP
    /// addresses), valid for a year, with its new key.
    pub fn server_certificate(
        &self,
        names: &[String],
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), IdentityError> {
        let key = KeyPair::generate().map_err(generate_error("the API key"))?;
        let params = server_params(names.to_vec(), "Outpost control plane API")
            .map_err(generate_error("the API certificate"))?;
        let cert = params
            .signed_by(&key, &self.issuer())
            .map_err(generate_error("the API certificate"))?;
        let key = PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| IdentityError::Generate {
            what: "the API key",
            message: e.to_string(),
        })?;
        Ok((cert.der().clone(), key))
    }

    /// A rustls server configuration presenting a fresh certificate for
    /// `names` (ALPN `http/1.1`).
    pub fn server_tls_config(&self, names: &[String]) -> Result<rustls::ServerConfig, IdentityError> {
        let (cert, key) = self.server_certificate(names)?;
        let tls_error = |e: rustls::Error| IdentityError::Generate {
            what: "the API TLS configuration",
            message: e.to_string(),
        };
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(tls_error)?
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .map_err(tls_error)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// The parameters of a server certificate from the CA: subject `common_name`, subject alternative
/// names `names` (DNS names or IP addresses), server authentication only, valid from an hour ago
/// (for clock skew) for a year.
pub(crate) fn server_params(names: Vec<String>, common_name: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(365);
    Ok(params)
}

/// The CA's parameters, derived from its key alone, so the issuer can be
/// rebuilt at every start without parsing the certificate: the subject
/// names the key's SHA-256 prefix.
fn ca_params(key: &KeyPair) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, "Outpost");
    params.distinguished_name.push(
        DnType::CommonName,
        format!("Outpost cluster CA {}", &hex(&sha256(key.public_key_raw()))[..16]),
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn load_or_create_ca(dir: &Path) -> Result<(KeyPair, String), IdentityError> {
    let key_path = dir.join("ca.key");
    let cert_path = dir.join("ca.pem");
    let key = match read_text(&key_path)? {
        Some(pem) => KeyPair::from_pem(&pem).map_err(|e| bad(&key_path, format!("not a private key: {e}")))?,
        None => {
            if cert_path.exists() {
                return Err(bad(
                    &cert_path,
                    "the CA certificate exists but ca.key is missing: restore ca.key (or move both away to start a new cluster)",
                ));
            }
            let key = KeyPair::generate().map_err(generate_error("the CA key"))?;
            write_atomic(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
            key
        }
    };
    let pem = match read_text(&cert_path)? {
        Some(pem) => {
            check_cert_matches_key(&cert_path, &pem, &key)?;
            pem
        }
        None => {
            let mut params = ca_params(&key);
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::hours(1);
            params.not_after = now + time::Duration::days(3650);
            let cert = params.self_signed(&key).map_err(generate_error("the CA certificate"))?;
            let pem = cert.pem();
            write_atomic(&cert_path, pem.as_bytes(), 0o644)?;
            pem
        }
    };
    Ok((key, pem))
}

fn check_cert_matches_key(path: &Path, pem: &str, key: &KeyPair) -> Result<(), IdentityError> {
    let der =
        CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| bad(path, format!("not a certificate: {e}")))?;
    let private = PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| bad(path, e.to_string()))?;
    let provider = rustls::crypto::ring::default_provider();
    let signer = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| bad(path, e.to_string()))?;
    rustls::sign::CertifiedKey::new(vec![der], signer)
        .keys_match()
        .map_err(|_| bad(path, "the CA certificate does not belong to ca.key"))
}

fn load_or_create_signing_key(dir: &Path) -> Result<Ed25519KeyPair, IdentityError> {
    let path = dir.join("signing.key");
    let pkcs8 = match read_text(&path)? {
        Some(pem) => PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| bad(&path, format!("not a PKCS#8 private key: {e}")))?
            .secret_pkcs8_der()
            .to_vec(),
        None => {
            let rng = ring::rand::SystemRandom::new();
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| IdentityError::Generate {
                what: "the signing key",
                message: "the system's random number generator failed".into(),
            })?;
            let pem =
                KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(doc.as_ref()), &rcgen::PKCS_ED25519)
                    .map_err(generate_error("the signing key"))?
                    .serialize_pem();
            write_atomic(&path, pem.as_bytes(), 0o600)?;
            doc.as_ref().to_vec()
        }
    };
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
        .map_err(|e| bad(&path, format!("not an Ed25519 PKCS#8 key: {e}")))?;
    let pub_path = dir.join("signing.pub");
    let public = format!("{}\n", hex(pair.public_key().as_ref()));
    if read_text(&pub_path)?.as_deref() != Some(public.as_str()) {
        write_atomic(&pub_path, public.as_bytes(), 0o644)?;
    }
    Ok(pair)
}

/// The token in `dir/label`, created for `scope` if missing or empty.
fn load_or_create_secret(dir: &Path, label: &str, scope: &Scope) -> Result<String, IdentityError> {
    let path = dir.join(label);
    let token = match read_text(&path)? {
        Some(text) if !text.trim().is_empty() => text.trim().to_string(),
        _ => {
            let token = tokens::generate(scope).map_err(|e| IdentityError::Generate {
                what: "a token",
                message: e.to_string(),
            })?;
            write_atomic(&path, format!("{token}\n").as_bytes(), 0o600)?;
            token
        }
    };
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use rustls::client::danger::ServerCertVerifier;

    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn tmp(tag: &str) -> Tmp {
        let p = std::env::temp_dir().join(format!("outpost-identity-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        Tmp(p)
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_replica_needs_the_identity_its_store_was_claimed_with() {
        let (first, second, copy) = (tmp("claim-first"), tmp("claim-second"), tmp("claim-copy"));
        let store = SqliteStore::open(&std::env::temp_dir().join(format!("outpost-claim-{}.db", std::process::id())));
        let store = store.unwrap();
        for d in [&first, &second, &copy] {
            std::fs::create_dir_all(&d.0).unwrap();
        }
        let a = Identity::load_or_create(&first.0, &store).unwrap();
        let err = Identity::load_or_create(&second.0, &store).unwrap_err().to_string();
        assert!(err.contains("copy ca.pem, ca.key"), "{err}");
        for f in IDENTITY_FILES {
            std::fs::copy(first.0.join(f), copy.0.join(f)).unwrap();
        }
        let b = Identity::load_or_create(&copy.0, &store).unwrap();
        assert_eq!((a.join_token(), a.admin_token()), (b.join_token(), b.admin_token()));
        let _ = std::fs::remove_file(std::env::temp_dir().join(format!("outpost-claim-{}.db", std::process::id())));
    }

    #[test]
    fn first_start_creates_everything_and_later_starts_reuse_it() {
        let dir = tmp("bootstrap");
        let _lock = lock_data_dir(&dir.0).unwrap();
        assert_eq!(mode(&dir.0), 0o700);
        let store = SqliteStore::open(&dir.0.join("outpost.db")).unwrap();
        let first = Identity::load_or_create(&dir.0, &store).unwrap();
        for (file, want) in [
            ("ca.key", 0o600),
            ("signing.key", 0o600),
            ("admin.token", 0o600),
            ("join.token", 0o600),
            ("ca.pem", 0o644),
        ] {
            assert_eq!(mode(&dir.0.join(file)), want, "{file}");
        }
        assert!(first.admin_token().starts_with("op_admin_"));
        let (secret, ca_hash) = first.join_token().rsplit_once('.').unwrap();
        assert!(secret.starts_with("op_join_") && secret == first.join_secret());
        let ca_der = CertificateDer::from_pem_slice(first.ca_pem().as_bytes()).unwrap();
        assert_eq!(ca_hash, hex(&sha256(&ca_der)), "the join token pins the CA");
        assert_eq!(
            store.token_scope(&tokens::hash(first.admin_token())).unwrap(),
            Some(Scope::Admin)
        );
        assert_eq!(
            store.token_scope(&tokens::hash(first.join_token())).unwrap(),
            Some(Scope::Join)
        );

        let again = Identity::load_or_create(&dir.0, &store).unwrap();
        assert_eq!(again.admin_token(), first.admin_token());
        assert_eq!(again.ca_pem(), first.ca_pem());
        assert_eq!(again.signing_public_key(), first.signing_public_key());
        let sig = first.signing_key().sign(b"assignment");
        let verify = |message: &[u8]| {
            ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, again.signing_public_key())
                .verify(message, sig.as_ref())
                .is_ok()
        };
        assert!(verify(b"assignment") && !verify(b"other"), "the reloaded key verifies");
        let dist = again.distribution();
        assert_eq!(&dist.signing_public_key[..], first.signing_public_key());
        assert_eq!(dist.join_secret, first.join_secret());
        assert_eq!(
            std::fs::read_to_string(dir.0.join("signing.pub")).unwrap().trim(),
            hex(first.signing_public_key())
        );

        // Deleting admin.token rotates the admin token: the old one stops working.
        std::fs::remove_file(dir.0.join("admin.token")).unwrap();
        let rotated = Identity::load_or_create(&dir.0, &store).unwrap();
        assert_ne!(rotated.admin_token(), first.admin_token());
        assert_eq!(store.token_scope(&tokens::hash(first.admin_token())).unwrap(), None);
    }

    #[test]
    fn the_data_folder_is_locked_and_a_lone_certificate_is_refused() {
        let dir = tmp("lock");
        let lock = lock_data_dir(&dir.0).unwrap();
        assert!(matches!(lock_data_dir(&dir.0), Err(IdentityError::Locked(_))));
        drop(lock);
        let _lock = lock_data_dir(&dir.0).unwrap();
        let store = SqliteStore::open(&dir.0.join("outpost.db")).unwrap();
        Identity::load_or_create(&dir.0, &store).unwrap();
        std::fs::remove_file(dir.0.join("ca.key")).unwrap();
        let err = Identity::load_or_create(&dir.0, &store).unwrap_err().to_string();
        assert!(err.contains("ca.key is missing"), "{err}");
    }

    #[test]
    fn server_certificates_chain_to_the_ca() {
        let dir = tmp("chain");
        let _lock = lock_data_dir(&dir.0).unwrap();
        let store = SqliteStore::open(&dir.0.join("outpost.db")).unwrap();
        let id = Identity::load_or_create(&dir.0, &store).unwrap();
        let (leaf, _) = id
            .server_certificate(&["127.0.0.1".into(), "cp.example.com".into()])
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(id.ca_pem().as_bytes()).unwrap())
            .unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let now = rustls::pki_types::UnixTime::now();
        for name in ["127.0.0.1", "cp.example.com"] {
            let server = rustls::pki_types::ServerName::try_from(name).unwrap();
            verifier
                .verify_server_cert(&leaf, &[], &server, &[], now)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let other = rustls::pki_types::ServerName::try_from("evil.example.com").unwrap();
        assert!(verifier.verify_server_cert(&leaf, &[], &other, &[], now).is_err());
    }
}
