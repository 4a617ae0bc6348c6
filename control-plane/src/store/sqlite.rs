//! [`Store`] on an embedded SQLite database: WAL journal, `synchronous =
//! FULL` (a commit is on disk before it returns), foreign keys on, the
//! schema created and migrated on open (`PRAGMA user_version` counts the
//! migrations applied).
//!
//! One connection behind a mutex: a control plane's write rate is low, and
//! serialising keeps every transaction simple. Mutations run in `BEGIN
//! IMMEDIATE` transactions so two writers never deadlock on lock upgrade.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::{
    Activation, ActiveVersion, DeploymentInfo, DesiredSnapshot, EnvState, NewVersion, SecretName, Store, StoreError,
    VERSION_COLUMNS, VersionInfo, env_key, hash32, nothing_to_roll_back, to_i64, to_u64,
};
use crate::tokens::Scope;

/// The schema, one entry per migration; never edit an applied entry, add
/// a new one.
const MIGRATIONS: &[&str] = &[
    // 1: deployments, versions, environments, secrets, tokens.
    r#"
    -- Archive bytes by SHA-256; versions of any deployment share them.
    CREATE TABLE bundles (
        hash  BLOB PRIMARY KEY CHECK (length(hash) = 32),
        bytes BLOB NOT NULL,
        size  INTEGER NOT NULL
    ) WITHOUT ROWID;
    -- Highest version number ever given under a name; survives deletion so
    -- a number is never reused.
    CREATE TABLE version_counters (
        name         TEXT PRIMARY KEY,
        last_version INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE deployments (
        name       TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE versions (
        deployment    TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,
        version       INTEGER NOT NULL CHECK (version > 0),
        hash          BLOB NOT NULL REFERENCES bundles(hash),
        signature     BLOB NOT NULL,
        manifest_file TEXT,
        manifest      TEXT,
        main          TEXT NOT NULL,
        files         INTEGER NOT NULL,
        env           TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        PRIMARY KEY (deployment, version)
    ) WITHOUT ROWID;
    -- Which version each environment serves.
    CREATE TABLE environments (
        deployment TEXT NOT NULL,
        env        TEXT NOT NULL,
        version    INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (deployment, env),
        FOREIGN KEY (deployment, version) REFERENCES versions(deployment, version) ON DELETE CASCADE
    ) WITHOUT ROWID;
    -- Every change of an environment's version (deploy, rollback, promote).
    CREATE TABLE activations (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        deployment TEXT NOT NULL,
        env        TEXT NOT NULL,
        version    INTEGER NOT NULL,
        reason     TEXT NOT NULL,
        at         INTEGER NOT NULL,
        FOREIGN KEY (deployment, version) REFERENCES versions(deployment, version) ON DELETE CASCADE
    );
    CREATE INDEX activations_by_env ON activations (deployment, env, version);
    -- env '' applies to every environment.
    CREATE TABLE secrets (
        deployment TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,
        env        TEXT NOT NULL,
        key        TEXT NOT NULL,
        value      TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (deployment, env, key)
    ) WITHOUT ROWID;
    CREATE TABLE tokens (
        id         INTEGER PRIMARY KEY,
        hash       BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
        scope      TEXT NOT NULL CHECK (scope IN ('admin', 'project', 'join')),
        project    TEXT CHECK ((scope = 'project') = (project IS NOT NULL)),
        label      TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX tokens_by_label ON tokens (label);
    "#,
    // 2: the desired-state revision; versions lose the hash-only signature
    // (nodes verify the signature of each assignment instead).
    r#"
    -- One row: the revision of the desired state nodes are sent. Raised in
    -- the transaction of every change of what nodes run; starts at 1, so a
    -- node that has completed nothing (revision 0) is always behind.
    CREATE TABLE desired_revision (
        id       INTEGER PRIMARY KEY CHECK (id = 1),
        revision INTEGER NOT NULL
    );
    INSERT INTO desired_revision (id, revision) VALUES (1, 1);
    ALTER TABLE versions DROP COLUMN signature;
    "#,
    // 3: the cluster the database belongs to (the SHA-256 of its CA).
    r#"
    CREATE TABLE cluster (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        ca_sha256 BLOB NOT NULL CHECK (length(ca_sha256) = 32)
    );
    "#,
];

/// The SQLite store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Reads a row selected with [`VERSION_COLUMNS`] (`active_in` left empty).
fn version_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(VersionInfo, Vec<u8>)> {
    let hash: Vec<u8> = row.get(2)?;
    Ok((
        VersionInfo {
            name: row.get(0)?,
            version: to_u64(row.get(1)?),
            hash: [0; 32],
            size: to_u64(row.get(3)?),
            files: u32::try_from(row.get::<_, i64>(4)?).unwrap_or(0),
            main: row.get(5)?,
            manifest_file: row.get(6)?,
            manifest: row.get(7)?,
            env: row.get(8)?,
            created_at: row.get(9)?,
            active_in: Vec::new(),
        },
        hash,
    ))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path).map_err(backend)?;
        Self::init(conn)
    }

    fn init(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(Duration::from_secs(10)).map_err(backend)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "the database refused WAL mode (journal_mode is {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(backend)?;
        let applied: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(backend)?;
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
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            tx.execute_batch(sql).map_err(backend)?;
            tx.pragma_update(None, "user_version", i as i64 + 1).map_err(backend)?;
            tx.commit().map_err(backend)?;
            tracing::info!(migration = i + 1, "store schema migrated");
        }
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    /// The schema version (migrations applied).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.lock()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(backend)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction half
        // applied (an uncommitted transaction rolls back on drop).
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in an immediate transaction and commits it.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let out = f(&tx)?;
        tx.commit().map_err(backend)?;
        Ok(out)
    }

    /// Runs `f` in a read transaction (one consistent snapshot).
    fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(backend)?;
        f(&tx)
    }
}

fn require_deployment(tx: &Transaction<'_>, name: &str) -> Result<(), StoreError> {
    let exists = tx
        .query_row("SELECT 1 FROM deployments WHERE name = ?1", [name], |_| Ok(()))
        .optional()
        .map_err(backend)?;
    exists.ok_or_else(|| StoreError::NoDeployment(name.to_string()))
}

fn env_version(tx: &Transaction<'_>, name: &str, env: &str) -> Result<Option<u64>, StoreError> {
    tx.query_row(
        "SELECT version FROM environments WHERE deployment = ?1 AND env = ?2",
        params![name, env],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|v| v.map(to_u64))
    .map_err(backend)
}

/// Raises the desired-state revision; returns the new one.
fn bump_revision(tx: &Transaction<'_>) -> Result<u64, StoreError> {
    tx.query_row(
        "UPDATE desired_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(to_u64)
    .map_err(backend)
}

/// Points `env` at `version`, records the change and raises the revision.
fn activate(
    tx: &Transaction<'_>,
    name: &str,
    env: &str,
    version: u64,
    reason: &str,
    at: i64,
) -> Result<Activation, StoreError> {
    let previous = env_version(tx, name, env)?;
    tx.execute(
        "INSERT INTO environments (deployment, env, version, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (deployment, env) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
        params![name, env, to_i64(version), at],
    )
    .map_err(backend)?;
    tx.execute(
        "INSERT INTO activations (deployment, env, version, reason, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, env, to_i64(version), reason, at],
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

fn version_exists(tx: &Transaction<'_>, name: &str, version: u64) -> Result<bool, StoreError> {
    tx.query_row(
        "SELECT 1 FROM versions WHERE deployment = ?1 AND version = ?2",
        params![name, to_i64(version)],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
    .map_err(backend)
}

/// The environments serving each version of `name`.
fn active_map(tx: &Transaction<'_>, name: &str) -> Result<BTreeMap<u64, Vec<String>>, StoreError> {
    let mut stmt = tx
        .prepare_cached("SELECT version, env FROM environments WHERE deployment = ?1 ORDER BY env")
        .map_err(backend)?;
    let rows = stmt
        .query_map([name], |r| Ok((to_u64(r.get(0)?), r.get::<_, String>(1)?)))
        .map_err(backend)?;
    let mut out: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for row in rows {
        let (v, env) = row.map_err(backend)?;
        out.entry(v).or_default().push(env);
    }
    Ok(out)
}

fn read_version(tx: &Transaction<'_>, name: &str, version: u64) -> Result<(VersionInfo, Vec<u8>), StoreError> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS}, b.bytes FROM versions v JOIN bundles b ON b.hash = v.hash
         WHERE v.deployment = ?1 AND v.version = ?2"
    );
    let row = tx
        .query_row(&sql, params![name, to_i64(version)], |r| {
            let (info, hash) = version_row(r)?;
            Ok((info, hash, r.get::<_, Vec<u8>>(10)?))
        })
        .optional()
        .map_err(backend)?;
    let Some((mut info, hash, bytes)) = row else {
        require_deployment(tx, name)?;
        return Err(StoreError::NoVersion {
            name: name.to_string(),
            version,
        });
    };
    info.hash = hash32(hash)?;
    info.active_in = active_map(tx, name)?.remove(&version).unwrap_or_default();
    Ok((info, bytes))
}

/// The secrets `env` of `name` sees: environment-specific values over the
/// ones for every environment.
fn secrets_of(tx: &Transaction<'_>, name: &str, env: &str) -> Result<BTreeMap<String, String>, StoreError> {
    // '' sorts first, so an environment's own value overwrites the shared one.
    let mut stmt = tx
        .prepare_cached("SELECT key, value FROM secrets WHERE deployment = ?1 AND env IN ('', ?2) ORDER BY env, key")
        .map_err(backend)?;
    let rows = stmt
        .query_map(params![name, env], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(backend)?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (k, v) = row.map_err(backend)?;
        out.insert(k, v);
    }
    Ok(out)
}

impl Store for SqliteStore {
    fn create_version(&self, new: NewVersion) -> Result<(VersionInfo, Activation), StoreError> {
        self.write(|tx| {
            let version: i64 = tx
                .query_row(
                    "INSERT INTO version_counters (name, last_version) VALUES (?1, 1)
                     ON CONFLICT (name) DO UPDATE SET last_version = last_version + 1
                     RETURNING last_version",
                    [&new.name],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            tx.execute(
                "INSERT INTO deployments (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                params![new.name, new.at],
            )
            .map_err(backend)?;
            tx.execute(
                "INSERT INTO bundles (hash, bytes, size) VALUES (?1, ?2, ?3) ON CONFLICT (hash) DO NOTHING",
                params![&new.hash[..], new.bundle, new.bundle.len() as i64],
            )
            .map_err(backend)?;
            tx.execute(
                "INSERT INTO versions (deployment, version, hash, manifest_file, manifest, main, files, env, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    new.name,
                    version,
                    &new.hash[..],
                    new.manifest_file,
                    new.manifest,
                    new.main,
                    i64::from(new.files),
                    new.env,
                    new.at
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
            let mut stmt = tx
                .prepare_cached(
                    "SELECT d.name, d.created_at, (SELECT max(version) FROM versions v WHERE v.deployment = d.name)
                     FROM deployments d WHERE ?1 IS NULL OR d.name = ?1 ORDER BY d.name",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([only], |r| {
                    Ok(DeploymentInfo {
                        name: r.get(0)?,
                        created_at: r.get(1)?,
                        latest_version: to_u64(r.get::<_, Option<i64>>(2)?.unwrap_or(0)),
                        environments: BTreeMap::new(),
                    })
                })
                .map_err(backend)?;
            let mut out: Vec<DeploymentInfo> = rows.collect::<Result<_, _>>().map_err(backend)?;
            let mut stmt = tx
                .prepare_cached("SELECT env, version, updated_at FROM environments WHERE deployment = ?1 ORDER BY env")
                .map_err(backend)?;
            for d in &mut out {
                let rows = stmt
                    .query_map([&d.name], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            EnvState {
                                version: to_u64(r.get(1)?),
                                updated_at: r.get(2)?,
                            },
                        ))
                    })
                    .map_err(backend)?;
                d.environments = rows.collect::<Result<_, _>>().map_err(backend)?;
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
                 WHERE v.deployment = ?1 ORDER BY v.version"
            );
            let mut stmt = tx.prepare_cached(&sql).map_err(backend)?;
            let rows = stmt.query_map([name], version_row).map_err(backend)?;
            let mut out = Vec::new();
            for row in rows {
                let (mut info, hash) = row.map_err(backend)?;
                info.hash = hash32(hash)?;
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
                    if !version_exists(tx, name, v)? {
                        return Err(StoreError::NoVersion {
                            name: name.to_string(),
                            version: v,
                        });
                    }
                    v
                }
                None => tx
                    .query_row(
                        "SELECT max(version) FROM activations WHERE deployment = ?1 AND env = ?2 AND version < ?3",
                        params![name, env, to_i64(current)],
                        |r| r.get::<_, Option<i64>>(0),
                    )
                    .map_err(backend)?
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
            tx.execute("DELETE FROM deployments WHERE name = ?1", [name])
                .map_err(backend)?;
            tx.execute(
                "DELETE FROM bundles WHERE NOT EXISTS (SELECT 1 FROM versions v WHERE v.hash = bundles.hash)",
                [],
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
                "INSERT INTO secrets (deployment, env, key, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (deployment, env, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![name, env_key(env), key, value, at],
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
                    "DELETE FROM secrets WHERE deployment = ?1 AND env = ?2 AND key = ?3",
                    params![name, env_key(env), key],
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
            let mut stmt = tx
                .prepare_cached("SELECT key, env, updated_at FROM secrets WHERE deployment = ?1 ORDER BY key, env")
                .map_err(backend)?;
            let rows = stmt
                .query_map([name], |r| {
                    let env: String = r.get(1)?;
                    Ok(SecretName {
                        key: r.get(0)?,
                        env: (!env.is_empty()).then_some(env),
                        updated_at: r.get(2)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)
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
            let revision = tx
                .query_row("SELECT revision FROM desired_revision WHERE id = 1", [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(to_u64)
                .map_err(backend)?;
            let mut stmt = tx
                .prepare_cached(
                    "SELECT e.deployment, e.env, e.version, v.hash, b.size, v.manifest_file, v.manifest
                     FROM environments e
                     JOIN versions v ON v.deployment = e.deployment AND v.version = e.version
                     JOIN bundles b ON b.hash = v.hash
                     ORDER BY e.deployment, e.env",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        ActiveVersion {
                            name: r.get(0)?,
                            env: r.get(1)?,
                            version: to_u64(r.get(2)?),
                            hash: [0; 32],
                            size: to_u64(r.get(4)?),
                            manifest_file: r.get(5)?,
                            manifest: r.get(6)?,
                            secrets: BTreeMap::new(),
                        },
                        r.get::<_, Vec<u8>>(3)?,
                    ))
                })
                .map_err(backend)?;
            let mut versions = Vec::new();
            for row in rows {
                let (mut active, hash) = row.map_err(backend)?;
                active.hash = hash32(hash)?;
                versions.push(active);
            }
            for active in &mut versions {
                active.secrets = secrets_of(tx, &active.name, &active.env)?;
            }
            Ok(DesiredSnapshot { revision, versions })
        })
    }

    fn bundle(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        self.lock()
            .query_row("SELECT bytes FROM bundles WHERE hash = ?1", [&hash[..]], |r| r.get(0))
            .optional()
            .map_err(backend)
    }

    fn add_token(&self, hash: &[u8; 32], scope: &Scope, label: &str, at: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO tokens (hash, scope, project, label, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![&hash[..], scope.kind(), scope.project(), label, at],
            )
            .map_err(backend)?;
            Ok(())
        })
    }

    fn set_labelled_token(&self, label: &str, hash: &[u8; 32], scope: &Scope, at: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            let same = tx
                .query_row(
                    "SELECT 1 FROM tokens WHERE label = ?1 AND hash = ?2 AND scope = ?3",
                    params![label, &hash[..], scope.kind()],
                    |_| Ok(()),
                )
                .optional()
                .map_err(backend)?;
            if same.is_none() {
                tx.execute("DELETE FROM tokens WHERE label = ?1", [label])
                    .map_err(backend)?;
                tx.execute(
                    "INSERT INTO tokens (hash, scope, project, label, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![&hash[..], scope.kind(), scope.project(), label, at],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
    }

    fn token_scope(&self, hash: &[u8; 32]) -> Result<Option<Scope>, StoreError> {
        let conn = self.lock();
        let row = conn
            .query_row("SELECT scope, project FROM tokens WHERE hash = ?1", [&hash[..]], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .optional()
            .map_err(backend)?;
        match row {
            None => Ok(None),
            Some((kind, project)) => Scope::from_parts(&kind, project)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt(format!("a token has the unknown scope '{kind}'"))),
        }
    }

    fn claim_cluster(&self, ca_sha256: &[u8; 32]) -> Result<[u8; 32], StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO cluster (id, ca_sha256) VALUES (1, ?1) ON CONFLICT (id) DO NOTHING",
                [&ca_sha256[..]],
            )
            .map_err(backend)?;
            hash32(
                tx.query_row("SELECT ca_sha256 FROM cluster WHERE id = 1", [], |r| r.get(0))
                    .map_err(backend)?,
            )
        })
    }
}

#[cfg(test)]
mod tests;
