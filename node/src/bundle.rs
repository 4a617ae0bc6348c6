//! Reads a deployment from disk: a single `.js`/`.mjs` file, or a folder
//! with `outpost.toml` (or `wrangler.toml`) naming its entry module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use outpost_js::{Bundle, ModuleKind, ModuleSource};

use crate::manifest::{Manifest, ManifestError};

/// Largest module file accepted.
pub const MAX_MODULE_BYTES: u64 = 10 * 1024 * 1024;
/// Most files a bundle folder may hold.
pub const MAX_FILES: usize = 1000;

/// A bundle read from disk with its manifest.
#[derive(Debug, Clone)]
pub struct LoadedBundle {
    /// The modules, main and env.
    pub bundle: Bundle,
    /// The manifest (empty for a lone file).
    pub manifest: Manifest,
    /// The deployment name: manifest `name`, else the file or folder name.
    pub name: String,
    /// Files to watch for changes.
    pub watch: Vec<PathBuf>,
}

/// Why a path could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The path is neither a module file nor a folder with a manifest.
    #[error("{0}: expected a .js/.mjs file or a folder with outpost.toml or wrangler.toml")]
    NotABundle(String),
    /// `.ts` entry modules are not supported yet.
    #[error("{0}: TypeScript is not supported yet; bundle it to JavaScript first (e.g. esbuild --bundle --format=esm)")]
    TypeScript(String),
    /// The manifest names no entry module and none of the defaults exist.
    #[error("{0}: no entry module: set `main` (tried index.js, src/index.js, worker.js)")]
    NoMain(String),
    /// A file or the bundle exceeds a size limit.
    #[error("{path}: {what}")]
    TooLarge {
        /// The file or folder.
        path: String,
        /// Which limit.
        what: String,
    },
}

fn read(path: &Path) -> Result<String, BundleError> {
    let meta = std::fs::metadata(path).map_err(|source| BundleError::Io {
        path: path.display().to_string(),
        source,
    })?;
    if meta.len() > MAX_MODULE_BYTES {
        return Err(BundleError::TooLarge {
            path: path.display().to_string(),
            what: format!("file is {} bytes; the limit is {MAX_MODULE_BYTES}", meta.len()),
        });
    }
    std::fs::read_to_string(path).map_err(|source| BundleError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Loads `path` (file or folder) into a [`LoadedBundle`].
pub fn load_path(path: &Path) -> Result<LoadedBundle, BundleError> {
    let display = path.display().to_string();
    if path.is_file() {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if file_name.ends_with(".ts") {
            return Err(BundleError::TypeScript(display));
        }
        if ModuleKind::from_path(&file_name) != Some(ModuleKind::JavaScript) {
            return Err(BundleError::NotABundle(display));
        }
        // Sibling modules may be imported relatively: include the folder's JS/JSON.
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut modules = BTreeMap::new();
        // Siblings are optional extras here: unreadable or oversized ones
        // are skipped, and the scan stays shallow.
        let _ = collect(dir, dir, &mut modules, 12);
        modules.insert(
            file_name.clone(),
            ModuleSource {
                kind: ModuleKind::JavaScript,
                code: read(path)?,
            },
        );
        let name = file_name.trim_end_matches(".mjs").trim_end_matches(".js").to_string();
        return Ok(LoadedBundle {
            bundle: Bundle {
                modules,
                main: file_name,
                ..Default::default()
            },
            manifest: Manifest::default(),
            name,
            watch: vec![dir.to_path_buf()],
        });
    }
    if !path.is_dir() {
        return Err(BundleError::NotABundle(display));
    }
    let (manifest_path, strict) = if path.join("outpost.toml").is_file() {
        (path.join("outpost.toml"), true)
    } else if path.join("wrangler.toml").is_file() {
        (path.join("wrangler.toml"), false)
    } else {
        (PathBuf::new(), false)
    };
    let manifest = if manifest_path.as_os_str().is_empty() {
        Manifest::default()
    } else {
        let text = read(&manifest_path)?;
        Manifest::parse(&manifest_path.display().to_string(), &text, strict)?
    };
    let main = match &manifest.main {
        Some(m) => m.trim_start_matches("./").to_string(),
        None => ["index.js", "src/index.js", "worker.js", "index.mjs", "src/index.mjs"]
            .iter()
            .find(|c| path.join(c).is_file())
            .map(|c| c.to_string())
            .ok_or_else(|| BundleError::NoMain(display.clone()))?,
    };
    if main.ends_with(".ts") {
        return Err(BundleError::TypeScript(path.join(&main).display().to_string()));
    }
    let mut modules = BTreeMap::new();
    collect(path, path, &mut modules, 0)?;
    let name = manifest.name.clone().unwrap_or_else(|| {
        std::fs::canonicalize(path)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "app".into())
    });
    let vars = manifest.vars_json();
    Ok(LoadedBundle {
        bundle: Bundle {
            modules,
            main,
            vars,
            secrets: BTreeMap::new(),
        },
        manifest,
        name,
        watch: vec![path.to_path_buf()],
    })
}

/// Adds every module file under `dir` (skipping dot folders and
/// node_modules) keyed by its path relative to `root`.
fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, ModuleSource>, depth: usize) -> Result<(), BundleError> {
    if depth > 16 {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|source| BundleError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "node_modules" || name == "target" {
            continue;
        }
        let path = entry.path();
        let ft = match entry.file_type() {
            Ok(ft) => ft,
            Err(_) => continue,
        };
        if ft.is_symlink() {
            continue;
        }
        if ft.is_dir() {
            collect(root, &path, out, depth + 1)?;
        } else if let Some(kind) = ModuleKind::from_path(&name) {
            if out.len() >= MAX_FILES {
                return Err(BundleError::TooLarge {
                    path: root.display().to_string(),
                    what: format!("more than {MAX_FILES} module files"),
                });
            }
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(
                rel,
                ModuleSource {
                    kind,
                    code: read(&path)?,
                },
            );
        }
    }
    Ok(())
}
