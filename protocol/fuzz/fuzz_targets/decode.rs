//! Fuzz target: every decoder of the protocol, and both state machines, fed arbitrary bytes.
//!
//! The first input byte picks the chunk size the rest is fed in, so the incremental paths are
//! exercised. Whatever decodes must re-encode to a frame that decodes to the same message. Run with
//! `cargo +nightly fuzz run decode` from `protocol/`.

#![no_main]

use std::time::Instant;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use outpost_protocol::{BundleHeader, decode_frame, fuzz};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    fuzz::decode_pieces(data.chunks(chunk));
    let _ = decode_frame(data);
    let _ = BundleHeader::decode(&mut BytesMut::from(data), u64::MAX);
    fuzz::drive_state_machines(Instant::now(), data, chunk);
});
