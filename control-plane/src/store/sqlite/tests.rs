use std::path::PathBuf;

use super::*;
use crate::bundle::sha256;

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

fn new_version(name: &str, env: &str, content: &str) -> NewVersion {
    let bundle = content.as_bytes().to_vec();
    NewVersion {
        name: name.into(),
        env: env.into(),
        hash: sha256(&bundle),
        bundle,
        manifest_file: Some("outpost.toml".into()),
        manifest: Some(format!("name = \"{name}\"")),
        main: "index.js".into(),
        files: 1,
        at: 1_000,
    }
}

fn env_version(store: &SqliteStore, name: &str, env: &str) -> Option<u64> {
    store.deployments(Some(name)).unwrap()[0]
        .environments
        .get(env)
        .map(|e| e.version)
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
fn versions_count_up_and_survive_reopening() {
    let tmp = Tmp::new("versions");
    {
        let store = SqliteStore::open(&tmp.db()).unwrap();
        let (v1, a1) = store.create_version(new_version("hello", "production", "one")).unwrap();
        assert_eq!((v1.version, a1.previous), (1, None));
        assert_eq!(v1.hash, sha256(b"one"));
        assert_eq!(v1.size, 3);
        assert_eq!(v1.active_in, ["production"]);
        let (v2, a2) = store.create_version(new_version("hello", "production", "two")).unwrap();
        assert_eq!((v2.version, a2.previous), (2, Some(1)));
        store.create_version(new_version("other", "production", "one")).unwrap();
    }
    let store = SqliteStore::open(&tmp.db()).unwrap();
    let list = store.deployments(None).unwrap();
    assert_eq!(
        list.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["hello", "other"]
    );
    assert_eq!(list[0].latest_version, 2);
    assert_eq!(list[0].environments["production"].version, 2);
    let versions = store.versions("hello").unwrap();
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
    assert!(versions[0].active_in.is_empty());
    assert_eq!(versions[1].active_in, ["production"]);
    let (info, bytes) = store.version("hello", 1).unwrap();
    assert_eq!((info.version, bytes.as_slice()), (1, &b"one"[..]));
    assert!(matches!(
        store.version("hello", 9),
        Err(StoreError::NoVersion { version: 9, .. })
    ));
    assert!(matches!(store.version("nope", 1), Err(StoreError::NoDeployment(_))));
    assert!(matches!(store.versions("nope"), Err(StoreError::NoDeployment(_))));
}

#[test]
fn environments_rollback_and_promote() {
    let tmp = Tmp::new("envs");
    let store = SqliteStore::open(&tmp.db()).unwrap();
    for content in ["1", "2", "3"] {
        store.create_version(new_version("app", "production", content)).unwrap();
    }
    let (staged, _) = store.create_version(new_version("app", "staging", "4")).unwrap();
    assert_eq!(staged.version, 4);
    assert_eq!(env_version(&store, "app", "production"), Some(3));
    assert_eq!(env_version(&store, "app", "staging"), Some(4));

    // Rollback walks back through what production served, never to a staging-only version.
    let a = store.rollback("app", "production", None, 2_000).unwrap();
    assert_eq!((a.version, a.previous), (2, Some(3)));
    let a = store.rollback("app", "production", None, 2_001).unwrap();
    assert_eq!(a.version, 1);
    let err = store.rollback("app", "production", None, 2_002).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m.contains("nothing to roll back to")),
        "{err}"
    );
    let a = store.rollback("app", "production", Some(3), 2_003).unwrap();
    assert_eq!((a.version, a.previous), (3, Some(1)));
    assert!(matches!(
        store.rollback("app", "production", Some(42), 0),
        Err(StoreError::NoVersion { version: 42, .. })
    ));
    assert!(matches!(
        store.rollback("app", "preview", None, 0),
        Err(StoreError::NoEnvironment { .. })
    ));

    let a = store.promote("app", "staging", "production", 3_000).unwrap();
    assert_eq!((a.env.as_str(), a.version, a.previous), ("production", 4, Some(3)));
    assert_eq!(env_version(&store, "app", "staging"), Some(4));
    // After the promotion, rollback returns to the newest older version production served.
    assert_eq!(store.rollback("app", "production", None, 3_001).unwrap().version, 3);
    assert!(matches!(
        store.promote("app", "preview", "production", 0),
        Err(StoreError::NoEnvironment { .. })
    ));
    let versions = store.versions("app").unwrap();
    assert_eq!(versions[2].active_in, ["production"]);
    assert_eq!(versions[3].active_in, ["staging"]);
}

#[test]
fn identical_content_shares_one_bundle_and_delete_collects_it() {
    let tmp = Tmp::new("delete");
    let store = SqliteStore::open(&tmp.db()).unwrap();
    store.create_version(new_version("a", "production", "same")).unwrap();
    store.create_version(new_version("a", "production", "same")).unwrap();
    store.create_version(new_version("b", "production", "same")).unwrap();
    store.create_version(new_version("a", "production", "only-a")).unwrap();
    store.put_secret("a", None, "K", "v", 1).unwrap();
    let bundles = |s: &SqliteStore| -> i64 {
        s.lock()
            .query_row("SELECT count(*) FROM bundles", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(bundles(&store), 2);
    store.delete_deployment("a").unwrap();
    assert_eq!(bundles(&store), 1, "b still uses the shared bundle");
    assert!(matches!(store.versions("a"), Err(StoreError::NoDeployment(_))));
    assert!(matches!(store.delete_deployment("a"), Err(StoreError::NoDeployment(_))));
    let secrets: i64 = store
        .lock()
        .query_row("SELECT count(*) FROM secrets", [], |r| r.get(0))
        .unwrap();
    assert_eq!(secrets, 0);
    // A new deployment under the same name does not reuse version numbers.
    let (v, a) = store.create_version(new_version("a", "production", "again")).unwrap();
    assert_eq!((v.version, a.previous), (4, None));
}

#[test]
fn secrets_per_environment_override_shared_ones() {
    let tmp = Tmp::new("secrets");
    let store = SqliteStore::open(&tmp.db()).unwrap();
    assert!(matches!(
        store.put_secret("app", None, "K", "v", 1),
        Err(StoreError::NoDeployment(_))
    ));
    store.create_version(new_version("app", "production", "x")).unwrap();
    store.put_secret("app", None, "TOKEN", "shared", 1).unwrap();
    store
        .put_secret("app", Some("staging"), "TOKEN", "staging-only", 2)
        .unwrap();
    store.put_secret("app", None, "OTHER", "o", 3).unwrap();
    store.put_secret("app", None, "OTHER", "o2", 4).unwrap();
    let prod = store.secrets_for("app", "production").unwrap();
    assert_eq!(prod["TOKEN"], "shared");
    assert_eq!(prod["OTHER"], "o2");
    assert_eq!(store.secrets_for("app", "staging").unwrap()["TOKEN"], "staging-only");
    let names = store.secret_names("app").unwrap();
    let listed: Vec<_> = names.iter().map(|s| (s.key.as_str(), s.env.as_deref())).collect();
    assert_eq!(listed, [("OTHER", None), ("TOKEN", None), ("TOKEN", Some("staging"))]);
    assert!(store.delete_secret("app", Some("staging"), "TOKEN").unwrap());
    assert!(!store.delete_secret("app", Some("staging"), "TOKEN").unwrap());
    assert_eq!(store.secrets_for("app", "staging").unwrap()["TOKEN"], "shared");
}

#[test]
fn tokens_are_found_by_hash_and_labelled_ones_replaced() {
    let tmp = Tmp::new("tokens");
    let store = SqliteStore::open(&tmp.db()).unwrap();
    let h1 = sha256(b"t1");
    store.add_token(&h1, &Scope::Project("app".into()), "ci", 1).unwrap();
    assert_eq!(store.token_scope(&h1).unwrap(), Some(Scope::Project("app".into())));
    assert_eq!(store.token_scope(&sha256(b"nope")).unwrap(), None);
    let (a, b) = (sha256(b"admin-1"), sha256(b"admin-2"));
    store.set_labelled_token("admin.token", &a, &Scope::Admin, 1).unwrap();
    store.set_labelled_token("admin.token", &a, &Scope::Admin, 2).unwrap();
    assert_eq!(store.token_scope(&a).unwrap(), Some(Scope::Admin));
    store.set_labelled_token("admin.token", &b, &Scope::Admin, 3).unwrap();
    assert_eq!(
        store.token_scope(&a).unwrap(),
        None,
        "the replaced token no longer works"
    );
    assert_eq!(store.token_scope(&b).unwrap(), Some(Scope::Admin));
    let stored: Vec<Vec<u8>> = {
        let conn = store.lock();
        let mut stmt = conn.prepare("SELECT hash FROM tokens").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert!(stored.iter().all(|h| h.len() == 32), "only hashes are stored");
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
    assert_eq!(env_version(&store, "app", "production"), Some(1));
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
fn every_change_of_what_nodes_run_raises_the_revision_durably() {
    let tmp = Tmp::new("revision");
    let revision = |s: &SqliteStore| s.desired().unwrap().revision;
    {
        let store = SqliteStore::open(&tmp.db()).unwrap();
        assert_eq!(revision(&store), 1, "an empty store starts above a fresh node's 0");
        let (_, a) = store.create_version(new_version("app", "production", "1")).unwrap();
        assert_eq!((a.revision, revision(&store)), (2, 2));
        store.create_version(new_version("app", "production", "2")).unwrap();
        store.create_version(new_version("app", "staging", "3")).unwrap();
        assert_eq!(store.rollback("app", "production", None, 0).unwrap().revision, 5);
        assert_eq!(store.promote("app", "staging", "production", 0).unwrap().revision, 6);
        store.put_secret("app", None, "K", "v", 0).unwrap();
        assert_eq!(revision(&store), 7);
        assert!(!store.delete_secret("app", None, "MISSING").unwrap());
        assert_eq!(revision(&store), 7, "nothing changed");
        assert!(store.delete_secret("app", None, "K").unwrap());
        assert_eq!(revision(&store), 8);
        // Reads and refused changes raise nothing.
        store.versions("app").unwrap();
        store.rollback("app", "preview", None, 0).unwrap_err();
        store.create_version(new_version("gone", "production", "g")).unwrap();
        store.delete_deployment("gone").unwrap();
        assert_eq!(revision(&store), 10);
    }
    let store = SqliteStore::open(&tmp.db()).unwrap();
    assert_eq!(revision(&store), 10, "the revision survives a restart");
    assert_eq!(
        store
            .create_version(new_version("app", "production", "4"))
            .unwrap()
            .1
            .revision,
        11
    );
}

#[test]
fn the_desired_snapshot_has_every_environment_with_its_secrets() {
    let tmp = Tmp::new("desired");
    let store = SqliteStore::open(&tmp.db()).unwrap();
    store.create_version(new_version("web", "production", "w1")).unwrap();
    store.create_version(new_version("web", "staging", "w2")).unwrap();
    store.create_version(new_version("api", "production", "a1")).unwrap();
    store.put_secret("web", None, "KEY", "shared", 0).unwrap();
    store.put_secret("web", Some("staging"), "KEY", "staged", 0).unwrap();
    let snapshot = store.desired().unwrap();
    let rows: Vec<_> = snapshot
        .versions
        .iter()
        .map(|v| {
            (
                v.name.as_str(),
                v.env.as_str(),
                v.version,
                v.secrets.get("KEY").map(String::as_str),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("api", "production", 1, None),
            ("web", "production", 1, Some("shared")),
            ("web", "staging", 2, Some("staged")),
        ]
    );
    let web = &snapshot.versions[1];
    assert_eq!((web.hash, web.size), (sha256(b"w1"), 2));
    assert_eq!(web.manifest_file.as_deref(), Some("outpost.toml"));
    assert_eq!(store.bundle(&web.hash).unwrap().as_deref(), Some(&b"w1"[..]));
    assert_eq!(store.bundle(&sha256(b"none")).unwrap(), None);
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
