//! Per-deployment limits: the manifest's `[limits]` section, resolved
//! against the node's defaults and maxima.
//!
//! ```toml
//! [limits]
//! cpu_ms = 50             # CPU time per request
//! memory_mb = 128         # V8 heap per isolate
//! wall_ms = 30000         # time to the response head (at most 300 s)
//! subrequests = 50        # outbound fetches per request
//! startup_cpu_ms = 400    # evaluating the modules
//! request_body_mb = 100
//! response_body_mb = 1024
//! ```
//!
//! A key left out takes the node's default; a value above the node's
//! maximum refuses the deployment with a message naming the key.

use outpost_js::RuntimeOptions;

pub use outpost_protocol::limits::*;

/// What a deployment's limits mean for its isolates.
pub trait RuntimeLimits {
    /// The isolate options these limits translate to.
    fn runtime_options(&self) -> RuntimeOptions;
}

impl RuntimeLimits for DeploymentLimits {
    fn runtime_options(&self) -> RuntimeOptions {
        RuntimeOptions {
            max_heap_bytes: usize::try_from(self.memory_bytes).unwrap_or(usize::MAX),
            cpu_limit: self.cpu,
            wall_limit: self.wall,
            subrequest_limit: self.subrequests,
            startup_cpu_limit: self.startup_cpu,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limits_are_the_runtime_defaults() {
        let options = DeploymentLimits::default().runtime_options();
        let runtime = RuntimeOptions::default();
        assert_eq!(options.cpu_limit, runtime.cpu_limit);
        assert_eq!(options.wall_limit, runtime.wall_limit);
        assert_eq!(options.subrequest_limit, runtime.subrequest_limit);
        assert_eq!(options.startup_cpu_limit, runtime.startup_cpu_limit);
        assert_eq!(options.max_heap_bytes, RuntimeOptions::DEFAULT_MAX_HEAP_BYTES);
    }
}
