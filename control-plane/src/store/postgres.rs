//! [`Store`] on PostgreSQL, for several control-plane replicas sharing one
//! database (HA).
//!
//! - Every mutation takes a transaction-scoped advisory lock first, so
//!   writes from all replicas are serialised (the write rate is low) and
//!   each sees the one before it in full; reads run in `REPEATABLE READ,
//!   READ ONLY` transactions, one consistent snapshot each.
//! - A change of what nodes run raises the desired-state revision and
//!   sends `NOTIFY outpost_desired` in the same transaction; PostgreSQL
//!   delivers it to every replica's listening connection on commit
//!   ([`Store::wait_for_change`]), and each replica then publishes the new
//!   desired state to its nodes.
//! - The schema is migrated on open, under the same lock, so replicas
//!   starting together migrate once (`outpost_schema` counts migrations).
//! - A connection that breaks (the server restarted, a failover) is
//!   replaced on the next call; the call that saw the break fails, and
//!   nothing half-written is visible, since every mutation is one
//!   transaction.
//!
//! The connection string is libpq's, as a URL
//! (`postgres://user:password@host:5432/db`) or as `key=value` pairs
//! (`host=/run/postgresql dbname=outpost`); a `host` that is a path is a
//! Unix socket folder.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, IsolationLevel, NoTls, Transaction};

use super::{
    Activation, ActiveVersion, DeploymentInfo, DesiredSnapshot, EnvState, NewVersion, SecretName, Store, StoreError,
    VERSION_COLUMNS, VersionInfo, env_key, hash32, nothing_to_roll_back, to_i64, to_u64,
};
use crate::tokens::Scope;

/// The schema, one entry per migration; never edit an applied entry, add
/// a new one. The same tables as the SQLite store's.
const MIGRATIONS: &[&str] = &[
    // 1: everything the SQLite store has after its migration 3.
    r#"
    CREATE TABLE bundles (
        hash  BYTEA PRIMARY KEY CHECK (length(hash) = 32),
        bytes BYTEA NOT NULL,
        size  BIGINT NOT NULL
    );
    CREATE TABLE version_counters (
        name         TEXT PRIMARY KEY,
        last_version BIGINT NOT NULL
    );
    CREATE TABLE deployments (
        name       TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE versions (
        deployment    TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,
        version       BIGINT NOT NULL CHECK (version > 0),
        hash          BYTEA NOT NULL REFERENCES bundles(hash),
        manifest_file TEXT,
        manifest      TEXT,
        main          TEXT NOT NULL,
        files         BIGINT NOT NULL,
        env           TEXT NOT NULL,
        created_at    BIGINT NOT NULL,
        PRIMARY KEY (deployment, version)
    );
    CREATE TABLE environments (
        deployment TEXT NOT NULL,
        env        TEXT NOT NULL,
        version    BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (deployment, env),
        FOREIGN KEY (deployment, version) REFERENCES versions(deployment, version) ON DELETE CASCADE
    );
    CREATE TABLE activations (
        id         BIGSERIAL PRIMARY KEY,
        deployment TEXT NOT NULL,
        env        TEXT NOT NULL,
        version    BIGINT NOT NULL,
        reason     TEXT NOT NULL,
        at         BIGINT NOT NULL,
        FOREIGN KEY (deployment, version) REFERENCES versions(deployment, version) ON DELETE CASCADE
    );
    CREATE INDEX activations_by_env ON activations (deployment, env, version);
    CREATE TABLE secrets (
        deployment TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,
        env        TEXT NOT NULL,
        key        TEXT NOT NULL,
        value      TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (deployment, env, key)
    );
    CREATE TABLE tokens (
        id         BIGSERIAL PRIMARY KEY,
        hash       BYTEA NOT NULL UNIQUE CHECK (length(hash) = 32),
        scope      TEXT NOT NULL CHECK (scope IN ('admin', 'project', 'join')),
        project    TEXT CHECK ((scope = 'project') = (project IS NOT NULL)),
        label      TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX tokens_by_label ON tokens (label);
    CREATE TABLE desired_revision (
        id       INTEGER PRIMARY KEY CHECK (id = 1),
        revision BIGINT NOT NULL
    );
    INSERT INTO desired_revision (id, revision) VALUES (1, 1);
    CREATE TABLE cluster (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        ca_sha256 BYTEA NOT NULL CHECK (length(ca_sha256) = 32)
    );
    "#,
];

/// The advisory lock every write transaction holds ("outpost" in ASCII).
const WRITE_LOCK: i64 = 0x006f_7574_706f_7374;

/// The channel a change of the desired state is announced on.
const CHANNEL: &str = "outpost_desired";

/// The PostgreSQL store.
pub struct PgStore {
    config: postgres::Config,
    conn: Mutex<Option<Client>>,
    listener: Mutex<Option<Client>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("host", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .finish_non_exhaustive()
    }
}

fn backend(e: postgres::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Reads a row selected with [`VERSION_COLUMNS`] (`active_in` left empty).
fn version_row(row: &postgres::Row) -> Result<VersionInfo, StoreError> {
    Ok(VersionInfo {
        name: row.get(0),
        version: to_u64(row.get(1)),
        hash: hash32(row.get(2))?,
        size: to_u64(row.get(3)),
        files: u32::try_from(row.get::<_, i64>(4)).unwrap_or(0),
        main: row.get(5),
        manifest_file: row.get(6),
        manifest: row.get(7),
        env: row.get(8),
        created_at: row.get(9),
        active_in: Vec::new(),
    })
}

impl PgStore {
    /// Connects to the database `url` names and brings its schema up to
    /// date.
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        let config = postgres::Config::from_str(url)
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL connection string: {e}").into()))?;
        let store = PgStore {
            config,
            conn: Mutex::new(None),
            listener: Mutex::new(None),
        };
        store.migrate()?;
        Ok(store)
    }

    fn connect(&self) -> Result<Client, StoreError> {
        let mut config = self.config.clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("outpost-control-plane");
        }
        config.connect(NoTls).map_err(backend)
    }

    /// Runs `f` with a live connection, connecting first if there is none
    /// or the last one broke.
    fn with_client<T, E: From<StoreError>>(&self, f: impl FnOnce(&mut Client) -> Result<T, E>) -> Result<T, E> {
        // A panic while holding the lock cannot leave a transaction half
        // applied: an unfinished transaction rolls back when dropped.
        let mut slot = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = Some(self.connect()?);
        }
        let client = slot.as_mut().expect("connected above");
        let out = f(client);
        if client.is_closed() {
            *slot = None;
        }
        out
    }

    /// Forgets the connection, so the next call makes a new one.
    fn reset(&self) {
        *self.conn.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Runs a transaction: `BEGIN` with `begin`, then `f`, then `COMMIT`.
    /// A connection found broken at `BEGIN` (the server restarted, a
    /// failover) is replaced and the transaction tried once more: nothing
    /// was sent yet, so nothing can be applied twice.
    fn transaction<T>(
        &self,
        begin: impl Fn(&mut Client) -> Result<Transaction<'_>, postgres::Error>,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        enum Failed {
            Begin(postgres::Error),
            Later(StoreError),
        }
        impl From<StoreError> for Failed {
            fn from(e: StoreError) -> Failed {
                Failed::Later(e)
            }
        }
        let mut f = Some(f);
        for attempt in 0..2 {
            let out = self.with_client(|client| {
                let mut tx = begin(client).map_err(Failed::Begin)?;
                let out = (f.take().expect("run once"))(&mut tx)?;
                tx.commit().map_err(|e| Failed::Later(backend(e)))?;
                Ok(out)
            });
            match out {
                Ok(v) => return Ok(v),
                Err(Failed::Begin(e)) if attempt == 0 && e.as_db_error().is_none() => {
                    tracing::warn!(error = %e, "the PostgreSQL connection broke; reconnecting");
                    self.reset();
                }
                Err(Failed::Begin(e)) => return Err(backend(e)),
                Err(Failed::Later(e)) => {
                    if let StoreError::Backend(b) = &e
                        && b.downcast_ref::<postgres::Error>()
                            .is_some_and(|e| e.as_db_error().is_none())
                    {
                        self.reset();
                    }
                    return Err(e);
                }
            }
        }
        unreachable!("the second attempt returns")
    }

    fn migrate(&self) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.batch_execute("CREATE TABLE IF NOT EXISTS outpost_schema (version BIGINT NOT NULL)")
                .map_err(backend)?;
            let applied: Option<i64> = tx
                .query_opt("SELECT version FROM outpost_schema", &[])
                .map_err(backend)?
                .map(|r| r.get(0));
            let applied = applied.unwrap_or(0);
            let known = MIGRATIONS.len() as i64;
            if applied > known {
                return Err(StoreError::Corrupt(format!(
                    "the database has schema version {applied}, newer than this build's {known}: use a newer outpost"
                )));
            }
            for (i, sql) in MIGRATIONS
                .iter()
                .enumerate()
                .skip(usize::try_from(applied).unwrap_or(0))
            {
                tx.batch_execute(sql).map_err(backend)?;
                tracing::info!(migration = i + 1, "store schema migrated");
            }
            tx.execute("DELETE FROM outpost_schema", &[]).map_err(backend)?;
            tx.execute("INSERT INTO outpost_schema (version) VALUES ($1)", &[&known])
                .map_err(backend)?;
            Ok(())
        })
    }

    /// The schema version (migrations applied).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|tx| {
            tx.query_one("SELECT version FROM outpost_schema", &[])
                .map(|r| r.get(0))
                .map_err(backend)
        })
    }

    /// Runs `f` in a transaction holding the write lock, and commits it.
    fn write<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.transaction(
            |client| {
                let mut tx = client.transaction()?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
                Ok(tx)
            },
            f,
        )
    }

    /// Runs `f` in a read-only snapshot.
    fn read<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.transaction(
            |client| {
                client
                    .build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
            },
            f,
        )
    }
}

fn require_deployment(tx: &mut Transaction<'_>, name: &str) -> Result<(), StoreError> {
    tx.query_opt("SELECT 1 FROM deployments WHERE name = $1", &[&name])
        .map_err(backend)?
        .map(|_| ())
        .ok_or_else(|| StoreError::NoDeployment(name.to_string()))
}

fn env_version(tx: &mut Transaction<'_>, name: &str, env: &str) -> Result<Option<u64>, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT version FROM environments WHERE deployment = $1 AND env = $2",
            &[&name, &env],
        )
        .map_err(backend)?
        .map(|r| to_u64(r.get(0))))
}

/// Raises the desired-state revision and announces it to every replica
/// (delivered on commit); returns the new revision.
fn bump_revision(tx: &mut Transaction<'_>) -> Result<u64, StoreError> {
    let revision: i64 = tx
        .query_one(
            "UPDATE desired_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision",
            &[],
        )
        .map_err(backend)?
        .get(0);
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &revision.to_string()])
        .map_err(backend)?;
    Ok(to_u64(revision))
}

/// Points `env` at `version`, records the change and raises the revision.
fn activate(
    tx: &mut Transaction<'_>,
    name: &str,
    env: &str,
    version: u64,
    reason: &str,
    at: i64,
) -> Result<Activation, StoreError> {
    let previous = env_version(tx, name, env)?;
    let v = to_i64(version);
    tx.execute(
        "INSERT INTO environments (deployment, env, version, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (deployment, env) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
        &[&name, &env, &v, &at],
    )
    .map_err(backend)?;
    tx.execute(
        "INSERT INTO activations (deployment, env, version, reason, at) VALUES ($1, $2, $3, $4, $5)",
        &[&name, &env, &v, &reason, &at],
    )
    .map_err(backend)?;
    Ok(Activation {
        name: name.to_string(),
        env: env.to_string(),
        version,
        previous,
        revision: bump_revision(tx)?,
    })
}

/// The environments serving each version of `name`.
fn active_map(tx: &mut Transaction<'_>, name: &str) -> Result<BTreeMap<u64, Vec<String>>, StoreError> {
    let mut out: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for row in tx
        .query(
            "SELECT version, env FROM environments WHERE deployment = $1 ORDER BY env",
            &[&name],
        )
        .map_err(backend)?
    {
        out.entry(to_u64(row.get(0))).or_default().push(row.get(1));
    }
    Ok(out)
}

fn read_version(tx: &mut Transaction<'_>, name: &str, version: u64) -> Result<(VersionInfo, Vec<u8>), StoreError> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS}, b.bytes FROM versions v JOIN bundles b ON b.hash = v.hash
         WHERE v.deployment = $1 AND v.version = $2"
    );
    let Some(row) = tx.query_opt(&sql, &[&name, &to_i64(version)]).map_err(backend)? else {
        require_deployment(tx, name)?;
        return Err(StoreError::NoVersion {
            name: name.to_string(),
            version,
        });
    };
    let mut info = version_row(&row)?;
    info.active_in = active_map(tx, name)?.remove(&version).unwrap_or_default();
    Ok((info, row.get(10)))
}

/// The secrets `env` of `name` sees: environment-specific values over the
/// ones for every environment.
fn secrets_of(tx: &mut Transaction<'_>, name: &str, env: &str) -> Result<BTreeMap<String, String>, StoreError> {
    // '' sorts first, so an environment's own value overwrites the shared one.
    let rows = tx
        .query(
            "SELECT key, value FROM secrets WHERE deployment = $1 AND env IN ('', $2) ORDER BY env, key",
            &[&name, &env],
        )
        .map_err(backend)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

impl Store for PgStore {
    fn create_version(&self, new: NewVersion) -> Result<(VersionInfo, Activation), StoreError> {
        self.write(|tx| {
            let version: i64 = tx
                .query_one(
                    "INSERT INTO version_counters (name, last_version) VALUES ($1, 1)
                     ON CONFLICT (name) DO UPDATE SET last_version = version_counters.last_version + 1
                     RETURNING last_version",
                    &[&new.name],
                )
                .map_err(backend)?
                .get(0);
            tx.execute(
                "INSERT INTO deployments (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&new.name, &new.at],
            )
            .map_err(backend)?;
            tx.execute(
                "INSERT INTO bundles (hash, bytes, size) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING",
                &[&&new.hash[..], &new.bundle, &(new.bundle.len() as i64)],
            )
            .map_err(backend)?;
            tx.execute(
                "INSERT INTO versions (deployment, version, hash, manifest_file, manifest, main, files, env, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &new.name,
                    &version,
                    &&new.hash[..],
                    &new.manifest_file,
                    &new.manifest,
                    &new.main,
                    &i64::from(new.files),
                    &new.env,
                    &new.at,
                ],
            )
            .map_err(backend)?;
            let version = to_u64(version);
            let activation = activate(tx, &new.name, &new.env, version, "deploy", new.at)?;
            let (info, _) = read_version(tx, &new.name, version)?;
            Ok((info, activation))
        })
    }

    fn deployments(&self, only: Option<&str>) -> Result<Vec<DeploymentInfo>, StoreError> {
        self.read(|tx| {
            let rows = tx
                .query(
                    "SELECT d.name, d.created_at, (SELECT max(version) FROM versions v WHERE v.deployment = d.name)
                     FROM deployments d WHERE $1::TEXT IS NULL OR d.name = $1 ORDER BY d.name",
                    &[&only],
                )
                .map_err(backend)?;
            let mut out: Vec<DeploymentInfo> = rows
                .iter()
                .map(|r| DeploymentInfo {
                    name: r.get(0),
                    created_at: r.get(1),
                    latest_version: to_u64(r.get::<_, Option<i64>>(2).unwrap_or(0)),
                    environments: BTreeMap::new(),
                })
                .collect();
            let stmt = tx
                .prepare("SELECT env, version, updated_at FROM environments WHERE deployment = $1 ORDER BY env")
                .map_err(backend)?;
            for d in &mut out {
                d.environments = tx
                    .query(&stmt, &[&d.name])
                    .map_err(backend)?
                    .iter()
                    .map(|r| {
                        (
                            r.get(0),
                            EnvState {
                                version: to_u64(r.get(1)),
                                updated_at: r.get(2),
                            },
                        )
                    })
                    .collect();
            }
            Ok(out)
        })
    }

    fn versions(&self, name: &str) -> Result<Vec<VersionInfo>, StoreError> {
        self.read(|tx| {
            require_deployment(tx, name)?;
            let mut active = active_map(tx, name)?;
            let sql = format!(
                "SELECT {VERSION_COLUMNS} FROM versions v JOIN bundles b ON b.hash = v.hash
                 WHERE v.deployment = $1 ORDER BY v.version"
            );
            let mut out = Vec::new();
            for row in tx.query(&sql, &[&name]).map_err(backend)? {
                let mut info = version_row(&row)?;
                info.active_in = active.remove(&info.version).unwrap_or_default();
                out.push(info);
            }
            Ok(out)
        })
    }

    fn version(&self, name: &str, version: u64) -> Result<(VersionInfo, Vec<u8>), StoreError> {
        self.read(|tx| read_version(tx, name, version))
    }

    fn rollback(&self, name: &str, env: &str, to: Option<u64>, at: i64) -> Result<Activation, StoreError> {
        self.write(|tx| {
            require_deployment(tx, name)?;
            let current = env_version(tx, name, env)?.ok_or_else(|| StoreError::NoEnvironment {
                name: name.to_string(),
                env: env.to_string(),
            })?;
            let target = match to {
                Some(v) => {
                    let exists = tx
                        .query_opt(
                            "SELECT 1 FROM versions WHERE deployment = $1 AND version = $2",
                            &[&name, &to_i64(v)],
                        )
                        .map_err(backend)?
                        .is_some();
                    if !exists {
                        return Err(StoreError::NoVersion {
                            name: name.to_string(),
                            version: v,
                        });
                    }
                    v
                }
                None => tx
                    .query_one(
                        "SELECT max(version) FROM activations WHERE deployment = $1 AND env = $2 AND version < $3",
                        &[&name, &env, &to_i64(current)],
                    )
                    .map_err(backend)?
                    .get::<_, Option<i64>>(0)
                    .map(to_u64)
                    .ok_or_else(|| nothing_to_roll_back(name, env, current))?,
            };
            activate(tx, name, env, target, "rollback", at)
        })
    }

    fn promote(&self, name: &str, from: &str, to: &str, at: i64) -> Result<Activation, StoreError> {
        self.write(|tx| {
            require_deployment(tx, name)?;
            let version = env_version(tx, name, from)?.ok_or_else(|| StoreError::NoEnvironment {
                name: name.to_string(),
                env: from.to_string(),
            })?;
            activate(tx, name, to, version, "promote", at)
        })
    }

    fn delete_deployment(&self, name: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            require_deployment(tx, name)?;
            // Cascades to versions, environments, activations and secrets.
            tx.execute("DELETE FROM deployments WHERE name = $1", &[&name])
                .map_err(backend)?;
            tx.execute(
                "DELETE FROM bundles WHERE NOT EXISTS (SELECT 1 FROM versions v WHERE v.hash = bundles.hash)",
                &[],
            )
            .map_err(backend)?;
            bump_revision(tx)?;
            Ok(())
        })
    }

    fn put_secret(&self, name: &str, env: Option<&str>, key: &str, value: &str, at: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            require_deployment(tx, name)?;
            tx.execute(
                "INSERT INTO secrets (deployment, env, key, value, updated_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (deployment, env, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                &[&name, &env_key(env), &key, &value, &at],
            )
            .map_err(backend)?;
            bump_revision(tx)?;
            Ok(())
        })
    }

    fn delete_secret(&self, name: &str, env: Option<&str>, key: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            require_deployment(tx, name)?;
            let n = tx
                .execute(
                    "DELETE FROM secrets WHERE deployment = $1 AND env = $2 AND key = $3",
                    &[&name, &env_key(env), &key],
                )
                .map_err(backend)?;
            if n > 0 {
                bump_revision(tx)?;
            }
            Ok(n > 0)
        })
    }

    fn secret_names(&self, name: &str) -> Result<Vec<SecretName>, StoreError> {
        self.read(|tx| {
            require_deployment(tx, name)?;
            let rows = tx
                .query(
                    "SELECT key, env, updated_at FROM secrets WHERE deployment = $1 ORDER BY key, env",
                    &[&name],
                )
                .map_err(backend)?;
            Ok(rows
                .iter()
                .map(|r| {
                    let env: String = r.get(1);
                    SecretName {
                        key: r.get(0),
                        env: (!env.is_empty()).then_some(env),
                        updated_at: r.get(2),
                    }
                })
                .collect())
        })
    }

    fn secrets_for(&self, name: &str, env: &str) -> Result<BTreeMap<String, String>, StoreError> {
        self.read(|tx| {
            require_deployment(tx, name)?;
            secrets_of(tx, name, env)
        })
    }

    fn desired(&self) -> Result<DesiredSnapshot, StoreError> {
        self.read(|tx| {
            let revision = to_u64(
                tx.query_one("SELECT revision FROM desired_revision WHERE id = 1", &[])
                    .map_err(backend)?
                    .get(0),
            );
            let rows = tx
                .query(
                    "SELECT e.deployment, e.env, e.version, v.hash, b.size, v.manifest_file, v.manifest
                     FROM environments e
                     JOIN versions v ON v.deployment = e.deployment AND v.version = e.version
                     JOIN bundles b ON b.hash = v.hash
                     ORDER BY e.deployment, e.env",
                    &[],
                )
                .map_err(backend)?;
            let mut versions = Vec::with_capacity(rows.len());
            for r in &rows {
                let name: String = r.get(0);
                let env: String = r.get(1);
                let secrets = secrets_of(tx, &name, &env)?;
                versions.push(ActiveVersion {
                    name,
                    env,
                    version: to_u64(r.get(2)),
                    hash: hash32(r.get(3))?,
                    size: to_u64(r.get(4)),
                    manifest_file: r.get(5),
                    manifest: r.get(6),
                    secrets,
                });
            }
            Ok(DesiredSnapshot { revision, versions })
        })
    }

    fn bundle(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|tx| {
            Ok(tx
                .query_opt("SELECT bytes FROM bundles WHERE hash = $1", &[&&hash[..]])
                .map_err(backend)?
                .map(|r| r.get(0)))
        })
    }

    fn add_token(&self, hash: &[u8; 32], scope: &Scope, label: &str, at: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO tokens (hash, scope, project, label, created_at) VALUES ($1, $2, $3, $4, $5)",
                &[&&hash[..], &scope.kind(), &scope.project(), &label, &at],
            )
            .map_err(backend)?;
            Ok(())
        })
    }

    fn set_labelled_token(&self, label: &str, hash: &[u8; 32], scope: &Scope, at: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            let same = tx
                .query_opt(
                    "SELECT 1 FROM tokens WHERE label = $1 AND hash = $2 AND scope = $3",
                    &[&label, &&hash[..], &scope.kind()],
                )
                .map_err(backend)?;
            if same.is_none() {
                tx.execute("DELETE FROM tokens WHERE label = $1", &[&label])
                    .map_err(backend)?;
                tx.execute(
                    "INSERT INTO tokens (hash, scope, project, label, created_at) VALUES ($1, $2, $3, $4, $5)",
                    &[&&hash[..], &scope.kind(), &scope.project(), &label, &at],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
    }

    fn token_scope(&self, hash: &[u8; 32]) -> Result<Option<Scope>, StoreError> {
        let row = self.read(|tx| {
            tx.query_opt("SELECT scope, project FROM tokens WHERE hash = $1", &[&&hash[..]])
                .map_err(backend)
        })?;
        match row {
            None => Ok(None),
            Some(r) => {
                let kind: String = r.get(0);
                Scope::from_parts(&kind, r.get(1))
                    .map(Some)
                    .ok_or_else(|| StoreError::Corrupt(format!("a token has the unknown scope '{kind}'")))
            }
        }
    }

    fn claim_cluster(&self, ca_sha256: &[u8; 32]) -> Result<[u8; 32], StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO cluster (id, ca_sha256) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                &[&&ca_sha256[..]],
            )
            .map_err(backend)?;
            hash32(
                tx.query_one("SELECT ca_sha256 FROM cluster WHERE id = 1", &[])
                    .map_err(backend)?
                    .get(0),
            )
        })
    }

    fn shared(&self) -> bool {
        true
    }

    fn wait_for_change(&self, timeout: Duration) -> Result<(), StoreError> {
        let mut slot = self.listener.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_none_or(Client::is_closed) {
            let mut client = match self.connect() {
                Ok(c) => c,
                Err(e) => {
                    // Do not spin while the database is unreachable.
                    std::thread::sleep(timeout);
                    return Err(e);
                }
            };
            client.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(backend)?;
            *slot = Some(client);
            // What changed while no one listened is read by the caller
            // after this returns.
            return Ok(());
        }
        let first = {
            let client = slot.as_mut().expect("connected above");
            let mut notifications = client.notifications();
            let first = notifications.timeout_iter(timeout).next().map(|_| ());
            // Several commits may have been announced: one look at the
            // store covers them all.
            let mut rest = notifications.iter();
            while let Ok(Some(_)) = rest.next() {}
            first
        };
        first.map_err(|e| {
            *slot = None;
            backend(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::conformance::{self, new_version};
    use crate::store::pg_server::PgServer;

    /// The same checks as SQLite's, on a real server, a database each.
    #[test]
    fn passes_the_store_conformance_checks_on_a_real_server() {
        let server = PgServer::start();
        for (i, (name, check)) in conformance::CHECKS.iter().enumerate() {
            let url = server.create_database(&format!("check_{i}"));
            eprintln!("{name}");
            let open = || -> Arc<dyn Store> { Arc::new(PgStore::open(&url).unwrap()) };
            check(&open);
        }
    }

    /// A commit on one replica wakes the others' listeners; a restarted
    /// server breaks every connection, and the next calls reconnect.
    #[test]
    fn replicas_hear_of_changes_and_survive_a_server_restart() {
        let server = PgServer::start();
        let url = server.create_database("replicas");
        let (a, b) = (PgStore::open(&url).unwrap(), PgStore::open(&url).unwrap());
        assert_eq!(a.schema_version().unwrap(), MIGRATIONS.len() as i64);
        assert!(b.shared());
        // The first call connects the listener; changes after it are heard.
        b.wait_for_change(Duration::from_millis(1)).unwrap();
        let writer = std::thread::spawn(move || {
            a.create_version(new_version("app", "production", "1")).unwrap();
            a
        });
        let started = std::time::Instant::now();
        b.wait_for_change(Duration::from_secs(30)).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "woken by the notification, not the timeout"
        );
        let a = writer.join().unwrap();
        assert_eq!(b.desired().unwrap().revision, 2);

        server.restart();
        let listed = a.deployments(None).unwrap();
        assert_eq!(listed.len(), 1, "reconnected after the restart");
        // B's listener broke with the server: the next wait reports it (or
        // already reconnects), after which B hears A's commits again.
        if b.wait_for_change(Duration::from_millis(1)).is_err() {
            b.wait_for_change(Duration::from_millis(1)).unwrap();
        }
        let writer = std::thread::spawn(move || a.create_version(new_version("app", "production", "2")).unwrap());
        let started = std::time::Instant::now();
        b.wait_for_change(Duration::from_secs(30)).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "the reconnected listener is woken by the notification"
        );
        assert_eq!(writer.join().unwrap().1.revision, 3);
        assert_eq!(b.desired().unwrap().revision, 3);
    }

    #[test]
    fn a_bad_connection_string_is_a_clear_error() {
        let err = super::PgStore::open("postgres://host:notaport/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid PostgreSQL connection string"), "{err}");
    }
}
