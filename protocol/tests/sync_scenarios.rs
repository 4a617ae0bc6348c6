//! One control session and one node, driven step by step through the codec: each protocol rule in a
//! scenario of its own (handshake, version refusal, assignment and ack, stale and duplicate messages,
//! reconnect with only the missing state, tampered bundles, dead peers, retransmission, resync).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use outpost_protocol::*;
use support::*;

const HB: Duration = Duration::from_secs(5);

struct World {
    now: Instant,
    signer: Signer,
    bundles: BTreeMap<BundleHash, Vec<u8>>,
}

impl World {
    fn new() -> Self {
        Self {
            now: Instant::now(),
            signer: Signer::new(7),
            bundles: BTreeMap::new(),
        }
    }

    fn assign(&mut self, name: &str, version: u64) -> Assignment {
        let bytes = format!("export default {{ fetch() {{ return new Response('{name} v{version}') }} }}").into_bytes();
        let a = self.signer.assign(name, version, &bytes);
        self.bundles.insert(a.bundle, bytes);
        a
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    fn node(&self, inventory: Inventory) -> NodeSync {
        NodeSync::new(self.now, NodeConfig::new("node-fra-1", "fra"), inventory)
    }

    fn control(&self, desired: Option<&Arc<DesiredState>>) -> ControlSession {
        let mut c = ControlSession::new(
            self.now,
            ControlConfig {
                heartbeat_interval: HB,
                ..ControlConfig::default()
            },
        );
        if let Some(d) = desired {
            c.set_desired(self.now, d.clone());
        }
        c
    }

    /// Dials: the node asks to connect, the connection comes up, Hello and Welcome are exchanged.
    fn connect(&self, control: &mut ControlSession, node: &mut NodeSync) -> (Vec<Message>, Vec<Message>) {
        node.handle_timeout(self.now);
        assert!(node_events(node).contains(&NodeEvent::Connect));
        node.connected(self.now);
        let out = exchange(self.now, control, node);
        assert!(node.is_connected());
        out
    }

    /// Plays the node's runtime: verify each assignment's signature, then activate it.
    fn run_node(&self, node: &mut NodeSync) -> Vec<NodeEvent> {
        let events = node_events(node);
        for e in &events {
            if let NodeEvent::Activate(a) = e {
                if self.signer.verify(a) {
                    node.verified(self.now, &a.key, a.version);
                    node.activated(self.now, &a.key, a.version);
                } else {
                    node.activation_failed(self.now, &a.key, a.version, FailureStage::Signature, "bad signature");
                }
            }
        }
        events
    }

    /// Everything until quiet: frames, bundle streams, activations.
    fn settle(&self, control: &mut ControlSession, node: &mut NodeSync) -> (usize, Vec<Message>, Vec<Message>) {
        let mut streams = 0;
        let (mut up, mut down) = (Vec::new(), Vec::new());
        loop {
            let (u, d) = exchange(self.now, control, node);
            let s = deliver_bundles(self.now, control, node, |h| self.bundles[h].clone());
            let acted = self
                .run_node(node)
                .iter()
                .any(|e| matches!(e, NodeEvent::Activate(_) | NodeEvent::Remove(_)));
            let quiet = u.is_empty() && d.is_empty() && s == 0 && !acted;
            up.extend(u);
            down.extend(d);
            streams += s;
            if quiet {
                return (streams, up, down);
            }
        }
    }
}

impl World {
    /// Connects, then settles; the messages of both steps.
    fn join(&self, control: &mut ControlSession, node: &mut NodeSync) -> (usize, Vec<Message>, Vec<Message>) {
        let (mut up, mut down) = self.connect(control, node);
        let (streams, u, d) = self.settle(control, node);
        up.extend(u);
        down.extend(d);
        (streams, up, down)
    }
}

fn activations(node: &mut NodeSync) -> Vec<Assignment> {
    node_events(node)
        .into_iter()
        .filter_map(|e| if let NodeEvent::Activate(a) = e { Some(a) } else { None })
        .collect()
}

fn desired(revision: u64, assignments: &[&Assignment]) -> Arc<DesiredState> {
    Arc::new(DesiredState::new(revision, assignments.iter().map(|a| (*a).clone())))
}

fn assigns(messages: &[Message]) -> Vec<&Assign> {
    messages
        .iter()
        .filter_map(|m| if let Message::Assign(a) = m { Some(a) } else { None })
        .collect()
}

fn acks(messages: &[Message]) -> Vec<&Ack> {
    messages
        .iter()
        .filter_map(|m| if let Message::Ack(a) = m { Some(a) } else { None })
        .collect()
}

fn running_versions(node: &NodeSync) -> Vec<(String, u64)> {
    node.running()
        .values()
        .map(|a| (a.key.name.clone(), a.version))
        .collect()
}

#[test]
fn handshake_then_heartbeats_keep_both_sides_alive() {
    let mut w = World::new();
    let mut node = w.node(Inventory::default());
    let mut control = w.control(None);
    let (up, down) = w.connect(&mut control, &mut node);
    assert!(
        matches!(&up[..], [Message::Hello(h)] if h.node_id == "node-fra-1" && h.region == "fra" && h.revision == 0)
    );
    assert!(matches!(&down[..], [Message::Welcome(w)] if w.heartbeat_interval == HB));
    assert_eq!(
        control_events(&mut control),
        vec![ControlEvent::Joined {
            node_id: "node-fra-1".into(),
            region: "fra".into(),
            revision: 0
        }]
    );
    assert_eq!(node_events(&mut node), vec![NodeEvent::Connected]);

    // Ten minutes of heartbeats: nobody is declared dead.
    node.set_status(
        Load {
            in_flight: 3,
            isolates: 2,
            heap_bytes: 1 << 20,
            cpu_permille: 120,
        },
        Health::Healthy,
    );
    let end = w.now + Duration::from_secs(600);
    let mut heartbeats = 0;
    while w.now < end {
        let next = node.poll_timeout().unwrap().min(control.poll_timeout().unwrap());
        w.now = next;
        node.handle_timeout(w.now);
        control.handle_timeout(w.now);
        let (up, _) = exchange(w.now, &mut control, &mut node);
        heartbeats += up.iter().filter(|m| matches!(m, Message::Heartbeat(_))).count();
    }
    assert_eq!(heartbeats, 120);
    assert!(!control.is_closed() && node.is_connected());
    assert!(
        control_events(&mut control)
            .iter()
            .all(|e| matches!(e, ControlEvent::Status { load, .. } if load.in_flight == 3))
    );
}

#[test]
fn other_protocol_version_is_refused_with_a_reason_and_the_node_stops() {
    let w = World::new();
    let mut control = w.control(None);
    let mut frame = BytesMut::new();
    Codec::default()
        .encode(
            &Message::Hello(Hello {
                protocol_version: PROTOCOL_VERSION + 1,
                node_id: "future".into(),
                region: "fra".into(),
                revision: 0,
                deployments: vec![],
                bundles: vec![],
            }),
            &mut frame,
        )
        .unwrap();
    control.handle_data(w.now, &frame);
    assert!(control.is_closed());
    let refuse = control.poll_transmit().expect("a Refuse");
    let Message::Refuse(Refuse { reason, message }) = &refuse else {
        panic!("{refuse:?}")
    };
    assert_eq!(
        *reason,
        RefuseReason::UnsupportedVersion {
            supported: PROTOCOL_VERSION
        }
    );
    assert!(
        message.contains(&format!("unsupported protocol version {}", PROTOCOL_VERSION + 1))
            && message.contains(&format!("speaks version {PROTOCOL_VERSION}")),
        "{message}"
    );
    assert_eq!(
        control_events(&mut control),
        vec![ControlEvent::Closed {
            reason: CloseReason::UnsupportedVersion {
                got: PROTOCOL_VERSION + 1
            }
        }]
    );

    // The node receiving that refusal gives up instead of reconnecting forever.
    let mut node = w.node(Inventory::default());
    node.handle_timeout(w.now);
    node.connected(w.now);
    let mut down = BytesMut::new();
    Codec::default().encode(&refuse, &mut down).unwrap();
    node.handle_data(w.now, &down);
    assert!(node_events(&mut node).iter().any(|e| matches!(
        e,
        NodeEvent::Disconnect {
            reason: DisconnectReason::Refused {
                reason: RefuseReason::UnsupportedVersion { .. },
                ..
            }
        }
    )));
    assert_eq!(node.poll_timeout(), None, "no reconnection after a permanent refusal");
}

#[test]
fn undecodable_frames_close_with_a_protocol_refusal() {
    let w = World::new();
    for (bytes, needle) in [
        (vec![0, 0, 0, 1, 0x42], "unknown message tag 0x42"),
        (vec![0xff, 0, 0, 0], "exceeds the maximum"),
        (vec![0, 0, 0, 2, 0x05, 0xff], "truncated HeartbeatAck"),
    ] {
        let mut control = w.control(None);
        control.handle_data(w.now, &bytes);
        assert!(control.is_closed());
        let Some(Message::Refuse(Refuse {
            reason: RefuseReason::Protocol,
            message,
        })) = control.poll_transmit()
        else {
            panic!("no protocol refusal for {bytes:?}")
        };
        assert!(message.contains(needle), "{message}");
    }
    // A node sending a control-plane message after its Hello.
    let mut node = w.node(Inventory::default());
    let mut control = w.control(None);
    w.connect(&mut control, &mut node);
    control_events(&mut control);
    control.handle_message(
        w.now,
        Message::Welcome(Welcome {
            protocol_version: 1,
            heartbeat_interval: HB,
        }),
    );
    assert!(matches!(
        control_events(&mut control)[..],
        [ControlEvent::Closed {
            reason: CloseReason::Protocol(_)
        }]
    ));
}

#[test]
fn assignment_is_fetched_verified_activated_and_acknowledged() {
    let mut w = World::new();
    let hello = w.assign("hello", 1);
    let api = w.assign("api", 4);
    let d1 = desired(1, &[&hello, &api]);
    let mut node = w.node(Inventory::default());
    let mut control = w.control(Some(&d1));
    let (streams, up, down) = w.join(&mut control, &mut node);

    let sent = assigns(&down);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].revision, sent[0].base, sent[0].deployments.len()),
        (1, Some(0), 2)
    );
    let requests: Vec<_> = up.iter().filter(|m| matches!(m, Message::BundleRequest(_))).collect();
    assert_eq!(requests.len(), 1, "both bundles in one request");
    assert_eq!(streams, 2);

    let acks = acks(&up);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].revision, 1);
    assert_eq!(acks[0].results.len(), 2);
    assert!(
        acks[0]
            .results
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Activated(_)))
    );
    assert_eq!(node.completed_revision(), 1);
    assert_eq!(
        running_versions(&node),
        [("api".to_string(), 4), ("hello".to_string(), 1)]
    );
    assert!(control.in_sync());
    let events = control_events(&mut control);
    assert!(events.contains(&ControlEvent::InSync { revision: 1 }));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ControlEvent::Acked { revision: 1, .. }))
    );
    assert_eq!(node.inventory().revision, 1);
    assert_eq!(node.inventory().bundles.len(), 2);
}

#[test]
fn timings_measure_fetch_verify_and_activate() {
    let mut w = World::new();
    let a = w.assign("timed", 1);
    let mut node = w.node(Inventory::default());
    let mut control = w.control(Some(&desired(1, &[&a])));
    w.connect(&mut control, &mut node);
    exchange(w.now, &mut control, &mut node); // request goes out
    w.advance(Duration::from_millis(300));
    let bytes = w.bundles.clone();
    deliver_bundles(w.now, &mut control, &mut node, |h| bytes[h].clone());
    assert_eq!(activations(&mut node), std::slice::from_ref(&a));
    w.advance(Duration::from_millis(2));
    node.verified(w.now, &a.key, 1);
    w.advance(Duration::from_millis(40));
    node.activated(w.now, &a.key, 1);
    let (up, _) = exchange(w.now, &mut control, &mut node);
    let ack = acks(&up)[0];
    assert_eq!(
        ack.results[0].timing,
        Timing {
            fetch: Duration::from_millis(300),
            verify: Duration::from_millis(2),
            activate: Duration::from_millis(40)
        }
    );
}

#[test]
fn stale_and_duplicate_messages_are_ignored() {
    let mut w = World::new();
    let v1 = w.assign("app", 1);
    let v2 = w.assign("app", 2);
    let mut node = w.node(Inventory::default());
    let mut control = w.control(Some(&desired(1, &[&v1])));
    w.connect(&mut control, &mut node);
    w.settle(&mut control, &mut node);
    control.set_desired(w.now, desired(2, &[&v2]));
    let (_, up, down) = w.settle(&mut control, &mut node);
    assert_eq!(node.completed_revision(), 2);
    let assign2 = assigns(&down)[0].clone();
    let ack2 = acks(&up)[0].clone();
    control_events(&mut control);
    node_events(&mut node);

    // An old Assign arriving late: nothing happens, nothing is sent.
    node.handle_message(
        w.now,
        Message::Assign(Assign {
            revision: 1,
            base: None,
            deployments: vec![v1.clone()],
            removed: vec![],
        }),
    );
    assert_eq!(node.poll_transmit(), None);
    assert!(node_events(&mut node).is_empty());
    assert_eq!(running_versions(&node), [("app".to_string(), 2)]);

    // A duplicate of the current Assign: the node repeats its Ack, the control side reports it once.
    node.handle_message(w.now, Message::Assign(assign2));
    assert_eq!(node.poll_transmit(), Some(Message::Ack(ack2.clone())));
    assert!(node_events(&mut node).is_empty());
    control.handle_message(w.now, Message::Ack(ack2));
    assert!(
        control_events(&mut control).is_empty(),
        "a duplicate Ack is not reported again"
    );

    // An old Ack arriving late does not move the control side back.
    control.handle_message(
        w.now,
        Message::Ack(Ack {
            revision: 1,
            results: vec![],
        }),
    );
    assert!(control_events(&mut control).is_empty());
    assert_eq!(control.node_revision(), 2);

    // A duplicated BundleRequest does not send the bundle twice.
    let v3 = w.assign("app", 3);
    control.set_desired(w.now, desired(3, &[&v3]));
    exchange(w.now, &mut control, &mut node);
    let request = BundleRequest {
        request_id: 99,
        hashes: vec![v3.bundle],
    };
    let mut headers = Vec::new();
    for _ in 0..3 {
        control.handle_message(w.now, Message::BundleRequest(request.clone()));
        headers.extend(std::iter::from_fn(|| control.poll_bundle()));
    }
    assert_eq!(
        headers.iter().filter(|h| h.hash == v3.bundle).count(),
        2,
        "once for the node's own request, once for id 99"
    );
}

#[test]
fn reconnect_sends_only_what_is_missing() {
    let mut w = World::new();
    let hello = w.assign("hello", 1);
    let api = w.assign("api", 1);
    let old = w.assign("old", 1);
    let mut node = w.node(Inventory::default());
    let mut control = w.control(Some(&desired(1, &[&hello, &api, &old])));
    w.connect(&mut control, &mut node);
    w.settle(&mut control, &mut node);
    assert_eq!(node.completed_revision(), 1);

    // The connection drops; meanwhile the control plane moves on: api gets a new version, old is removed,
    // and a new deployment reuses hello's exact bundle (same bytes, so same hash).
    node.connection_lost(w.now);
    let api2 = w.assign("api", 2);
    let twin = w.signer.assign("twin", 1, &w.bundles[&hello.bundle].clone());
    let d2 = desired(2, &[&hello, &api2, &twin]);
    w.advance(Duration::from_secs(31));
    let mut control = w.control(Some(&d2));
    let (streams, up, down) = w.join(&mut control, &mut node);

    let sent = assigns(&down);
    assert_eq!(sent.len(), 1);
    let a = sent[0];
    assert_eq!(a.base, Some(1));
    let mut names: Vec<_> = a.deployments.iter().map(|d| d.key.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["api", "twin"], "hello is unchanged and not sent again");
    assert_eq!(a.removed, vec![old.key.clone()]);
    let requested: Vec<BundleHash> = up
        .iter()
        .filter_map(|m| {
            if let Message::BundleRequest(r) = m {
                Some(r.hashes.clone())
            } else {
                None
            }
        })
        .flatten()
        .collect();
    assert_eq!(requested, vec![api2.bundle], "the twin's bundle is already stored");
    assert_eq!(streams, 1);
    assert_eq!(
        running_versions(&node),
        [
            ("api".to_string(), 2),
            ("hello".to_string(), 1),
            ("twin".to_string(), 1)
        ]
    );
    assert!(control.in_sync());

    // Reconnecting once more with nothing new: Welcome, the repeated Ack, and nothing else.
    node.connection_lost(w.now);
    w.advance(Duration::from_secs(31));
    let mut control = w.control(Some(&d2));
    let (up, down) = w.connect(&mut control, &mut node);
    assert!(matches!(&down[..], [Message::Welcome(_)]), "{down:?}");
    assert!(matches!(&up[..], [Message::Hello(h), Message::Ack(a)] if h.revision == 2 && a.revision == 2));
    assert!(control_events(&mut control).contains(&ControlEvent::InSync { revision: 2 }));
}

/// `a` with other variables (a secret changed): same version, same bundle, signed again.
fn reconfigured(w: &World, a: &Assignment, vars: &str) -> Assignment {
    let mut b = a.clone();
    b.vars = vars.as_bytes().to_vec();
    w.signer.sign(&mut b);
    b
}

#[test]
fn a_changed_configuration_of_the_same_version_is_sent_and_activated_again() {
    let mut w = World::new();
    let hello = w.assign("hello", 1);
    let api = w.assign("api", 1);
    let mut node = w.node(Inventory::default());
    let mut control = w.control(Some(&desired(1, &[&hello, &api])));
    w.join(&mut control, &mut node);
    assert_eq!(node.completed_revision(), 1);

    // A secret of hello changes: the version and bundle stay, the configuration does not.
    let hello2 = reconfigured(&w, &hello, r#"{"API_KEY":"new"}"#);
    assert_ne!(hello2.running(), hello.running());
    control.set_desired(w.now, desired(2, &[&hello2, &api]));
    let (streams, _, down) = w.settle(&mut control, &mut node);
    let sent = assigns(&down);
    assert_eq!(sent.len(), 1);
    let names: Vec<_> = sent[0].deployments.iter().map(|d| d.key.name.as_str()).collect();
    assert_eq!(names, ["hello"], "only the reconfigured deployment");
    assert_eq!(streams, 0, "its bundle is stored already");
    assert_eq!(
        node.running()[&hello.key].vars,
        hello2.vars,
        "activated again with the new variables"
    );
    assert!(control.in_sync());

    // Offline while it changes once more: the reconnecting node's Hello shows the old configuration.
    node.connection_lost(w.now);
    let hello3 = reconfigured(&w, &hello, r#"{"API_KEY":"newer"}"#);
    let d3 = desired(3, &[&hello3, &api]);
    w.advance(Duration::from_secs(31));
    let mut control = w.control(Some(&d3));
    let (_, _, down) = w.join(&mut control, &mut node);
    let sent = assigns(&down);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].deployments.len(), 1);
    assert_eq!(node.running()[&hello.key].vars, hello3.vars);
    assert_eq!(node.completed_revision(), 3);
}

#[test]
fn restarted_node_keeps_its_bundles_and_is_sent_none_again() {
    let mut w = World::new();
    let a = w.assign("a", 1);
    let b = w.assign("b", 1);
    let d1 = desired(1, &[&a, &b]);
    let mut node = w.node(Inventory::default());
    let mut control = w.control(Some(&d1));
    w.connect(&mut control, &mut node);
    w.settle(&mut control, &mut node);

    // The process restarts and its store kept the bundles but lost which ones ran.
    let bundles = node.inventory().bundles;
    let mut node = w.node(Inventory {
        bundles,
        ..Inventory::default()
    });
    let mut control = w.control(Some(&d1));
    let (streams, up, down) = w.join(&mut control, &mut node);
    assert_eq!(assigns(&down)[0].deployments.len(), 2);
    assert_eq!(streams, 0);
    assert!(!up.iter().any(|m| matches!(m, Message::BundleRequest(_))));
    assert_eq!(node.completed_revision(), 1);
    assert_eq!(node.running().len(), 2);
}

#[test]
fn tampered_bundle_is_refused_and_reported() {
    let mut w = World::new();
    let good = w.assign("good", 1);
    let bad = w.assign("bad", 1);
    let mut corrupted = w.bundles[&bad.bundle].clone();
    corrupted[3] ^= 0x20;
    w.bundles.insert(bad.bundle, corrupted);

    let mut node = w.node(Inventory::default());
    let mut control = w.control(Some(&desired(1, &[&good, &bad])));
    w.connect(&mut control, &mut node);
    let (streams, up, _) = w.settle(&mut control, &mut node);
    assert_eq!(streams, 2);
    let ack = acks(&up)[0];
    let result = ack.results.iter().find(|r| r.key == bad.key).unwrap();
    let Outcome::Failed {
        stage,
        reason,
        running,
        wanted,
    } = &result.outcome
    else {
        panic!("{result:?}")
    };
    assert_eq!(*stage, FailureStage::Integrity);
    assert!(reason.contains("refused as tampered"), "{reason}");
    assert_eq!((*running, *wanted), (None, bad.running()));
    assert!(!node.has_bundle(&bad.bundle));
    assert_eq!(running_versions(&node), [("good".to_string(), 1)]);
    assert!(node.inventory().refused.iter().any(|(h, _)| *h == bad.bundle));

    // The next revision still wants it: the refusal stands, the bundle is not fetched again.
    let good2 = w.assign("good", 2);
    control.set_desired(w.now, desired(2, &[&good2, &bad]));
    let (streams, up, _) = w.settle(&mut control, &mut node);
    assert_eq!(streams, 1);
    let ack = acks(&up)[0];
    assert!(ack.results.iter().any(|r| r.key == bad.key
        && matches!(
            r.outcome,
            Outcome::Failed {
                stage: FailureStage::Integrity,
                ..
            }
        )));
}

#[test]
fn wrong_length_and_unsolicited_streams_are_rejected() {
    let mut w = World::new();
    let a = w.assign("a", 1);
    let mut node = w.node(Inventory::default());
    let mut control = w.control(Some(&desired(1, &[&a])));
    w.connect(&mut control, &mut node);
    exchange(w.now, &mut control, &mut node);
    let other = BundleHash::of(b"not requested");
    assert_eq!(
        node.handle_bundle_header(w.now, &BundleHeader { hash: other, length: 3 }),
        Err(BundleRejection::Unsolicited(other))
    );
    let err = node
        .handle_bundle_header(
            w.now,
            &BundleHeader {
                hash: a.bundle,
                length: a.size + 1,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, BundleRejection::WrongLength { announced, assigned, .. } if announced == a.size + 1 && assigned == a.size)
    );
    let (up, _) = exchange(w.now, &mut control, &mut node);
    let result = &acks(&up)[0].results[0];
    assert!(
        matches!(&result.outcome, Outcome::Failed { stage: FailureStage::Integrity, reason, .. } if reason.contains("announced"))
    );
}

#[test]
fn bad_signature_fails_activation_and_the_old_version_keeps_serving() {
    let mut w = World::new();
    let v1 = w.assign("app", 1);
    let mut node = w.node(Inventory::default());
    let mut control = w.control(Some(&desired(1, &[&v1])));
    w.connect(&mut control, &mut node);
    w.settle(&mut control, &mut node);
    let mut forged = w.assign("app", 2);
    forged.signature.0[0] ^= 1;
    control.set_desired(w.now, desired(2, &[&forged]));
    let (_, up, _) = w.settle(&mut control, &mut node);
    let r = &acks(&up)[0].results[0];
    assert!(matches!(
        &r.outcome,
        Outcome::Failed { stage: FailureStage::Signature, running: Some(running), .. } if *running == v1.running()
    ));
    assert_eq!(running_versions(&node), [("app".to_string(), 1)]);
    // Both sides agree the node runs v1 at revision 2: the next delta re-sends v2.
    let v3 = w.assign("app", 3);
    control.set_desired(w.now, desired(3, &[&v3]));
    let (_, _, down) = w.settle(&mut control, &mut node);
    assert_eq!(assigns(&down)[0].base, Some(2));
    assert_eq!(running_versions(&node), [("app".to_string(), 3)]);
}

#[test]
fn silent_peers_are_declared_dead_and_the_node_reconnects_with_backoff() {
    let mut w = World::new();
    let mut node = w.node(Inventory::default());
    let mut control = w.control(None);
    w.connect(&mut control, &mut node);
    control_events(&mut control);
    node_events(&mut node);

    // The network goes silent: nothing is delivered either way.
    let start = w.now;
    let mut control_dead = None;
    let mut node_dead = None;
    while control_dead.is_none() || node_dead.is_none() {
        let next = [node.poll_timeout(), control.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        w.now = next;
        node.handle_timeout(w.now);
        control.handle_timeout(w.now);
        while node.poll_transmit().is_some() {}
        while control.poll_transmit().is_some() {}
        for e in control_events(&mut control) {
            if let ControlEvent::Closed {
                reason: CloseReason::PeerDead { silent_for },
            } = e
            {
                control_dead = Some((w.now - start, silent_for));
            }
        }
        for e in node_events(&mut node) {
            if let NodeEvent::Disconnect {
                reason: DisconnectReason::ControlDead { silent_for },
            } = e
            {
                node_dead = Some((w.now - start, silent_for));
            }
        }
    }
    assert_eq!(control_dead, Some((HB * 3, HB * 3)));
    assert_eq!(node_dead, Some((HB * 3, HB * 3)));

    // Reconnection attempts that fail back off: each wait is in [d/2, d] with d doubling up to 30 s.
    let mut waits = Vec::new();
    let mut last = w.now;
    for _ in 0..10 {
        w.now = node.poll_timeout().unwrap();
        node.handle_timeout(w.now);
        assert_eq!(node_events(&mut node), vec![NodeEvent::Connect]);
        waits.push(w.now - last);
        node.connection_lost(w.now);
        last = w.now;
    }
    let mut d = Duration::from_millis(500);
    for wait in waits {
        assert!(wait >= d / 2 && wait <= d, "{wait:?} not in [{:?}, {d:?}]", d / 2);
        d = (d * 2).min(Duration::from_secs(30));
    }
}

#[test]
fn lost_assign_is_retransmitted_but_not_while_the_node_works() {
    let mut w = World::new();
    let a = w.assign("a", 1);
    let mut node = w.node(Inventory::default());
    let mut control = w.control(None);
    w.connect(&mut control, &mut node);
    control.set_desired(w.now, desired(1, &[&a]));
    // The Assign is lost.
    assert!(matches!(control.poll_transmit(), Some(Message::Assign(_))));
    let first = control.poll_timeout().unwrap();
    assert_eq!(first, w.now + Duration::from_secs(2));
    w.now = first;
    control.handle_timeout(w.now);
    let (_, down) = exchange(w.now, &mut control, &mut node);
    assert_eq!(assigns(&down).len(), 1, "retransmitted");
    // The node now fetches (the bundle is slow): heartbeats say it has the revision, so no more copies.
    let mut retransmits = 0;
    let end = w.now + Duration::from_secs(60);
    while w.now < end {
        w.now = [node.poll_timeout(), control.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap()
            .min(end);
        node.handle_timeout(w.now);
        control.handle_timeout(w.now);
        let (_, down) = exchange(w.now, &mut control, &mut node);
        retransmits += assigns(&down).len();
        // Bundle streams never start: the node asks again every fetch timeout; drop them.
        while control.poll_bundle().is_some() {}
    }
    assert_eq!(retransmits, 0);
    assert_eq!(node.accepted_revision(), 1);
    assert_eq!(node.completed_revision(), 0);
}

#[test]
fn delta_on_a_different_base_gets_a_resync_and_a_full_state() {
    let mut w = World::new();
    let a1 = w.assign("a", 1);
    let b1 = w.assign("b", 1);
    let mut node = w.node(Inventory::default());
    let mut control = w.control(Some(&desired(1, &[&a1, &b1])));
    w.connect(&mut control, &mut node);
    w.settle(&mut control, &mut node);
    // A delta against revision 0, which the node no longer has.
    let a2 = w.assign("a", 2);
    node.handle_message(
        w.now,
        Message::Assign(Assign {
            revision: 2,
            base: Some(0),
            deployments: vec![a2],
            removed: vec![],
        }),
    );
    assert_eq!(
        node.poll_transmit(),
        Some(Message::Resync(Resync { revision: 2, have: 1 }))
    );
    assert_eq!(node.accepted_revision(), 1, "not applied");

    // The control side answers a Resync for its outstanding revision with the whole state.
    let a3 = w.assign("a", 3);
    control.set_desired(w.now, desired(3, &[&a3, &b1]));
    assert!(matches!(
        control.poll_transmit(),
        Some(Message::Assign(Assign { base: Some(1), .. }))
    ));
    control.handle_message(w.now, Message::Resync(Resync { revision: 3, have: 1 }));
    let Some(Message::Assign(full)) = control.poll_transmit() else {
        panic!()
    };
    assert_eq!((full.revision, full.base, full.deployments.len()), (3, None, 2));
}

#[test]
fn node_ahead_of_the_control_plane_is_reported_not_rolled_back() {
    let mut w = World::new();
    let a = w.assign("a", 5);
    let mut node = w.node(Inventory {
        revision: 10,
        running: vec![a.clone()],
        bundles: vec![a.bundle],
        refused: vec![],
    });
    let old = w.assign("a", 4);
    let mut control = w.control(Some(&desired(7, &[&old])));
    let (_, down) = w.connect(&mut control, &mut node);
    assert!(assigns(&down).is_empty());
    assert!(control_events(&mut control).contains(&ControlEvent::NodeAhead {
        node_revision: 10,
        desired_revision: 7
    }));
    assert_eq!(running_versions(&node), [("a".to_string(), 5)]);
}

#[test]
fn superseded_revision_in_flight_is_rolled_forward_to_the_newest() {
    let mut w = World::new();
    let a1 = w.assign("a", 1);
    let mut node = w.node(Inventory::default());
    let mut control = w.control(Some(&desired(1, &[&a1])));
    w.connect(&mut control, &mut node);
    w.settle(&mut control, &mut node);

    // Revision 2 (a v2) starts activating; before it finishes, revision 3 goes back to v1.
    let a2 = w.assign("a", 2);
    control.set_desired(w.now, desired(2, &[&a2]));
    exchange(w.now, &mut control, &mut node);
    let bytes = w.bundles.clone();
    deliver_bundles(w.now, &mut control, &mut node, |h| bytes[h].clone());
    assert!(matches!(&activations(&mut node)[..], [x] if x.version == 2));
    control.set_desired(w.now, desired(3, &[&a1]));
    exchange(w.now, &mut control, &mut node);
    assert_eq!(node.accepted_revision(), 3);
    assert!(node_events(&mut node).is_empty(), "waits for the activation in flight");
    node.activated(w.now, &a2.key, 2);
    assert!(matches!(&activations(&mut node)[..], [x] if x.version == 1));
    node.activated(w.now, &a1.key, 1);
    let (up, _) = exchange(w.now, &mut control, &mut node);
    let acks = acks(&up);
    assert_eq!(acks.len(), 1, "revision 2 was superseded, only 3 is acknowledged");
    assert_eq!(acks[0].revision, 3);
    assert_eq!(running_versions(&node), [("a".to_string(), 1)]);
    assert!(control.in_sync());
}
