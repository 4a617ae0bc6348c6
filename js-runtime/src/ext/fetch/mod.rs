//! The `fetch` family: Headers, Request, Response, the body mixin and the
//! global `fetch()` (outbound requests go through the host).
//! Spec: <https://fetch.spec.whatwg.org/>.

use crate::ops::OpDecl;

/// Glue files, in load order.
pub(crate) const JS: &[(&str, &str)] = &[
    ("ext:fetch/10_headers.js", include_str!("10_headers.js")),
    ("ext:fetch/20_body.js", include_str!("20_body.js")),
    ("ext:fetch/21_request.js", include_str!("21_request.js")),
    ("ext:fetch/22_response.js", include_str!("22_response.js")),
    ("ext:fetch/30_fetch.js", include_str!("30_fetch.js")),
];

/// Native ops of this family (the request/response plumbing lives in the
/// runtime core: `op_respond`, `op_body_read`, `op_fetch`).
pub(crate) fn ops() -> Vec<OpDecl> {
    Vec::new()
}
