//! Distribution: a control plane's QUIC side and edge nodes in one process, over real QUIC with mutual
//! TLS on 127.0.0.1, serving real HTTP from real V8 isolates. Join, deploy, replace, tampered and
//! badly signed bundles, the control plane going away, node restarts from disk, catching up after
//! being offline, and refused identities.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use outpost_control_plane::distribution::{
    ClusterStatus, Distribution, DistributionConfig, DistributionIdentity, MemoryBundles, NodeStatus, sign_assignment,
};
use outpost_node::agent::{self, AgentError, AgentStatus, JoinError, NodeOptions, RunningNode};
use outpost_protocol::archive::{ARCHIVE_FORMAT, BundleArchive};
use outpost_protocol::{
    Assignment, BundleHash, DeploymentKey, DesiredState, FailureStage, Limits, Message, RefuseReason, Signature,
    join::JoinRefusal,
};
use outpost_tests::{Response, TempDir, request};
use ring::signature::Ed25519KeyPair;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::{oneshot, watch};

const ZONE: &str = "edge.test";
const SECRET: &str = "op_join_distribution-test-secret";
const WAIT: Duration = Duration::from_secs(20);

/// A cluster identity of its own (CA, signing key, join secret).
fn new_identity() -> (DistributionIdentity, Ed25519KeyPair) {
    DistributionIdentity::generate("Outpost test cluster CA", SECRET).unwrap()
}

/// A running control plane (QUIC side).
struct Control {
    addr: SocketAddr,
    token: String,
    status: watch::Receiver<ClusterStatus>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// A control plane's identity, desired state and bundles, and the nodes' data folders.
struct Cluster {
    identity: DistributionIdentity,
    signing: Ed25519KeyPair,
    desired: watch::Sender<Arc<DesiredState>>,
    bundles: Arc<MemoryBundles>,
    deployments: BTreeMap<DeploymentKey, Assignment>,
    revision: u64,
    addr: Option<SocketAddr>,
    dir: TempDir,
}

impl Cluster {
    fn new(tag: &str) -> Cluster {
        let (identity, signing) = new_identity();
        Cluster {
            identity,
            signing,
            desired: watch::channel(Arc::new(DesiredState::default())).0,
            bundles: Arc::new(MemoryBundles::new()),
            deployments: BTreeMap::new(),
            revision: 0,
            addr: None,
            dir: TempDir::new(tag),
        }
    }

    /// Starts the control plane's QUIC side (on the address it had before, after a restart).
    fn start_control(&mut self) -> Control {
        let listen = self.addr.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
        let mut config = DistributionConfig::new(listen, ZONE);
        config.session.heartbeat_interval = Duration::from_millis(500);
        // After a restart the previous endpoint may hold the port for a moment longer.
        let deadline = Instant::now() + Duration::from_secs(5);
        let dist = loop {
            match Distribution::bind(
                config.clone(),
                self.identity.clone(),
                self.desired.subscribe(),
                self.bundles.clone(),
            ) {
                Ok(d) => break d,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("rebinding {listen}: {e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("bind the QUIC side: {e}"),
            }
        };
        let addr = dist.local_addr();
        self.addr = Some(addr);
        let token = dist.join_token();
        let status = dist.status();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(dist.run(async {
            let _ = stopped.await;
        }));
        Control {
            addr,
            token,
            status,
            stop,
            task,
        }
    }

    /// Options of a node of this cluster, with data under `name/`.
    fn node_options(&self, control: &Control, name: &str) -> NodeOptions {
        let mut opts = NodeOptions::new(
            control.addr.to_string(),
            Some(control.token.clone()),
            "fra",
            self.data(name),
        );
        opts.name = Some(name.to_string());
        opts.listen = "127.0.0.1:0".parse().unwrap();
        opts.reconnect_initial = Duration::from_millis(50);
        opts.reconnect_max = Duration::from_millis(400);
        opts
    }

    fn data(&self, name: &str) -> PathBuf {
        self.dir.0.join(name)
    }

    /// The archive of a one-module handler answering `body`, `pad` bytes of comment added.
    fn archive(body: &str, pad: usize) -> Vec<u8> {
        let code = format!(
            "export default {{ fetch(request, env) {{ return new Response({body:?} + (env.SUFFIX ?? '')); }} }};\n// {}\n",
            "x".repeat(pad)
        );
        let mut files = BTreeMap::new();
        files.insert("index.js".to_string(), code);
        BundleArchive {
            format: ARCHIVE_FORMAT,
            main: "index.js".into(),
            manifest_file: None,
            manifest: None,
            files,
        }
        .to_bytes()
    }

    /// A signed assignment of `bytes` as `name`/`env` at `version` (the bytes are not stored).
    fn assignment(&self, name: &str, env: &str, version: u64, bytes: &[u8]) -> Assignment {
        let mut a = Assignment {
            key: DeploymentKey::new(name, env),
            version,
            bundle: BundleHash::of(bytes),
            size: bytes.len() as u64,
            signature: Signature([0; 64]),
            limits: Limits::default(),
            vars: Vec::new(),
        };
        sign_assignment(&self.signing, &mut a);
        a
    }

    /// Publishes a new desired revision with `changes` applied; returns the revision.
    fn publish(&mut self, changes: Vec<Assignment>) -> u64 {
        for a in changes {
            self.deployments.insert(a.key.clone(), a);
        }
        self.revision += 1;
        self.desired.send_replace(Arc::new(DesiredState::new(
            self.revision,
            self.deployments.values().cloned(),
        )));
        self.revision
    }

    /// Stores and deploys `body` as `name` (production) at `version`; returns the revision.
    fn deploy(&mut self, name: &str, version: u64, body: &str) -> u64 {
        let bytes = Self::archive(body, 0);
        self.bundles.insert(bytes.clone());
        let a = self.assignment(name, "production", version, &bytes);
        self.publish(vec![a])
    }
}

impl Control {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the control plane stops")
            .unwrap();
    }

    /// Waits until `node` has acknowledged `revision`; returns its status.
    async fn wait_node(&self, node: &str, revision: u64) -> NodeStatus {
        let mut status = self.status.clone();
        let seen = tokio::time::timeout(
            WAIT,
            status.wait_for(|s| s.nodes.get(node).is_some_and(|n| n.connected && n.revision >= revision)),
        )
        .await;
        match seen {
            Ok(Ok(s)) => s.nodes[node].clone(),
            _ => panic!(
                "node {node} did not reach revision {revision}: {:#?}",
                self.status.borrow().nodes.get(node)
            ),
        }
    }
}

/// GET `http://HOST.edge.test/` from the node.
async fn get(addr: SocketAddr, host: &str) -> Response {
    let host = format!("{host}.{ZONE}");
    tokio::task::spawn_blocking(move || request(addr, "GET", &host, "/", &[], b""))
        .await
        .unwrap()
}

async fn body(addr: SocketAddr, host: &str) -> String {
    let r = get(addr, host).await;
    assert_eq!(r.status, 200, "{host}: {}", r.text());
    r.text()
}

async fn wait_status(node: &RunningNode, what: &str, pred: impl Fn(&AgentStatus) -> bool) -> AgentStatus {
    let mut status = node.status();
    match tokio::time::timeout(WAIT, status.wait_for(|s| pred(s))).await {
        Ok(Ok(s)) => s.clone(),
        _ => panic!("node: {what} never happened: {:#?}", *node.status().borrow()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joins_serves_deployments_and_swaps_versions_without_a_failed_request() {
    let mut cluster = Cluster::new("dist-join");
    let control = cluster.start_control();
    let node = agent::start(cluster.node_options(&control, "fra-1")).await.unwrap();
    assert_eq!(node.node_id(), "fra-1");
    assert_eq!(node.status().borrow().zone, ZONE, "the zone comes from the join");
    // The identity is private to the node.
    for file in ["node.key", "node.pem", "ca.pem", "signing.pub", "node.json"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cluster.data("fra-1").join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    assert_eq!(get(node.addr(), "hello").await.status, 404, "nothing deployed yet");

    let rev = cluster.deploy("hello", 1, "v1");
    let staging = Cluster::archive("staging", 0);
    cluster.bundles.insert(staging.clone());
    let staged = cluster.assignment("hello", "staging", 1, &staging);
    let rev = rev.max(cluster.publish(vec![staged]));
    let status = control.wait_node("fra-1", rev).await;
    assert_eq!(body(node.addr(), "hello").await, "v1");
    assert_eq!(body(node.addr(), "hello--staging").await, "staging");
    assert_eq!(status.region, "fra");
    assert!(status.last_ack.as_ref().unwrap().failures().next().is_none());
    // Heartbeats carry the node's load and health.
    let mut cluster_status = control.status.clone();
    let beat = tokio::time::timeout(
        WAIT,
        cluster_status.wait_for(|s| s.nodes["fra-1"].last_heartbeat.is_some() && s.nodes["fra-1"].load.isolates >= 2),
    )
    .await
    .expect("a heartbeat with the node's isolates")
    .unwrap()
    .nodes["fra-1"]
        .clone();
    assert_eq!(beat.health, outpost_protocol::Health::Healthy);
    assert!(beat.load.heap_bytes > 0, "{:?}", beat.load);

    // Version 2 (a 100 KB bundle) replaces version 1 while requests keep coming: none fails.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let addr = node.addr();
    let hammer = {
        let (stop, done) = (stop.clone(), done.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) && seen.len() < 20_000 {
                let r = request(addr, "GET", &format!("hello.{ZONE}"), "/", &[], b"");
                seen.push((r.status, r.text()));
                done.fetch_add(1, Ordering::Relaxed);
            }
            seen
        })
    };
    let wait_requests = |n: usize| {
        let done = done.clone();
        async move {
            let until = done.load(Ordering::Relaxed) + n;
            while done.load(Ordering::Relaxed) < until {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    wait_requests(50).await;
    let v2 = Cluster::archive("v2", 100 * 1024);
    cluster.bundles.insert(v2.clone());
    let assignment = cluster.assignment("hello", "production", 2, &v2);
    let deployed = Instant::now();
    let rev = cluster.publish(vec![assignment]);
    let status = control.wait_node("fra-1", rev).await;
    let acked = deployed.elapsed();
    let serving = loop {
        if body(node.addr(), "hello").await == "v2" {
            break deployed.elapsed();
        }
        assert!(deployed.elapsed() < WAIT, "v2 never served");
    };
    wait_requests(50).await;
    stop.store(true, Ordering::Relaxed);
    let seen = hammer.join().unwrap();
    let failed: Vec<_> = seen
        .iter()
        .filter(|(s, b)| *s != 200 || (b != "v1" && b != "v2"))
        .collect();
    assert!(failed.is_empty(), "failed requests during the swap: {failed:?}");
    let first_v2 = seen.iter().position(|(_, b)| b == "v2").expect("v2 served");
    assert!(
        seen[first_v2..].iter().all(|(_, b)| b == "v2"),
        "no going back to v1 once v2 serves"
    );
    let timing = status.last_ack.as_ref().unwrap().results[0].timing;
    println!(
        "deploy → serving (100 KB signed bundle, 1 node, loopback): acknowledged in {acked:?}, serving in {serving:?} \
         (fetch {:?}, verify {:?}, activate {:?}); {} requests during the swap, none failed",
        timing.fetch,
        timing.verify,
        timing.activate,
        seen.len()
    );
    node.stop().await;
    control.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_and_badly_signed_bundles_are_refused_and_reported_while_the_previous_version_serves() {
    let mut cluster = Cluster::new("dist-tamper");
    let control = cluster.start_control();
    let node = agent::start(cluster.node_options(&control, "fra-1")).await.unwrap();
    let rev = cluster.deploy("app", 1, "good");
    control.wait_node("fra-1", rev).await;
    assert_eq!(body(node.addr(), "app").await, "good");

    // The bytes on the wire differ from the assigned hash (same length).
    let real = Cluster::archive("evil", 0);
    let mut tampered = real.clone();
    let at = tampered.iter().position(|&b| b == b'e').unwrap();
    tampered[at] = b'E';
    let assignment = cluster.assignment("app", "production", 2, &real);
    cluster.bundles.insert_as(assignment.bundle, tampered);
    let rev = cluster.publish(vec![assignment]);
    let status = control.wait_node("fra-1", rev).await;
    let ack = status.last_ack.unwrap();
    let failures: Vec<_> = ack.failures().collect();
    assert_eq!(failures.len(), 1, "{ack:?}");
    assert_eq!(failures[0].1, FailureStage::Integrity);
    assert!(failures[0].2.contains("tampered"), "{}", failures[0].2);
    assert_eq!(
        body(node.addr(), "app").await,
        "good",
        "the previous version keeps serving"
    );
    assert_eq!(node.status().borrow().bundles_refused, 1);

    // Intact bytes, but the signature is not the control plane's.
    let bytes = Cluster::archive("forged", 0);
    cluster.bundles.insert(bytes.clone());
    let mut forged = cluster.assignment("app", "production", 3, &bytes);
    let rng = ring::rand::SystemRandom::new();
    let foreign = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap();
    sign_assignment(&foreign, &mut forged);
    let rev = cluster.publish(vec![forged]);
    let status = control.wait_node("fra-1", rev).await;
    let ack = status.last_ack.unwrap();
    let failures: Vec<_> = ack.failures().collect();
    assert_eq!(failures.len(), 1, "{ack:?}");
    assert_eq!(failures[0].1, FailureStage::Signature);
    assert_eq!(body(node.addr(), "app").await, "good");

    // A good version after both goes through.
    let rev = cluster.deploy("app", 4, "better");
    control.wait_node("fra-1", rev).await;
    assert_eq!(body(node.addr(), "app").await, "better");
    node.stop().await;
    control.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_control_plane_nodes_keep_serving_and_restart_from_disk() {
    let mut cluster = Cluster::new("dist-down");
    let control = cluster.start_control();
    let node = agent::start(cluster.node_options(&control, "fra-1")).await.unwrap();
    cluster.deploy("one", 1, "one");
    let rev = cluster.deploy("two", 1, "two");
    control.wait_node("fra-1", rev).await;
    let options = cluster.node_options(&control, "fra-1");

    // The control plane goes away: the node notices and keeps serving.
    control.stop().await;
    wait_status(&node, "noticing the control plane is gone", |s| !s.connected).await;
    assert_eq!(body(node.addr(), "one").await, "one");
    assert_eq!(body(node.addr(), "two").await, "two");

    // Restarted while the control plane is still down: it serves everything from its disk.
    node.stop().await;
    let node = agent::start(options.clone()).await.unwrap();
    assert_eq!(body(node.addr(), "one").await, "one");
    assert_eq!(body(node.addr(), "two").await, "two");
    assert_eq!(node.status().borrow().revision, rev);

    // The control plane comes back (same address): the node reconnects by itself, in sync.
    let control = cluster.start_control();
    wait_status(&node, "reconnecting", |s| s.connected).await;
    let status = control.wait_node("fra-1", rev).await;
    assert_eq!(status.bundles_sent, 0, "nothing to send: the node has it all");
    let rev = cluster.deploy("one", 2, "one v2");
    control.wait_node("fra-1", rev).await;
    assert_eq!(body(node.addr(), "one").await, "one v2");
    node.stop().await;
    control.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_offline_during_two_deploys_catches_up_with_only_the_missing_bundles() {
    let mut cluster = Cluster::new("dist-offline");
    let control = cluster.start_control();
    let options = cluster.node_options(&control, "fra-1");
    let node = agent::start(options.clone()).await.unwrap();
    cluster.deploy("a", 1, "a1");
    let rev = cluster.deploy("c", 1, "c1");
    let status = control.wait_node("fra-1", rev).await;
    assert_eq!(status.bundles_sent, 2);
    node.stop().await;

    // Two deploys while the node is away.
    cluster.deploy("a", 2, "a2");
    let rev = cluster.deploy("b", 1, "b1");

    let node = agent::start(options).await.unwrap();
    let status = control.wait_node("fra-1", rev).await;
    assert_eq!(
        status.bundles_sent, 4,
        "only a2 and b1 are sent on reconnect, not c1 again"
    );
    assert_eq!(status.sessions, 2);
    let ack = status.last_ack.unwrap();
    let mut changed: Vec<_> = ack.results.iter().map(|r| r.key.name.as_str()).collect();
    changed.sort();
    assert_eq!(changed, ["a", "b"], "the delta names only what changed");
    assert_eq!(body(node.addr(), "a").await, "a2");
    assert_eq!(body(node.addr(), "b").await, "b1");
    assert_eq!(body(node.addr(), "c").await, "c1");
    assert_eq!(node.status().borrow().bundles_received, 2);
    node.stop().await;
    control.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_join_tokens_and_foreign_certificates_are_refused() {
    let mut cluster = Cluster::new("dist-refuse");
    let control = cluster.start_control();

    // Right CA, wrong secret.
    let (_, hash) = control.token.rsplit_once('.').unwrap();
    let mut opts = cluster.node_options(&control, "bad-secret");
    opts.token = Some(format!("op_join_not-the-secret.{hash}"));
    match agent::start(opts).await {
        Err(AgentError::Join(JoinError::Refused {
            reason: JoinRefusal::BadToken,
            message,
        })) => assert!(message.contains("wrong join token"), "{message}"),
        Err(e) => panic!("expected a bad-token refusal, got {e}"),
        Ok(_) => panic!("joined with a wrong secret"),
    }
    assert!(!cluster.data("bad-secret").join("node.pem").exists());

    // Right secret, another cluster's CA pinned: the node does not trust this control plane.
    let mut opts = cluster.node_options(&control, "bad-ca");
    opts.token = Some(format!("{SECRET}.{}", "0".repeat(64)));
    match agent::start(opts).await {
        Err(AgentError::Join(JoinError::Untrusted(message))) => {
            assert!(message.contains("pinned CA"), "{message}")
        }
        Err(e) => panic!("expected an untrusted control plane, got {e}"),
        Ok(_) => panic!("joined a control plane the token does not pin"),
    }

    // A node certificate from another CA, and no certificate at all, on the control ALPN.
    let (foreign, _) = new_identity();
    let foreign_ca = rcgen::Issuer::from_ca_cert_pem(
        &foreign.ca_cert_pem,
        rcgen::KeyPair::from_pem(&foreign.ca_key_pem).unwrap(),
    )
    .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["fra-9".to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "fra-9");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &foreign_ca).unwrap();
    let ca = CertificateDer::from_pem_slice(cluster.identity.ca_cert_pem.as_bytes()).unwrap();
    let foreign_cert = (cert.der().clone(), PrivateKeyDer::Pkcs8(key.serialize_der().into()));
    let err = hello_over_raw_quic(control.addr, &ca, Some(foreign_cert), "fra-9")
        .await
        .expect_err("a foreign CA's certificate gets nothing");
    assert!(
        err.contains("handshake failed") && err.contains("peer certificate"),
        "a foreign CA's certificate fails the TLS handshake: {err}"
    );
    let err = hello_over_raw_quic(control.addr, &ca, None, "fra-9")
        .await
        .expect_err("no certificate gets nothing");
    assert!(
        err.contains("client certificate"),
        "no certificate: closed with a reason: {err}"
    );
    assert!(control.status.borrow().nodes.is_empty(), "no node got in");

    // A member's own certificate, but a Hello in another node's name.
    let node = agent::start(cluster.node_options(&control, "fra-1")).await.unwrap();
    node.stop().await;
    let data = cluster.data("fra-1");
    let cert = CertificateDer::from_pem_file(data.join("node.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(data.join("node.key")).unwrap();
    let answer = hello_over_raw_quic(control.addr, &ca, Some((cert, key)), "fra-2")
        .await
        .expect("the control plane answers a member");
    match outpost_protocol::Codec::default().decode(&mut bytes::BytesMut::from(&answer[..])) {
        Ok(Some(Message::Refuse(refuse))) => {
            assert_eq!(refuse.reason, RefuseReason::Unauthorized);
            assert!(refuse.message.contains("'fra-1'"), "{}", refuse.message);
        }
        other => panic!("expected Refuse, got {other:?}"),
    }
    control.stop().await;
}

/// Connects on the control ALPN with `client` as the client certificate, says `Hello` as `node_id`
/// and returns what the control plane writes on the control stream until it ends, or why the
/// connection failed.
async fn hello_over_raw_quic(
    addr: SocketAddr,
    ca: &CertificateDer<'static>,
    client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    node_id: &str,
) -> Result<Vec<u8>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots);
    let mut tls = match client {
        Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![outpost_protocol::join::CONTROL_ALPN.to_vec()];
    let config = quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap(),
    ));
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let attempt = async {
        let conn = endpoint
            .connect_with(config, addr, outpost_protocol::join::CONTROL_SERVER_NAME)
            .unwrap()
            .await
            .map_err(|e| e.to_string())?;
        let mut hello = bytes::BytesMut::new();
        outpost_protocol::Codec::default()
            .encode(
                &Message::Hello(outpost_protocol::Hello {
                    protocol_version: outpost_protocol::PROTOCOL_VERSION,
                    node_id: node_id.into(),
                    region: "fra".into(),
                    revision: 0,
                    deployments: Vec::new(),
                    bundles: Vec::new(),
                }),
                &mut hello,
            )
            .unwrap();
        let exchange = async {
            let (mut send, mut recv) = conn.open_bi().await.ok()?;
            send.write_all(&hello).await.ok()?;
            recv.read_to_end(64 * 1024).await.ok()
        };
        match exchange.await {
            Some(answer) => Ok(answer),
            // Why the server closed the connection.
            None => Err(conn.closed().await.to_string()),
        }
    };
    tokio::time::timeout(WAIT, attempt).await.expect("the server answers")
}
