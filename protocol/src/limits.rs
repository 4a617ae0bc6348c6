//! Per-deployment limits: the manifest's `[limits]` section, resolved
//! against a node's defaults and maxima. The control plane checks a bundle's
//! limits against the default maxima when it accepts it; a node resolves
//! them against its own policy when it activates it.
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

use std::time::Duration;

use serde::Deserialize;

const MIB: u64 = 1024 * 1024;

/// The `[limits]` section of `outpost.toml` / `wrangler.toml`; every key
/// optional.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// CPU time per request, in milliseconds (wrangler's key too).
    pub cpu_ms: Option<u64>,
    /// V8 heap per isolate, in MiB.
    pub memory_mb: Option<u64>,
    /// Wall-clock time to the response head, in milliseconds.
    pub wall_ms: Option<u64>,
    /// Outbound fetches per request.
    pub subrequests: Option<u64>,
    /// CPU time for evaluating the modules, in milliseconds.
    pub startup_cpu_ms: Option<u64>,
    /// Largest request body, in MiB.
    pub request_body_mb: Option<u64>,
    /// Largest response body, in MiB.
    pub response_body_mb: Option<u64>,
}

/// A deployment's resolved limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeploymentLimits {
    /// CPU time per request.
    pub cpu: Duration,
    /// V8 heap per isolate, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock time to the response head.
    pub wall: Duration,
    /// Outbound fetches per request.
    pub subrequests: u32,
    /// CPU time evaluating the modules may take.
    pub startup_cpu: Duration,
    /// Largest request body, in bytes.
    pub request_body_bytes: u64,
    /// Largest response body, in bytes.
    pub response_body_bytes: u64,
}

impl Default for DeploymentLimits {
    /// The defaults: 50 ms CPU, 128 MiB heap, 30 s wall clock, 50
    /// subrequests, 400 ms startup CPU, 100 MiB request and 1 GiB response
    /// bodies.
    fn default() -> Self {
        DeploymentLimits {
            cpu: Duration::from_millis(50),
            memory_bytes: 128 * MIB,
            wall: Duration::from_secs(30),
            subrequests: 50,
            startup_cpu: Duration::from_millis(400),
            request_body_bytes: 100 * MIB,
            response_body_bytes: 1024 * MIB,
        }
    }
}

impl DeploymentLimits {
    /// The largest values a node accepts by default: 30 s CPU, 1 GiB heap,
    /// 300 s wall clock, 1,000 subrequests, 2 s startup CPU, 1 GiB request
    /// and 16 GiB response bodies.
    pub fn default_maxima() -> Self {
        DeploymentLimits {
            cpu: Duration::from_secs(30),
            memory_bytes: 1024 * MIB,
            wall: Duration::from_secs(300),
            subrequests: 1000,
            startup_cpu: Duration::from_secs(2),
            request_body_bytes: 1024 * MIB,
            response_body_bytes: 16 * 1024 * MIB,
        }
    }

    /// One line for logs: `cpu 50 ms, memory 128 MiB, …`.
    pub fn describe(&self) -> String {
        format!(
            "cpu {} ms, memory {} MiB, wall clock {} s, {} subrequests, startup cpu {} ms, request body {} MiB, response body {} MiB",
            self.cpu.as_millis(),
            self.memory_bytes / MIB,
            self.wall.as_secs_f64(),
            self.subrequests,
            self.startup_cpu.as_millis(),
            self.request_body_bytes / MIB,
            self.response_body_bytes / MIB,
        )
    }
}

/// A deployment's `[limits]` the node refuses.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LimitsError {
    /// A value above the node's maximum.
    #[error("limits.{key} = {value} exceeds the maximum of {max}")]
    AboveMaximum {
        /// The key.
        key: &'static str,
        /// The value asked for.
        value: u64,
        /// The node's maximum, in the key's unit.
        max: u64,
    },
    /// Zero, which would make every request fail.
    #[error("limits.{key} must be at least 1")]
    Zero {
        /// The key.
        key: &'static str,
    },
}

/// The node's defaults and maxima for deployment limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsPolicy {
    /// What a deployment gets for a key it leaves out.
    pub defaults: DeploymentLimits,
    /// The most a deployment may ask for.
    pub maxima: DeploymentLimits,
}

impl Default for LimitsPolicy {
    fn default() -> Self {
        LimitsPolicy {
            defaults: DeploymentLimits::default(),
            maxima: DeploymentLimits::default_maxima(),
        }
    }
}

impl LimitsPolicy {
    /// A deployment's limits from its `[limits]` section.
    pub fn resolve(&self, section: &LimitsSection) -> Result<DeploymentLimits, LimitsError> {
        let d = &self.defaults;
        let m = &self.maxima;
        let ms = |key, value: Option<u64>, default: Duration, max: Duration| -> Result<Duration, LimitsError> {
            checked(key, value, max.as_millis() as u64).map(|v| v.map_or(default, Duration::from_millis))
        };
        let mib = |key, value: Option<u64>, default: u64, max: u64| -> Result<u64, LimitsError> {
            checked(key, value, max / MIB).map(|v| v.map_or(default, |v| v * MIB))
        };
        Ok(DeploymentLimits {
            cpu: ms("cpu_ms", section.cpu_ms, d.cpu, m.cpu)?,
            memory_bytes: mib("memory_mb", section.memory_mb, d.memory_bytes, m.memory_bytes)?,
            wall: ms("wall_ms", section.wall_ms, d.wall, m.wall)?,
            subrequests: checked("subrequests", section.subrequests, u64::from(m.subrequests))?
                .map_or(d.subrequests, |v| v as u32),
            startup_cpu: ms("startup_cpu_ms", section.startup_cpu_ms, d.startup_cpu, m.startup_cpu)?,
            request_body_bytes: mib(
                "request_body_mb",
                section.request_body_mb,
                d.request_body_bytes,
                m.request_body_bytes,
            )?,
            response_body_bytes: mib(
                "response_body_mb",
                section.response_body_mb,
                d.response_body_bytes,
                m.response_body_bytes,
            )?,
        })
    }

    /// Lowers (or raises) the node's maximum for one `[limits]` key, from `KEY=VALUE` in the key's
    /// unit (`cpu_ms=100`, `memory_mb=64`); a default above the new maximum comes down to it. A
    /// deployment asking for more than a maximum fails to activate on this node, naming the key.
    pub fn set_maximum(&mut self, spec: &str) -> Result<(), String> {
        let (key, value) = spec
            .split_once('=')
            .ok_or_else(|| format!("'{spec}': expected KEY=VALUE, e.g. memory_mb=256"))?;
        let value: u64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| format!("'{spec}': the value must be a whole number above 0"))?;
        let (max, default) = (&mut self.maxima, &mut self.defaults);
        match key.trim() {
            "cpu_ms" => {
                max.cpu = Duration::from_millis(value);
                default.cpu = default.cpu.min(max.cpu);
            }
            "memory_mb" => {
                max.memory_bytes = value.saturating_mul(MIB);
                default.memory_bytes = default.memory_bytes.min(max.memory_bytes);
            }
            "wall_ms" => {
                max.wall = Duration::from_millis(value);
                default.wall = default.wall.min(max.wall);
            }
            "subrequests" => {
                max.subrequests = u32::try_from(value).unwrap_or(u32::MAX);
                default.subrequests = default.subrequests.min(max.subrequests);
            }
            "startup_cpu_ms" => {
                max.startup_cpu = Duration::from_millis(value);
                default.startup_cpu = default.startup_cpu.min(max.startup_cpu);
            }
            "request_body_mb" => {
                max.request_body_bytes = value.saturating_mul(MIB);
                default.request_body_bytes = default.request_body_bytes.min(max.request_body_bytes);
            }
            "response_body_mb" => {
                max.response_body_bytes = value.saturating_mul(MIB);
                default.response_body_bytes = default.response_body_bytes.min(max.response_body_bytes);
            }
            other => {
                return Err(format!(
                    "unknown limit '{other}': expected cpu_ms, memory_mb, wall_ms, subrequests, startup_cpu_ms, \
                     request_body_mb or response_body_mb"
                ));
            }
        }
        Ok(())
    }

    /// The policy `outpost dev --relax-limits` uses: every deployment gets
    /// the maxima for time and memory (debugging pauses, big fixtures).
    pub fn relaxed(&self) -> Self {
        let mut defaults = self.defaults;
        defaults.cpu = self.maxima.cpu;
        defaults.wall = self.maxima.wall;
        defaults.startup_cpu = self.maxima.startup_cpu;
        defaults.memory_bytes = self.maxima.memory_bytes;
        LimitsPolicy {
            defaults,
            maxima: self.maxima,
        }
    }
}

/// `value` when it is within `1..=max`.
fn checked(key: &'static str, value: Option<u64>, max: u64) -> Result<Option<u64>, LimitsError> {
    match value {
        Some(0) => Err(LimitsError::Zero { key }),
        Some(v) if v > max => Err(LimitsError::AboveMaximum { key, value: v, max }),
        v => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(toml_text: &str) -> LimitsSection {
        toml::from_str(toml_text).expect("valid [limits]")
    }

    #[test]
    fn keys_left_out_take_the_defaults() {
        let limits = LimitsPolicy::default().resolve(&LimitsSection::default()).unwrap();
        assert_eq!(limits, DeploymentLimits::default());
        assert_eq!(limits.cpu, Duration::from_millis(50));
        assert_eq!(limits.wall, Duration::from_secs(30));
        assert_eq!(limits.subrequests, 50);
        assert_eq!(limits.startup_cpu, Duration::from_millis(400));
    }

    #[test]
    fn values_within_the_maxima_are_taken() {
        let limits = LimitsPolicy::default()
            .resolve(&section(
                "cpu_ms = 10\nmemory_mb = 64\nwall_ms = 300000\nsubrequests = 3\nstartup_cpu_ms = 100\nrequest_body_mb = 1\nresponse_body_mb = 2",
            ))
            .unwrap();
        assert_eq!(limits.cpu, Duration::from_millis(10));
        assert_eq!(limits.memory_bytes, 64 * MIB);
        assert_eq!(limits.wall, Duration::from_secs(300));
        assert_eq!(limits.subrequests, 3);
        assert_eq!(limits.startup_cpu, Duration::from_millis(100));
        assert_eq!(limits.request_body_bytes, MIB);
        assert_eq!(limits.response_body_bytes, 2 * MIB);
    }

    #[test]
    fn values_above_the_maxima_or_zero_are_refused() {
        let policy = LimitsPolicy::default();
        assert_eq!(
            policy.resolve(&section("wall_ms = 300001")).unwrap_err().to_string(),
            "limits.wall_ms = 300001 exceeds the maximum of 300000"
        );
        assert_eq!(
            policy.resolve(&section("subrequests = 0")).unwrap_err().to_string(),
            "limits.subrequests must be at least 1"
        );
        let tight = LimitsPolicy {
            maxima: DeploymentLimits {
                cpu: Duration::from_millis(100),
                ..DeploymentLimits::default_maxima()
            },
            ..policy
        };
        assert!(matches!(
            tight.resolve(&section("cpu_ms = 101")),
            Err(LimitsError::AboveMaximum {
                key: "cpu_ms",
                max: 100,
                ..
            })
        ));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = toml::from_str::<LimitsSection>("cpu_msec = 5").unwrap_err();
        assert!(err.to_string().contains("unknown field `cpu_msec`"), "{err}");
    }

    #[test]
    fn maxima_are_set_per_key_and_defaults_follow_them_down() {
        let mut policy = LimitsPolicy::default();
        policy.set_maximum("memory_mb=64").unwrap();
        policy.set_maximum(" cpu_ms = 2000").unwrap();
        assert_eq!(policy.maxima.memory_bytes, 64 << 20);
        assert_eq!(policy.defaults.memory_bytes, 64 << 20, "the 128 MiB default came down");
        assert_eq!(policy.maxima.cpu, Duration::from_secs(2));
        assert_eq!(policy.defaults.cpu, Duration::from_millis(50), "a lower default stays");
        let section: LimitsSection = toml::from_str("memory_mb = 128").unwrap();
        let err = policy.resolve(&section).unwrap_err().to_string();
        assert_eq!(err, "limits.memory_mb = 128 exceeds the maximum of 64");

        for bad in ["memory_mb", "memory_mb=0", "memory_mb=-1", "heap=5"] {
            assert!(policy.set_maximum(bad).is_err(), "{bad}");
        }
        assert!(
            policy
                .set_maximum("heap=5")
                .unwrap_err()
                .contains("unknown limit 'heap'")
        );
    }

    #[test]
    fn relaxed_defaults_are_the_maxima_for_time_and_memory() {
        let relaxed = LimitsPolicy::default().relaxed();
        let limits = relaxed.resolve(&LimitsSection::default()).unwrap();
        assert_eq!(limits.cpu, Duration::from_secs(30));
        assert_eq!(limits.wall, Duration::from_secs(300));
        assert_eq!(limits.subrequests, 50);
    }
}
