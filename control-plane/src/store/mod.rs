//! The control plane's state: deployments, their versions (content-addressed
//! bundles), which version each environment serves, secrets, API tokens,
//! and the revision of the desired state nodes are sent.
//!
//! [`Store`] is what the API needs, one method per operation; each
//! mutation is one transaction, durable when the method returns, so the API
//! answers only after the change is on disk. Every mutation that changes
//! what nodes run (a deploy, rollback, promotion or deletion, a secret
//! written or deleted) raises the desired-state revision in the same
//! transaction, so the revision only ever grows, across restarts too.
//! [`SqliteStore`] is the embedded implementation, for one control plane;
//! [`PgStore`] keeps the same tables in PostgreSQL, so several replicas can
//! share them. The methods block: call them from a blocking thread.

mod postgres;
mod sqlite;

use std::collections::BTreeMap;
use std::time::Duration;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use crate::tokens::Scope;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The deployment does not exist.
    #[error("no deployment named '{0}'")]
    NoDeployment(String),
    /// The deployment has no such version.
    #[error("deployment '{name}' has no version {version}")]
    NoVersion {
        /// Deployment.
        name: String,
        /// Version asked for.
        version: u64,
    },
    /// The environment has no version.
    #[error("deployment '{name}' has no version in environment '{env}'")]
    NoEnvironment {
        /// Deployment.
        name: String,
        /// Environment.
        env: String,
    },
    /// The operation does not apply to the current state.
    #[error("{0}")]
    Conflict(String),
    /// The stored data is not what this build expects.
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("store: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A version to add: the archive bytes with their hash.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// Deployment name (created on its first version).
    pub name: String,
    /// Environment the version is deployed to (and activated in).
    pub env: String,
    /// The archive's bytes.
    pub bundle: Vec<u8>,
    /// SHA-256 of `bundle`.
    pub hash: [u8; 32],
    /// `outpost.toml` / `wrangler.toml`, if any.
    pub manifest_file: Option<String>,
    /// The manifest's text.
    pub manifest: Option<String>,
    /// The entry module.
    pub main: String,
    /// Number of module files.
    pub files: u32,
    /// Unix time in milliseconds.
    pub at: i64,
}

/// A stored version (without its bundle bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// Deployment name.
    pub name: String,
    /// Version number, from 1, never reused under a name.
    pub version: u64,
    /// SHA-256 of the archive.
    pub hash: [u8; 32],
    /// Archive size in bytes.
    pub size: u64,
    /// Number of module files.
    pub files: u32,
    /// The entry module.
    pub main: String,
    /// The manifest file name, if any.
    pub manifest_file: Option<String>,
    /// The manifest's text.
    pub manifest: Option<String>,
    /// Environment it was deployed to.
    pub env: String,
    /// Unix time in milliseconds.
    pub created_at: i64,
    /// Environments serving it now.
    pub active_in: Vec<String>,
}

/// One environment of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvState {
    /// The version it serves.
    pub version: u64,
    /// When that became so (Unix ms).
    pub updated_at: i64,
}

/// A deployment and what each environment serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentInfo {
    /// Name.
    pub name: String,
    /// Unix ms of its first version.
    pub created_at: i64,
    /// Highest version number.
    pub latest_version: u64,
    /// Environments by name.
    pub environments: BTreeMap<String, EnvState>,
}

/// The result of pointing an environment at a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    /// Deployment.
    pub name: String,
    /// Environment.
    pub env: String,
    /// The version it serves now.
    pub version: u64,
    /// The version it served before, if any.
    pub previous: Option<u64>,
    /// The desired-state revision this change was committed under.
    pub revision: u64,
}

/// One environment's version as nodes should run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveVersion {
    /// Deployment.
    pub name: String,
    /// Environment.
    pub env: String,
    /// The version the environment serves.
    pub version: u64,
    /// SHA-256 of its archive.
    pub hash: [u8; 32],
    /// Archive size in bytes.
    pub size: u64,
    /// The manifest file name, if any.
    pub manifest_file: Option<String>,
    /// The manifest's text.
    pub manifest: Option<String>,
    /// The secrets this environment sees (see [`Store::secrets_for`]).
    pub secrets: BTreeMap<String, String>,
}

/// What every node should run, at one revision: one consistent snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredSnapshot {
    /// The desired-state revision.
    pub revision: u64,
    /// Every environment of every deployment, by name then environment.
    pub versions: Vec<ActiveVersion>,
}

/// A secret's name (its value is never read back through the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretName {
    /// Key on `env`.
    pub key: String,
    /// The environment it applies to; `None` for every environment.
    pub env: Option<String>,
    /// Unix ms of the last write.
    pub updated_at: i64,
}

/// The control plane's storage. Each mutation is atomic and durable when
/// it returns `Ok`.
pub trait Store: Send + Sync {
    /// Adds the next version of `new.name` (creating the deployment) and
    /// activates it in `new.env`.
    fn create_version(&self, new: NewVersion) -> Result<(VersionInfo, Activation), StoreError>;

    /// Every deployment, or only `only`, by name.
    fn deployments(&self, only: Option<&str>) -> Result<Vec<DeploymentInfo>, StoreError>;

    /// The versions of `name`, oldest first.
    fn versions(&self, name: &str) -> Result<Vec<VersionInfo>, StoreError>;

    /// One version and its archive bytes.
    fn version(&self, name: &str, version: u64) -> Result<(VersionInfo, Vec<u8>), StoreError>;

    /// Points `env` at version `to`, or at the newest version below the
    /// current one that `env` served before.
    fn rollback(&self, name: &str, env: &str, to: Option<u64>, at: i64) -> Result<Activation, StoreError>;

    /// Points `to` at the version `from` serves.
    fn promote(&self, name: &str, from: &str, to: &str, at: i64) -> Result<Activation, StoreError>;

    /// Deletes a deployment with its versions, environments and secrets.
    /// Its version numbers are not reused if the name is deployed again.
    fn delete_deployment(&self, name: &str) -> Result<(), StoreError>;

    /// Sets a secret of an existing deployment, for one environment or all.
    fn put_secret(&self, name: &str, env: Option<&str>, key: &str, value: &str, at: i64) -> Result<(), StoreError>;

    /// Deletes a secret; `Ok(false)` when there was none.
    fn delete_secret(&self, name: &str, env: Option<&str>, key: &str) -> Result<bool, StoreError>;

    /// The names of a deployment's secrets.
    fn secret_names(&self, name: &str) -> Result<Vec<SecretName>, StoreError>;

    /// The secrets `env` of `name` sees: environment-specific values over
    /// values for every environment. For distribution to nodes only.
    fn secrets_for(&self, name: &str, env: &str) -> Result<BTreeMap<String, String>, StoreError>;

    /// What nodes should run: every environment's version with its
    /// secrets, and the revision, read in one transaction.
    fn desired(&self) -> Result<DesiredSnapshot, StoreError>;

    /// The archive bytes of the bundle hashing to `hash`, if stored.
    fn bundle(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores a token's hash with its scope.
    fn add_token(&self, hash: &[u8; 32], scope: &Scope, label: &str, at: i64) -> Result<(), StoreError>;

    /// Replaces the token stored under `label` (bootstrap tokens whose
    /// value lives in a file) with `hash`.
    fn set_labelled_token(&self, label: &str, hash: &[u8; 32], scope: &Scope, at: i64) -> Result<(), StoreError>;

    /// The scope of the token hashing to `hash`, if it exists.
    fn token_scope(&self, hash: &[u8; 32]) -> Result<Option<Scope>, StoreError>;

    /// Records `ca_sha256` (the SHA-256 of the cluster CA certificate's
    /// DER) as the cluster's if none is recorded yet, and returns the
    /// recorded one: a replica whose identity differs must not serve.
    fn claim_cluster(&self, ca_sha256: &[u8; 32]) -> Result<[u8; 32], StoreError>;

    /// Whether other processes (replicas) may change the store.
    fn shared(&self) -> bool {
        false
    }

    /// Blocks until another process may have changed what nodes run, or
    /// `timeout` passes; either way the caller reads the store next. Only
    /// meaningful when [`Store::shared`].
    fn wait_for_change(&self, timeout: Duration) -> Result<(), StoreError> {
        std::thread::sleep(timeout);
        Ok(())
    }
}

/// Opens the store `spec` names: a PostgreSQL connection string
/// (`postgres://…`, `postgresql://…`, or libpq `key=value` pairs), or else
/// the path of a SQLite database file.
pub fn open(spec: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if is_postgres(spec) {
        Ok(std::sync::Arc::new(PgStore::open(spec)?))
    } else {
        Ok(std::sync::Arc::new(SqliteStore::open(std::path::Path::new(spec))?))
    }
}

/// Whether `spec` is a PostgreSQL connection string rather than a path.
pub fn is_postgres(spec: &str) -> bool {
    spec.starts_with("postgres://") || spec.starts_with("postgresql://") || spec.contains('=')
}

/// A stored count as `u64` (stored values are never negative).
fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A count as the databases' signed 64-bit integer.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stored SHA-256.
fn hash32(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| StoreError::Corrupt(format!("a stored hash has {} bytes", b.len())))
}

/// `None` (every environment) is stored as `''`.
fn env_key(env: Option<&str>) -> &str {
    env.unwrap_or("")
}

/// The columns both stores select for a [`VersionInfo`], in this order.
const VERSION_COLUMNS: &str =
    "v.deployment, v.version, v.hash, b.size, v.files, v.main, v.manifest_file, v.manifest, v.env, v.created_at";

/// A rollback without `--to` when `env` never served an older version.
fn nothing_to_roll_back(name: &str, env: &str, current: u64) -> StoreError {
    StoreError::Conflict(format!(
        "no version of '{name}' older than {current} was active in '{env}': nothing to roll back to (name one with --to)"
    ))
}

/// Now as Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Unix milliseconds as an RFC 3339 UTC timestamp with millisecond precision.
pub fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(ms);
    let ms_part = t.millisecond();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{ms_part:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
#[cfg(any(test, feature = "testing"))]
pub mod pg_server;

#[cfg(test)]
mod tests {
    #[test]
    fn stores_are_chosen_by_their_spec() {
        assert!(super::is_postgres("postgres://u@db/outpost"));
        assert!(super::is_postgres("host=/run/postgresql dbname=outpost"));
        assert!(!super::is_postgres("/var/lib/outpost/outpost.db"));
    }

    #[test]
    fn timestamps_format_as_rfc3339() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
