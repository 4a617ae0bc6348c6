//! The Web API families. Each is a folder with its JS glue (`NN_name.js`)
//! beside its Rust ops (`mod.rs`) and a README naming the spec it follows.
//!
//! The glue files run once, in the order below, when the startup snapshot
//! is built. Each is the body of `function (globalThis, ops, internals)`:
//! `ops` gains its native functions only after the snapshot is loaded, so
//! glue calls ops at run time, never while it is being evaluated.

use crate::ops::OpDecl;

pub(crate) mod base;
mod compression;
mod crypto;
mod dom;
mod encoding;
mod fetch;
mod streams;
mod url;

/// Every family's glue, in load order.
pub(crate) fn js_sources() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    base::JS
        .iter()
        .chain(dom::JS)
        .chain(encoding::JS)
        .chain(url::JS)
        .chain(streams::JS)
        .chain(compression::JS)
        .chain(fetch::JS)
        .chain(crypto::JS)
        .chain(base::JS_LATE)
}

/// Every family's ops.
pub(crate) fn ops() -> Vec<OpDecl> {
    let mut all = base::ops();
    all.extend(dom::ops());
    all.extend(encoding::ops());
    all.extend(url::ops());
    all.extend(streams::ops());
    all.extend(compression::ops());
    all.extend(fetch::ops());
    all.extend(crypto::ops());
    all
}
