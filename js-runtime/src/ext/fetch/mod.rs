//! The `fetch` family: Headers, Blob and File, FormData (with the
//! multipart/form-data serializer and parser), Request, Response, the body
//! mixin and the global `fetch()` (outbound requests go through the host).
//! Specs: <https://fetch.spec.whatwg.org/>, <https://w3c.github.io/FileAPI/>,
//! <https://xhr.spec.whatwg.org/#interface-formdata>. See README.md.

use crate::ext::Glue;
use crate::ops::OpDecl;

/// Glue files, in load order.
pub(crate) const JS: &[Glue] = &[
    Glue::eager("ext:fetch/01_webidl.js", glue_source!(include_str!("01_webidl.js"))),
    Glue::eager("ext:fetch/10_headers.js", glue_source!(include_str!("10_headers.js"))),
    Glue::lazy("ext:fetch/11_blob.js", glue_source!(include_str!("11_blob.js"))),
    Glue::lazy(
        "ext:fetch/12_form_data.js",
        glue_source!(include_str!("12_form_data.js")),
    ),
    Glue::eager("ext:fetch/20_body.js", glue_source!(include_str!("20_body.js"))),
    Glue::eager("ext:fetch/21_request.js", glue_source!(include_str!("21_request.js"))),
    Glue::eager("ext:fetch/22_response.js", glue_source!(include_str!("22_response.js"))),
    Glue::lazy("ext:fetch/30_fetch.js", glue_source!(include_str!("30_fetch.js"))),
];

/// Native ops of this family: none of its own. The request/response
/// plumbing (`op_body_read`, `op_body_cancel`, `op_fetch`, `op_respond`)
/// lives in the runtime core.
pub(crate) fn ops() -> Vec<OpDecl> {
    Vec::new()
}

#[cfg(test)]
mod tests;
