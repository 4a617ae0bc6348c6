//! The runtime's own glue: internals shared by the families, `console`,
//! timers, `queueMicrotask`, `performance`, `navigator`, and the handler
//! dispatch (module `fetch` handlers and `addEventListener("fetch")`).

mod ops;

pub(crate) use ops::{FINAL_URL_PAIR, KnownHeaders};

use crate::ext::Glue;
use crate::ops::{OpDecl, op};
use ops::{
    op_body_cancel, op_body_read, op_fetch, op_fetch_abort, op_fetch_body_chunk, op_fetch_body_end, op_log, op_now,
    op_request_headers, op_respond, op_respond_error, op_response_chunk, op_response_end, op_time_origin,
    op_timer_cancel, op_timer_start, op_wait_until,
};

/// Glue evaluated before every other family.
pub(crate) const JS: &[Glue] = &[
    Glue::eager(
        "ext:base/00_internals.js",
        glue_source!(include_str!("00_internals.js")),
    ),
    Glue::lazy("ext:base/01_console.js", glue_source!(include_str!("01_console.js"))),
    Glue::eager("ext:base/02_timers.js", glue_source!(include_str!("02_timers.js"))),
];

/// Glue evaluated after every other family: the handler dispatch.
pub(crate) const JS_LATE: &[Glue] = &[Glue::eager(
    "ext:base/99_handler.js",
    glue_source!(include_str!("99_handler.js")),
)];

/// Native ops of the runtime core.
pub(crate) fn ops() -> Vec<OpDecl> {
    vec![
        op!(op_log),
        op!(op_now),
        op!(op_time_origin),
        op!(op_timer_start),
        op!(op_timer_cancel),
        op!(op_wait_until),
        op!(op_respond),
        op!(op_respond_error),
        op!(op_response_chunk),
        op!(op_response_end),
        op!(op_body_read),
        op!(op_body_cancel),
        op!(op_request_headers),
        op!(op_fetch),
        op!(op_fetch_body_chunk),
        op!(op_fetch_body_end),
        op!(op_fetch_abort),
    ]
}
