//! Framing and encoding of control-stream messages.
//!
//! A frame is a big-endian `u32` length, then that many bytes: a one-byte message tag and the message
//! body. The length counts the tag, so it is at least 1, and it is checked against a maximum frame size
//! before any of the body is buffered — a peer cannot make the decoder hold more than one maximum-size
//! frame.
//!
//! ```text
//! +----------------+-----+--------------------------+
//! | length: u32 BE | tag | body (postcard, length-1)|
//! +----------------+-----+--------------------------+
//! ```
//!
//! Bodies are [postcard](https://docs.rs/postcard): serde's data model written as varints, length-
//! prefixed strings and sequences, and enum variants as varint indices. Why postcard rather than a
//! hand-written format or another serde format:
//!
//! - its wire format is specified and frozen for 1.x, so the protocol's layout is "the serde shape of the
//!   types in [`crate::message`] in postcard 1", reviewable in one place and stable across upgrades;
//! - it is compact (a heartbeat is about 15 bytes) and not self-describing, which suits a versioned
//!   protocol: compatibility comes from [`crate::PROTOCOL_VERSION`], not from field names;
//! - decoding is bounded by the input: strings and byte strings are copied from the frame only after
//!   their length was checked against it, and a sequence whose claimed length exceeds the bytes left
//!   gets no size hint, so serde preallocates nothing for it (and never more than 1 MiB for any
//!   sequence). With the 64 KiB cap on what [`Codec::decode`] reserves ahead of received bytes, memory
//!   follows what a peer actually sent, not what it announced (`tests/codec_robustness.rs` checks a
//!   budget of 1 MiB + 32 bytes per input byte on 100,000 hostile buffers);
//! - it adds one small dependency (`cobs`) to the graph, with default features off.
//!
//! The tag stays outside postcard so an unknown message is reported as such ([`DecodeError::UnknownTag`])
//! rather than as a malformed enum, and a `Hello`'s or `Welcome`'s protocol version is read before the
//! rest of its body, whose layout may differ between versions.

use std::time::Instant;

use bytes::{Buf, BufMut, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::message::{Message, PROTOCOL_VERSION, tag, tag_name};

/// Bytes of the frame length prefix.
pub const LENGTH_PREFIX: usize = 4;

/// The most [`Codec::decode`] reserves ahead of the bytes received for an incomplete frame.
const RESERVE_AHEAD: usize = 64 << 10;

/// Default maximum frame size (tag + body): 8 MiB, room for a full `Assign` of several thousand
/// deployments.
pub const DEFAULT_MAX_FRAME: usize = 8 << 20;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A frame announced more bytes than the maximum frame size.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    Oversize {
        /// Announced frame length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A frame of length 0: not even a tag.
    #[error("empty frame: a frame holds at least a message tag")]
    EmptyFrame,
    /// The tag names no message of this protocol version.
    #[error("unknown message tag {0:#04x}")]
    UnknownTag(u8),
    /// A `Hello` or `Welcome` (or a bundle stream) of another protocol version.
    #[error("unsupported protocol version {got}: this side speaks version {supported}")]
    UnsupportedVersion {
        /// The version received.
        got: u16,
        /// The version spoken here.
        supported: u16,
    },
    /// The frame ended inside the message body.
    #[error("truncated {message} message: its frame ends inside it")]
    Truncated {
        /// Which message.
        message: &'static str,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({buffered} bytes of it received)")]
    TruncatedStream {
        /// Bytes of the incomplete frame that were received.
        buffered: usize,
    },
    /// The body is not a valid encoding of the message (bad varint, UTF-8, enum variant, …).
    #[error("malformed {message} message: {source}")]
    Malformed {
        /// Which message.
        message: &'static str,
        /// What postcard found wrong.
        #[source]
        source: postcard::Error,
    },
    /// The message ended before its frame did.
    #[error("{extra} unexpected bytes after the {message} message in its frame")]
    TrailingBytes {
        /// Which message.
        message: &'static str,
        /// How many bytes were left.
        extra: usize,
    },
    /// A bundle stream did not start with the bundle header magic.
    #[error("not an Outpost bundle stream (bad header magic)")]
    BadMagic,
    /// A bundle header announced more bytes than the node accepts for one bundle.
    #[error("bundle of {len} bytes exceeds the maximum of {max} bytes")]
    BundleTooLarge {
        /// Announced bundle length.
        len: u64,
        /// The limit.
        max: u64,
    },
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoded message does not fit in a frame.
    #[error("{message} message of {len} bytes exceeds the maximum frame of {max} bytes")]
    Oversize {
        /// Which message.
        message: &'static str,
        /// Its encoded length (tag + body).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The serializer refused the value (does not happen for this crate's types).
    #[error("cannot encode {message} message: {source}")]
    Serialize {
        /// Which message.
        message: &'static str,
        /// What postcard reported.
        #[source]
        source: postcard::Error,
    },
}

/// Encoder and incremental decoder of control-stream frames, in the shape of a `tokio_util` codec.
#[derive(Clone, Copy, Debug)]
pub struct Codec {
    max_frame: usize,
}

impl Default for Codec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl Codec {
    /// A codec refusing frames longer than `max_frame` bytes (tag + body; at most `u32::MAX`).
    pub fn new(max_frame: usize) -> Self {
        Self {
            max_frame: max_frame.clamp(1, u32::MAX as usize),
        }
    }

    /// The maximum frame size.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Appends `message` as one frame to `dst`. On error `dst` is left as it was.
    pub fn encode(&self, message: &Message, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let start = dst.len();
        dst.put_u32(0);
        dst.put_u8(message.tag());
        let written = match message {
            Message::Hello(m) => write_body(m, dst),
            Message::Welcome(m) => write_body(m, dst),
            Message::Refuse(m) => write_body(m, dst),
            Message::Heartbeat(m) => write_body(m, dst),
            Message::HeartbeatAck(m) => write_body(m, dst),
            Message::Assign(m) => write_body(m, dst),
            Message::Ack(m) => write_body(m, dst),
            Message::BundleRequest(m) => write_body(m, dst),
            Message::Resync(m) => write_body(m, dst),
        };
        if let Err(source) = written {
            dst.truncate(start);
            return Err(EncodeError::Serialize {
                message: message.name(),
                source,
            });
        }
        let len = dst.len() - start - LENGTH_PREFIX;
        if len > self.max_frame {
            dst.truncate(start);
            return Err(EncodeError::Oversize {
                message: message.name(),
                len,
                max: self.max_frame,
            });
        }
        // `len <= max_frame <= u32::MAX`.
        dst[start..start + LENGTH_PREFIX].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }

    /// Takes one complete frame off the front of `src` and decodes it. `Ok(None)`: more bytes are needed
    /// (capacity for the rest of the frame, up to 64 KiB of it, is reserved). A frame that fails to decode is consumed; an
    /// oversize frame is not (the stream cannot be resynchronised after it and must be closed).
    pub fn decode(&self, src: &mut BytesMut) -> Result<Option<Message>, DecodeError> {
        if src.len() < LENGTH_PREFIX {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > self.max_frame {
            return Err(DecodeError::Oversize {
                len,
                max: self.max_frame,
            });
        }
        if len == 0 {
            src.advance(LENGTH_PREFIX);
            return Err(DecodeError::EmptyFrame);
        }
        if src.len() < LENGTH_PREFIX + len {
            // Room for the rest of the frame, but not more than a chunk ahead of what arrived: memory
            // follows the bytes received, not the length a peer announced.
            src.reserve((LENGTH_PREFIX + len - src.len()).min(RESERVE_AHEAD));
            return Ok(None);
        }
        let frame = src.split_to(LENGTH_PREFIX + len);
        decode_frame(&frame[LENGTH_PREFIX..]).map(Some)
    }

    /// Like [`Codec::decode`] at the end of the stream: leftover bytes of an incomplete frame are an
    /// error.
    pub fn decode_eof(&self, src: &mut BytesMut) -> Result<Option<Message>, DecodeError> {
        match self.decode(src)? {
            Some(message) => Ok(Some(message)),
            None if src.is_empty() => Ok(None),
            None => Err(DecodeError::TruncatedStream { buffered: src.len() }),
        }
    }
}

fn write_body<T: Serialize>(body: &T, dst: &mut BytesMut) -> Result<(), postcard::Error> {
    postcard::to_extend(body, ExtendBytes(dst)).map(|_| ())
}

/// `BytesMut` as the `Extend<u8>` postcard writes into, without moving the buffer.
struct ExtendBytes<'a>(&'a mut BytesMut);

impl Extend<u8> for ExtendBytes<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl<'a> Extend<&'a u8> for ExtendBytes<'_> {
    fn extend<I: IntoIterator<Item = &'a u8>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

/// Decodes one frame's content (tag + body, without the length prefix).
pub fn decode_frame(frame: &[u8]) -> Result<Message, DecodeError> {
    let (&tag, body) = frame.split_first().ok_or(DecodeError::EmptyFrame)?;
    let name = tag_name(tag).ok_or(DecodeError::UnknownTag(tag))?;
    Ok(match tag {
        tag::HELLO => {
            check_version(name, body)?;
            Message::Hello(read_body(name, body)?)
        }
        tag::WELCOME => {
            check_version(name, body)?;
            Message::Welcome(read_body(name, body)?)
        }
        tag::REFUSE => Message::Refuse(read_body(name, body)?),
        tag::HEARTBEAT => Message::Heartbeat(read_body(name, body)?),
        tag::HEARTBEAT_ACK => Message::HeartbeatAck(read_body(name, body)?),
        tag::ASSIGN => Message::Assign(read_body(name, body)?),
        tag::ACK => Message::Ack(read_body(name, body)?),
        tag::BUNDLE_REQUEST => Message::BundleRequest(read_body(name, body)?),
        tag::RESYNC => Message::Resync(read_body(name, body)?),
        _ => return Err(DecodeError::UnknownTag(tag)),
    })
}

fn check_version(name: &'static str, body: &[u8]) -> Result<(), DecodeError> {
    let (got, _) = postcard::take_from_bytes::<u16>(body).map_err(|e| body_error(name, e))?;
    if got != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            got,
            supported: PROTOCOL_VERSION,
        });
    }
    Ok(())
}

fn read_body<T: DeserializeOwned>(name: &'static str, body: &[u8]) -> Result<T, DecodeError> {
    let (value, rest) = postcard::take_from_bytes::<T>(body).map_err(|e| body_error(name, e))?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes {
            message: name,
            extra: rest.len(),
        });
    }
    Ok(value)
}

fn body_error(message: &'static str, source: postcard::Error) -> DecodeError {
    match source {
        postcard::Error::DeserializeUnexpectedEnd => DecodeError::Truncated { message },
        source => DecodeError::Malformed { message, source },
    }
}

/// A state machine that reads [`Message`]s off the control stream ([`crate::ControlSession`],
/// [`crate::NodeSync`]). Each says where its input is, whether it still reads, and what a message or a
/// bad frame does; [`ReadFrames::read_frames`] is the decoding loop both share.
pub(crate) trait ReadFrames {
    /// The decoder, and the bytes received but not decoded yet.
    fn frames(&mut self) -> (&Codec, &mut BytesMut);
    /// Whether the control stream is still read (the session open, the connection up).
    fn reading(&self) -> bool;
    /// A message was decoded.
    fn frame_message(&mut self, now: Instant, message: Message);
    /// A frame did not decode; nothing more is read from this data.
    fn frame_error(&mut self, now: Instant, err: DecodeError);

    /// Appends `data` to the received bytes and hands out the messages complete in them, in order,
    /// until one does not decode or the stream is no longer read.
    fn read_frames(&mut self, now: Instant, data: &[u8]) {
        if !self.reading() {
            return;
        }
        self.frames().1.extend_from_slice(data);
        loop {
            let (codec, inbuf) = self.frames();
            match codec.decode(inbuf) {
                Ok(Some(message)) => self.frame_message(now, message),
                Ok(None) => break,
                Err(err) => {
                    self.frame_error(now, err);
                    break;
                }
            }
            if !self.reading() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::message::*;
    use crate::types::*;

    fn assignment(name: &str, version: u64) -> Assignment {
        Assignment {
            key: DeploymentKey::new(name, "production"),
            version,
            bundle: BundleHash::of(name.as_bytes()),
            size: 1234,
            signature: Signature([7; 64]),
            limits: Limits {
                cpu_time_ms: 50,
                heap_bytes: 128 << 20,
                wall_time_ms: 30_000,
            },
            vars: br#"{"GREETING":"hi"}"#.to_vec(),
        }
    }

    /// One message of every kind, with every enum variant inside them somewhere.
    pub(crate) fn samples() -> Vec<Message> {
        let a = assignment("hello", 3);
        let running = a.running();
        vec![
            Message::Hello(Hello {
                protocol_version: PROTOCOL_VERSION,
                node_id: "node-fra-1".into(),
                region: "fra".into(),
                revision: 41,
                deployments: vec![Held {
                    key: a.key.clone(),
                    running,
                }],
                bundles: vec![a.bundle, BundleHash::of(b"old")],
            }),
            Message::Welcome(Welcome {
                protocol_version: PROTOCOL_VERSION,
                heartbeat_interval: Duration::from_secs(5),
            }),
            Message::Refuse(Refuse {
                reason: RefuseReason::UnsupportedVersion { supported: 2 },
                message: "speak version 2".into(),
            }),
            Message::Refuse(Refuse {
                reason: RefuseReason::Unauthorized,
                message: String::new(),
            }),
            Message::Refuse(Refuse {
                reason: RefuseReason::Duplicate,
                message: "x".into(),
            }),
            Message::Refuse(Refuse {
                reason: RefuseReason::Protocol,
                message: "x".into(),
            }),
            Message::Refuse(Refuse {
                reason: RefuseReason::ShuttingDown,
                message: "x".into(),
            }),
            Message::Heartbeat(Heartbeat {
                seq: 9,
                accepted_revision: 42,
                completed_revision: 41,
                load: Load {
                    in_flight: 12,
                    isolates: 3,
                    heap_bytes: 40 << 20,
                    cpu_permille: 250,
                },
                health: Health::Healthy,
            }),
            Message::Heartbeat(Heartbeat {
                seq: u64::MAX,
                accepted_revision: 0,
                completed_revision: 0,
                load: Load::default(),
                health: Health::Degraded {
                    reason: "disk 95% full".into(),
                },
            }),
            Message::Heartbeat(Heartbeat {
                seq: 1,
                accepted_revision: 1,
                completed_revision: 1,
                load: Load::default(),
                health: Health::Draining,
            }),
            Message::Heartbeat(Heartbeat {
                seq: 2,
                accepted_revision: 1,
                completed_revision: 1,
                load: Load::default(),
                health: Health::Unhealthy {
                    reason: "no isolates".into(),
                },
            }),
            Message::HeartbeatAck(HeartbeatAck { seq: 9 }),
            Message::Assign(Assign {
                revision: 42,
                base: None,
                deployments: vec![a.clone(), assignment("api", 1)],
                removed: vec![],
            }),
            Message::Assign(Assign {
                revision: 43,
                base: Some(42),
                deployments: vec![assignment("api", 2)],
                removed: vec![DeploymentKey::new("old", "staging")],
            }),
            Message::Ack(Ack {
                revision: 42,
                results: vec![
                    DeploymentResult {
                        key: a.key.clone(),
                        outcome: Outcome::Activated(running),
                        timing: Timing {
                            fetch: Duration::from_millis(120),
                            verify: Duration::from_micros(80),
                            activate: Duration::from_millis(4),
                        },
                    },
                    DeploymentResult {
                        key: DeploymentKey::new("old", "staging"),
                        outcome: Outcome::Removed,
                        timing: Timing::default(),
                    },
                    DeploymentResult {
                        key: DeploymentKey::new("bad", "production"),
                        outcome: Outcome::Failed {
                            wanted: running,
                            stage: FailureStage::Integrity,
                            reason: "sha-256 mismatch".into(),
                            running: Some(running),
                        },
                        timing: Timing::default(),
                    },
                    DeploymentResult {
                        key: DeploymentKey::new("bad", "production"),
                        outcome: Outcome::Failed {
                            wanted: running,
                            stage: FailureStage::Signature,
                            reason: "bad signature".into(),
                            running: None,
                        },
                        timing: Timing::default(),
                    },
                    DeploymentResult {
                        key: DeploymentKey::new("bad", "production"),
                        outcome: Outcome::Failed {
                            wanted: running,
                            stage: FailureStage::Activate,
                            reason: "SyntaxError at index.js:1:5".into(),
                            running: None,
                        },
                        timing: Timing::default(),
                    },
                ],
            }),
            Message::BundleRequest(BundleRequest {
                request_id: 7,
                hashes: vec![a.bundle, BundleHash([0; 32])],
            }),
            Message::Resync(Resync { revision: 43, have: 40 }),
        ]
    }

    fn encode(message: &Message) -> BytesMut {
        let mut buf = BytesMut::new();
        Codec::default().encode(message, &mut buf).expect("encodes");
        buf
    }

    #[test]
    fn every_message_round_trips() {
        let codec = Codec::default();
        for message in samples() {
            let mut buf = encode(&message);
            let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            assert_eq!(len + LENGTH_PREFIX, buf.len());
            assert_eq!(buf[4], message.tag());
            assert_eq!(codec.decode(&mut buf).unwrap(), Some(message.clone()));
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn all_messages_in_one_buffer_fed_byte_by_byte() {
        let codec = Codec::default();
        let messages = samples();
        let mut wire = BytesMut::new();
        for m in &messages {
            codec.encode(m, &mut wire).unwrap();
        }
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        for byte in wire.iter() {
            buf.put_u8(*byte);
            while let Some(m) = codec.decode(&mut buf).unwrap() {
                decoded.push(m);
            }
        }
        assert_eq!(decoded, messages);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    }

    #[test]
    fn heartbeat_is_compact() {
        let hb = Message::Heartbeat(Heartbeat {
            seq: 300,
            accepted_revision: 42,
            completed_revision: 42,
            load: Load {
                in_flight: 10,
                isolates: 4,
                heap_bytes: 50 << 20,
                cpu_permille: 300,
            },
            health: Health::Healthy,
        });
        assert!(encode(&hb).len() <= 20, "{} bytes", encode(&hb).len());
    }

    #[test]
    fn partial_frame_waits_and_reserves() {
        let codec = Codec::default();
        let full = encode(&samples()[0]);
        for cut in 0..full.len() {
            let mut buf = BytesMut::from(&full[..cut]);
            assert_eq!(codec.decode(&mut buf).unwrap(), None, "cut at {cut}");
            assert_eq!(buf.len(), cut, "nothing consumed");
            if cut >= LENGTH_PREFIX {
                assert!(buf.capacity() >= full.len());
            }
            let expected = if cut == 0 {
                Ok(None)
            } else {
                Err(DecodeError::TruncatedStream { buffered: cut })
            };
            assert_eq!(codec.decode_eof(&mut buf), expected);
        }
        let mut huge = BytesMut::from(&[0x00, 0x70, 0x00, 0x00, tag::ASSIGN][..]);
        assert_eq!(codec.decode(&mut huge).unwrap(), None);
        assert!(
            huge.capacity() <= 128 << 10,
            "a 7 MiB announcement reserves {}",
            huge.capacity()
        );
    }

    #[test]
    fn oversize_frame_is_refused_before_buffering() {
        let codec = Codec::new(64);
        let mut buf = BytesMut::new();
        buf.put_u32(65);
        buf.put_u8(tag::HEARTBEAT_ACK);
        assert_eq!(codec.decode(&mut buf), Err(DecodeError::Oversize { len: 65, max: 64 }));
        assert!(buf.capacity() < 64, "no room reserved for the oversize frame");

        let mut huge = BytesMut::new();
        huge.put_u32(u32::MAX);
        assert_eq!(
            Codec::default().decode(&mut huge),
            Err(DecodeError::Oversize {
                len: u32::MAX as usize,
                max: DEFAULT_MAX_FRAME
            })
        );
    }

    #[test]
    fn oversize_message_is_not_encoded() {
        let codec = Codec::new(100);
        let big = Message::BundleRequest(BundleRequest {
            request_id: 1,
            hashes: vec![BundleHash([1; 32]); 4],
        });
        let mut buf = BytesMut::from(&b"keep"[..]);
        let err = codec.encode(&big, &mut buf).unwrap_err();
        assert!(
            matches!(
                err,
                EncodeError::Oversize {
                    message: "BundleRequest",
                    max: 100,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(&buf[..], b"keep");
    }

    #[test]
    fn empty_frame_is_an_error_and_consumed() {
        let mut buf = BytesMut::from(&[0, 0, 0, 0, 0, 0, 0, 2, tag::HEARTBEAT_ACK, 5][..]);
        let codec = Codec::default();
        assert_eq!(codec.decode(&mut buf), Err(DecodeError::EmptyFrame));
        assert_eq!(
            codec.decode(&mut buf),
            Ok(Some(Message::HeartbeatAck(HeartbeatAck { seq: 5 })))
        );
    }

    #[test]
    fn unknown_tags_are_errors() {
        for t in [0u8, 0x0a, 0x7f, 0xff] {
            let mut buf = BytesMut::from(&[0, 0, 0, 2, t, 0][..]);
            assert_eq!(Codec::default().decode(&mut buf), Err(DecodeError::UnknownTag(t)));
            assert!(buf.is_empty(), "the bad frame is consumed");
        }
        assert_eq!(DecodeError::UnknownTag(0x0a).to_string(), "unknown message tag 0x0a");
    }

    #[test]
    fn other_protocol_versions_are_refused() {
        for message in [
            Message::Hello(Hello {
                protocol_version: PROTOCOL_VERSION + 1,
                node_id: "n".into(),
                region: "r".into(),
                revision: 0,
                deployments: vec![],
                bundles: vec![],
            }),
            Message::Welcome(Welcome {
                protocol_version: 0,
                heartbeat_interval: Duration::from_secs(1),
            }),
        ] {
            let mut buf = encode(&message);
            let got = match &message {
                Message::Hello(h) => h.protocol_version,
                Message::Welcome(w) => w.protocol_version,
                _ => unreachable!(),
            };
            let err = Codec::default().decode(&mut buf).unwrap_err();
            assert_eq!(
                err,
                DecodeError::UnsupportedVersion {
                    got,
                    supported: PROTOCOL_VERSION
                }
            );
            let speaks = format!("speaks version {PROTOCOL_VERSION}");
            assert!(err.to_string().contains(&speaks), "{err}");
        }
        // A future version whose body layout is unknown: only the version is read.
        let mut frame = BytesMut::new();
        frame.put_u32(4);
        frame.put_slice(&[tag::HELLO, 0x80, 0x01, 0xff]); // varint 128, then garbage
        assert_eq!(
            Codec::default().decode(&mut frame),
            Err(DecodeError::UnsupportedVersion {
                got: 128,
                supported: PROTOCOL_VERSION
            })
        );
    }

    #[test]
    fn truncated_bodies_are_errors() {
        for message in samples() {
            let full = encode(&message);
            let body_len = full.len() - LENGTH_PREFIX - 1;
            for cut in 0..body_len {
                let frame_len = 1 + cut;
                let mut buf = BytesMut::new();
                buf.put_u32(frame_len as u32);
                buf.put_slice(&full[LENGTH_PREFIX..LENGTH_PREFIX + frame_len]);
                let err = Codec::default().decode(&mut buf).unwrap_err();
                assert!(
                    matches!(err, DecodeError::Truncated { .. }),
                    "{} cut to {cut} of {body_len}: {err}",
                    message.name()
                );
            }
        }
    }

    #[test]
    fn trailing_bytes_are_errors() {
        let full = encode(&Message::HeartbeatAck(HeartbeatAck { seq: 1 }));
        let mut buf = BytesMut::new();
        buf.put_u32((full.len() - LENGTH_PREFIX + 2) as u32);
        buf.put_slice(&full[LENGTH_PREFIX..]);
        buf.put_slice(&[0, 0]);
        assert_eq!(
            Codec::default().decode(&mut buf),
            Err(DecodeError::TrailingBytes {
                message: "HeartbeatAck",
                extra: 2
            })
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let cases: &[(&[u8], &str)] = &[
            // Refuse with reason variant 9.
            (&[tag::REFUSE, 9, 0], "Refuse"),
            // Assign with `base` option tag 2.
            (&[tag::ASSIGN, 1, 2], "Assign"),
            // HeartbeatAck with a varint that never ends.
            (
                &[
                    tag::HEARTBEAT_ACK,
                    0xff,
                    0xff,
                    0xff,
                    0xff,
                    0xff,
                    0xff,
                    0xff,
                    0xff,
                    0xff,
                    0xff,
                    0xff,
                ],
                "HeartbeatAck",
            ),
            // Refuse with an invalid UTF-8 message.
            (&[tag::REFUSE, 1, 2, 0xc3, 0x28], "Refuse"),
        ];
        for (frame, name) in cases {
            let err = decode_frame(frame).unwrap_err();
            assert!(
                matches!(err, DecodeError::Malformed { message, .. } if message == *name),
                "{frame:?}: {err}"
            );
        }
        // A Welcome whose Duration has nanoseconds overflowing the seconds.
        let mut welcome = vec![tag::WELCOME, u8::try_from(PROTOCOL_VERSION).unwrap()];
        welcome.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]); // u64::MAX secs
        welcome.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]); // u32::MAX nanos
        assert!(matches!(
            decode_frame(&welcome),
            Err(DecodeError::Malformed { message: "Welcome", .. })
        ));
    }
}
