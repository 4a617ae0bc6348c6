//! The deployment manifest: `outpost.toml` (unknown keys refused) or
//! `wrangler.toml` (unknown keys ignored), with the keys `name`, `main`,
//! `compatibility_date`, `compatibility_flags`, `vars`, `routes`/`route`,
//! `triggers.crons`, `kv_namespaces` and `[limits]`.
//!
//! One reader for everyone: `outpost dev` and the node read bundles with
//! it, and the control plane checks uploads with it. `[limits]` is checked
//! against the default maxima here (a bundle that passes loads on a node
//! with the default policy); a node resolves it against its own policy.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::limits::{LimitsPolicy, LimitsSection};

/// The manifest file names a bundle may carry.
pub const MANIFEST_FILES: [&str; 2] = ["outpost.toml", "wrangler.toml"];

/// A parsed manifest.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Manifest {
    /// Deployment name (the API's path names the deployment; this is informative).
    pub name: Option<String>,
    /// Entry module, relative to the manifest.
    pub main: Option<String>,
    /// Compatibility date.
    pub compatibility_date: Option<String>,
    /// Compatibility flags.
    #[serde(default)]
    pub compatibility_flags: Vec<String>,
    /// Values exposed on `env`.
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
    /// Custom routes such as `api.example.com/v1/*`.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// A single route (`route = "..."`).
    pub route: Option<Route>,
    /// Cron triggers.
    #[serde(default)]
    pub triggers: Triggers,
    /// KV namespace bindings.
    #[serde(default)]
    pub kv_namespaces: Vec<toml::Value>,
    /// `[limits]`.
    #[serde(default)]
    pub limits: LimitsSection,
    /// Every other key.
    #[serde(flatten)]
    pub other: BTreeMap<String, toml::Value>,
}

/// A route: a pattern or a table with a `pattern` key.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Route {
    /// `"api.example.com/*"`
    Pattern(String),
    /// `{ pattern = "api.example.com/*", zone_name = "example.com" }`
    Table {
        /// The pattern.
        pattern: String,
        /// Other route keys.
        #[serde(flatten)]
        other: BTreeMap<String, toml::Value>,
    },
}

impl Route {
    /// The pattern text.
    pub fn pattern(&self) -> &str {
        match self {
            Route::Pattern(p) | Route::Table { pattern: p, .. } => p,
        }
    }
}

/// `[triggers]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Triggers {
    /// Cron expressions.
    #[serde(default)]
    pub crons: Vec<String>,
}

/// A manifest that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Malformed TOML or a key of the wrong type; `location` is
    /// `FILE:LINE:COL` when the TOML locates it, else `FILE`.
    #[error("{location}: {message}")]
    Parse {
        /// Where.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// `outpost.toml` has a key Outpost does not know.
    #[error("{file}: unknown key '{key}'")]
    UnknownKey {
        /// The manifest file.
        file: String,
        /// The key.
        key: String,
    },
    /// A value Outpost refuses (a limit above the maxima, a bad route).
    #[error("{file}: {message}")]
    Invalid {
        /// The manifest file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

impl Manifest {
    /// Parses and checks manifest text. In `outpost.toml` (`strict`) an
    /// unknown key is an error. Errors read `FILE:LINE:COL: message` when
    /// the TOML locates them, else `FILE: message`.
    pub fn parse(file: &str, text: &str, strict: bool) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            location: match e.span() {
                Some(span) => {
                    let (line, col) = line_col(text, span.start);
                    format!("{file}:{line}:{col}")
                }
                None => file.to_string(),
            },
            message: e.message().trim().replace('\n', " "),
        })?;
        let invalid = |message: String| ManifestError::Invalid {
            file: file.to_string(),
            message,
        };
        if strict && let Some(key) = manifest.other.keys().next() {
            return Err(ManifestError::UnknownKey {
                file: file.to_string(),
                key: key.clone(),
            });
        }
        LimitsPolicy::default()
            .resolve(&manifest.limits)
            .map_err(|e| invalid(e.to_string()))?;
        for route in manifest.route.iter().chain(&manifest.routes) {
            let p = route.pattern();
            if p.is_empty() || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(invalid(format!("invalid route pattern '{}'", p.escape_debug())));
            }
        }
        Ok(manifest)
    }

    /// Every route pattern (`route` and `routes`).
    pub fn route_patterns(&self) -> Vec<String> {
        self.route
            .iter()
            .chain(&self.routes)
            .map(|r| r.pattern().to_string())
            .collect()
    }

    /// The vars as JSON values.
    pub fn vars_json(&self) -> BTreeMap<String, serde_json::Value> {
        self.vars.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Value::from(*f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            serde_json::Value::Object(t.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_common_wrangler_keys_and_ignores_others() {
        let m = Manifest::parse(
            "wrangler.toml",
            r#"
name = "api"
main = "src/index.js"
compatibility_date = "2024-09-01"
compatibility_flags = ["nodejs_compat"]
route = "a.example.com/*"
routes = [{ pattern = "x.example.com/*", zone_name = "example.com" }]
kv_namespaces = [{ binding = "KV", id = "abc" }]
workers_dev = true
[vars]
GREETING = "hi"
N = 3
[triggers]
crons = ["*/5 * * * *"]
[limits]
cpu_ms = 100
"#,
            false,
        )
        .unwrap();
        assert_eq!(m.main.as_deref(), Some("src/index.js"));
        assert_eq!(m.route_patterns(), ["a.example.com/*", "x.example.com/*"]);
        assert_eq!(m.vars_json()["N"], serde_json::json!(3));
        assert_eq!(m.triggers.crons.len(), 1);
        assert_eq!(m.limits.cpu_ms, Some(100));
        assert!(m.other.contains_key("workers_dev"));
    }

    #[test]
    fn outpost_toml_refuses_unknown_keys() {
        let err = Manifest::parse("outpost.toml", "name = \"a\"\nmian = \"x.js\"\n", true).unwrap_err();
        assert_eq!(err.to_string(), "outpost.toml: unknown key 'mian'");
        let err = Manifest::parse("outpost.toml", "[limits]\ncpu = 5\n", true)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("outpost.toml:2:1: unknown field `cpu`"), "{err}");
    }

    #[test]
    fn syntax_and_type_errors_have_a_location() {
        let err = Manifest::parse("outpost.toml", "name = \"a\"\nmain = \n", true)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("outpost.toml:2:"), "{err}");
        let err = Manifest::parse("outpost.toml", "main = 3\n", true)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("outpost.toml:1:8: invalid type"), "{err}");
    }

    #[test]
    fn limits_above_the_maxima_or_zero_are_refused() {
        let err = Manifest::parse("outpost.toml", "[limits]\nwall_ms = 300001\n", true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "outpost.toml: limits.wall_ms = 300001 exceeds the maximum of 300000"
        );
        let err = Manifest::parse("outpost.toml", "[limits]\nsubrequests = 0\n", true).unwrap_err();
        assert_eq!(err.to_string(), "outpost.toml: limits.subrequests must be at least 1");
        assert!(Manifest::parse("outpost.toml", "[limits]\nmemory_mb = 1024\n", true).is_ok());
    }

    #[test]
    fn bad_route_patterns_are_refused() {
        let err = Manifest::parse("outpost.toml", "route = \"a b/*\"\n", true).unwrap_err();
        assert!(err.to_string().contains("invalid route pattern"), "{err}");
    }
}
