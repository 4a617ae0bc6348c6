//! The deployment manifest, read with the same reader the node uses (from
//! `outpost-protocol`).

pub use outpost_protocol::manifest::*;
