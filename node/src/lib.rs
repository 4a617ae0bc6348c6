//! `outpost-node`: an Outpost edge node.
//!
//! It owns the data path a browser request takes: ingress (listeners,
//! HTTP/1.1), the router (host → deployment), the isolate workers that run
//! handlers through `outpost-js`, and the host capabilities (clock, timers,
//! logging, outbound fetch) those handlers use. It also loads a deployment
//! from disk for `outpost dev`.
//!
//! It does not contain `unsafe` or raw `v8` calls (those live in
//! `outpost-js`), and it knows nothing of the control plane.

#![forbid(unsafe_code)]

pub mod admin;
pub mod bundle;
pub mod dev;
pub mod host;
pub mod ingress;
pub mod manifest;
pub mod metrics;
pub mod router;
pub mod worker;

pub use bundle::{LoadedBundle, load_path};
pub use manifest::Manifest;
