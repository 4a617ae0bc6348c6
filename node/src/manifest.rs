//! `outpost.toml` (and the common keys of `wrangler.toml`): the reader the
//! control plane uses too, from `outpost-protocol`.

pub use outpost_protocol::manifest::*;
