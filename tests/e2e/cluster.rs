//! A whole cluster of real processes on loopback: `outpost control-plane` and `outpost node`s,
//! driven by the `outpost` CLI. Deploys reach every node before `outpost deploy` returns;
//! rollbacks, environments, secrets and deletions reach them too; nodes keep serving from disk
//! when the control plane dies and catch up when it comes back; a node that cannot activate a
//! version makes the deploy fail, naming it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use outpost_tests::{Outpost, TempDir, outpost_bin, request};
use serde_json::Value;

use crate::cp_support::{self, admin_token, kill, ok, path_str, spawn_with_lines, text};

const WAIT: Duration = Duration::from_secs(20);

/// A running control plane; killed when dropped.
struct ControlPlane {
    child: Child,
    api: SocketAddr,
    quic: SocketAddr,
    join: String,
    admin: String,
}

impl ControlPlane {
    /// Starts `outpost control-plane --data DATA --api 127.0.0.1:0 [--quic QUIC]` and waits for its
    /// `api on`, `quic on` and `join token` lines.
    fn start(data: &Path, quic: Option<SocketAddr>) -> ControlPlane {
        Self::start_with(data, quic, &[])
    }

    /// As [`ControlPlane::start`], with more arguments.
    fn start_with(data: &Path, quic: Option<SocketAddr>, extra: &[&str]) -> ControlPlane {
        let mut cmd = Command::new(outpost_bin());
        cmd.args(["control-plane", "--data"])
            .arg(data)
            .args(["--api", "127.0.0.1:0"])
            .args(extra)
            .env_remove("OUTPOST_STORE");
        if let Some(q) = quic {
            cmd.args(["--quic", &q.to_string()]);
        }
        let (child, rx) = spawn_with_lines(&mut cmd);
        let (mut api, mut quic, mut join) = (None, None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while api.is_none() || quic.is_none() || join.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("the control plane printed its api, quic and join token lines");
            if let Some(a) = line.strip_prefix("api on http://") {
                api = Some(a.trim().parse().expect("api address"));
            } else if let Some(q) = line.strip_prefix("quic on ") {
                quic = Some(q.trim().parse().expect("quic address"));
            } else if let Some(t) = line.strip_prefix("join token: ") {
                join = Some(t.trim().to_string());
            }
        }
        let admin = admin_token(data);
        ControlPlane {
            child,
            api: api.unwrap(),
            quic: quic.unwrap(),
            join: join.unwrap(),
            admin,
        }
    }

    /// Runs the CLI against this control plane with the admin token.
    fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        cp_support::cli(&format!("http://{}", self.api), &self.admin, args, stdin)
    }

    /// An admin API GET, as text.
    fn get(&self, path: &str) -> String {
        let auth = format!("Bearer {}", self.admin);
        let r = request(self.api, "GET", "localhost", path, &[("authorization", &auth)], b"");
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.text()
    }

    /// The ids of the connected nodes.
    fn connected(&self) -> Vec<String> {
        let v: Value = serde_json::from_str(&self.get("/v1/nodes")).unwrap();
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["connected"] == true)
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Waits until exactly `ids` are connected.
    fn wait_connected(&self, ids: &[&str]) {
        let mut want: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        want.sort();
        eventually(&format!("nodes {ids:?} connected"), || {
            let mut got = self.connected();
            got.sort();
            (got == want).then_some(())
        });
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// Starts `outpost node` joined to `cp` (or, with no token, from what `data` holds) and waits for
/// its `ready on` line.
fn node(quic: SocketAddr, token: Option<&str>, region: &str, name: &str, data: &Path, extra: &[&str]) -> Outpost {
    let mut cmd = Command::new(outpost_bin());
    cmd.args([
        "node",
        "--control",
        &quic.to_string(),
        "--region",
        region,
        "--name",
        name,
    ])
    .args(["--listen", "127.0.0.1:0", "--reconnect-max-ms", "200", "--data"])
    .arg(data)
    .args(extra)
    .env_remove("OUTPOST_JOIN_TOKEN");
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    Outpost::start(cmd).unwrap_or_else(|e| panic!("node {name}: {e}"))
}

/// Polls `f` until it returns something (at most [`WAIT`]).
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A handler folder `NAME/` whose answer is `TAG SECRET` (`env.KEY`, or `no-secret`).
fn app(dir: &TempDir, name: &str, tag: &str, limits: &str) -> PathBuf {
    dir.write(
        &format!("{name}/outpost.toml"),
        &format!("name = \"{name}\"\nmain = \"index.js\"\n{limits}"),
    );
    dir.write(
        &format!("{name}/index.js"),
        &format!(
            "export default {{ fetch(request, env) {{ return new Response('{tag} ' + (env.KEY ?? 'no-secret')); }} }};\n"
        ),
    );
    dir.0.join(name)
}

/// What `node` answers for `host`: the status and the body.
fn answer(node: &Outpost, host: &str) -> (u16, String) {
    let r = node.get(host, "/");
    (r.status, r.text())
}

#[test]
fn cluster_deploys_rolls_back_and_survives_restarts() {
    let dir = TempDir::new("cluster");
    let cp_data = dir.0.join("cp");
    let cp = ControlPlane::start(&cp_data, None);
    let fra = node(cp.quic, Some(&cp.join), "fra", "fra-1", &dir.0.join("fra"), &[]);
    let mut sfo = node(cp.quic, Some(&cp.join), "sfo", "sfo-1", &dir.0.join("sfo"), &[]);
    cp.wait_connected(&["fra-1", "sfo-1"]);
    let out = ok(cp.cli(&["nodes"], None));
    assert!(
        out.contains("2 of 2 nodes connected") && out.contains("fra-1") && out.contains("sfo"),
        "{out}"
    );

    // Deploy: both nodes serve it the moment `outpost deploy` returns.
    let shop = |tag: &str| app(&dir, "shop", tag, "");
    let out = ok(cp.cli(&["deploy", path_str(&shop("one"))], None));
    assert!(out.contains("every connected node serves version 1 (2 nodes"), "{out}");
    assert!(
        out.contains("node fra-1 (fra): serves version 1") && out.contains("node sfo-1 (sfo)"),
        "{out}"
    );
    for n in [&fra, &sfo] {
        assert_eq!(answer(n, "shop.localhost"), (200, "one no-secret".into()));
    }
    ok(cp.cli(&["deploy", path_str(&shop("two"))], None));
    for n in [&fra, &sfo] {
        assert_eq!(answer(n, "shop.localhost").1, "two no-secret");
    }

    // Rollback: both serve the old version again once it returns.
    let out = ok(cp.cli(&["rollback", "shop"], None));
    assert!(
        out.contains("version 2 → version 1") && out.contains("every connected node serves version 1"),
        "{out}"
    );
    for n in [&fra, &sfo] {
        assert_eq!(answer(n, "shop.localhost").1, "one no-secret");
    }

    // Another environment answers NAME--ENV.<zone>; production is untouched.
    let out = ok(cp.cli(&["deploy", path_str(&shop("staged")), "--env", "staging"], None));
    assert!(out.contains("serves  shop--staging.localhost"), "{out}");
    for n in [&fra, &sfo] {
        assert_eq!(answer(n, "shop--staging.localhost").1, "staged no-secret");
        assert_eq!(answer(n, "shop.localhost").1, "one no-secret");
    }

    // A secret written after the deploy reaches `env` on every node, never an API answer.
    let secret = "s3cr3t-7d1f0c";
    ok(cp.cli(&["secret", "put", "shop", "KEY"], Some(secret)));
    for n in [&fra, &sfo] {
        eventually("the secret on a node", || {
            (answer(n, "shop.localhost").1 == format!("one {secret}")).then_some(())
        });
        assert_eq!(answer(n, "shop--staging.localhost").1, format!("staged {secret}"));
    }
    for path in [
        "/v1/nodes",
        "/v1/deployments",
        "/v1/deployments/shop",
        "/v1/deployments/shop/versions",
        "/v1/deployments/shop/secrets",
        "/v1/deployments/shop/rollout",
        "/v1/deployments/shop/rollout?env=staging",
    ] {
        let body = cp.get(path);
        assert!(!body.contains(secret), "{path} leaked the secret: {body}");
    }
    let out = ok(cp.cli(&["deploy", path_str(&shop("json")), "--env", "preview", "--json"], None));
    assert!(!out.contains(secret) && out.contains("\"rollout\""), "{out}");

    // A deleted deployment answers 404 on every node.
    ok(cp.cli(&["deploy", path_str(&app(&dir, "gone", "bye", ""))], None));
    assert_eq!(answer(&fra, "gone.localhost").0, 200);
    ok(cp.cli(&["delete", "gone", "--yes"], None));
    for n in [&fra, &sfo] {
        eventually("the deleted deployment gone", || {
            (answer(n, "gone.localhost").0 == 404).then_some(())
        });
    }

    // A node offline during a deploy: the deploy waits only for the connected one.
    let status = sfo.signal_and_wait("TERM", WAIT).expect("the node stops on SIGTERM");
    assert!(status.success(), "{status:?}");
    cp.wait_connected(&["fra-1"]);
    let out = ok(cp.cli(&["deploy", path_str(&shop("four"))], None));
    assert!(out.contains("every connected node serves version 5 (1 node"), "{out}");
    assert_eq!(answer(&fra, "shop.localhost").1, format!("four {secret}"));

    // The control plane dies: nodes keep serving, and a node restarted meanwhile serves from disk.
    let mut cp = cp;
    cp.child.kill().unwrap();
    cp.child.wait().unwrap();
    assert_eq!(answer(&fra, "shop.localhost").1, format!("four {secret}"));
    let sfo = node(cp.quic, None, "sfo", "sfo-1", &dir.0.join("sfo"), &[]);
    assert_eq!(
        answer(&sfo, "shop.localhost").1,
        format!("one {secret}"),
        "what it had on disk"
    );
    assert_eq!(answer(&sfo, "shop--staging.localhost").1, format!("staged {secret}"));
    assert_eq!(answer(&sfo, "gone.localhost").0, 404);

    // The control plane comes back on its QUIC address: the node that missed the deploy catches up.
    let quic = cp.quic;
    drop(cp);
    let cp = ControlPlane::start(&cp_data, Some(quic));
    eventually("the restarted node catching up", || {
        (answer(&sfo, "shop.localhost").1 == format!("four {secret}")).then_some(())
    });
    let out = ok(cp.cli(&["nodes"], None));
    assert!(out.contains("sfo-1"), "{out}");
}

#[test]
fn cluster_deploy_fails_naming_the_node_that_cannot_activate_it() {
    let dir = TempDir::new("cluster-fail");
    let cp = ControlPlane::start(&dir.0.join("cp"), None);
    let big = node(cp.quic, Some(&cp.join), "fra", "fra-big", &dir.0.join("big"), &[]);
    let small = node(
        cp.quic,
        Some(&cp.join),
        "syd",
        "syd-small",
        &dir.0.join("small"),
        &["--max-limit", "memory_mb=64"],
    );
    cp.wait_connected(&["fra-big", "syd-small"]);

    // 128 MiB of heap is within the default maxima but above the small node's.
    let hungry = app(&dir, "hungry", "heap", "[limits]\nmemory_mb = 128\n");
    let out = cp.cli(&["deploy", path_str(&hungry)], None);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("version 1 of hungry (production) is not served by every connected node")
            && stderr.contains("node syd-small (syd): failed (activate)")
            && stderr.contains("memory_mb = 128"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("fra-big"),
        "the node that serves it is not blamed: {stderr}"
    );
    assert_eq!(answer(&big, "hungry.localhost"), (200, "heap no-secret".into()));
    assert_eq!(answer(&small, "hungry.localhost").0, 404);

    // Within the small node's maximum the same cluster deploys fine.
    let out = ok(cp.cli(
        &[
            "deploy",
            path_str(&app(&dir, "lean", "lean", "[limits]\nmemory_mb = 32\n")),
        ],
        None,
    ));
    assert!(out.contains("every connected node serves version 1 (2 nodes"), "{out}");
    assert_eq!(answer(&small, "lean.localhost").1, "lean no-secret");

    // A node that does not answer in time is named too (here: stopped without a word, SIGSTOP).
    let pid = small.child.id().to_string();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    let out = cp.cli(
        &["deploy", path_str(&app(&dir, "lean", "leaner", "")), "--timeout", "1"],
        None,
    );
    let _ = Command::new("kill").args(["-CONT", &pid]).status();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        stderr.contains("node syd-small (syd): timed out after 1 s (still serves version 1"),
        "{stderr}"
    );
    assert_eq!(answer(&big, "lean.localhost").1, "leaner no-secret");
}

/// Two control-plane replicas on one real PostgreSQL database: a change
/// made through either reaches the nodes of both; a replica with another
/// identity is refused; one replica dies and the other carries on; the dead
/// one restarts and its node catches up.
#[test]
fn replicas_sharing_a_postgres_store_serve_one_cluster() {
    let pg = outpost_control_plane::store::pg_server::PgServer::start();
    let url = pg.create_database("ha");
    let store = ["--store", url.as_str()];
    let dir = TempDir::new("replicas");
    let (data_a, data_b) = (dir.0.join("cp-a"), dir.0.join("cp-b"));
    let a = ControlPlane::start_with(&data_a, None, &store);

    // A replica needs the cluster's identity: with its own, it is refused.
    let own = Command::new(outpost_bin())
        .args(["control-plane", "--data"])
        .arg(dir.0.join("cp-stranger"))
        .args(["--api", "127.0.0.1:0", "--store", &url])
        .output()
        .unwrap();
    assert!(!own.status.success());
    assert!(
        text(&own.stderr).contains("copy ca.pem, ca.key"),
        "{}",
        text(&own.stderr)
    );

    std::fs::create_dir_all(&data_b).unwrap();
    for f in outpost_control_plane::identity::IDENTITY_FILES {
        std::fs::copy(data_a.join(f), data_b.join(f)).unwrap();
    }
    let b = ControlPlane::start_with(&data_b, None, &store);
    assert_eq!((&a.join, &a.admin), (&b.join, &b.admin), "one cluster identity");
    let fra = node(a.quic, Some(&a.join), "fra", "fra-1", &dir.0.join("fra"), &[]);
    let sfo = node(b.quic, Some(&b.join), "sfo", "sfo-1", &dir.0.join("sfo"), &[]);
    a.wait_connected(&["fra-1"]);
    b.wait_connected(&["sfo-1"]);

    // Deployed through A: A's node serves it when `outpost deploy` returns,
    // B's as soon as B hears of the change.
    let shop = |tag: &str| app(&dir, "shop", tag, "");
    let out = ok(a.cli(&["deploy", path_str(&shop("one"))], None));
    assert!(out.contains("serves version 1"), "{out}");
    assert_eq!(answer(&fra, "shop.localhost"), (200, "one no-secret".into()));
    eventually("B's node serving what was deployed through A", || {
        (answer(&sfo, "shop.localhost") == (200, "one no-secret".into())).then_some(())
    });
    // B reads what A wrote: version 1, serving production.
    let listed: Value = serde_json::from_str(&b.get("/v1/deployments/shop/versions")).unwrap();
    let versions = listed["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1, "{listed}");
    assert_eq!(
        (&versions[0]["version"], &versions[0]["active_in"][0]),
        (&1.into(), &"production".into())
    );

    // A secret written through B reaches A's node.
    ok(b.cli(&["secret", "put", "shop", "KEY"], Some("ha-secret")));
    eventually("A's node seeing the secret written through B", || {
        (answer(&fra, "shop.localhost").1 == "one ha-secret").then_some(())
    });

    // A dies: B goes on deploying; A's node keeps serving what it had.
    let quic_a = a.quic;
    drop(a);
    let out = ok(b.cli(&["deploy", path_str(&shop("two"))], None));
    assert!(out.contains("serves version 2"), "{out}");
    assert_eq!(answer(&sfo, "shop.localhost").1, "two ha-secret");
    assert_eq!(answer(&fra, "shop.localhost").1, "one ha-secret");

    // A comes back on its address: its node catches up from the shared store.
    let a = ControlPlane::start_with(&data_a, Some(quic_a), &store);
    eventually("A's node catching up after A restarts", || {
        (answer(&fra, "shop.localhost").1 == "two ha-secret").then_some(())
    });
    let out = ok(a.cli(&["rollback", "shop"], None));
    assert!(out.contains("version 2 → version 1"), "{out}");
    eventually("B's node following a rollback made through A", || {
        (answer(&sfo, "shop.localhost").1 == "one ha-secret").then_some(())
    });
}
