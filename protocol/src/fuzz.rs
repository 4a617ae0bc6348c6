//! Hostile bytes through the decoders and both state machines: the driving code the fuzz target
//! (`fuzz/fuzz_targets/decode.rs`) and its deterministic counterpart on stable Rust
//! (`tests/codec_robustness.rs`) share. Not part of the protocol (hidden from the docs); a panic here is
//! a finding.

use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::{
    Codec, ControlConfig, ControlSession, Hello, Inventory, Message, NodeConfig, NodeSync, PROTOCOL_VERSION, Welcome,
};

/// Feeds `pieces`, in turn, to the incremental frame decoder until it fails, then decodes what is left
/// as at end of stream. Whatever decodes must encode again to a frame that decodes to the same message:
/// panics otherwise.
pub fn decode_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) {
    let codec = Codec::default();
    let mut buf = BytesMut::new();
    'feed: for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(message)) => {
                    let mut again = BytesMut::new();
                    codec.encode(&message, &mut again).expect("a decoded message encodes");
                    assert_eq!(
                        codec.decode(&mut again).expect("re-encoded frame decodes"),
                        Some(message)
                    );
                }
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    let _ = codec.decode_eof(&mut buf);
}

/// Brings a [`ControlSession`] and a [`NodeSync`] past their handshake at `now`, feeds both `data` in
/// pieces of `chunk` bytes (at least 1), drains everything they hand out, and lets an hour pass.
pub fn drive_state_machines(now: Instant, data: &[u8], chunk: usize) {
    let mut control = ControlSession::new(now, ControlConfig::default());
    control.handle_message(
        now,
        Message::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            node_id: "fuzz".into(),
            region: "fuzz".into(),
            revision: 0,
            deployments: vec![],
            bundles: vec![],
        }),
    );
    let mut node = NodeSync::new(now, NodeConfig::new("fuzz", "fuzz"), Inventory::default());
    node.handle_timeout(now);
    node.connected(now);
    node.handle_message(
        now,
        Message::Welcome(Welcome {
            protocol_version: PROTOCOL_VERSION,
            heartbeat_interval: Duration::from_secs(1),
        }),
    );
    for piece in data.chunks(chunk) {
        control.handle_data(now, piece);
        node.handle_data(now, piece);
    }
    while control.poll_transmit().is_some() || control.poll_event().is_some() || control.poll_bundle().is_some() {}
    while node.poll_transmit().is_some() || node.poll_event().is_some() {}
    let later = now + Duration::from_secs(3600);
    control.handle_timeout(later);
    node.handle_timeout(later);
}
