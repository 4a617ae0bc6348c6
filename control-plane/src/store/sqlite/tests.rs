use std::path::PathBuf;

use super::*;
use crate::store::conformance::{self, new_version};

/// A temporary folder removed on drop.
struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("outpost-store-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    fn db(&self) -> PathBuf {
        self.0.join("outpost.db")
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn opens_in_wal_mode_with_full_sync_and_the_current_schema() {
    let tmp = Tmp::new("pragmas");
    let store = SqliteStore::open(&tmp.db()).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let conn = store.lock();
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    let sync: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
    let fk: i64 = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
    assert_eq!((mode.as_str(), sync, fk), ("wal", 2, 1));
}

#[test]
fn refuses_a_newer_schema() {
    let tmp = Tmp::new("newer");
    drop(SqliteStore::open(&tmp.db()).unwrap());
    let conn = Connection::open(tmp.db()).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&tmp.db()).unwrap_err().to_string();
    assert!(err.contains("schema version 99"), "{err}");
}

#[test]
fn a_failed_transaction_leaves_nothing_behind() {
    let tmp = Tmp::new("atomic");
    let store = SqliteStore::open(&tmp.db()).unwrap();
    store.create_version(new_version("app", "production", "ok")).unwrap();
    // A column that violates NOT NULL cannot be expressed through
    // NewVersion, so break the write half-way with a trigger instead.
    store
        .lock()
        .execute_batch(
            "CREATE TRIGGER fail_activation BEFORE INSERT ON activations
             WHEN NEW.version = 2 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .unwrap();
    let err = store
        .create_version(new_version("app", "production", "half"))
        .unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    let versions = store.versions("app").unwrap();
    assert_eq!(versions.len(), 1, "no version 2 without its activation");
    assert_eq!(
        store.deployments(Some("app")).unwrap()[0].environments["production"].version,
        1
    );
    let bundles: i64 = store
        .lock()
        .query_row("SELECT count(*) FROM bundles", [], |r| r.get(0))
        .unwrap();
    assert_eq!(bundles, 1);
    store.lock().execute_batch("DROP TRIGGER fail_activation").unwrap();
    let (v, _) = store.create_version(new_version("app", "production", "next")).unwrap();
    assert_eq!(v.version, 2, "the counter rolled back too");
    assert_eq!(
        store.desired().unwrap().revision,
        3,
        "the failed write raised no revision"
    );
}

#[test]
fn a_first_schema_database_migrates_and_keeps_its_versions() {
    let tmp = Tmp::new("migrate");
    {
        let conn = Connection::open(tmp.db()).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO bundles (hash, bytes, size) VALUES (zeroblob(32), x'6869', 2);
             INSERT INTO version_counters (name, last_version) VALUES ('old', 1);
             INSERT INTO deployments (name, created_at) VALUES ('old', 1);
             INSERT INTO versions (deployment, version, hash, signature, main, files, env, created_at)
                 VALUES ('old', 1, zeroblob(32), zeroblob(64), 'index.js', 1, 'production', 1);
             INSERT INTO environments (deployment, env, version, updated_at) VALUES ('old', 'production', 1, 1);",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&tmp.db()).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let snapshot = store.desired().unwrap();
    assert_eq!(snapshot.revision, 1);
    assert_eq!(snapshot.versions.len(), 1);
    assert_eq!(store.version("old", 1).unwrap().1, b"hi");
    let (v, _) = store.create_version(new_version("old", "production", "new")).unwrap();
    assert_eq!(v.version, 2);
}

#[test]
fn passes_the_store_conformance_checks() {
    for (name, check) in conformance::CHECKS {
        let tmp = Tmp::new(name);
        let db = tmp.db();
        let open = || -> std::sync::Arc<dyn Store> { std::sync::Arc::new(SqliteStore::open(&db).unwrap()) };
        check(&open);
    }
}
