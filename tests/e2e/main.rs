//! End-to-end tests: the real `outpost` binary on ephemeral ports.

mod dev_errors;
mod dev_serve;
mod examples_run;
