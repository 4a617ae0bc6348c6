//! `outpost.toml` (and the common keys of `wrangler.toml`): what a
//! deployment is called, its entry module, vars, routes and triggers.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A deployment's manifest.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Manifest {
    /// Deployment name: answers `NAME.<zone>`.
    pub name: Option<String>,
    /// Entry module, relative to the manifest.
    pub main: Option<String>,
    /// Compatibility date (accepted; behaviour does not vary by it yet).
    pub compatibility_date: Option<String>,
    /// Compatibility flags (accepted, as in wrangler.toml).
    #[serde(default)]
    pub compatibility_flags: Vec<String>,
    /// Plain-text or JSON values exposed on `env`.
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
    /// Custom routes such as `api.example.com/v1/*`.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// A single route (wrangler's `route = "..."`).
    pub route: Option<Route>,
    /// Cron triggers.
    #[serde(default)]
    pub triggers: Triggers,
    /// `[limits]`: CPU, memory, time, subrequests and body sizes.
    #[serde(default)]
    pub limits: crate::limits::LimitsSection,
    /// KV namespaces bound on `env` (accepted; bindings are not served yet).
    #[serde(default)]
    pub kv_namespaces: Vec<toml::Value>,
    /// Every other key (wrangler.toml has many); reported as ignored.
    #[serde(flatten)]
    pub other: BTreeMap<String, toml::Value>,
}

/// A route: a pattern string or `{ pattern = "...", zone_name = "..." }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Route {
    /// `"api.example.com/*"`
    Pattern(String),
    /// `{ pattern = "api.example.com/*", ... }`
    Table {
        /// The pattern.
        pattern: String,
        /// Other route keys (zone_name, custom_domain).
        #[serde(flatten)]
        other: BTreeMap<String, toml::Value>,
    },
}

impl Route {
    /// The pattern text.
    pub fn pattern(&self) -> &str {
        match self {
            Route::Pattern(p) => p,
            Route::Table { pattern, .. } => pattern,
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

/// A manifest that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The TOML is malformed or a key has the wrong type.
    #[error("{file}: {message}")]
    Parse {
        /// The manifest file.
        file: String,
        /// What is wrong, with the location.
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
}

impl Manifest {
    /// Parses manifest text. In `outpost.toml` unknown keys are errors; in
    /// `wrangler.toml` they are ignored (returned in `other`).
    pub fn parse(file: &str, text: &str, strict: bool) -> Result<Self, ManifestError> {
        let m: Manifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            file: file.to_string(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        if strict {
            // In outpost.toml a key Outpost does not know is a typo, not a wish.
            if let Some(key) = m.other.keys().next() {
                return Err(ManifestError::UnknownKey {
                    file: file.to_string(),
                    key: key.clone(),
                });
            }
        }
        Ok(m)
    }

    /// Every route pattern (`route` and `routes`).
    pub fn route_patterns(&self) -> Vec<String> {
        self.route
            .iter()
            .chain(self.routes.iter())
            .map(|r| r.pattern().to_string())
            .collect()
    }

    /// The vars as JSON values for `env`.
    pub fn vars_json(&self) -> BTreeMap<String, serde_json::Value> {
        self.vars.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()
    }
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
    fn parses_wrangler_style_keys() {
        let m = Manifest::parse(
            "wrangler.toml",
            r#"
name = "api"
main = "src/index.js"
compatibility_date = "2024-09-01"
routes = ["api.example.com/v1/*", { pattern = "x.example.com/*", zone_name = "example.com" }]
kv_namespaces = [{ binding = "KV", id = "abc" }]
workers_dev = true
[vars]
GREETING = "hi"
LIMIT = 3
[triggers]
crons = ["*/5 * * * *"]
"#,
            false,
        )
        .unwrap();
        assert_eq!(m.name.as_deref(), Some("api"));
        assert_eq!(m.route_patterns(), vec!["api.example.com/v1/*", "x.example.com/*"]);
        assert_eq!(m.vars_json()["LIMIT"], serde_json::json!(3));
        assert_eq!(m.triggers.crons.len(), 1);
        assert!(m.other.contains_key("workers_dev"));
    }

    #[test]
    fn reads_the_limits_section() {
        let m = Manifest::parse(
            "outpost.toml",
            "name = \"a\"\n[limits]\ncpu_ms = 20\nsubrequests = 5\n",
            true,
        )
        .unwrap();
        assert_eq!(m.limits.cpu_ms, Some(20));
        assert_eq!(m.limits.subrequests, Some(5));
        let err = Manifest::parse("outpost.toml", "[limits]\ncpu = 20\n", true).unwrap_err();
        assert!(err.to_string().contains("unknown field `cpu`"), "{err}");
    }

    #[test]
    fn outpost_toml_refuses_unknown_keys() {
        let err = Manifest::parse("outpost.toml", "name = \"a\"\nmian = \"x.js\"\n", true).unwrap_err();
        assert!(err.to_string().contains("unknown key 'mian'"), "{err}");
    }

    #[test]
    fn reports_toml_errors_with_location() {
        let err = Manifest::parse("outpost.toml", "name = \n", true).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
