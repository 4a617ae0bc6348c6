//! The `crypto` Web API family. See README.md beside this file.

use crate::ops::OpDecl;

/// Glue files, in load order.
pub(crate) const JS: &[(&str, &str)] = &[];

/// Native ops of this family.
pub(crate) fn ops() -> Vec<OpDecl> {
    Vec::new()
}
