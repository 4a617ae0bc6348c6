//! `outpost-node`: an Outpost edge node.
//!
//! It owns the data path a browser request takes: ingress (HTTP/1.1, h2c,
//! TLS with SNI certificates, HTTP/2, HTTP/3), the router (host + path →
//! deployment), the isolate pool whose threads run handlers through
//! `outpost-js`, the admin listener and metrics, and the host capabilities
//! (clock, timers, logging, outbound fetch) those handlers use. It also
//! loads a deployment from disk for `outpost dev`.
//!
//! It makes no raw `v8` calls and has no unchecked code (both live in
//! `outpost-js`), and it knows nothing of the control plane.

#![forbid(unsafe_code)]

pub mod admin;
pub mod agent;
pub mod bundle;
pub mod dev;
pub mod host;
pub mod ingress;
pub mod limits;
mod local_copy;
pub mod manifest;
pub mod metrics;
pub mod outbound;
pub mod router;
pub mod worker;

pub use bundle::{LoadedBundle, load_path};
pub use manifest::Manifest;
