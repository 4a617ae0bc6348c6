//! End-to-end tests: the real `outpost` binary on ephemeral ports.

mod adversarial;
mod cluster;
mod control_plane;
mod cp_support;
mod dev_errors;
mod dev_serve;
mod distribution;
mod examples_run;
