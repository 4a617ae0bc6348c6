//! The decoder against hostile input, on stable Rust: the deterministic counterpart of
//! `fuzz/fuzz_targets/decode.rs`.
//!
//! Random messages of every kind round-trip through the codec; then about 100,000 buffers — random
//! bytes, and valid frames with flipped bits, overwritten bytes, cuts, insertions, splices and forged
//! length prefixes — go through the incremental decoder (fed in random chunks), `decode_frame`, the
//! bundle header decoder, and both state machines past their handshake. Nothing may panic, and no decode may allocate more than 1 MiB plus 32 bytes
//! per input byte (see the bound argued in `src/codec.rs`; the corpus peaks below 256 KiB): the test
//! runs under a capped global allocator that makes any allocation past that budget fail, which aborts
//! the test.

use std::alloc::System;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use cap::Cap;
use outpost_protocol::*;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// The allocation limit is process-wide: the tests of this file take turns.
static SERIAL: Mutex<()> = Mutex::new(());

const CASES: usize = 100_000;

fn string(rng: &mut fastrand::Rng) -> String {
    let len = rng.usize(0..24);
    (0..len)
        .map(|_| if rng.u8(..10) == 0 { 'é' } else { rng.alphanumeric() })
        .collect()
}

fn hash(rng: &mut fastrand::Rng) -> BundleHash {
    let mut h = [0u8; 32];
    rng.fill(&mut h);
    BundleHash(h)
}

fn key(rng: &mut fastrand::Rng) -> DeploymentKey {
    DeploymentKey::new(string(rng), string(rng))
}

fn running(rng: &mut fastrand::Rng) -> Running {
    Running {
        version: rng.u64(..),
        bundle: hash(rng),
        config: ConfigDigest(hash(rng).0),
    }
}

fn assignment(rng: &mut fastrand::Rng) -> Assignment {
    let mut signature = [0u8; 64];
    rng.fill(&mut signature);
    let mut vars = vec![0u8; rng.usize(0..64)];
    rng.fill(&mut vars);
    let bits = rng.u32(0..64);
    Assignment {
        key: key(rng),
        version: rng.u64(..1 << bits),
        bundle: hash(rng),
        size: rng.u64(..),
        signature: Signature(signature),
        limits: Limits {
            cpu_time_ms: rng.u32(..),
            heap_bytes: rng.u64(..),
            wall_time_ms: rng.u32(..),
        },
        vars,
    }
}

fn duration(rng: &mut fastrand::Rng) -> Duration {
    let bits = rng.u32(0..63);
    Duration::new(rng.u64(..1 << bits), rng.u32(..1_000_000_000))
}

fn many<T>(rng: &mut fastrand::Rng, max: usize, mut f: impl FnMut(&mut fastrand::Rng) -> T) -> Vec<T> {
    let n = rng.usize(0..=max);
    (0..n).map(|_| f(rng)).collect()
}

fn health(rng: &mut fastrand::Rng) -> Health {
    match rng.u8(..4) {
        0 => Health::Healthy,
        1 => Health::Degraded { reason: string(rng) },
        2 => Health::Draining,
        _ => Health::Unhealthy { reason: string(rng) },
    }
}

fn outcome(rng: &mut fastrand::Rng) -> Outcome {
    match rng.u8(..3) {
        0 => Outcome::Activated(running(rng)),
        1 => Outcome::Removed,
        _ => Outcome::Failed {
            wanted: running(rng),
            stage: [FailureStage::Integrity, FailureStage::Signature, FailureStage::Activate][rng.usize(..3)],
            reason: string(rng),
            running: rng.bool().then(|| running(rng)),
        },
    }
}

/// A random, valid message of a random kind.
fn message(rng: &mut fastrand::Rng) -> Message {
    match rng.u8(..9) {
        0 => Message::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            node_id: string(rng),
            region: string(rng),
            revision: rng.u64(..),
            deployments: many(rng, 4, |r| Held {
                key: key(r),
                running: running(r),
            }),
            bundles: many(rng, 4, hash),
        }),
        1 => Message::Welcome(Welcome {
            protocol_version: PROTOCOL_VERSION,
            heartbeat_interval: duration(rng),
        }),
        2 => Message::Refuse(Refuse {
            reason: match rng.u8(..5) {
                0 => RefuseReason::UnsupportedVersion { supported: rng.u16(..) },
                1 => RefuseReason::Unauthorized,
                2 => RefuseReason::Duplicate,
                3 => RefuseReason::Protocol,
                _ => RefuseReason::ShuttingDown,
            },
            message: string(rng),
        }),
        3 => Message::Heartbeat(Heartbeat {
            seq: rng.u64(..),
            accepted_revision: rng.u64(..),
            completed_revision: rng.u64(..),
            load: Load {
                in_flight: rng.u32(..),
                isolates: rng.u32(..),
                heap_bytes: rng.u64(..),
                cpu_permille: rng.u16(..),
            },
            health: health(rng),
        }),
        4 => Message::HeartbeatAck(HeartbeatAck { seq: rng.u64(..) }),
        5 => Message::Assign(Assign {
            revision: rng.u64(..),
            base: rng.bool().then(|| rng.u64(..)),
            deployments: many(rng, 3, assignment),
            removed: many(rng, 3, key),
        }),
        6 => Message::Ack(Ack {
            revision: rng.u64(..),
            results: many(rng, 4, |r| DeploymentResult {
                key: key(r),
                outcome: outcome(r),
                timing: Timing {
                    fetch: duration(r),
                    verify: duration(r),
                    activate: duration(r),
                },
            }),
        }),
        7 => Message::BundleRequest(BundleRequest {
            request_id: rng.u64(..),
            hashes: many(rng, 4, hash),
        }),
        _ => Message::Resync(Resync {
            revision: rng.u64(..),
            have: rng.u64(..),
        }),
    }
}

fn encode(m: &Message) -> Vec<u8> {
    let mut buf = BytesMut::new();
    Codec::default().encode(m, &mut buf).expect("a small message encodes");
    buf.to_vec()
}

/// A damaged copy of a valid frame (or of two frames back to back).
fn mutate(rng: &mut fastrand::Rng, mut bytes: Vec<u8>, other: &[u8]) -> Vec<u8> {
    for _ in 0..rng.usize(1..=4) {
        match rng.u8(..9) {
            0 if !bytes.is_empty() => {
                let i = rng.usize(..bytes.len());
                bytes[i] ^= 1 << rng.u8(..8);
            }
            1 if !bytes.is_empty() => {
                let i = rng.usize(..bytes.len());
                bytes[i] = [0x00, 0x01, 0x7f, 0x80, 0xff][rng.usize(..5)];
            }
            2 => bytes.truncate(rng.usize(..=bytes.len())),
            3 => {
                let at = rng.usize(..=bytes.len());
                let junk: Vec<u8> = (0..rng.usize(1..16)).map(|_| rng.u8(..)).collect();
                bytes.splice(at..at, junk);
            }
            4 => {
                let at = rng.usize(..=bytes.len());
                bytes.truncate(at);
                bytes.extend_from_slice(&other[rng.usize(..=other.len())..]);
            }
            5 if bytes.len() >= 4 => {
                // Forge the length prefix: slightly off, or huge.
                let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                let forged = match rng.u8(..3) {
                    0 => len.wrapping_add(rng.u32(..8)).wrapping_sub(4),
                    1 => rng.u32(..),
                    _ => rng.u32(..(DEFAULT_MAX_FRAME as u32)),
                };
                bytes[..4].copy_from_slice(&forged.to_be_bytes());
            }
            7 if bytes.len() > 5 => {
                // A huge varint where a sequence or string length may be: the decoder must not trust it.
                let at = rng.usize(5..=bytes.len());
                let big: &[u8] = [
                    &[0xff, 0xff, 0xff, 0xff, 0x0f][..],
                    &[0x80, 0x80, 0x40],
                    &[0xff, 0xff, 0x03],
                ][rng.usize(..3)];
                if rng.bool() {
                    bytes.splice(at..at, big.iter().copied());
                } else {
                    let end = (at + big.len()).min(bytes.len());
                    bytes.splice(at..end, big.iter().copied());
                }
            }
            6 if bytes.len() > 5 => {
                // Repeat a slice (turns a sequence length into lies).
                let a = rng.usize(4..bytes.len());
                let b = rng.usize(a..=bytes.len());
                let slice = bytes[a..b].to_vec();
                bytes.splice(a..a, slice);
            }
            _ => {
                // Change the tag to a random one.
                if bytes.len() > 4 {
                    bytes[4] = rng.u8(..);
                }
            }
        }
    }
    bytes
}

/// Feeds `input` to every decoder; panics propagate to the caller.
fn decode_all(rng: &mut fastrand::Rng, input: &[u8]) {
    // The frame decoder, fed in random chunks.
    let mut rest = input;
    fuzz::decode_pieces(std::iter::from_fn(|| {
        if rest.is_empty() {
            return None;
        }
        let (piece, tail) = rest.split_at(rng.usize(1..=rest.len().min(64)));
        rest = tail;
        Some(piece)
    }));
    if input.len() > 4 {
        let _ = decode_frame(&input[4..]);
    }
    let _ = BundleHeader::decode(&mut BytesMut::from(input), 1 << 30);
    // Both state machines, past their handshake, fed the same bytes in chunks.
    fuzz::drive_state_machines(Instant::now(), input, rng.usize(1..=64));
}

#[test]
fn random_messages_round_trip() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = fastrand::Rng::with_seed(1);
    let codec = Codec::default();
    let mut stream = BytesMut::new();
    let mut sent = Vec::new();
    for _ in 0..5_000 {
        let m = message(&mut rng);
        codec.encode(&m, &mut stream).unwrap();
        sent.push(m);
    }
    let mut received = Vec::new();
    let mut buf = BytesMut::new();
    while !stream.is_empty() {
        let n = rng.usize(1..=stream.len().min(300));
        buf.extend_from_slice(&stream.split_to(n));
        while let Some(m) = codec.decode(&mut buf).unwrap() {
            received.push(m);
        }
    }
    assert_eq!(received, sent);
}

#[test]
fn hostile_buffers_never_panic_nor_allocate_without_bound() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let valid: Vec<Vec<u8>> = (0..512).map(|_| encode(&message(&mut rng))).collect();
    let mut errors = 0usize;
    for case in 0..CASES {
        let input = if case % 4 == 0 {
            let len = rng.usize(0..256);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            if rng.bool() && bytes.len() > 4 {
                // Mostly-plausible header: a small length and a known tag.
                bytes[..4].copy_from_slice(&(len as u32 - 4).to_be_bytes());
                bytes[4] = rng.u8(1..=9);
            }
            bytes
        } else {
            let a = valid[rng.usize(..valid.len())].clone();
            let b = &valid[rng.usize(..valid.len())];
            mutate(&mut rng, a, b)
        };
        let budget = (1 << 20) + 32 * input.len();
        let base = ALLOCATOR.allocated();
        ALLOCATOR
            .set_limit(base + budget)
            .expect("limit above what is allocated");
        let mut case_rng = fastrand::Rng::with_seed(case as u64);
        let outcome = catch_unwind(AssertUnwindSafe(|| decode_all(&mut case_rng, &input)));
        ALLOCATOR.set_limit(usize::MAX).unwrap();
        if outcome.is_err() {
            let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
            panic!("case {case}: the decoder panicked on {hex}");
        }
        if Codec::default().decode(&mut BytesMut::from(&input[..])).is_err() {
            errors += 1;
        }
    }
    // The corpus is mostly invalid: the decoders did reject things, not just wait for more bytes.
    assert!(errors > CASES / 3, "only {errors} of {CASES} inputs were rejected");
}
