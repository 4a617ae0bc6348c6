//! A deployment's code as the runtime receives it: modules by path.

use std::collections::BTreeMap;

/// How a module file is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    /// An ES module (`.js`, `.mjs`).
    JavaScript,
    /// A JSON file, imported as its default export.
    Json,
    /// A text file, imported as a string default export (`.txt`, `.html`).
    Text,
}

impl ModuleKind {
    /// The kind a file name suggests.
    pub fn from_path(path: &str) -> Option<Self> {
        let ext = path.rsplit_once('.').map(|(_, e)| e)?;
        match ext {
            "js" | "mjs" => Some(ModuleKind::JavaScript),
            "json" => Some(ModuleKind::Json),
            "txt" | "html" | "md" | "css" | "svg" => Some(ModuleKind::Text),
            _ => None,
        }
    }
}

/// One module file.
#[derive(Debug, Clone)]
pub struct ModuleSource {
    /// What it is.
    pub kind: ModuleKind,
    /// Its text.
    pub code: String,
}

/// Everything needed to start a handler: modules keyed by their path
/// relative to the bundle root (`src/index.js`), the main module, and the
/// values that become `env`.
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    /// Module files by relative path, `/`-separated.
    pub modules: BTreeMap<String, ModuleSource>,
    /// The entry module's path.
    pub main: String,
    /// `env` entries: name → JSON value (vars) .
    pub vars: BTreeMap<String, serde_json::Value>,
    /// `env` entries: name → secret string.
    pub secrets: BTreeMap<String, String>,
}

impl Bundle {
    /// A bundle of one JavaScript module called `name`.
    pub fn single(name: &str, code: impl Into<String>) -> Self {
        let mut modules = BTreeMap::new();
        modules.insert(
            name.to_string(),
            ModuleSource {
                kind: ModuleKind::JavaScript,
                code: code.into(),
            },
        );
        Bundle {
            modules,
            main: name.to_string(),
            ..Default::default()
        }
    }

    /// The total size of the module sources in bytes.
    pub fn size(&self) -> usize {
        self.modules.values().map(|m| m.code.len()).sum()
    }
}

/// Resolves `specifier` imported from `referrer` to a bundle path, or `None`
/// when it is not relative (bare specifiers must be bundled beforehand).
pub(crate) fn resolve(referrer: &str, specifier: &str) -> Option<String> {
    let rest = if let Some(r) = specifier.strip_prefix("./") {
        (dir_of(referrer), r)
    } else if specifier.starts_with("../") {
        (dir_of(referrer), specifier)
    } else if let Some(r) = specifier.strip_prefix('/') {
        ("", r)
    } else {
        return None;
    };
    let mut parts: Vec<&str> = rest.0.split('/').filter(|p| !p.is_empty()).collect();
    for seg in rest.1.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn resolves_relative_specifiers() {
        assert_eq!(resolve("index.js", "./a.js").as_deref(), Some("a.js"));
        assert_eq!(resolve("src/index.js", "./lib/a.js").as_deref(), Some("src/lib/a.js"));
        assert_eq!(resolve("src/lib/a.js", "../b.js").as_deref(), Some("src/b.js"));
        assert_eq!(resolve("a.js", "../b.js"), None);
        assert_eq!(resolve("src/a.js", "/b.js").as_deref(), Some("b.js"));
        assert_eq!(resolve("a.js", "hono"), None);
    }
}
