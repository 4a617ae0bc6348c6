//! Helpers shared by the protocol's integration tests: real Ed25519 signing of assignments, and a
//! transport stand-in that moves frames between a [`ControlSession`] and a [`NodeSync`] through the codec.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::time::Instant;

use bytes::BytesMut;
use outpost_protocol::{
    Assignment, BundleHash, BundleHeader, BundleReceiver, Codec, ControlEvent, ControlSession, DeploymentKey, Limits,
    Message, NodeEvent, NodeSync, Signature,
};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

/// The control plane's signing key.
pub struct Signer {
    key: Ed25519KeyPair,
}

impl Signer {
    /// A deterministic key from a seed byte.
    pub fn new(seed: u8) -> Self {
        Self {
            key: Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).expect("a 32-byte seed is a valid key"),
        }
    }

    /// A signed assignment of `bytes` as `name` (production) at `version`.
    pub fn assign(&self, name: &str, version: u64, bytes: &[u8]) -> Assignment {
        let mut a = Assignment {
            key: DeploymentKey::new(name, "production"),
            version,
            bundle: BundleHash::of(bytes),
            size: bytes.len() as u64,
            signature: Signature([0; 64]),
            limits: Limits::default(),
            vars: format!("{{\"VERSION\":{version}}}").into_bytes(),
        };
        self.sign(&mut a);
        a
    }

    /// Signs `a` (again, after a change).
    pub fn sign(&self, a: &mut Assignment) {
        let sig = self.key.sign(&a.signing_payload());
        a.signature.0.copy_from_slice(sig.as_ref());
    }

    /// What a node does before activating: check the control plane's signature.
    pub fn verify(&self, a: &Assignment) -> bool {
        UnparsedPublicKey::new(&ED25519, self.key.public_key().as_ref())
            .verify(&a.signing_payload(), &a.signature.0)
            .is_ok()
    }
}

/// Encodes every message `poll` hands out into one buffer.
pub fn drain_frames(mut poll: impl FnMut() -> Option<Message>) -> (BytesMut, Vec<Message>) {
    let codec = Codec::default();
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    while let Some(m) = poll() {
        codec
            .encode(&m, &mut buf)
            .expect("every message the state machines make fits a frame");
        messages.push(m);
    }
    (buf, messages)
}

/// Moves frames both ways between a control session and a node until neither has anything to say.
/// Returns the messages each side sent, in order: (node → control, control → node).
pub fn exchange(now: Instant, control: &mut ControlSession, node: &mut NodeSync) -> (Vec<Message>, Vec<Message>) {
    let mut up = Vec::new();
    let mut down = Vec::new();
    loop {
        let (bytes, msgs) = drain_frames(|| node.poll_transmit());
        control.handle_data(now, &bytes);
        up.extend(msgs);
        let (bytes, msgs) = drain_frames(|| control.poll_transmit());
        node.handle_data(now, &bytes);
        let done = msgs.is_empty();
        down.extend(msgs);
        if done {
            return (up, down);
        }
    }
}

/// Delivers bundle streams: each header the control side hands out, followed by `bytes_of(hash)`.
/// Returns how many streams were delivered.
pub fn deliver_bundles(
    now: Instant,
    control: &mut ControlSession,
    node: &mut NodeSync,
    bytes_of: impl Fn(&BundleHash) -> Vec<u8>,
) -> usize {
    let mut count = 0;
    while let Some(header) = control.poll_bundle() {
        count += 1;
        let mut wire = BytesMut::new();
        header.encode(&mut wire);
        wire.extend_from_slice(&bytes_of(&header.hash));
        let header = BundleHeader::decode(&mut wire, 1 << 30)
            .expect("valid header")
            .expect("complete header");
        if node.handle_bundle_header(now, &header).is_err() {
            continue;
        }
        let mut rx = BundleReceiver::new(header);
        match rx.push(&wire).and_then(|()| rx.finish()) {
            Ok(hash) => node.bundle_stored(now, hash),
            Err(err) => node.bundle_refused(now, header.hash, err.to_string()),
        }
    }
    count
}

/// All events a control session has.
pub fn control_events(control: &mut ControlSession) -> Vec<ControlEvent> {
    std::iter::from_fn(|| control.poll_event()).collect()
}

/// All events a node has.
pub fn node_events(node: &mut NodeSync) -> Vec<NodeEvent> {
    std::iter::from_fn(|| node.poll_event()).collect()
}
