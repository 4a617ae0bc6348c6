//! The Web API families. Each is a folder with its JS glue (`NN_name.js`)
//! beside its Rust ops (`mod.rs`) and a README naming the spec it follows.
//!
//! The glue files run once, in the order below, when the startup snapshot
//! is built. Each is the body of `function (globalThis, ops, internals)`.
//! `ops` holds its native functions already then (they are in the
//! snapshot), but an op needs the runtime state of a live isolate, so
//! glue calls ops at run time, never while it is being evaluated.

use crate::ops::OpDecl;

/// A glue file's source, given as `include_str!("NN_name.js")`, wrapped as
/// the body of `function (globalThis, ops, internals)` in strict mode: a
/// string resource in the binary (ASCII only, checked while compiling).
/// V8 strings made from it point at the binary's copy, and the snapshot
/// names the resource instead of holding the text, so no isolate copies
/// the glue's ~400 KB of source into its heap.
macro_rules! glue_source {
    ($($file:tt)+) => {{
        static SOURCE: v8::OneByteConst = v8::String::create_external_onebyte_const(
            concat!("(function (globalThis, ops, internals) { \"use strict\";\n", $($file)+, "\n})").as_bytes(),
        );
        &SOURCE
    }};
}

pub(crate) mod base;
mod compression;
mod crypto;
mod dom;
mod encoding;
mod fetch;
mod streams;
mod url;

/// One glue file: its name (as stack traces show it) and its source (see
/// [`glue_source`]; its first line is the wrapper's).
pub(crate) struct Glue {
    pub(crate) name: &'static str,
    pub(crate) source: &'static v8::OneByteConst,
    /// Compiled whole while the snapshot is built (see [`Glue::eager`]).
    pub(crate) eager: bool,
}

impl Glue {
    /// A file whose functions are compiled when first called.
    pub(crate) const fn lazy(name: &'static str, source: &'static v8::OneByteConst) -> Self {
        Glue {
            name,
            source,
            eager: false,
        }
    }

    /// A file whose functions every isolate runs as it starts, or every
    /// request runs (request and response objects, their bodies and
    /// headers, WebIDL conversions, URL parsing, the dispatcher). It is
    /// compiled whole while the snapshot is built, so the snapshot carries
    /// its bytecode and a new isolate and its first request compile none
    /// of it (the runtime bench's "new isolate's first hello request" row;
    /// compiled on that request instead, such files took most of it). The
    /// other files stay lazy: compiling all of them grows the snapshot by
    /// 30%, and every isolate's start with it.
    pub(crate) const fn eager(name: &'static str, source: &'static v8::OneByteConst) -> Self {
        Glue {
            name,
            source,
            eager: true,
        }
    }
}

/// Every family's glue, in load order.
pub(crate) fn js_sources() -> impl Iterator<Item = &'static Glue> {
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
