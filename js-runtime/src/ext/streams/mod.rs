//! The `streams` Web API family (<https://streams.spec.whatwg.org/>):
//! ReadableStream (default and byte streams, BYOB readers, tee, pipes,
//! async iteration, `from`), WritableStream, TransformStream, the queuing
//! strategies, TextEncoderStream/TextDecoderStream, and `internals.streams`
//! for the other families. All JS; there are no native ops. See README.md
//! beside this file.

use crate::ops::OpDecl;

/// Glue files, in load order.
pub(crate) const JS: &[(&str, &str)] = &[
    ("ext:streams/01_common.js", include_str!("01_common.js")),
    (
        "ext:streams/02_readable_stream.js",
        include_str!("02_readable_stream.js"),
    ),
    (
        "ext:streams/03_readable_byte_stream.js",
        include_str!("03_readable_byte_stream.js"),
    ),
    (
        "ext:streams/04_writable_stream.js",
        include_str!("04_writable_stream.js"),
    ),
    ("ext:streams/05_pipe_to.js", include_str!("05_pipe_to.js")),
    (
        "ext:streams/06_transform_stream.js",
        include_str!("06_transform_stream.js"),
    ),
    ("ext:streams/07_text_streams.js", include_str!("07_text_streams.js")),
    ("ext:streams/08_internals.js", include_str!("08_internals.js")),
];

/// Native ops of this family (none: streams are plain JS).
pub(crate) fn ops() -> Vec<OpDecl> {
    Vec::new()
}
