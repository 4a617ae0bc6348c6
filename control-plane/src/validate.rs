//! Checks an upload before it becomes a version: file paths, sizes and
//! counts, the manifest, the entry module, and (on a blocking thread) a V8
//! compile and link of every module without running any of them.
//!
//! Nothing is stored until every check passed; a refusal says what is wrong
//! and where (`file:line:col` for module errors).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::bundle::{ARCHIVE_FORMAT, BundleArchive};
use crate::manifest::{MANIFEST_FILES, Manifest};

/// Entry modules tried, in order, when neither the upload nor the manifest
/// names one.
pub const DEFAULT_MAINS: [&str; 5] = ["index.js", "src/index.js", "worker.js", "index.mjs", "src/index.mjs"];

/// Size limits of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Largest module file, in bytes.
    pub max_file_bytes: usize,
    /// Largest bundle (the sum of its files and manifest), in bytes.
    pub max_bundle_bytes: usize,
    /// Most files in a bundle.
    pub max_files: usize,
    /// Longest file path, in bytes.
    pub max_path_bytes: usize,
}

impl Default for UploadLimits {
    /// 10 MiB per file (as a node's loader), 25 MiB per bundle, 1,000 files,
    /// 512-byte paths.
    fn default() -> Self {
        UploadLimits {
            max_file_bytes: 10 * 1024 * 1024,
            max_bundle_bytes: 25 * 1024 * 1024,
            max_files: 1000,
            max_path_bytes: 512,
        }
    }
}

/// The body of an upload: the manifest's text and the module files.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    /// The manifest's text.
    #[serde(default)]
    pub manifest: Option<String>,
    /// The manifest's file name: `outpost.toml` (default) or `wrangler.toml`.
    #[serde(default)]
    pub manifest_file: Option<String>,
    /// The entry module; default: the manifest's `main`, else the first of
    /// [`DEFAULT_MAINS`] present.
    #[serde(default)]
    pub main: Option<String>,
    /// Module files by `/`-separated relative path.
    pub files: BTreeMap<String, String>,
}

/// Where a module error is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// The file, relative to the bundle root.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// Why an upload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A file or the whole bundle is over a size or count limit.
    #[error("{0}")]
    TooLarge(String),
    /// Something in the bundle is wrong.
    #[error("{message}")]
    Invalid {
        /// What is wrong, with `file:line:col` when known.
        message: String,
        /// Where, for module errors.
        location: Option<Location>,
    },
}

fn invalid(message: impl Into<String>) -> Refusal {
    Refusal::Invalid {
        message: message.into(),
        location: None,
    }
}

/// An upload that passed the checks that need no V8.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The archive to store.
    pub archive: BundleArchive,
    /// The parsed manifest (default when there was none).
    pub manifest: Manifest,
}

/// Checks everything but the modules' code; builds the archive.
pub fn check_upload(upload: Upload, limits: &UploadLimits) -> Result<Checked, Refusal> {
    if upload.files.is_empty() {
        return Err(invalid("the bundle has no files"));
    }
    if upload.files.len() > limits.max_files {
        return Err(Refusal::TooLarge(format!(
            "the bundle has {} files; the limit is {}",
            upload.files.len(),
            limits.max_files
        )));
    }
    let mut total = upload.manifest.as_ref().map_or(0, String::len);
    for (path, code) in &upload.files {
        check_path(path, limits)?;
        if path.ends_with(".ts") || path.ends_with(".tsx") {
            return Err(invalid(format!(
                "{path}: TypeScript is not supported yet; bundle it to JavaScript first (e.g. esbuild --bundle --format=esm)"
            )));
        }
        if outpost_js::ModuleKind::from_path(path).is_none() {
            return Err(invalid(format!(
                "{path}: unsupported file type (modules are .js, .mjs, .json, .txt, .html, .md, .css or .svg)"
            )));
        }
        if code.len() > limits.max_file_bytes {
            return Err(Refusal::TooLarge(format!(
                "{path}: the file is {} bytes; the limit is {}",
                code.len(),
                limits.max_file_bytes
            )));
        }
        total += code.len();
    }
    if total > limits.max_bundle_bytes {
        return Err(Refusal::TooLarge(format!(
            "the bundle is {total} bytes; the limit is {}",
            limits.max_bundle_bytes
        )));
    }
    let (manifest_file, manifest) = match (&upload.manifest, upload.manifest_file.as_deref()) {
        (None, None) => (None, Manifest::default()),
        (None, Some(f)) => return Err(invalid(format!("manifest_file is '{f}' but no manifest text was sent"))),
        (Some(text), file) => {
            let file = file.unwrap_or("outpost.toml");
            if !MANIFEST_FILES.contains(&file) {
                return Err(invalid(format!(
                    "manifest_file '{}' is neither outpost.toml nor wrangler.toml",
                    file.escape_debug()
                )));
            }
            let manifest = Manifest::parse(file, text, file == "outpost.toml").map_err(|e| invalid(e.to_string()))?;
            (Some(file.to_string()), manifest)
        }
    };
    let main = match upload.main.as_deref().or(manifest.main.as_deref()) {
        Some(m) => m.trim_start_matches("./").to_string(),
        None => DEFAULT_MAINS
            .iter()
            .find(|m| upload.files.contains_key(**m))
            .map(|m| m.to_string())
            .ok_or_else(|| {
                invalid(format!(
                    "no entry module: set `main` (tried {})",
                    DEFAULT_MAINS.join(", ")
                ))
            })?,
    };
    if main.ends_with(".ts") {
        return Err(invalid(format!(
            "{main}: TypeScript is not supported yet; bundle it to JavaScript first (e.g. esbuild --bundle --format=esm)"
        )));
    }
    if !upload.files.contains_key(&main) {
        return Err(invalid(format!("the entry module '{main}' is not in the bundle")));
    }
    if outpost_js::ModuleKind::from_path(&main) != Some(outpost_js::ModuleKind::JavaScript) {
        return Err(invalid(format!("the entry module '{main}' is not a .js or .mjs file")));
    }
    Ok(Checked {
        archive: BundleArchive {
            format: ARCHIVE_FORMAT,
            main,
            manifest_file,
            manifest: upload.manifest,
            files: upload.files,
        },
        manifest,
    })
}

/// A relative, normalised, `/`-separated path inside the bundle.
fn check_path(path: &str, limits: &UploadLimits) -> Result<(), Refusal> {
    let shown = path.escape_debug();
    let reason = if path.is_empty() {
        Some("empty path")
    } else if path.len() > limits.max_path_bytes {
        Some("path too long")
    } else if path.contains('\0') || path.chars().any(char::is_control) {
        Some("control character in path")
    } else if path.starts_with('/') || path.contains('\\') || path.get(1..2) == Some(":") {
        Some("absolute path (paths are relative, '/'-separated)")
    } else if path.split('/').any(|seg| seg == "..") {
        Some("'..' in path (files must stay inside the bundle)")
    } else if path.split('/').any(|seg| seg.is_empty() || seg == ".") {
        Some("path is not normalised (empty or '.' segment)")
    } else {
        None
    };
    match reason {
        Some(r) => Err(invalid(format!("{shown}: {r}"))),
        None => Ok(()),
    }
}

/// Compiles and links every module in a fresh V8 isolate without running
/// any code. Blocking (and CPU-bound): call it on a blocking thread.
pub fn check_modules(archive: &BundleArchive, manifest: &Manifest) -> Result<(), Refusal> {
    let modules = archive
        .files
        .iter()
        .filter_map(|(path, code)| {
            let kind = outpost_js::ModuleKind::from_path(path)?;
            Some((
                path.clone(),
                outpost_js::ModuleSource {
                    kind,
                    code: code.clone(),
                },
            ))
        })
        .collect();
    let bundle = outpost_js::Bundle {
        modules,
        main: archive.main.clone(),
        vars: manifest.vars_json(),
        secrets: BTreeMap::new(),
    };
    outpost_js::validate(&bundle).map_err(|e| {
        let location = match &e {
            outpost_js::LoadError::Compile(js) | outpost_js::LoadError::Evaluate(js) => Some(Location {
                file: js.file.clone(),
                line: js.line,
                column: js.column,
            }),
            outpost_js::LoadError::Resolve { file, line, column, .. } => Some(Location {
                file: file.clone(),
                line: *line,
                column: *column,
            }),
            _ => None,
        };
        Refusal::Invalid {
            message: e.to_string(),
            location,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(files: &[(&str, &str)]) -> Upload {
        Upload {
            files: files.iter().map(|(p, c)| (p.to_string(), c.to_string())).collect(),
            ..Default::default()
        }
    }

    const HELLO: &str = "export default { fetch() { return new Response('hi'); } };";

    fn message(r: Result<Checked, Refusal>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn finds_the_default_entry_and_builds_the_archive() {
        let checked = check_upload(
            upload(&[("src/index.js", HELLO), ("data.json", "{}")]),
            &UploadLimits::default(),
        )
        .unwrap();
        assert_eq!(checked.archive.main, "src/index.js");
        assert_eq!(checked.archive.files.len(), 2);
        check_modules(&checked.archive, &checked.manifest).unwrap();
    }

    #[test]
    fn refuses_traversal_absolute_and_odd_paths() {
        let limits = UploadLimits::default();
        for (path, want) in [
            ("../x.js", "'..' in path"),
            ("a/../../x.js", "'..' in path"),
            ("/etc/x.js", "absolute path"),
            ("C:/x.js", "absolute path"),
            ("a\\b.js", "absolute path"),
            ("a//b.js", "not normalised"),
            ("./a.js", "not normalised"),
            ("a\0.js", "control character"),
            ("", "empty path"),
        ] {
            let err = message(check_upload(upload(&[("index.js", HELLO), (path, "x")]), &limits));
            assert!(err.contains(want), "{path:?}: {err}");
        }
        let err = message(check_upload(upload(&[("index.js", HELLO), ("run.sh", "x")]), &limits));
        assert!(err.contains("run.sh: unsupported file type"), "{err}");
    }

    #[test]
    fn refuses_oversized_files_bundles_and_file_counts() {
        let limits = UploadLimits {
            max_file_bytes: 100,
            max_bundle_bytes: 150,
            max_files: 3,
            max_path_bytes: 20,
        };
        let big = "x".repeat(101);
        let r = check_upload(upload(&[("index.js", &big)]), &limits);
        assert!(matches!(r, Err(Refusal::TooLarge(ref m)) if m.contains("index.js: the file is 101 bytes")));
        let r = check_upload(
            upload(&[("index.js", &"x".repeat(80)), ("b.js", &"y".repeat(80))]),
            &limits,
        );
        assert!(matches!(r, Err(Refusal::TooLarge(ref m)) if m.contains("the bundle is 160 bytes")));
        let r = check_upload(
            upload(&[("a.js", ""), ("b.js", ""), ("c.js", ""), ("d.js", "")]),
            &limits,
        );
        assert!(matches!(r, Err(Refusal::TooLarge(ref m)) if m.contains("4 files")));
        let r = check_upload(
            upload(&[("index.js", ""), (&format!("{}.js", "a".repeat(20)), "")]),
            &limits,
        );
        assert!(message(r).contains("path too long"));
    }

    #[test]
    fn manifest_and_entry_module_checks() {
        let limits = UploadLimits::default();
        let mut u = upload(&[("worker.js", HELLO), ("other.js", HELLO)]);
        u.manifest = Some("name = \"x\"\nmain = \"./other.js\"\n".into());
        assert_eq!(check_upload(u.clone(), &limits).unwrap().archive.main, "other.js");
        u.manifest = Some("name = \"x\"\nmain = \"missing.js\"\n".into());
        assert!(message(check_upload(u.clone(), &limits)).contains("'missing.js' is not in the bundle"));
        u.manifest = Some("nmae = \"x\"\n".into());
        assert_eq!(
            message(check_upload(u.clone(), &limits)),
            "outpost.toml: unknown key 'nmae'"
        );
        u.manifest_file = Some("wrangler.toml".into());
        assert_eq!(check_upload(u.clone(), &limits).unwrap().archive.main, "worker.js");
        u.manifest_file = Some("package.json".into());
        assert!(message(check_upload(u.clone(), &limits)).contains("neither outpost.toml nor wrangler.toml"));
        let u = upload(&[("lib.js", HELLO)]);
        assert!(message(check_upload(u, &limits)).contains("no entry module"));
        let mut u = upload(&[("index.ts", HELLO)]);
        u.main = Some("index.ts".into());
        assert!(message(check_upload(u, &limits)).contains("TypeScript"));
    }

    #[test]
    fn syntax_errors_and_bad_imports_carry_file_line_col() {
        let limits = UploadLimits::default();
        let checked = check_upload(
            upload(&[
                ("index.js", "import './lib.js';\nexport default {};"),
                ("lib.js", "let a = 1;\nconst b = );\n"),
            ]),
            &limits,
        )
        .unwrap();
        match check_modules(&checked.archive, &checked.manifest) {
            Err(Refusal::Invalid {
                message,
                location: Some(loc),
            }) => {
                assert!(message.starts_with("lib.js:2:11: SyntaxError"), "{message}");
                assert_eq!((loc.file.as_str(), loc.line, loc.column), ("lib.js", 2, 11));
            }
            other => panic!("{other:?}"),
        }
        let checked = check_upload(upload(&[("index.js", "\nimport x from './nope.js';\n")]), &limits).unwrap();
        let err = check_modules(&checked.archive, &checked.manifest)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("index.js:2:") && err.contains("'./nope.js'"), "{err}");
    }
}
