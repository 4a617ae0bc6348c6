//! Fuzz target: every decoder of the protocol, and both state machines, fed arbitrary bytes.
//!
//! The first input byte picks the chunk size the rest is fed in, so the incremental paths are
//! exercised. Whatever decodes must re-encode to a frame that decodes to the same message. Run with
//! `cargo +nightly fuzz run decode` from `protocol/`.

#![no_main]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use outpost_protocol::{
    BundleHeader, Codec, ControlConfig, ControlSession, Hello, Inventory, Message, NodeConfig, NodeSync,
    PROTOCOL_VERSION, Welcome, decode_frame,
};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let codec = Codec::default();

    // The frame decoder, fed in chunks.
    let mut buf = BytesMut::new();
    'feed: for piece in data.chunks(chunk) {
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
    let _ = decode_frame(data);
    let _ = BundleHeader::decode(&mut BytesMut::from(data), u64::MAX);

    // Both state machines, past their handshake, fed the same bytes.
    let now = Instant::now();
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
});
