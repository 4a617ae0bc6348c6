//! The control-plane ↔ node protocol of Outpost, without I/O.
//!
//! A node keeps one QUIC connection to the control plane. On it, one bidirectional *control stream*
//! carries length-prefixed [`Message`]s ([`codec`]), and each bundle travels on a stream of its own
//! behind a [`BundleHeader`] ([`bundle`]). This crate owns everything about that conversation except
//! the sockets:
//!
//! - the messages ([`message`]) and the values inside them ([`types`]), versioned by
//!   [`PROTOCOL_VERSION`];
//! - the framing and encoding ([`Codec`]), with explicit errors for truncated, oversize, unknown and
//!   other-version input;
//! - the bundle stream header, the integrity check of bundle bytes ([`BundleReceiver`]) and the payload
//!   the control plane signs ([`Assignment::signing_payload`]);
//! - the two sync state machines: [`ControlSession`] (control plane, one per connected node) and
//!   [`NodeSync`] (node, one per process, across reconnects);
//! - the bundle archive format ([`archive`]) both sides read and write;
//! - the lock on a data folder ([`data_dir`]), the only part that touches the disk (through `std::fs`);
//! - joining: the join token that pins the cluster CA, and the join request and answer ([`join`]);
//! - the deployment manifest (`outpost.toml`, `wrangler.toml`: [`manifest`]) and its `[limits]` with
//!   the defaults and maxima they resolve against ([`limits`]), read alike by the node and the control
//!   plane.
//!
//! The state machines follow the sans-I/O style of `quinn-proto`: they take the current time and what
//! happened (`handle_*`), and hand out what to do (`poll_transmit`, `poll_event`, `poll_bundle`,
//! `poll_timeout`). They never read a clock, touch a socket or spawn a task, so the transport (QUIC with
//! quinn), the store and the CLI drive them, and the tests drive them through a simulated network with
//! simulated time. The crate is not the transport, the bundle store or the Ed25519 verifier; it says what
//! they must do and when.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod archive;
pub mod bundle;
pub mod codec;
pub mod control;
pub mod data_dir;
#[doc(hidden)]
pub mod fuzz;
pub mod join;
pub mod limits;
pub mod manifest;
pub mod message;
pub mod node;
pub mod types;

pub use bundle::{BUNDLE_MAGIC, BundleError, BundleHeader, BundleReceiver};
pub use codec::{Codec, DEFAULT_MAX_FRAME, DecodeError, EncodeError, decode_frame};
pub use control::{CloseReason, ControlConfig, ControlEvent, ControlSession, DesiredState, NodeInfo};
pub use message::{
    Ack, Assign, BundleRequest, Heartbeat, HeartbeatAck, Hello, Message, PROTOCOL_VERSION, Refuse, RefuseReason,
    Resync, Welcome,
};
pub use node::{BundleRejection, DisconnectReason, Inventory, NodeConfig, NodeEvent, NodeSync};
pub use types::{
    Assignment, BundleHash, ConfigDigest, DeploymentKey, DeploymentResult, FailureStage, Health, Held, Limits, Load,
    Outcome, Running, SIGNATURE_CONTEXT, Signature, Timing,
};
