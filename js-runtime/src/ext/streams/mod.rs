//! The `streams` Web API family (<https://streams.spec.whatwg.org/>):
//! ReadableStream (default and byte streams, BYOB readers, tee, pipes,
//! async iteration, `from`), WritableStream, TransformStream, the queuing
//! strategies, TextEncoderStream/TextDecoderStream, and `internals.streams`
//! for the other families. All JS; there are no native ops. See README.md
//! beside this file.

use crate::ext::Glue;
use crate::ops::OpDecl;

/// Glue files, in load order.
pub(crate) const JS: &[Glue] = &[
    Glue::lazy("ext:streams/01_common.js", glue_source!(include_str!("01_common.js"))),
    Glue::lazy(
        "ext:streams/02_readable_stream.js",
        glue_source!(include_str!("02_readable_stream.js")),
    ),
    Glue::lazy(
        "ext:streams/03_readable_byte_stream.js",
        glue_source!(include_str!("03_readable_byte_stream.js")),
    ),
    Glue::lazy(
        "ext:streams/04_writable_stream.js",
        glue_source!(include_str!("04_writable_stream.js")),
    ),
    Glue::lazy("ext:streams/05_pipe_to.js", glue_source!(include_str!("05_pipe_to.js"))),
    Glue::lazy(
        "ext:streams/06_transform_stream.js",
        glue_source!(include_str!("06_transform_stream.js")),
    ),
    Glue::lazy(
        "ext:streams/07_text_streams.js",
        glue_source!(include_str!("07_text_streams.js")),
    ),
    Glue::lazy(
        "ext:streams/08_internals.js",
        glue_source!(include_str!("08_internals.js")),
    ),
];

/// Native ops of this family (none: streams are plain JS).
pub(crate) fn ops() -> Vec<OpDecl> {
    Vec::new()
}
