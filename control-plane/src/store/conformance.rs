//! Checks every [`Store`] implementation must pass, run against SQLite by
//! its unit tests and against a real PostgreSQL server by the end-to-end
//! tests. Each check gets an opener for a fresh, empty database; calling it
//! again opens the same database anew (a restart, or another replica).

use std::sync::Arc;

use super::{NewVersion, Store, StoreError};
use crate::bundle::sha256;
use crate::tokens::Scope;

/// Opens the database under test (a new connection each call).
pub type Opener<'a> = &'a dyn Fn() -> Arc<dyn Store>;

/// One check.
pub type Check = fn(Opener<'_>);

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    (
        "versions_count_up_and_survive_reopening",
        versions_count_up_and_survive_reopening,
    ),
    ("environments_rollback_and_promote", environments_rollback_and_promote),
    (
        "identical_content_shares_one_bundle_and_delete_collects_it",
        identical_content_shares_one_bundle_and_delete_collects_it,
    ),
    (
        "secrets_per_environment_override_shared_ones",
        secrets_per_environment_override_shared_ones,
    ),
    (
        "tokens_are_found_by_hash_and_labelled_ones_replaced",
        tokens_are_found_by_hash_and_labelled_ones_replaced,
    ),
    (
        "every_change_of_what_nodes_run_raises_the_revision_durably",
        every_change_of_what_nodes_run_raises_the_revision_durably,
    ),
    (
        "the_desired_snapshot_has_every_environment_with_its_secrets",
        the_desired_snapshot_has_every_environment_with_its_secrets,
    ),
    ("the_first_cluster_claim_wins", the_first_cluster_claim_wins),
    (
        "concurrent_writers_never_share_a_version_or_a_revision",
        concurrent_writers_never_share_a_version_or_a_revision,
    ),
];

/// A version of `name` in `env` whose bundle is `content`.
pub fn new_version(name: &str, env: &str, content: &str) -> NewVersion {
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

fn env_version(store: &dyn Store, name: &str, env: &str) -> Option<u64> {
    store.deployments(Some(name)).unwrap()[0]
        .environments
        .get(env)
        .map(|e| e.version)
}

pub fn versions_count_up_and_survive_reopening(open: Opener<'_>) {
    {
        let store = open();
        let (v1, a1) = store.create_version(new_version("hello", "production", "one")).unwrap();
        assert_eq!((v1.version, a1.previous), (1, None));
        assert_eq!(v1.hash, sha256(b"one"));
        assert_eq!(v1.size, 3);
        assert_eq!(v1.active_in, ["production"]);
        let (v2, a2) = store.create_version(new_version("hello", "production", "two")).unwrap();
        assert_eq!((v2.version, a2.previous), (2, Some(1)));
        store.create_version(new_version("other", "production", "one")).unwrap();
    }
    let store = open();
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

pub fn environments_rollback_and_promote(open: Opener<'_>) {
    let store = open();
    for content in ["1", "2", "3"] {
        store.create_version(new_version("app", "production", content)).unwrap();
    }
    let (staged, _) = store.create_version(new_version("app", "staging", "4")).unwrap();
    assert_eq!(staged.version, 4);
    assert_eq!(env_version(&*store, "app", "production"), Some(3));
    assert_eq!(env_version(&*store, "app", "staging"), Some(4));

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
    assert_eq!(env_version(&*store, "app", "staging"), Some(4));
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

pub fn identical_content_shares_one_bundle_and_delete_collects_it(open: Opener<'_>) {
    let store = open();
    store.create_version(new_version("a", "production", "same")).unwrap();
    store.create_version(new_version("a", "production", "same")).unwrap();
    store.create_version(new_version("b", "production", "same")).unwrap();
    store.create_version(new_version("a", "production", "only-a")).unwrap();
    store.put_secret("a", None, "K", "v", 1).unwrap();
    assert_eq!(store.versions("a").unwrap()[1].hash, sha256(b"same"));
    store.delete_deployment("a").unwrap();
    assert!(
        store.bundle(&sha256(b"same")).unwrap().is_some(),
        "b still uses the shared bundle"
    );
    assert_eq!(
        store.bundle(&sha256(b"only-a")).unwrap(),
        None,
        "a's own bundle is gone"
    );
    assert!(matches!(store.versions("a"), Err(StoreError::NoDeployment(_))));
    assert!(matches!(store.delete_deployment("a"), Err(StoreError::NoDeployment(_))));
    let (v, _) = store.create_version(new_version("a", "production", "back")).unwrap();
    assert!(
        store.secret_names("a").unwrap().is_empty(),
        "secrets went with the deployment"
    );
    assert_eq!(v.version, 4, "version numbers are not reused");
    let (v, a) = store.create_version(new_version("a", "production", "again")).unwrap();
    assert_eq!((v.version, a.previous), (5, Some(4)));
}

pub fn secrets_per_environment_override_shared_ones(open: Opener<'_>) {
    let store = open();
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

pub fn tokens_are_found_by_hash_and_labelled_ones_replaced(open: Opener<'_>) {
    let store = open();
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
}

pub fn every_change_of_what_nodes_run_raises_the_revision_durably(open: Opener<'_>) {
    let revision = |s: &dyn Store| s.desired().unwrap().revision;
    {
        let store = open();
        assert_eq!(revision(&*store), 1, "an empty store starts above a fresh node's 0");
        let (_, a) = store.create_version(new_version("app", "production", "1")).unwrap();
        assert_eq!((a.revision, revision(&*store)), (2, 2));
        store.create_version(new_version("app", "production", "2")).unwrap();
        store.create_version(new_version("app", "staging", "3")).unwrap();
        assert_eq!(store.rollback("app", "production", None, 0).unwrap().revision, 5);
        assert_eq!(store.promote("app", "staging", "production", 0).unwrap().revision, 6);
        store.put_secret("app", None, "K", "v", 0).unwrap();
        assert_eq!(revision(&*store), 7);
        assert!(!store.delete_secret("app", None, "MISSING").unwrap());
        assert_eq!(revision(&*store), 7, "nothing changed");
        assert!(store.delete_secret("app", None, "K").unwrap());
        assert_eq!(revision(&*store), 8);
        // Reads and refused changes raise nothing.
        store.versions("app").unwrap();
        store.rollback("app", "preview", None, 0).unwrap_err();
        store.create_version(new_version("gone", "production", "g")).unwrap();
        store.delete_deployment("gone").unwrap();
        assert_eq!(revision(&*store), 10);
    }
    let store = open();
    assert_eq!(revision(&*store), 10, "the revision survives a restart");
    assert_eq!(
        store
            .create_version(new_version("app", "production", "4"))
            .unwrap()
            .1
            .revision,
        11
    );
}

pub fn the_desired_snapshot_has_every_environment_with_its_secrets(open: Opener<'_>) {
    let store = open();
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

/// A replica whose CA differs from the one the database recorded first is told so.
pub fn the_first_cluster_claim_wins(open: Opener<'_>) {
    let (a, b) = (sha256(b"ca-a"), sha256(b"ca-b"));
    assert_eq!(open().claim_cluster(&a).unwrap(), a);
    assert_eq!(open().claim_cluster(&a).unwrap(), a);
    assert_eq!(open().claim_cluster(&b).unwrap(), a);
}

/// Two handles on one database (two replicas) writing at once: every
/// version number and every revision is given exactly once.
pub fn concurrent_writers_never_share_a_version_or_a_revision(open: Opener<'_>) {
    const EACH: usize = 15;
    let stores = [open(), open()];
    let results: Vec<Vec<(u64, u64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                s.spawn(move || {
                    (0..EACH)
                        .map(|n| {
                            let (v, a) = store
                                .create_version(new_version("app", "production", &format!("{i}-{n}")))
                                .unwrap();
                            (v.version, a.revision)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut versions: Vec<u64> = results.iter().flatten().map(|r| r.0).collect();
    let mut revisions: Vec<u64> = results.iter().flatten().map(|r| r.1).collect();
    versions.sort_unstable();
    revisions.sort_unstable();
    assert_eq!(versions, (1..=2 * EACH as u64).collect::<Vec<_>>());
    assert_eq!(revisions, (2..=2 * EACH as u64 + 1).collect::<Vec<_>>());
    for per_writer in &results {
        assert!(per_writer.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
    }
    let store = open();
    assert_eq!(store.desired().unwrap().revision, 2 * EACH as u64 + 1);
    assert_eq!(store.versions("app").unwrap().len(), 2 * EACH);
}
